//! tokenizer.json + tokenizer_config.json -> GGUF tokenizer metadata.
//!
//! Writes the keys llama.cpp's `convert_hf_to_gguf.py` writes, in its order and value types
//! (so llama.cpp loads our files and its tokenizer keys equal ours), then `edge.tokenizer.*`
//! keys for what llama.cpp's keys cannot say but the Hugging Face `tokenizers` library does
//! (normalizer steps, unknown-token fusion, added tokens' `normalized`/`special` flags). The
//! runtime (`edge::tokenizer`) reads both.
//!
//! Two families are recognized from tokenizer.json:
//! - byte-level BPE (`decoder.type == "ByteLevel"`, no byte fallback): `tokenizer.ggml.model =
//!   "gpt2"`, the pre-tokenizer named as llama.cpp names it (`gpt2`, `smollm`, `llama-bpe`),
//!   recognized from the pre_tokenizer's structure (llama.cpp hashes a tokenization instead);
//! - SentencePiece-style BPE (`byte_fallback: true`, `Sequence` decoder): `tokenizer.ggml.model =
//!   "llama"`, scores and token types as llama.cpp's `LlamaHfVocab` gives them, and (ours, which
//!   llama.cpp ignores for this model) the merges in `tokenizer.ggml.merges`.
//!
//! Anything else is an error naming the file and the key.

use edge_formats::gguf::keys::{edge_tokenizer as etk, tokenizer as tk};
use edge_formats::gguf::vocab::parse_byte_token;
use edge_formats::gguf::{token_type, Value, ValueType};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

/// Marks a GGUF whose tokenizer follows tokenizer.json's semantics through `edge.tokenizer.*`.
pub const EDGE_TOKENIZER_VERSION: u32 = 1;

/// llama.cpp's Llama 3 pre-tokenizer regex, as tokenizer.json's `Split` pattern spells it.
const LLAMA3_SPLIT_REGEX: &str = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

#[derive(Debug, thiserror::Error)]
pub enum TokenizerConvertError {
    #[error("{}: missing: the model folder has no tokenizer.json (needed for the vocabulary)", path.display())]
    MissingTokenizerJson { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not valid JSON, or a key repeated in one object (serde_json would keep the last).
    #[error("{}: {problem}", path.display())]
    Json {
        path: PathBuf,
        problem: super::json::JsonError,
    },
    #[error("{}: key `{key}`: {message}", path.display())]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("{}: key `{key}`: unsupported: {message}", path.display())]
    Unsupported {
        path: PathBuf,
        key: String,
        message: String,
    },
}

type Result<T> = std::result::Result<T, TokenizerConvertError>;

/// Which tokenizer family tokenizer.json describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    /// GPT-2 style byte-level BPE; the pre-tokenizer name as llama.cpp spells it.
    ByteLevel(&'static str),
    /// SentencePiece-style BPE over `▁`-normalized text, with byte fallback.
    SentencePiece,
}

/// One entry of tokenizer.json's `added_tokens`.
#[derive(Clone, Debug)]
struct AddedToken {
    id: u32,
    content: String,
    special: bool,
    normalized: bool,
}

/// The parsed inputs, with the file names for error messages.
struct Inputs {
    tokenizer_path: PathBuf,
    tokenizer: Json,
    config_path: PathBuf,
    /// tokenizer_config.json, if present.
    config: Option<Json>,
    /// config.json, if present (llama.cpp reads `*_token_id` from it as a fallback).
    model_config: Option<Json>,
}

impl Inputs {
    fn invalid(&self, key: &str, message: impl Into<String>) -> TokenizerConvertError {
        TokenizerConvertError::Invalid {
            path: self.tokenizer_path.clone(),
            key: key.into(),
            message: message.into(),
        }
    }
    fn unsupported(&self, key: &str, message: impl Into<String>) -> TokenizerConvertError {
        TokenizerConvertError::Unsupported {
            path: self.tokenizer_path.clone(),
            key: key.into(),
            message: message.into(),
        }
    }
}

fn read_json(path: &Path) -> Result<Json> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenizerConvertError::Io {
        path: path.into(),
        source,
    })?;
    super::json::parse_unique_keys(&text).map_err(|problem| TokenizerConvertError::Json {
        path: path.into(),
        problem,
    })
}

fn read_optional_json(path: &Path) -> Result<Option<Json>> {
    if path.is_file() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

/// The GGUF tokenizer metadata for the Hugging Face model folder `folder`, in write order.
pub fn tokenizer_metadata(folder: &Path) -> Result<Vec<(String, Value)>> {
    let tokenizer_path = folder.join("tokenizer.json");
    if !tokenizer_path.is_file() {
        return Err(TokenizerConvertError::MissingTokenizerJson {
            path: tokenizer_path,
        });
    }
    let inputs = Inputs {
        tokenizer: read_json(&tokenizer_path)?,
        tokenizer_path,
        config: read_optional_json(&folder.join("tokenizer_config.json"))?,
        config_path: folder.join("tokenizer_config.json"),
        model_config: read_optional_json(&folder.join("config.json"))?,
    };
    build(&inputs)
}

fn build(inputs: &Inputs) -> Result<Vec<(String, Value)>> {
    let model = inputs
        .tokenizer
        .get("model")
        .ok_or_else(|| inputs.invalid("model", "missing"))?;
    let model_type = model.get("type").and_then(Json::as_str).unwrap_or("");
    if model_type != "BPE" {
        return Err(inputs.unsupported("model.type", format!("`{model_type}` (only BPE)")));
    }
    for key in ["continuing_subword_prefix", "end_of_word_suffix", "dropout"] {
        if model.get(key).is_some_and(|v| !v.is_null()) {
            return Err(inputs.unsupported(&format!("model.{key}"), "must be null"));
        }
    }
    let family = detect_family(inputs)?;
    let added = added_tokens(inputs)?;
    let tokens = token_list(inputs, &added)?;
    let special_ids = special_ids(inputs, &added);
    let merges = merge_list(inputs)?;

    let mut out: Vec<(String, Value)> = Vec::new();
    let mut put = |key: &str, value: Value| out.push((key.to_string(), value));

    match family {
        Family::ByteLevel(pre) => {
            let mut texts = Vec::with_capacity(tokens.len());
            let mut types = Vec::with_capacity(tokens.len());
            for (id, token) in tokens.iter().enumerate() {
                let (text, ty) = byte_level_token(id as u32, token.as_deref(), &added);
                texts.push(text);
                types.push(ty);
            }
            put(tk::ADD_SPACE_PREFIX, Value::Bool(false));
            put(tk::MODEL, Value::String("gpt2".into()));
            put(tk::PRE, Value::String(pre.into()));
            put(tk::TOKENS, string_array(texts));
            put(tk::TOKEN_TYPE, i32_array(&types));
        }
        Family::SentencePiece => {
            let mut texts = Vec::with_capacity(tokens.len());
            let mut types = Vec::with_capacity(tokens.len());
            for (id, token) in tokens.iter().enumerate() {
                let (text, ty) =
                    sentencepiece_token(id as u32, token.as_deref(), &added, &special_ids);
                texts.push(text);
                types.push(ty);
            }
            put(tk::MODEL, Value::String("llama".into()));
            put(tk::PRE, Value::String("default".into()));
            put(tk::TOKENS, string_array(texts));
            // llama.cpp's LlamaHfVocab gives every token the placeholder score -1000.
            put(
                tk::SCORES,
                Value::array(ValueType::F32, vec![Value::F32(-1000.0); tokens.len()]),
            );
            put(tk::TOKEN_TYPE, i32_array(&types));
        }
    }
    // llama.cpp writes merges for byte-level BPE only; for the SentencePiece-style model they are
    // ours (llama.cpp reads merges for BPE vocabularies only, so the key is harmless there).
    if !merges.is_empty() {
        put(tk::MERGES, string_array(merges));
    }
    for (kind, id) in special_token_ids(inputs, &added, tokens.len()) {
        put(special_id_key(kind), Value::U32(id));
    }
    for (kind, add) in add_special_flags(inputs, family) {
        put(&tk::add_token_key(kind), Value::Bool(add));
    }
    if let Some(template) = chat_template(inputs)? {
        put(tk::CHAT_TEMPLATE, Value::String(template));
    }
    for (key, value) in edge_keys(inputs, family, &added)? {
        put(&key, value);
    }
    Ok(out)
}

fn string_array(items: Vec<String>) -> Value {
    Value::array(
        ValueType::String,
        items.into_iter().map(Value::String).collect(),
    )
}

fn i32_array(items: &[i32]) -> Value {
    Value::array(
        ValueType::I32,
        items.iter().map(|&v| Value::I32(v)).collect(),
    )
}

fn detect_family(inputs: &Inputs) -> Result<Family> {
    let t = &inputs.tokenizer;
    let byte_fallback = t
        .pointer("/model/byte_fallback")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    let decoder_type = t
        .pointer("/decoder/type")
        .and_then(Json::as_str)
        .unwrap_or("");
    if !byte_fallback && decoder_type == "ByteLevel" {
        if t.get("normalizer").is_some_and(|n| !n.is_null()) {
            return Err(inputs.unsupported("normalizer", "a normalizer with a byte-level BPE"));
        }
        return Ok(Family::ByteLevel(byte_level_pre_name(inputs)?));
    }
    if byte_fallback && decoder_type == "Sequence" {
        if t.get("pre_tokenizer").is_some_and(|p| !p.is_null()) {
            return Err(inputs.unsupported(
                "pre_tokenizer",
                "a pre-tokenizer with a SentencePiece-style BPE (only null)",
            ));
        }
        return Ok(Family::SentencePiece);
    }
    Err(inputs.unsupported(
        "decoder.type",
        format!("`{decoder_type}` with byte_fallback={byte_fallback} (neither byte-level nor SentencePiece-style BPE)"),
    ))
}

/// The llama.cpp pre-tokenizer name for a byte-level BPE's `pre_tokenizer`.
fn byte_level_pre_name(inputs: &Inputs) -> Result<&'static str> {
    let pre = inputs.tokenizer.get("pre_tokenizer").unwrap_or(&Json::Null);
    let ty = |v: &Json| {
        v.get("type")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string()
    };
    let flag = |v: &Json, k: &str| v.get(k).and_then(Json::as_bool);
    let byte_level_ok = |v: &Json, regex: bool| {
        ty(v) == "ByteLevel"
            && flag(v, "add_prefix_space") != Some(true)
            && flag(v, "use_regex").unwrap_or(true) == regex
    };
    if byte_level_ok(pre, true) {
        return Ok("gpt2");
    }
    if ty(pre) == "Sequence" {
        let steps: &[Json] = pre
            .get("pretokenizers")
            .and_then(Json::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if let [first, second] = steps {
            if ty(first) == "Digits"
                && flag(first, "individual_digits") == Some(true)
                && byte_level_ok(second, true)
            {
                return Ok("smollm");
            }
            let split_regex = first.pointer("/pattern/Regex").and_then(Json::as_str);
            if ty(first) == "Split"
                && split_regex == Some(LLAMA3_SPLIT_REGEX)
                && byte_level_ok(second, false)
            {
                return Ok("llama-bpe");
            }
        }
    }
    Err(inputs.unsupported(
        "pre_tokenizer",
        format!("{pre} (known: ByteLevel, Digits+ByteLevel, Llama 3 Split+ByteLevel)"),
    ))
}

fn added_tokens(inputs: &Inputs) -> Result<Vec<AddedToken>> {
    let Some(list) = inputs.tokenizer.get("added_tokens") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| inputs.invalid("added_tokens", "not an array"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let key = format!("added_tokens[{i}]");
        let id = entry
            .get("id")
            .and_then(Json::as_u64)
            .and_then(|v| u32::try_from(v).ok());
        let content = entry.get("content").and_then(Json::as_str);
        let (Some(id), Some(content)) = (id, content) else {
            return Err(inputs.invalid(&key, "needs an integer `id` and a string `content`"));
        };
        for flag in ["single_word", "lstrip", "rstrip"] {
            if entry.get(flag).and_then(Json::as_bool) == Some(true) {
                return Err(inputs.unsupported(
                    &format!("{key}.{flag}"),
                    format!("added token {content:?} sets it"),
                ));
            }
        }
        out.push(AddedToken {
            id,
            content: content.to_string(),
            special: entry
                .get("special")
                .and_then(Json::as_bool)
                .unwrap_or(false),
            normalized: entry
                .get("normalized")
                .and_then(Json::as_bool)
                .unwrap_or(true),
        });
    }
    Ok(out)
}

/// Token text by id (vocab, then added tokens); `None` for ids nobody names.
fn token_list(inputs: &Inputs, added: &[AddedToken]) -> Result<Vec<Option<String>>> {
    let vocab = inputs
        .tokenizer
        .pointer("/model/vocab")
        .and_then(Json::as_object)
        .ok_or_else(|| inputs.invalid("model.vocab", "missing or not an object"))?;
    let mut max_id: Option<u32> = None;
    let mut entries = Vec::with_capacity(vocab.len() + added.len());
    for (text, id) in vocab {
        let id = id
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| {
                inputs.invalid(&format!("model.vocab.{text}"), "id is not an integer")
            })?;
        entries.push((id, text.clone()));
    }
    entries.extend(added.iter().map(|a| (a.id, a.content.clone())));
    for &(id, _) in &entries {
        max_id = Some(max_id.map_or(id, |m| m.max(id)));
    }
    let n = max_id.map_or(0, |m| m as usize + 1);
    if n > entries.len().saturating_mul(2) + 1024 {
        return Err(inputs.invalid(
            "model.vocab",
            format!("ids up to {} for {} tokens", n - 1, entries.len()),
        ));
    }
    let mut tokens = vec![None; n];
    for (id, text) in entries {
        tokens[id as usize].get_or_insert(text);
    }
    Ok(tokens)
}

/// Text and type of one token for a byte-level BPE (convert_hf_to_gguf's `get_vocab_base`).
fn byte_level_token(id: u32, token: Option<&str>, added: &[AddedToken]) -> (String, i32) {
    let Some(text) = token else {
        return (format!("[PAD{id}]"), token_type::UNUSED);
    };
    match added.iter().find(|a| a.id == id) {
        Some(a) if a.special || looks_special(text) => (text.to_string(), token_type::CONTROL),
        Some(_) => (text.replace('\u{2581}', " "), token_type::USER_DEFINED),
        None => (text.to_string(), token_type::NORMAL),
    }
}

/// convert_hf_to_gguf's `does_token_look_special`.
fn looks_special(text: &str) -> bool {
    matches!(text, "<pad>" | "<mask>" | "<2mass>" | "[@BOS@]")
        || (text.starts_with("<|") && text.ends_with("|>"))
        || (text.starts_with("<\u{ff5c}") && text.ends_with("\u{ff5c}>"))
        || text.starts_with("<start_of_")
        || text.starts_with("<end_of_")
}

/// Text and type of one token for a SentencePiece-style BPE (gguf-py's `LlamaHfVocab`).
fn sentencepiece_token(
    id: u32,
    token: Option<&str>,
    added: &[AddedToken],
    special_ids: &[u32],
) -> (String, i32) {
    let Some(text) = token else {
        return (format!("[PAD{id}]"), token_type::UNUSED);
    };
    if parse_byte_token(text).is_some() {
        return (text.to_string(), token_type::BYTE);
    }
    if special_ids.contains(&id) {
        return (text.to_string(), token_type::CONTROL);
    }
    if added.iter().any(|a| a.id == id) {
        return (text.to_string(), token_type::USER_DEFINED);
    }
    (text.to_string(), token_type::NORMAL)
}

/// Ids transformers counts as special (`all_special_ids`): added tokens marked special and the
/// tokens named by tokenizer_config's `*_token` entries.
fn special_ids(inputs: &Inputs, added: &[AddedToken]) -> Vec<u32> {
    let mut ids: Vec<u32> = added.iter().filter(|a| a.special).map(|a| a.id).collect();
    for kind in SPECIAL_KINDS {
        if let Some(content) = config_token_content(inputs, kind) {
            if let Some(a) = added.iter().find(|a| a.content == content) {
                ids.push(a.id);
            }
        }
    }
    ids
}

/// gguf-py SpecialVocab's special token types, in its order.
const SPECIAL_KINDS: [&str; 7] = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"];

fn special_id_key(kind: &str) -> &'static str {
    match kind {
        "bos" => tk::BOS_ID,
        "eos" => tk::EOS_ID,
        "unk" => tk::UNK_ID,
        "sep" => tk::SEP_ID,
        "pad" => tk::PAD_ID,
        "cls" => tk::CLS_ID,
        _ => tk::MASK_ID,
    }
}

/// tokenizer_config's `<kind>_token`: a string or `{ "content": ... }`.
fn config_token_content<'a>(inputs: &'a Inputs, kind: &str) -> Option<&'a str> {
    let entry = inputs.config.as_ref()?.get(format!("{kind}_token"))?;
    entry
        .as_str()
        .or_else(|| entry.get("content").and_then(Json::as_str))
}

/// Special token ids in gguf-py SpecialVocab's order: first from tokenizer_config's `*_token`
/// (matched against added tokens), then config.json's `*_token_id`; the first value set wins.
fn special_token_ids(
    inputs: &Inputs,
    added: &[AddedToken],
    n_vocab: usize,
) -> Vec<(&'static str, u32)> {
    let mut out: Vec<(&'static str, u32)> = Vec::new();
    let set = |kind: &'static str, id: u32, out: &mut Vec<(&'static str, u32)>| {
        if (id as usize) < n_vocab && !out.iter().any(|(k, _)| *k == kind) {
            out.push((kind, id));
        }
    };
    for kind in SPECIAL_KINDS {
        if let Some(content) = config_token_content(inputs, kind) {
            if let Some(a) = added.iter().find(|a| a.content == content) {
                set(kind, a.id, &mut out);
            }
        }
    }
    if let Some(config) = &inputs.model_config {
        for kind in SPECIAL_KINDS {
            let id = config
                .get(format!("{kind}_token_id"))
                .and_then(Json::as_u64)
                .and_then(|v| u32::try_from(v).ok());
            if let Some(id) = id {
                set(kind, id, &mut out);
            }
        }
    }
    out
}

/// `add_<kind>_token` flags in gguf-py SpecialVocab's order: the post-processor's template first
/// (bos, eos, sep), then tokenizer_config's `add_<kind>_token` (overriding values, keeping the
/// position). Byte-level BPE always states add_bos and add_eos (false unless told otherwise).
fn add_special_flags(inputs: &Inputs, family: Family) -> Vec<(&'static str, bool)> {
    let mut flags: Vec<(&'static str, bool)> = Vec::new();
    let set = |kind: &'static str, value: bool, flags: &mut Vec<(&'static str, bool)>| match flags
        .iter_mut()
        .find(|(k, _)| *k == kind)
    {
        Some(slot) => slot.1 = value,
        None => flags.push((kind, value)),
    };
    let bos = config_token_content(inputs, "bos");
    let eos = config_token_content(inputs, "eos");
    let sep = config_token_content(inputs, "sep");
    if let Some(post) = inputs
        .tokenizer
        .get("post_processor")
        .filter(|p| !p.is_null())
    {
        let processors: Vec<&Json> = match post.get("processors").and_then(Json::as_array) {
            Some(list) => list.iter().collect(),
            None => vec![post],
        };
        for processor in processors {
            if processor.get("type").and_then(Json::as_str) != Some("TemplateProcessing") {
                continue;
            }
            let special_of = |item: &Json| {
                item.pointer("/SpecialToken/id")
                    .and_then(Json::as_str)
                    .map(str::to_string)
            };
            let single: &[Json] = processor
                .get("single")
                .and_then(Json::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let mut first = None;
            let mut last = None;
            if single.len() > 1 {
                first = single.first().and_then(special_of);
                if let Some(f) = &first {
                    set("bos", Some(f.as_str()) == bos || bos.is_none(), &mut flags);
                }
                last = single.last().and_then(special_of);
                if let Some(l) = &last {
                    set("eos", Some(l.as_str()) == eos || eos.is_none(), &mut flags);
                }
            }
            // "A <sep> B" in the pair template: whether a separator is added.
            let pair: &[Json] = processor
                .get("pair")
                .and_then(Json::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let start = usize::from(first.is_some() && pair.first().and_then(special_of) == first);
            let stop = pair.len()
                - usize::from(last.is_some() && pair.last().and_then(special_of) == last);
            if start < stop {
                let middle = &pair[start..stop];
                let is_seq = |item: Option<&Json>, id: &str| {
                    item.and_then(|i| i.pointer("/Sequence/id"))
                        .and_then(Json::as_str)
                        == Some(id)
                };
                if middle.len() > 2 && is_seq(middle.first(), "A") && is_seq(middle.last(), "B") {
                    let inner = &middle[1..middle.len() - 1];
                    let separates = |item: &Json| {
                        special_of(item)
                            .is_some_and(|s| Some(s.as_str()) == sep || Some(s.as_str()) == eos)
                    };
                    let add_sep = (separates(&inner[0]) && last.is_none())
                        || (inner.len() == 2 && separates(&inner[1]));
                    set("sep", add_sep, &mut flags);
                }
            }
        }
    }
    if let Some(config) = &inputs.config {
        for kind in SPECIAL_KINDS {
            if let Some(value) = config
                .get(format!("add_{kind}_token"))
                .and_then(Json::as_bool)
            {
                set(kind, value, &mut flags);
            }
        }
    }
    if let Family::ByteLevel(_) = family {
        for kind in ["bos", "eos"] {
            if !flags.iter().any(|(k, _)| *k == kind) {
                set(kind, false, &mut flags);
            }
        }
    }
    flags
}

/// Merges as llama.cpp stores them: "left right", a space inside a part written as U+0120.
fn merge_list(inputs: &Inputs) -> Result<Vec<String>> {
    let Some(merges) = inputs.tokenizer.pointer("/model/merges") else {
        return Ok(Vec::new());
    };
    let merges = merges
        .as_array()
        .ok_or_else(|| inputs.invalid("model.merges", "not an array"))?;
    let mut out = Vec::with_capacity(merges.len());
    for (i, merge) in merges.iter().enumerate() {
        if let Some(text) = merge.as_str() {
            out.push(text.to_string());
            continue;
        }
        let pair = merge.as_array().filter(|p| p.len() == 2);
        let parts: Option<Vec<&str>> = pair.map(|p| p.iter().filter_map(Json::as_str).collect());
        match parts.as_deref() {
            Some([left, right]) => {
                let escape = |s: &str| s.replace(' ', "\u{0120}");
                out.push(format!("{} {}", escape(left), escape(right)));
            }
            _ => {
                return Err(inputs.invalid(
                    &format!("model.merges[{i}]"),
                    "neither \"a b\" nor [\"a\", \"b\"]",
                ))
            }
        }
    }
    Ok(out)
}

/// tokenizer_config.json's `chat_template`: a string, or a list whose `default` entry is used.
fn chat_template(inputs: &Inputs) -> Result<Option<String>> {
    let Some(entry) = inputs.config.as_ref().and_then(|c| c.get("chat_template")) else {
        return Ok(None);
    };
    if let Some(text) = entry.as_str() {
        return Ok(Some(text.to_string()));
    }
    if let Some(list) = entry.as_array() {
        let default = list
            .iter()
            .find(|t| t.get("name").and_then(Json::as_str) == Some("default"));
        return Ok(default
            .and_then(|t| t.get("template"))
            .and_then(Json::as_str)
            .map(str::to_string));
    }
    Err(TokenizerConvertError::Invalid {
        path: inputs.config_path.clone(),
        key: "chat_template".into(),
        message: "neither a string nor a list of named templates".into(),
    })
}

/// Our keys: what tokenizer.json says beyond llama.cpp's keys.
fn edge_keys(
    inputs: &Inputs,
    family: Family,
    added: &[AddedToken],
) -> Result<Vec<(String, Value)>> {
    let model = inputs.tokenizer.get("model").unwrap_or(&Json::Null);
    let flag = |k: &str| model.get(k).and_then(Json::as_bool).unwrap_or(false);
    let mut out: Vec<(String, Value)> = Vec::new();
    let mut put = |key: &str, value: Value| out.push((key.to_string(), value));
    put(etk::VERSION, Value::U32(EDGE_TOKENIZER_VERSION));
    put(etk::BYTE_FALLBACK, Value::Bool(flag("byte_fallback")));
    put(etk::FUSE_UNK, Value::Bool(flag("fuse_unk")));
    put(etk::IGNORE_MERGES, Value::Bool(flag("ignore_merges")));
    if family == Family::SentencePiece {
        let (prepend, replaces) = normalizer_steps(inputs)?;
        if let Some(prepend) = prepend {
            put(etk::NORMALIZER_PREPEND, Value::String(prepend));
        }
        let (from, to): (Vec<String>, Vec<String>) = replaces.into_iter().unzip();
        put(etk::NORMALIZER_REPLACE_FROM, string_array(from));
        put(etk::NORMALIZER_REPLACE_TO, string_array(to));
    }
    let mut added = added.to_vec();
    added.sort_by_key(|a| a.id);
    put(
        etk::ADDED_TOKEN_IDS,
        Value::array(
            ValueType::U32,
            added.iter().map(|a| Value::U32(a.id)).collect(),
        ),
    );
    put(
        etk::ADDED_TOKEN_SPECIAL,
        Value::array(
            ValueType::Bool,
            added.iter().map(|a| Value::Bool(a.special)).collect(),
        ),
    );
    put(
        etk::ADDED_TOKEN_NORMALIZED,
        Value::array(
            ValueType::Bool,
            added.iter().map(|a| Value::Bool(a.normalized)).collect(),
        ),
    );
    Ok(out)
}

/// An optional prepended string and (pattern, replacement) pairs, applied in that order.
type NormalizerSteps = (Option<String>, Vec<(String, String)>);

/// A normalizer made of one optional leading `Prepend` and any `Replace` of a literal string.
fn normalizer_steps(inputs: &Inputs) -> Result<NormalizerSteps> {
    let normalizer = inputs.tokenizer.get("normalizer").unwrap_or(&Json::Null);
    if normalizer.is_null() {
        return Ok((None, Vec::new()));
    }
    let steps: Vec<&Json> = match normalizer.get("type").and_then(Json::as_str) {
        Some("Sequence") => normalizer
            .get("normalizers")
            .and_then(Json::as_array)
            .map(|v| v.iter().collect())
            .unwrap_or_default(),
        _ => vec![normalizer],
    };
    let mut prepend = None;
    let mut replaces = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let key = format!("normalizer[{i}]");
        match step.get("type").and_then(Json::as_str) {
            Some("Prepend") if i == 0 => {
                let text = step.get("prepend").and_then(Json::as_str);
                prepend = Some(
                    text.ok_or_else(|| inputs.invalid(&key, "Prepend without `prepend`"))?
                        .to_string(),
                );
            }
            Some("Replace") => {
                let pattern = step.pointer("/pattern/String").and_then(Json::as_str);
                let content = step.get("content").and_then(Json::as_str);
                let (Some(pattern), Some(content)) = (pattern, content) else {
                    return Err(inputs.unsupported(&key, "Replace other than of a literal string"));
                };
                if pattern.is_empty() {
                    return Err(inputs.invalid(&key, "Replace of an empty string"));
                }
                replaces.push((pattern.to_string(), content.to_string()));
            }
            other => {
                return Err(inputs.unsupported(
                    &key,
                    format!("normalizer step {other:?} (only a leading Prepend and Replace)"),
                ))
            }
        }
    }
    Ok((prepend, replaces))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tokenizer_json_is_named() {
        let dir = std::env::temp_dir().join("edge-no-tokenizer-here");
        let err = tokenizer_metadata(&dir).unwrap_err().to_string();
        assert!(err.contains("tokenizer.json"), "{err}");
    }
}
