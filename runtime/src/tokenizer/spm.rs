//! Score-ordered SentencePiece-style merging, for GGUF files that carry scores but no merges
//! (llama.cpp's own `tokenizer.ggml.model = llama` files): llama.cpp's `llm_tokenizer_spm`.
//! Adjacent symbols whose concatenation is a token are merged, highest token score first, ties
//! to the left; characters left without a token fall back to `<0xXX>` byte tokens, then to
//! `<unk>` (llama.cpp aborts there; we never do).

use std::collections::{BinaryHeap, HashMap};

const NONE: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Symbol {
    start: u32,
    len: u32,
    prev: u32,
    next: u32,
}

/// f32 -> u32 with the same order (total order; NaN sorts above +inf, which never occurs in
/// llama.cpp files but must not panic).
fn order_key(score: f32) -> u32 {
    let bits = score.to_bits();
    if bits & 0x8000_0000 != 0 {
        !bits
    } else {
        bits | 0x8000_0000
    }
}

/// What the merge loop needs from the vocabulary.
pub(crate) struct SpmVocab<'a> {
    pub vocab: &'a HashMap<String, u32>,
    pub scores: &'a [f32],
    pub byte_tokens: &'a [Option<u32>; 256],
    pub unk: Option<u32>,
}

/// Tokenizes one already-normalized text (spaces as `▁`) and appends the ids to `out`.
pub(crate) fn tokenize(text: &str, v: &SpmVocab<'_>, out: &mut Vec<u32>) {
    if text.is_empty() || text.len() >= NONE as usize {
        return;
    }
    let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
    for (start, c) in text.char_indices() {
        let i = symbols.len() as u32;
        symbols.push(Symbol {
            start: start as u32,
            len: c.len_utf8() as u32,
            prev: if i == 0 { NONE } else { i - 1 },
            next: i + 1,
        });
    }
    if let Some(last) = symbols.last_mut() {
        last.next = NONE;
    }
    let span = |s: &Symbol| &text[s.start as usize..(s.start + s.len) as usize];
    // max-heap of (score, leftmost first, left index, merged byte length)
    let mut heap: BinaryHeap<(u32, std::cmp::Reverse<u32>, u32)> = BinaryHeap::new();
    let try_add = |heap: &mut BinaryHeap<(u32, std::cmp::Reverse<u32>, u32)>,
                   symbols: &[Symbol],
                   left: u32| {
        let l = symbols[left as usize];
        if l.next == NONE {
            return;
        }
        let r = symbols[l.next as usize];
        let merged = &text[l.start as usize..(r.start + r.len) as usize];
        if let Some(&id) = v.vocab.get(merged) {
            let score = v.scores.get(id as usize).copied().unwrap_or(0.0);
            heap.push((order_key(score), std::cmp::Reverse(left), l.len + r.len));
        }
    };
    for i in 0..symbols.len() as u32 {
        try_add(&mut heap, &symbols, i);
    }
    while let Some((_, std::cmp::Reverse(left), size)) = heap.pop() {
        let l = symbols[left as usize];
        if l.len == 0 || l.next == NONE {
            continue;
        }
        let r = symbols[l.next as usize];
        if r.len == 0 || l.len + r.len != size {
            continue;
        }
        symbols[left as usize].len += r.len;
        symbols[left as usize].next = r.next;
        symbols[l.next as usize].len = 0;
        if r.next != NONE {
            symbols[r.next as usize].prev = left;
        }
        if l.prev != NONE {
            try_add(&mut heap, &symbols, l.prev);
        }
        try_add(&mut heap, &symbols, left);
    }
    let mut i = 0u32;
    while i != NONE {
        let s = symbols[i as usize];
        match v.vocab.get(span(&s)) {
            Some(&id) => out.push(id),
            None => {
                let piece = span(&s);
                if piece.bytes().all(|b| v.byte_tokens[b as usize].is_some()) {
                    out.extend(piece.bytes().filter_map(|b| v.byte_tokens[b as usize]));
                } else if let Some(unk) = v.unk {
                    out.push(unk);
                }
            }
        }
        i = s.next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_score_merges_first() {
        let vocab: HashMap<String, u32> = [
            ("a", 0),
            ("b", 1),
            ("c", 2),
            ("ab", 3),
            ("bc", 4),
            ("<0xC3>", 5),
            ("<0xBC>", 6),
        ]
        .into_iter()
        .map(|(s, i)| (s.to_string(), i))
        .collect();
        let scores = [0.0, 0.0, 0.0, -2.0, -1.0, 0.0, 0.0];
        let mut bytes = [None; 256];
        bytes[0xC3] = Some(5);
        bytes[0xBC] = Some(6);
        let v = SpmVocab {
            vocab: &vocab,
            scores: &scores,
            byte_tokens: &bytes,
            unk: None,
        };
        let mut out = Vec::new();
        tokenize("abcü", &v, &mut out);
        assert_eq!(out, vec![0, 4, 5, 6]);
    }
}
