//! The tokenizer a GGUF's metadata describes, checked for what the runtime's tokenizer needs:
//! a supported model, a non-empty token list with per-token types and scores of its length,
//! merges of known tokens, special and added token ids inside the vocabulary, and normalizer
//! replacements whose work is bounded by the input.

use crate::gguf::keys::{edge_tokenizer as etk, tokenizer as tk};
use crate::gguf::{Array, Value};
use std::collections::HashSet;

/// Key lookup over any metadata store (a parsed GGUF, or entries about to be written).
pub type Lookup<'a, 'v> = &'a dyn Fn(&str) -> Option<&'v Value>;

/// How many times longer the normalizer's replacements may make a text (at worst): the bound
/// on the memory and work normalizing a text takes. Real tokenizers need 3 (" " -> "▁").
pub const MAX_NORMALIZER_GROWTH: f64 = 64.0;

/// The ids a special-token key may name (negative: none, as llama.cpp writes it).
const SPECIAL_ID_KEYS: [&str; 5] = [tk::BOS_ID, tk::EOS_ID, tk::UNK_ID, tk::EOT_ID, tk::EOM_ID];

/// Checks the tokenizer keys. Returns the number of tokens, or the first problem as one
/// message naming its key (and entry).
pub fn check_tokenizer(get: Lookup<'_, '_>) -> Result<usize, String> {
    let model = string(get, tk::MODEL)?.ok_or_else(|| missing(tk::MODEL))?;
    let tokens = strings(get, tk::TOKENS)?.ok_or_else(|| missing(tk::TOKENS))?;
    let n = tokens.len();
    if n == 0 || n >= u32::MAX as usize {
        return Err(format!("key `{}`: {n} tokens", tk::TOKENS));
    }
    for key in [tk::TOKEN_TYPE, tk::SCORES] {
        if let Some(len) = array_len(get, key)? {
            if len != n {
                return Err(format!("key `{key}`: {len} entries for {n} tokens"));
            }
        }
    }
    let vocab: HashSet<&str> = tokens.iter().copied().collect();
    let n_merges = match strings(get, tk::MERGES)? {
        Some(merges) => check_merges(&merges, &vocab)?,
        None => 0,
    };
    match model {
        "gpt2" if n_merges == 0 => return Err(missing(tk::MERGES)),
        "gpt2" | "llama" => {}
        other => return Err(format!("key `{}`: `{other}` is not supported", tk::MODEL)),
    }
    for key in SPECIAL_ID_KEYS {
        if let Some(v) = get(key) {
            let id = v.as_i128().ok_or_else(|| wrong(key, "an integer", v))?;
            if id >= n as i128 {
                return Err(format!(
                    "key `{key}`: token id {id} out of range (vocabulary of {n})"
                ));
            }
        }
    }
    // The normalizer and added-token keys are ours (`edge.tokenizer.*`); the normalizer
    // applies to the SentencePiece-style model only.
    if get(etk::VERSION).is_some() {
        if model == "llama" {
            let from = strings(get, etk::NORMALIZER_REPLACE_FROM)?.unwrap_or_default();
            let to = strings(get, etk::NORMALIZER_REPLACE_TO)?.unwrap_or_default();
            check_normalizer_replacements(&from, &to)?;
        }
        check_added_tokens(get, n)?;
    }
    Ok(n)
}

/// The normalizer's literal replacements (applied in order): as many patterns as
/// replacements, no empty pattern, and a chain that cannot grow a text more than
/// [`MAX_NORMALIZER_GROWTH`] times.
pub fn check_normalizer_replacements(from: &[&str], to: &[&str]) -> Result<(), String> {
    if from.len() != to.len() || from.iter().any(|f| f.is_empty()) {
        return Err(format!(
            "keys `{}`/`{}`: lengths differ or an empty pattern",
            etk::NORMALIZER_REPLACE_FROM,
            etk::NORMALIZER_REPLACE_TO
        ));
    }
    // Each step multiplies the text's length by at most max(1, |to| / |from|): chained
    // expanding steps ("a" -> "aa", again and again) would grow it exponentially.
    let growth: f64 = from
        .iter()
        .zip(to)
        .map(|(f, t)| (t.len() as f64 / f.len() as f64).max(1.0))
        .product();
    if growth > MAX_NORMALIZER_GROWTH {
        return Err(format!(
            "keys `{}`/`{}`: the {} replacements can make a text {growth:.0} times longer \
             (the limit is {MAX_NORMALIZER_GROWTH})",
            etk::NORMALIZER_REPLACE_FROM,
            etk::NORMALIZER_REPLACE_TO,
            from.len()
        ));
    }
    Ok(())
}

/// A merge as llama.cpp stores it, "left right": the separator is the first space after the
/// first character (llama.cpp's rule, so a part may itself start with a space).
pub fn split_merge(merge: &str) -> Option<(&str, &str)> {
    let first_len = merge.chars().next().map_or(0, char::len_utf8);
    let split = merge.get(first_len..)?.find(' ')? + first_len;
    Some((&merge[..split], &merge[split + 1..]))
}

/// Every merge splits into two tokens whose concatenation is a token. Returns the count.
fn check_merges(merges: &[&str], vocab: &HashSet<&str>) -> Result<usize, String> {
    let mut merged = String::new();
    for (rank, merge) in merges.iter().enumerate() {
        let bad = |why: &str| {
            format!(
                "key `{}`: entry {rank} {merge:?} is not \"a b\" of two tokens{why}",
                tk::MERGES
            )
        };
        let (left, right) = split_merge(merge).ok_or_else(|| bad(""))?;
        merged.clear();
        merged.push_str(left);
        merged.push_str(right);
        for part in [left, right, merged.as_str()] {
            if !vocab.contains(part) {
                return Err(bad(&format!(" (`{part}` is not a token)")));
            }
        }
    }
    Ok(merges.len())
}

/// `edge.tokenizer.added_token_*`: three arrays of one length, ids inside the vocabulary.
fn check_added_tokens(get: Lookup<'_, '_>, n: usize) -> Result<(), String> {
    let ids = integers(get, etk::ADDED_TOKEN_IDS)?.unwrap_or_default();
    for key in [etk::ADDED_TOKEN_SPECIAL, etk::ADDED_TOKEN_NORMALIZED] {
        if array_len(get, key)?.unwrap_or(0) != ids.len() {
            return Err("keys `edge.tokenizer.added_token_*`: lengths differ".into());
        }
    }
    match ids.iter().find(|&&id| id < 0 || id >= n as i128) {
        Some(id) => Err(format!(
            "key `{}`: id {id} out of range",
            etk::ADDED_TOKEN_IDS
        )),
        None => Ok(()),
    }
}

fn missing(key: &str) -> String {
    format!("key `{key}` missing")
}

fn wrong(key: &str, expected: &str, found: &Value) -> String {
    format!(
        "key `{key}`: expected {expected}, found {}",
        found.type_description()
    )
}

fn string<'v>(get: Lookup<'_, 'v>, key: &str) -> Result<Option<&'v str>, String> {
    match get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(wrong(key, "a string", other)),
    }
}

fn array<'v>(get: Lookup<'_, 'v>, key: &str) -> Result<Option<&'v Array>, String> {
    match get(key) {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items)),
        Some(other) => Err(wrong(key, "an array", other)),
    }
}

fn array_len(get: Lookup<'_, '_>, key: &str) -> Result<Option<usize>, String> {
    Ok(array(get, key)?.map(Array::len))
}

fn strings<'v>(get: Lookup<'_, 'v>, key: &str) -> Result<Option<Vec<&'v str>>, String> {
    let Some(items) = array(get, key)? else {
        return Ok(None);
    };
    items
        .strs()
        .map_err(|v| wrong(key, "an array of strings", &v))
        .map(Some)
}

fn integers(get: Lookup<'_, '_>, key: &str) -> Result<Option<Vec<i128>>, String> {
    let Some(items) = array(get, key)? else {
        return Ok(None);
    };
    items
        .iter()
        .map(|v| {
            v.as_i128()
                .ok_or_else(|| wrong(key, "an array of integers", &v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}
