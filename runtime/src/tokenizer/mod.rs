//! Tokenizers built from GGUF metadata: byte-level BPE and SentencePiece-style BPE.
//!
//! The reference is the Hugging Face `tokenizers` library on the model's tokenizer.json. Our
//! quantizer stores what that needs (`tokenizer.ggml.*` as llama.cpp writes them, plus merges
//! and `edge.tokenizer.*`: normalizer steps, unknown fusion, added tokens' flags); llama.cpp's own
//! files load too, with llama.cpp's rules (score-based SentencePiece merging when there are no
//! merges; control and user-defined tokens as the added tokens).
//!
//! Encoding, as `tokenizers` does it:
//! 1. split the raw text on added tokens that are not `normalized` (special ones only when
//!    `parse_special`), leftmost-longest;
//! 2. normalize each remaining piece (prepend, replace), then split it on the `normalized` added
//!    tokens, matched in their normalized form;
//! 3. pre-tokenize each piece into words (byte-level: the regex named by `tokenizer.ggml.pre`;
//!    SentencePiece-style: none, the piece is one word) and run BPE on each word.
//!
//! All lookup structures are built once in [`Tokenizer::from_metadata`].

mod bpe;
mod byte_level;
mod decode;
mod meta;
mod pretokenize;
mod spm;
mod unicode_tables;

pub use decode::StreamDecoder;
/// Values of `tokenizer.ggml.token_type`, defined by the file format.
pub use edge_formats::gguf::token_type;

use crate::{Error, Result};
use bpe::{BpeScratch, MergeTable};
use decode::Pieces;
use edge_formats::gguf::keys::{edge_tokenizer as etk, tokenizer as tk};
use edge_formats::gguf::vocab::{byte_token_text, parse_byte_token};
use edge_formats::gguf::{Metadata, Value};
use meta::Meta;
use pretokenize::PreTokenizer;
use std::borrow::Cow;
use std::collections::HashMap;

/// Token texts llama.cpp treats as end-of-generation wherever they are in the vocabulary.
const EOG_TEXTS: [&str; 10] = [
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "<|end_of_text|>",
    "<end_of_utterance>",
];

/// How words become token ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Model {
    /// GPT-2 byte-level BPE: bytes mapped to printable characters, merges by rank.
    ByteLevel(PreTokenizer),
    /// SentencePiece-style BPE over `▁`-normalized text with merges (Hugging Face semantics).
    SentencePieceMerges,
    /// SentencePiece-style merging by token score (llama.cpp files without merges).
    SentencePieceScores,
}

/// Text rewriting before the model: prepend (to non-empty text), then literal replacements.
#[derive(Clone, Debug, Default)]
struct Normalizer {
    prepend: Option<String>,
    replace: Vec<(String, String)>,
}

impl Normalizer {
    fn is_identity(&self) -> bool {
        self.prepend.is_none() && self.replace.is_empty()
    }

    fn apply<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.is_identity() || text.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len() + 8);
        if let Some(p) = &self.prepend {
            out.push_str(p);
        }
        out.push_str(text);
        for (from, to) in &self.replace {
            if out.contains(from.as_str()) {
                out = out.replace(from.as_str(), to);
            }
        }
        Cow::Owned(out)
    }
}

/// Added tokens found in text by leftmost-longest matching.
#[derive(Clone, Debug, Default)]
struct AddedMatcher {
    /// (pattern, id, special)
    tokens: Vec<(String, u32, bool)>,
    /// Indices into `tokens` by the pattern's first byte, longest pattern first.
    by_first_byte: Vec<Vec<u32>>,
}

impl AddedMatcher {
    fn new(mut tokens: Vec<(String, u32, bool)>) -> Self {
        tokens.retain(|(p, _, _)| !p.is_empty());
        let mut by_first_byte = vec![Vec::new(); 256];
        for (i, (pattern, _, _)) in tokens.iter().enumerate() {
            by_first_byte[pattern.as_bytes()[0] as usize].push(i as u32);
        }
        for bucket in &mut by_first_byte {
            bucket.sort_by_key(|&i| std::cmp::Reverse(tokens[i as usize].0.len()));
        }
        AddedMatcher {
            tokens,
            by_first_byte,
        }
    }

    /// The leftmost, then longest, eligible match in `text[from..]`: (start, end, id).
    fn find(&self, text: &str, from: usize, parse_special: bool) -> Option<(usize, usize, u32)> {
        if self.tokens.is_empty() {
            return None;
        }
        let bytes = text.as_bytes();
        for start in from..bytes.len() {
            for &i in &self.by_first_byte[bytes[start] as usize] {
                let (pattern, id, special) = &self.tokens[i as usize];
                if (parse_special || !special) && bytes[start..].starts_with(pattern.as_bytes()) {
                    return Some((start, start + pattern.len(), *id));
                }
            }
        }
        None
    }

    /// Calls `f` with the text between matches and with each match, in order.
    fn split<'t>(&self, text: &'t str, parse_special: bool, mut f: impl FnMut(Segment<'t>)) {
        let mut pos = 0;
        while let Some((start, end, id)) = self.find(text, pos, parse_special) {
            f(Segment::Text(&text[pos..start]));
            f(Segment::Token(id));
            pos = end;
        }
        f(Segment::Text(&text[pos..]));
    }
}

/// A piece of text split on added tokens.
enum Segment<'t> {
    Text(&'t str),
    Token(u32),
}

/// A tokenizer built from GGUF metadata. Cheap to share (`&Tokenizer` is all encode/decode need).
#[derive(Clone, Debug)]
pub struct Tokenizer {
    model: Model,
    tokens: Vec<String>,
    types: Vec<i32>,
    vocab: HashMap<String, u32>,
    merges: MergeTable,
    scores: Vec<f32>,
    /// SentencePiece-style: `<0xXX>` token per byte. Byte-level: the token of each byte's character.
    byte_tokens: [Option<u32>; 256],
    normalizer: Normalizer,
    raw_added: AddedMatcher,
    normalized_added: AddedMatcher,
    pieces: Pieces,
    bos: Option<u32>,
    eos: Option<u32>,
    unk: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    /// Sorted end-of-generation ids.
    eog: Vec<u32>,
    byte_fallback: bool,
    fuse_unk: bool,
    ignore_merges: bool,
    /// Decoding drops the space the normalizer's `▁` prefix turned into.
    strip_leading_space: bool,
}

impl Tokenizer {
    /// Builds the tokenizer from a GGUF file's metadata.
    pub fn from_metadata(metadata: &Metadata) -> Result<Tokenizer> {
        let get = |key: &str| metadata.get(key);
        Self::from_lookup(&Meta { get: &get })
    }

    /// Builds the tokenizer from metadata entries (e.g. the quantizer's output before it is
    /// written).
    pub fn from_entries(entries: &[(String, Value)]) -> Result<Tokenizer> {
        let get = |key: &str| entries.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        Self::from_lookup(&Meta { get: &get })
    }

    fn from_lookup(m: &Meta<'_>) -> Result<Tokenizer> {
        // The checks the quantizer runs on what it writes (one validator).
        edge_formats::validate::check_tokenizer(m.get).map_err(Error::Tokenizer)?;
        let missing = |key: &str| Error::Tokenizer(format!("key `{key}` missing"));
        let model_name = m.string(tk::MODEL)?.ok_or_else(|| missing(tk::MODEL))?;
        let tokens: Vec<String> = m
            .strings(tk::TOKENS)?
            .ok_or_else(|| missing(tk::TOKENS))?
            .into_iter()
            .map(str::to_string)
            .collect();
        let n = tokens.len();
        if n == 0 || n >= u32::MAX as usize {
            return Err(Error::Tokenizer(format!(
                "key `{}`: {n} tokens",
                tk::TOKENS
            )));
        }
        let types: Vec<i32> = match m.integers(tk::TOKEN_TYPE)? {
            Some(t) if t.len() == n => t.into_iter().map(|v| v.clamp(0, 255) as i32).collect(),
            Some(t) => {
                return Err(Error::Tokenizer(format!(
                    "key `{}`: {} entries for {n} tokens",
                    tk::TOKEN_TYPE,
                    t.len()
                )))
            }
            None => vec![token_type::NORMAL; n],
        };
        let scores = match m.floats(tk::SCORES)? {
            Some(s) if s.len() == n => s,
            Some(s) => {
                return Err(Error::Tokenizer(format!(
                    "key `{}`: {} entries for {n} tokens",
                    tk::SCORES,
                    s.len()
                )))
            }
            None => vec![0.0; n],
        };
        let mut vocab = HashMap::with_capacity(n);
        for (id, text) in tokens.iter().enumerate() {
            vocab.insert(text.clone(), id as u32);
        }
        let merges = match m.strings(tk::MERGES)? {
            Some(list) => merge_table(&list, &vocab)?,
            None => MergeTable::default(),
        };
        let hf = m.has(etk::VERSION);
        let pre_name = m.string(tk::PRE)?.unwrap_or("default");
        let model = match model_name {
            "gpt2" => Model::ByteLevel(PreTokenizer::from_name(pre_name).ok_or_else(|| {
                Error::Tokenizer(format!(
                    "key `{}`: pre-tokenizer `{pre_name}` is not supported",
                    tk::PRE
                ))
            })?),
            "llama" if !merges.is_empty() => Model::SentencePieceMerges,
            "llama" => Model::SentencePieceScores,
            other => {
                return Err(Error::Tokenizer(format!(
                    "key `{}`: `{other}` is not supported",
                    tk::MODEL
                )));
            }
        };
        if let Model::ByteLevel(_) = model {
            if merges.is_empty() {
                return Err(missing(tk::MERGES));
            }
        }

        let byte_tokens = byte_token_table(model, &vocab);
        let normalizer = match model {
            Model::ByteLevel(_) => Normalizer::default(),
            _ if hf => Normalizer {
                prepend: m.string(etk::NORMALIZER_PREPEND)?.map(str::to_string),
                replace: replace_pairs(m)?,
            },
            // llama.cpp: a space prefix (unless add_space_prefix is false) and spaces as `▁`.
            _ => Normalizer {
                prepend: (m.boolean(tk::ADD_SPACE_PREFIX)?.unwrap_or(true))
                    .then(|| "\u{2581}".to_string()),
                replace: vec![(" ".to_string(), "\u{2581}".to_string())],
            },
        };
        let (raw_added, normalized_added) = added_matchers(m, hf, &tokens, &types, &normalizer)?;

        let bos = m.token_id(tk::BOS_ID, n)?;
        let eos = m.token_id(tk::EOS_ID, n)?;
        let unk = m.token_id(tk::UNK_ID, n)?;
        let mut eog: Vec<u32> = Vec::new();
        eog.extend(eos);
        eog.extend(m.token_id(tk::EOT_ID, n)?);
        eog.extend(m.token_id(tk::EOM_ID, n)?);
        eog.extend(
            tokens
                .iter()
                .enumerate()
                .filter(|(_, t)| EOG_TEXTS.contains(&t.as_str()))
                .map(|(i, _)| i as u32),
        );
        eog.sort_unstable();
        eog.dedup();

        let sentencepiece = !matches!(model, Model::ByteLevel(_));
        let pieces = build_pieces(model, &tokens, &types);
        Ok(Tokenizer {
            model,
            byte_tokens,
            raw_added,
            normalized_added,
            pieces,
            bos,
            eos,
            unk,
            add_bos: m.boolean(tk::ADD_BOS)?.unwrap_or(sentencepiece) && bos.is_some(),
            add_eos: m.boolean(tk::ADD_EOS)?.unwrap_or(false) && eos.is_some(),
            eog,
            byte_fallback: m.boolean(etk::BYTE_FALLBACK)?.unwrap_or(sentencepiece),
            fuse_unk: m.boolean(etk::FUSE_UNK)?.unwrap_or(false),
            ignore_merges: match m.boolean(etk::IGNORE_MERGES)? {
                Some(v) => v,
                None => model == Model::ByteLevel(PreTokenizer::Llama3),
            },
            strip_leading_space: sentencepiece && normalizer.prepend.as_deref() == Some("\u{2581}"),
            normalizer,
            tokens,
            types,
            vocab,
            merges,
            scores,
        })
    }

    /// Number of tokens in the vocabulary.
    pub fn n_vocab(&self) -> usize {
        self.tokens.len()
    }

    /// The beginning-of-sequence token id (`tokenizer.ggml.bos_token_id`), if any.
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    /// The end-of-sequence token id (`tokenizer.ggml.eos_token_id`), if any.
    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// Whether the model wants BOS at the start of a prompt (`tokenizer.ggml.add_bos_token`).
    pub fn add_bos_default(&self) -> bool {
        self.add_bos
    }

    /// End of generation: EOS, EOT, EOM, and the tokens llama.cpp recognizes by text
    /// (`<|im_end|>`, `<|endoftext|>`, `<|eot_id|>`, ...).
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.binary_search(&id).is_ok()
    }

    /// The end-of-generation ids, sorted.
    pub fn eog_ids(&self) -> &[u32] {
        &self.eog
    }

    /// Control or unknown tokens: not text; decoded only when special tokens are rendered.
    pub fn is_special(&self, id: u32) -> bool {
        matches!(
            self.types.get(id as usize),
            Some(&(token_type::CONTROL | token_type::UNKNOWN))
        )
    }

    /// The token's text as stored in the vocabulary (byte-level tokens in their mapped form).
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// The token's id, if `text` is exactly one token.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.vocab.get(text).copied()
    }

    /// The bytes `id` decodes to (possibly part of a UTF-8 character).
    pub fn token_bytes(&self, id: u32, render_special: bool) -> &[u8] {
        self.pieces.get(id, render_special)
    }

    /// Tokenizes `text`. `add_bos`: add BOS (and EOS) as the model wants, i.e. iff
    /// `tokenizer.ggml.add_bos_token` (`add_eos_token`). `parse_special`: special-token text
    /// in `text` becomes the special token; otherwise it is tokenized as plain text.
    pub fn encode(&self, text: &str, add_bos: bool, parse_special: bool) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        self.encode_into(text, add_bos, parse_special, &mut out);
        out
    }

    /// [`Tokenizer::encode`], appending to `out`.
    pub fn encode_into(&self, text: &str, add_bos: bool, parse_special: bool, out: &mut Vec<u32>) {
        if add_bos && self.add_bos {
            out.extend(self.bos);
        }
        let mut scratch = Scratch::default();
        self.raw_added
            .split(text, parse_special, |segment| match segment {
                Segment::Text(piece) => {
                    self.encode_raw_piece(piece, parse_special, &mut scratch, out)
                }
                Segment::Token(id) => out.push(id),
            });
        if add_bos && self.add_eos {
            out.extend(self.eos);
        }
    }

    /// Text -> ids for text between raw added tokens.
    fn encode_raw_piece(
        &self,
        piece: &str,
        parse_special: bool,
        scratch: &mut Scratch,
        out: &mut Vec<u32>,
    ) {
        if piece.is_empty() {
            return;
        }
        let normalized = self.normalizer.apply(piece);
        self.normalized_added
            .split(&normalized, parse_special, |segment| match segment {
                Segment::Text(sub) => self.encode_normalized(sub, scratch, out),
                Segment::Token(id) => out.push(id),
            });
    }

    /// Normalized text without added tokens -> ids.
    fn encode_normalized(&self, text: &str, scratch: &mut Scratch, out: &mut Vec<u32>) {
        if text.is_empty() {
            return;
        }
        match self.model {
            Model::ByteLevel(pre) => {
                let mut chars = std::mem::take(&mut scratch.chars);
                pre.split(text, &mut chars, |word| {
                    self.encode_byte_level_word(word, scratch, out)
                });
                scratch.chars = chars;
            }
            Model::SentencePieceMerges => self.encode_sentencepiece_word(text, scratch, out),
            Model::SentencePieceScores => {
                let v = spm::SpmVocab {
                    vocab: &self.vocab,
                    scores: &self.scores,
                    byte_tokens: &self.byte_tokens,
                    unk: self.unk,
                };
                spm::tokenize(text, &v, out);
            }
        }
    }

    /// One pre-tokenized word of a byte-level BPE.
    fn encode_byte_level_word(&self, word: &str, scratch: &mut Scratch, out: &mut Vec<u32>) {
        if self.ignore_merges {
            let mapped: String = word.bytes().map(byte_level::byte_to_char).collect();
            if let Some(&id) = self.vocab.get(&mapped) {
                out.push(id);
                return;
            }
        }
        scratch.symbols.clear();
        // A byte whose character is not in the vocabulary is dropped (as `tokenizers` does
        // without an unknown token); GPT-2 vocabularies have all 256.
        scratch
            .symbols
            .extend(word.bytes().filter_map(|b| self.byte_tokens[b as usize]));
        bpe::merge_word(&scratch.symbols, &self.merges, &mut scratch.bpe, out);
    }

    /// One word of a SentencePiece-style BPE with merges (`tokenizers`' `BPE::merge_word`):
    /// a character without a token becomes its `<0xXX>` byte tokens when all exist
    /// (byte_fallback), else `<unk>`; with fuse_unk a run of unknowns is one `<unk>`.
    fn encode_sentencepiece_word(&self, word: &str, scratch: &mut Scratch, out: &mut Vec<u32>) {
        if self.ignore_merges {
            if let Some(&id) = self.vocab.get(word) {
                out.push(id);
                return;
            }
        }
        let symbols = &mut scratch.symbols;
        symbols.clear();
        let mut unk_pending = false;
        for (start, c) in word.char_indices() {
            let text = &word[start..start + c.len_utf8()];
            if let Some(&id) = self.vocab.get(text) {
                if unk_pending {
                    symbols.extend(self.unk);
                    unk_pending = false;
                }
                symbols.push(id);
                continue;
            }
            if self.byte_fallback && text.bytes().all(|b| self.byte_tokens[b as usize].is_some()) {
                if unk_pending {
                    symbols.extend(self.unk);
                    unk_pending = false;
                }
                symbols.extend(text.bytes().filter_map(|b| self.byte_tokens[b as usize]));
                continue;
            }
            if unk_pending && !self.fuse_unk {
                symbols.extend(self.unk);
            }
            unk_pending = true;
        }
        if unk_pending {
            symbols.extend(self.unk);
        }
        bpe::merge_word(symbols, &self.merges, &mut scratch.bpe, out);
    }

    /// Ids -> text. Special tokens give their text only when `render_special`. For
    /// SentencePiece-style models the space of the leading `▁` the normalizer added is removed.
    pub fn decode(&self, ids: &[u32], render_special: bool) -> String {
        decode::decode(self, ids, render_special)
    }

    /// A streaming decoder for generated tokens (no leading-space removal).
    pub fn stream_decoder(&self, render_special: bool) -> StreamDecoder {
        StreamDecoder::new(render_special)
    }
}

/// Buffers reused across the words of one encode call.
#[derive(Default)]
struct Scratch {
    symbols: Vec<u32>,
    bpe: BpeScratch,
    chars: Vec<(usize, char)>,
}

/// Parses llama.cpp-format merges ("left right") into (left id, right id) -> (rank, merged id).
fn merge_table(list: &[&str], vocab: &HashMap<String, u32>) -> Result<MergeTable> {
    let mut table = MergeTable::with_capacity(list.len());
    let mut merged = String::new();
    for (rank, merge) in list.iter().enumerate() {
        let bad = || {
            Error::Tokenizer(format!(
                "key `{}`: entry {rank} {merge:?} is not \"a b\" of two tokens",
                tk::MERGES
            ))
        };
        // The separator is the first space after the first character (llama.cpp's rule).
        let first_len = merge.chars().next().map_or(0, char::len_utf8);
        let split = merge
            .get(first_len..)
            .and_then(|rest| rest.find(' '))
            .map(|i| i + first_len)
            .ok_or_else(bad)?;
        let (left, right) = (&merge[..split], &merge[split + 1..]);
        merged.clear();
        merged.push_str(left);
        merged.push_str(right);
        match (
            vocab.get(left),
            vocab.get(right),
            vocab.get(merged.as_str()),
        ) {
            (Some(&l), Some(&r), Some(&m)) => table.insert(l, r, rank as u32, m),
            _ => return Err(bad()),
        }
    }
    Ok(table)
}

fn byte_token_table(model: Model, vocab: &HashMap<String, u32>) -> [Option<u32>; 256] {
    let mut table = [None; 256];
    let chars = byte_level::byte_chars();
    for (b, slot) in (0..=u8::MAX).zip(table.iter_mut()) {
        *slot = match model {
            Model::ByteLevel(_) => {
                let mut buf = [0u8; 4];
                vocab
                    .get(&*chars[usize::from(b)].encode_utf8(&mut buf))
                    .copied()
            }
            _ => vocab.get(&byte_token_text(b)).copied(),
        };
    }
    table
}

fn replace_pairs(m: &Meta<'_>) -> Result<Vec<(String, String)>> {
    let from = m.strings(etk::NORMALIZER_REPLACE_FROM)?.unwrap_or_default();
    let to = m.strings(etk::NORMALIZER_REPLACE_TO)?.unwrap_or_default();
    edge_formats::validate::check_normalizer_replacements(&from, &to).map_err(Error::Tokenizer)?;
    Ok(from
        .into_iter()
        .zip(to)
        .map(|(f, t)| (f.to_string(), t.to_string()))
        .collect())
}

/// The raw and the normalized added-token matchers. From `edge.tokenizer.added_token_*` when
/// present (tokenizer.json's flags), else from token types as llama.cpp does (control and
/// unknown tokens are special; user-defined tokens always match; none is normalized).
fn added_matchers(
    m: &Meta<'_>,
    hf: bool,
    tokens: &[String],
    types: &[i32],
    normalizer: &Normalizer,
) -> Result<(AddedMatcher, AddedMatcher)> {
    let mut raw = Vec::new();
    let mut normalized = Vec::new();
    if hf {
        let ids = m.integers(etk::ADDED_TOKEN_IDS)?.unwrap_or_default();
        let special = m.bools(etk::ADDED_TOKEN_SPECIAL)?.unwrap_or_default();
        let norm = m.bools(etk::ADDED_TOKEN_NORMALIZED)?.unwrap_or_default();
        if special.len() != ids.len() || norm.len() != ids.len() {
            return Err(Error::Tokenizer(
                "keys `edge.tokenizer.added_token_*`: lengths differ".into(),
            ));
        }
        for ((&id, &is_special), &is_normalized) in ids.iter().zip(&special).zip(&norm) {
            let text = usize::try_from(id)
                .ok()
                .and_then(|i| tokens.get(i))
                .ok_or_else(|| {
                    Error::Tokenizer(format!(
                        "key `{}`: id {id} out of range",
                        etk::ADDED_TOKEN_IDS
                    ))
                })?;
            if is_normalized {
                normalized.push((normalizer.apply(text).into_owned(), id as u32, is_special));
            } else {
                raw.push((text.clone(), id as u32, is_special));
            }
        }
    } else {
        for (id, (text, &ty)) in tokens.iter().zip(types).enumerate() {
            match ty {
                token_type::CONTROL | token_type::UNKNOWN => {
                    raw.push((text.clone(), id as u32, true))
                }
                token_type::USER_DEFINED => raw.push((text.clone(), id as u32, false)),
                _ => {}
            }
        }
    }
    Ok((AddedMatcher::new(raw), AddedMatcher::new(normalized)))
}

/// Every token's decoded bytes.
fn build_pieces(model: Model, tokens: &[String], types: &[i32]) -> Pieces {
    let mut pieces = Pieces::with_capacity(tokens.len());
    let mut buf = Vec::new();
    for (text, &ty) in tokens.iter().zip(types) {
        buf.clear();
        let special = matches!(ty, token_type::CONTROL | token_type::UNKNOWN);
        match (model, ty) {
            (_, token_type::UNUSED) => {}
            (_, token_type::CONTROL | token_type::UNKNOWN | token_type::USER_DEFINED) => {
                buf.extend_from_slice(text.as_bytes())
            }
            (Model::ByteLevel(_), _) => {
                for c in text.chars() {
                    match byte_level::char_to_byte(c) {
                        Some(b) => buf.push(b),
                        None => buf.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes()),
                    }
                }
            }
            (_, token_type::BYTE) => match parse_byte_token(text) {
                Some(b) => buf.push(b),
                None => buf.extend_from_slice(text.as_bytes()),
            },
            _ => buf.extend_from_slice(text.replace('\u{2581}', " ").as_bytes()),
        }
        pieces.push(&buf, special);
    }
    pieces
}
