//! Tokenizer metadata in GGUF: our converter's keys against llama.cpp's (manifests and
//! llama.cpp's own SmolLM2 file), and tokenizers loaded from GGUF files (llama.cpp's and ours)
//! against the `tokenizers` library's reference ids.

mod common;

use common::tokenizer::{check_cases, reference};
use edge::Tokenizer;
use edge_formats::gguf::{GgufFile, Value};
use edge_formats::GgmlType;
use edge_quantize::convert::tokenizer::tokenizer_metadata;
use serde_json::Value as Json;
use std::path::Path;

/// A metadata value as the manifests write it: arrays of more than 64 entries as
/// `{array_len, sha256_of_compact_json}` of Python's `json.dumps(list, ensure_ascii=False,
/// separators=(",", ":"))`.
fn manifest_form(value: &Value) -> Json {
    match value {
        Value::Array(items) => {
            let list: Vec<Json> = items.iter().map(|v| manifest_form(&v)).collect();
            if list.len() <= 64 {
                return Json::Array(list);
            }
            let compact = serde_json::to_string(&list).unwrap();
            let hex = common::sha256_hex(compact.as_bytes());
            serde_json::json!({ "array_len": list.len(), "sha256_of_compact_json": hex })
        }
        Value::String(s) => Json::String(s.clone()),
        Value::Bool(b) => Json::Bool(*b),
        Value::F32(x) => serde_json::json!(*x as f64),
        Value::F64(x) => serde_json::json!(*x),
        Value::U8(x) => serde_json::json!(*x),
        Value::I8(x) => serde_json::json!(*x),
        Value::U16(x) => serde_json::json!(*x),
        Value::I16(x) => serde_json::json!(*x),
        Value::U32(x) => serde_json::json!(*x),
        Value::I32(x) => serde_json::json!(*x),
        Value::U64(x) => serde_json::json!(*x),
        Value::I64(x) => serde_json::json!(*x),
    }
}

/// Every `tokenizer.*` key of the manifest is ours with the same value, in the same order.
fn check_against_manifest(folder: &Path, manifest: &str) {
    let ours = tokenizer_metadata(folder).unwrap();
    let path = common::shared_models()
        .join("llama.cpp-made")
        .join(manifest);
    let raw = std::fs::read_to_string(path).unwrap();
    let manifest: Json = serde_json::from_str(&raw).unwrap();
    let theirs: Vec<(String, Json)> = match &manifest["metadata"] {
        Json::Object(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Json::Array(list) => list
            .iter()
            .map(|kv| (kv[0].as_str().unwrap().to_string(), kv[1].clone()))
            .collect(),
        other => panic!("manifest metadata: {other}"),
    };
    let mut theirs: Vec<(String, Json)> = theirs
        .into_iter()
        .filter(|(k, _)| k.starts_with("tokenizer."))
        .collect();
    // serde_json's map is sorted by key: take llama.cpp's order from the file text.
    theirs.sort_by_key(|(k, _)| raw.find(&format!("\"{k}\"")));
    assert!(theirs.len() >= 8, "{theirs:?}");
    let mut order = Vec::new();
    for (key, expected) in &theirs {
        let position = ours
            .iter()
            .position(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("we lack `{key}`"));
        assert_eq!(&manifest_form(&ours[position].1), expected, "key `{key}`");
        order.push(position);
    }
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "llama.cpp's keys in another order: {order:?}"
    );
}

#[test]
fn smollm2_converter_keys_equal_llamacpp_manifest() {
    check_against_manifest(
        &common::smollm2_folder(),
        "smollm2-135m-instruct.q8_0.manifest.json",
    );
}

#[test]
fn tinystories_converter_keys_equal_llamacpp_manifest() {
    check_against_manifest(
        &common::shared_models().join("tinystories-656k"),
        "tinystories-656k.f32.manifest.json",
    );
}

#[test]
fn smollm2_converter_keys_equal_llamacpp_gguf() {
    let file = GgufFile::open(&common::smollm2_llamacpp_gguf()).unwrap();
    let ours = tokenizer_metadata(&common::smollm2_folder()).unwrap();
    for key in [
        "tokenizer.ggml.model",
        "tokenizer.ggml.pre",
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.merges",
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unknown_token_id",
        "tokenizer.ggml.padding_token_id",
    ] {
        let mine = ours.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        assert_eq!(mine, file.metadata().get(key), "key `{key}`");
    }
}

#[test]
fn smollm2_llamacpp_gguf_matches_reference() {
    let file = GgufFile::open(&common::smollm2_llamacpp_gguf()).unwrap();
    let tokenizer = Tokenizer::from_metadata(file.metadata()).unwrap();
    check_cases(&tokenizer, &reference("smollm2-135m-instruct"), true);
    assert!(tokenizer.is_eog(2) && tokenizer.is_eog(0));
}

#[test]
fn smollm2_our_gguf_matches_reference() {
    let path = common::quantized(&common::smollm2_folder(), GgmlType::F32);
    let file = GgufFile::open(&path).unwrap();
    check_cases(
        &Tokenizer::from_metadata(file.metadata()).unwrap(),
        &reference("smollm2-135m-instruct"),
        true,
    );
}

#[test]
fn tinystories_our_gguf_matches_reference() {
    let path = common::quantized(
        &common::shared_models().join("tinystories-656k"),
        GgmlType::F32,
    );
    let file = GgufFile::open(&path).unwrap();
    check_cases(
        &Tokenizer::from_metadata(file.metadata()).unwrap(),
        &reference("tinystories-656k"),
        false,
    );
}

/// llama.cpp's tinystories file has no merges: score-based SentencePiece merging, which splits
/// differently from tokenizers (README); it must load, round-trip plain text and never panic
/// where llama.cpp aborts (characters outside the vocabulary).
#[test]
fn tinystories_llamacpp_gguf_score_based_round_trips() {
    let path = common::shared_models().join("llama.cpp-made/tinystories-656k.f32.gguf");
    let file = GgufFile::open(&path).unwrap();
    let tokenizer = Tokenizer::from_metadata(file.metadata()).unwrap();
    let ids = tokenizer.encode("Once upon a time there was a little girl", true, true);
    assert_eq!(ids[0], 1);
    assert_eq!(
        tokenizer.decode(&ids, false),
        "Once upon a time there was a little girl"
    );
    for case in reference("tinystories-656k") {
        let ids = tokenizer.encode(&case.text, true, true);
        assert!(ids.iter().all(|&id| (id as usize) < tokenizer.n_vocab()));
    }
    // 'ü' has no token and there are no byte tokens: <unk> (id 0).
    assert!(tokenizer.encode("ü", false, true).contains(&0));
}
