//! Token ids -> text: every token's bytes are precomputed at load ([`Pieces`]); the streaming
//! decoder holds incomplete UTF-8 sequences until the token that completes them arrives.

use super::Tokenizer;

/// The bytes each token decodes to, in one buffer, and whether the token is special (rendered
/// only on request).
#[derive(Clone, Debug, Default)]
pub(crate) struct Pieces {
    bytes: Vec<u8>,
    /// n_vocab + 1 offsets into `bytes`.
    offsets: Vec<usize>,
    special: Vec<bool>,
}

impl Pieces {
    pub(crate) fn with_capacity(n: usize) -> Self {
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        Pieces {
            bytes: Vec::new(),
            offsets,
            special: Vec::with_capacity(n),
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8], special: bool) {
        self.bytes.extend_from_slice(bytes);
        self.offsets.push(self.bytes.len());
        self.special.push(special);
    }

    /// The token's bytes, empty for an unknown id or a special token not rendered.
    pub(crate) fn get(&self, id: u32, render_special: bool) -> &[u8] {
        let i = id as usize;
        match (
            self.special.get(i),
            self.offsets.get(i),
            self.offsets.get(i + 1),
        ) {
            (Some(&special), Some(&start), Some(&end)) if render_special || !special => {
                &self.bytes[start..end]
            }
            _ => &[],
        }
    }
}

/// Moves the longest decodable prefix of `pending` into `out`: complete UTF-8 as is, invalid
/// sequences as U+FFFD; an incomplete sequence at the end stays in `pending`.
fn drain_utf8(pending: &mut Vec<u8>, out: &mut String) {
    let mut start = 0;
    loop {
        match std::str::from_utf8(&pending[start..]) {
            Ok(text) => {
                out.push_str(text);
                start = pending.len();
                break;
            }
            Err(e) => {
                let valid_end = start + e.valid_up_to();
                if let Ok(text) = std::str::from_utf8(&pending[start..valid_end]) {
                    out.push_str(text);
                }
                match e.error_len() {
                    Some(n) => {
                        out.push(char::REPLACEMENT_CHARACTER);
                        start = valid_end + n;
                    }
                    None => {
                        start = valid_end;
                        break;
                    }
                }
            }
        }
    }
    pending.drain(..start);
}

/// Decodes generated tokens one at a time into complete UTF-8 text. Holds the bytes of a
/// character split across tokens until it is complete; never emits a broken sequence.
/// Allocation-free after the first tokens when used with [`StreamDecoder::push_into`].
#[derive(Clone, Debug, Default)]
pub struct StreamDecoder {
    pending: Vec<u8>,
    render_special: bool,
}

impl StreamDecoder {
    /// `render_special`: whether control tokens (e.g. `<|im_end|>`) produce their text.
    pub fn new(render_special: bool) -> Self {
        StreamDecoder {
            pending: Vec::with_capacity(8),
            render_special,
        }
    }

    /// Appends the text that `id` completes to `out`.
    pub fn push_into(&mut self, tokenizer: &Tokenizer, id: u32, out: &mut String) {
        self.pending
            .extend_from_slice(tokenizer.pieces.get(id, self.render_special));
        drain_utf8(&mut self.pending, out);
    }

    /// The text that `id` completes (possibly empty).
    pub fn push(&mut self, tokenizer: &Tokenizer, id: u32) -> String {
        let mut out = String::new();
        self.push_into(tokenizer, id, &mut out);
        out
    }

    /// Ends the stream: bytes of an unfinished character come out as U+FFFD.
    pub fn flush(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        text
    }

    /// Bytes held for an unfinished character.
    pub fn pending_bytes(&self) -> usize {
        self.pending.len()
    }
}

/// Whole-sequence decode (see [`Tokenizer::decode`]).
pub(crate) fn decode(tokenizer: &Tokenizer, ids: &[u32], render_special: bool) -> String {
    let mut bytes = Vec::new();
    let mut at_start = true;
    for &id in ids {
        let piece = tokenizer.pieces.get(id, render_special);
        let piece = if at_start && tokenizer.strip_leading_space && !tokenizer.is_special(id) {
            at_start = false;
            piece.strip_prefix(b" ").unwrap_or(piece)
        } else {
            piece
        };
        bytes.extend_from_slice(piece);
    }
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_keeps_incomplete_and_replaces_invalid() {
        let mut pending = vec![b'a', 0xE2, 0x96];
        let mut out = String::new();
        drain_utf8(&mut pending, &mut out);
        assert_eq!(
            (out.as_str(), pending.as_slice()),
            ("a", &[0xE2u8, 0x96][..])
        );
        pending.push(0x81);
        drain_utf8(&mut pending, &mut out);
        assert_eq!(out, "a\u{2581}");
        assert!(pending.is_empty());
        pending.extend_from_slice(&[0xFF, b'b', 0xF0]);
        drain_utf8(&mut pending, &mut out);
        assert_eq!(out, "a\u{2581}\u{FFFD}b");
        assert_eq!(pending, vec![0xF0]);
    }
}
