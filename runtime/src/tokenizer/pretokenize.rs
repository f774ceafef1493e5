//! Hand-written pre-tokenizers for byte-level BPE, named as llama.cpp names them in
//! `tokenizer.ggml.pre`. Each is the leftmost-first alternation of its regex, written out:
//!
//! - `gpt2` (also `default`): `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
//!   (`default` in llama.cpp adds splits on punctuation for BPE vocabularies it cannot identify;
//!   we treat it as `gpt2`, the regex of the Hugging Face `ByteLevel` pre-tokenizer);
//! - `smollm`: every `\p{N}` character on its own (the `Digits(individual_digits)`
//!   pre-tokenizer), then `gpt2` on the text between;
//! - `llama-bpe` (Llama 3): `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//!   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
//!
//! `\p{L}` and `\p{N}` are the Unicode general categories (tables in `unicode_tables.rs`, not
//! Rust's `is_alphabetic`/`is_numeric`, which differ); `\s` is Unicode White_Space
//! (`char::is_whitespace`).

use super::unicode_tables;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PreTokenizer {
    Gpt2,
    SmolLm,
    Llama3,
}

impl PreTokenizer {
    /// From `tokenizer.ggml.pre`; None for a name we do not implement.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "gpt2" | "default" => Some(PreTokenizer::Gpt2),
            "smollm" => Some(PreTokenizer::SmolLm),
            "llama-bpe" | "llama3" => Some(PreTokenizer::Llama3),
            _ => None,
        }
    }

    /// Splits `text` into words, calling `word` for each, in order; the words cover `text`.
    pub(crate) fn split<'t>(
        self,
        text: &'t str,
        chars: &mut Vec<(usize, char)>,
        mut word: impl FnMut(&'t str),
    ) {
        chars.clear();
        chars.extend(text.char_indices());
        let offset =
            |i: usize, chars: &[(usize, char)]| chars.get(i).map_or(text.len(), |&(o, _)| o);
        match self {
            PreTokenizer::Gpt2 | PreTokenizer::Llama3 => {
                let rule = if self == PreTokenizer::Gpt2 {
                    gpt2_match
                } else {
                    llama3_match
                };
                let mut i = 0;
                while i < chars.len() {
                    let j = rule(chars, i, chars.len());
                    word(&text[offset(i, chars)..offset(j, chars)]);
                    i = j;
                }
            }
            PreTokenizer::SmolLm => {
                let mut i = 0;
                while i < chars.len() {
                    if is_number(chars[i].1) {
                        word(&text[offset(i, chars)..offset(i + 1, chars)]);
                        i += 1;
                        continue;
                    }
                    // The run up to the next number is matched on its own: lookaheads end there.
                    let end = (i..chars.len())
                        .find(|&k| is_number(chars[k].1))
                        .unwrap_or(chars.len());
                    while i < end {
                        let j = gpt2_match(chars, i, end);
                        word(&text[offset(i, chars)..offset(j, chars)]);
                        i = j;
                    }
                }
            }
        }
    }
}

/// `\p{L}`.
pub(crate) fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    unicode_tables::is_letter(c)
}

/// `\p{N}`.
pub(crate) fn is_number(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    unicode_tables::is_number(c)
}

fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// `[^\s\p{L}\p{N}]`.
fn is_other(c: char) -> bool {
    !is_space(c) && !is_letter(c) && !is_number(c)
}

fn is_newline(c: char) -> bool {
    c == '\r' || c == '\n'
}

/// End of the run of `class` characters starting at `i` (chars[..end]).
fn run(chars: &[(usize, char)], i: usize, end: usize, class: impl Fn(char) -> bool) -> usize {
    let mut j = i;
    while j < end && class(chars[j].1) {
        j += 1;
    }
    j
}

/// `\s+(?!\S)|\s+` at a whitespace character `i`.
fn whitespace_match(chars: &[(usize, char)], i: usize, end: usize) -> usize {
    let k = run(chars, i, end, is_space);
    if k == end || k - i < 2 {
        // at the end: `\s+(?!\S)` takes it all; one space before a non-space: `\s+`
        k.max(i + 1)
    } else {
        // `\s+(?!\S)` backtracks to leave the last space for the next word
        k - 1
    }
}

/// One GPT-2 regex match at `i` (< end); returns its end.
fn gpt2_match(chars: &[(usize, char)], i: usize, end: usize) -> usize {
    let at = |k: usize| if k < end { Some(chars[k].1) } else { None };
    if at(i) == Some('\'') {
        match (at(i + 1), at(i + 2)) {
            (Some('s' | 't' | 'm' | 'd'), _) => return i + 2,
            (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l')) => {
                return i + 3
            }
            _ => {}
        }
    }
    let start = if at(i) == Some(' ') && i + 1 < end {
        i + 1
    } else {
        i
    };
    if let Some(c) = at(start) {
        if is_letter(c) {
            return run(chars, start, end, is_letter);
        }
        if is_number(c) {
            return run(chars, start, end, is_number);
        }
        if is_other(c) {
            return run(chars, start, end, is_other);
        }
    }
    whitespace_match(chars, i, end)
}

/// One Llama 3 regex match at `i` (< end); returns its end.
fn llama3_match(chars: &[(usize, char)], i: usize, end: usize) -> usize {
    let at = |k: usize| if k < end { Some(chars[k].1) } else { None };
    let lower = |k: usize| at(k).map(|c| c.to_ascii_lowercase());
    let Some(c) = at(i) else { return end };
    if c == '\'' {
        match (lower(i + 1), lower(i + 2)) {
            (Some('s' | 't' | 'm' | 'd'), _) => return i + 2,
            (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l')) => {
                return i + 3
            }
            _ => {}
        }
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if is_letter(c) {
        return run(chars, i, end, is_letter);
    }
    if !is_newline(c) && !is_number(c) && at(i + 1).is_some_and(is_letter) {
        return run(chars, i + 1, end, is_letter);
    }
    // \p{N}{1,3}
    if is_number(c) {
        return run(chars, i, end.min(i + 3), is_number);
    }
    // ' '?[^\s\p{L}\p{N}]+[\r\n]*
    let start = if c == ' ' && at(i + 1).is_some_and(is_other) {
        i + 1
    } else {
        i
    };
    if at(start).is_some_and(is_other) {
        let j = run(chars, start, end, is_other);
        return run(chars, j, end, is_newline);
    }
    // \s*[\r\n]+
    let k = run(chars, i, end, is_space);
    if let Some(last_newline) = (i..k).rev().find(|&j| is_newline(chars[j].1)) {
        return last_newline + 1;
    }
    whitespace_match(chars, i, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_unicode_14_letters_and_numbers() {
        // Letters of several scripts; a combining mark (Mn) and a symbol are not letters.
        for c in ['é', 'ж', '中', 'ㄱ', 'ǅ', 'ʰ', '\u{30000}'] {
            assert!(is_letter(c) && !is_number(c), "{c:?}");
        }
        for c in ['\u{301}', '€', ' ', '\u{31350}'] {
            assert!(!is_letter(c), "{c:?}"); // U+31350: a letter only from Unicode 15 on
        }
        // Nd, Nl, No.
        for c in ['٣', 'Ⅻ', '½', '²', '\u{1D7CE}'] {
            assert!(is_number(c) && !is_letter(c), "{c:?}");
        }
    }

    fn words(pre: PreTokenizer, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        pre.split(text, &mut Vec::new(), |w| out.push(w.to_string()));
        out
    }

    #[test]
    fn gpt2_splits() {
        let w = words(PreTokenizer::Gpt2, "   leading and trailing   ");
        assert_eq!(w, ["  ", " leading", " and", " trailing", "   "]);
        assert_eq!(
            words(PreTokenizer::Gpt2, "Hello\n\nworld\t!"),
            ["Hello", "\n", "\n", "world", "\t", "!"]
        );
        assert_eq!(
            words(PreTokenizer::Gpt2, "don't I'M"),
            ["don", "'t", " I", "'", "M"]
        );
        assert_eq!(
            words(PreTokenizer::Gpt2, "x * 2\n"),
            ["x", " *", " 2", "\n"]
        );
    }

    #[test]
    fn smollm_isolates_digits() {
        assert_eq!(
            words(PreTokenizer::SmolLm, "12 and 3.1"),
            ["1", "2", " and", " ", "3", ".", "1"]
        );
    }

    #[test]
    fn llama3_splits() {
        assert_eq!(
            words(PreTokenizer::Llama3, "12345 I'M ok\n\n  x"),
            ["123", "45", " I", "'M", " ok", "\n\n", " ", " x"]
        );
        assert_eq!(
            words(PreTokenizer::Llama3, "a...\n\nb"),
            ["a", "...\n\n", "b"]
        );
    }

    #[test]
    fn unicode_classes() {
        assert!(is_letter('ü') && is_letter('日') && !is_letter('\u{301}'));
        assert!(is_number('٣') && is_number('½') && !is_number('a'));
    }
}
