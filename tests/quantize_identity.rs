//! Our quantizer against llama.cpp (`convert_hf_to_gguf.py --outtype f32` then
//! `llama-quantize --pure`): the same tensors with the same names, dims, types and bytes, and
//! the same `general.*` and `llama.*` keys with the same value types.

mod common;

use edge_formats::gguf::{GgufFile, Value};
use edge_formats::GgmlType;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn llama_cpp_made(file: &str) -> PathBuf {
    common::shared_models().join("llama.cpp-made").join(file)
}

/// `general.*` (name, basename, size_label, file_type, ...) and `llama.*`.
fn is_compared_key(k: &str) -> bool {
    k.starts_with("general.") || k.starts_with("llama.")
}

fn compared_keys(g: &GgufFile) -> BTreeMap<String, Value> {
    g.metadata()
        .entries()
        .iter()
        .filter(|(k, _)| is_compared_key(k))
        .cloned()
        .collect()
}

/// Tensor set and bytes equal to llama.cpp's own GGUF, plus the keys with value types.
fn assert_same_as_gguf(ours: &Path, reference: &Path) {
    let ours = GgufFile::open(ours).unwrap();
    let theirs = GgufFile::open(reference).unwrap();
    assert_eq!(ours.tensors().len(), theirs.tensors().len(), "tensor count");
    for t in theirs.tensors() {
        let o = ours
            .tensor(&t.name)
            .unwrap_or_else(|| panic!("missing tensor {}", t.name));
        assert_eq!(o.dims, t.dims, "dims of {}", t.name);
        assert_eq!(o.ty, t.ty, "type of {}", t.name);
        assert!(
            ours.tensor_data(o) == theirs.tensor_data(t),
            "data of {} differs",
            t.name
        );
    }
    let (ok, tk) = (compared_keys(&ours), compared_keys(&theirs));
    assert!(tk.len() > 10, "reference has llama.* keys");
    assert_eq!(ok, tk, "general.* and llama.* keys (with value types)");
}

/// Tensor set and data hashes equal to a manifest, and its `general.*`/`llama.*` key values.
fn assert_same_as_manifest(ours: &Path, manifest: &Path) {
    let ours = GgufFile::open(ours).unwrap();
    let text = std::fs::read_to_string(manifest).unwrap();
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();
    let tensors = m["tensors"].as_array().unwrap();
    assert_eq!(ours.tensors().len(), tensors.len(), "tensor count");
    for t in tensors {
        let name = t["name"].as_str().unwrap();
        let o = ours
            .tensor(name)
            .unwrap_or_else(|| panic!("missing tensor {name}"));
        let dims: Vec<u64> = t["dims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(o.dims.0, dims, "dims of {name}");
        assert_eq!(o.ty.name(), t["type"].as_str().unwrap(), "type of {name}");
        assert_eq!(
            common::sha256_hex(ours.tensor_data(o)),
            t["sha256"].as_str().unwrap(),
            "data of {name}"
        );
    }
    let meta = m["metadata"].as_object().unwrap();
    let mut n = 0;
    for (k, v) in meta {
        if !is_compared_key(k) {
            continue;
        }
        n += 1;
        let ours_v = ours
            .metadata()
            .get(k)
            .unwrap_or_else(|| panic!("missing key {k}"));
        // The manifest holds values only; llama.cpp writes these integers as U32 and the two
        // floats as F32 (checked against its GGUF in the tinystories tests).
        match (ours_v, v) {
            (Value::String(a), serde_json::Value::String(b)) => assert_eq!(a, b, "{k}"),
            (Value::U32(a), serde_json::Value::Number(b)) => {
                assert_eq!(Some(u64::from(*a)), b.as_u64(), "{k}")
            }
            (Value::F32(a), serde_json::Value::Number(b)) => {
                assert_eq!(Some(f64::from(*a)), b.as_f64(), "{k}")
            }
            (a, b) => panic!("{k}: ours {a:?}, manifest {b}"),
        }
    }
    assert!(n > 10, "manifest has llama.* keys");
}

fn tinystories(ty: GgmlType) {
    let folder = common::shared_models().join("tinystories-656k");
    let ours = common::quantized(&folder, ty);
    let name = ty.name().to_lowercase();
    assert_same_as_gguf(
        &ours,
        &llama_cpp_made(&format!("tinystories-656k.{name}.gguf")),
    );
}

fn tiny_random(ty: GgmlType) {
    let folder = common::shared_models().join("tiny-random-llama");
    let ours = common::quantized(&folder, ty);
    let name = ty.name().to_lowercase();
    assert_same_as_manifest(
        &ours,
        &llama_cpp_made(&format!("tiny-random-llama.{name}.manifest.json")),
    );
}

fn smollm2(ty: GgmlType) {
    let ours = common::quantized(&common::smollm2_folder(), ty);
    let name = ty.name().to_lowercase();
    assert_same_as_manifest(
        &ours,
        &llama_cpp_made(&format!("smollm2-135m-instruct.{name}.manifest.json")),
    );
}

#[test]
fn tinystories_f32_matches_llama_cpp() {
    tinystories(GgmlType::F32);
}
#[test]
fn tinystories_q8_0_matches_llama_cpp() {
    tinystories(GgmlType::Q8_0);
}
#[test]
fn tinystories_q4_0_matches_llama_cpp() {
    tinystories(GgmlType::Q4_0);
}
#[test]
fn tinystories_q4_1_matches_llama_cpp() {
    tinystories(GgmlType::Q4_1);
}

#[test]
fn tiny_random_llama_f32_matches_llama_cpp() {
    tiny_random(GgmlType::F32);
}
#[test]
fn tiny_random_llama_q8_0_matches_llama_cpp() {
    tiny_random(GgmlType::Q8_0);
}
#[test]
fn tiny_random_llama_q4_0_matches_llama_cpp() {
    tiny_random(GgmlType::Q4_0);
}
#[test]
fn tiny_random_llama_q4_1_matches_llama_cpp() {
    tiny_random(GgmlType::Q4_1);
}

#[test]
fn smollm2_f32_matches_llama_cpp() {
    smollm2(GgmlType::F32);
}
#[test]
fn smollm2_q8_0_matches_llama_cpp() {
    smollm2(GgmlType::Q8_0);
}
#[test]
fn smollm2_q4_0_matches_llama_cpp() {
    smollm2(GgmlType::Q4_0);
}
#[test]
fn smollm2_q4_1_matches_llama_cpp() {
    smollm2(GgmlType::Q4_1);
}

/// The tensor order and metadata key order are llama.cpp's too (its converter's for F32,
/// llama-quantize's for the block types). Not required for loading; checked so a change is
/// noticed.
#[test]
fn tinystories_order_matches_llama_cpp() {
    let folder = common::shared_models().join("tinystories-656k");
    for ty in [GgmlType::F32, GgmlType::Q4_0] {
        let ours = GgufFile::open(&common::quantized(&folder, ty)).unwrap();
        let name = ty.name().to_lowercase();
        let theirs =
            GgufFile::open(&llama_cpp_made(&format!("tinystories-656k.{name}.gguf"))).unwrap();
        let names = |g: &GgufFile| {
            g.tensors()
                .iter()
                .map(|t| t.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&ours), names(&theirs), "{ty} tensor order");
        // Keys outside tokenizer.* / edge.* (which the tokenizer converter owns) in order.
        let keys = |g: &GgufFile| {
            g.metadata()
                .entries()
                .iter()
                .map(|(k, _)| k.clone())
                .filter(|k| !k.starts_with("tokenizer.") && !k.starts_with("edge."))
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&ours), keys(&theirs), "{ty} key order");
        for k in ["general.file_type", "general.quantization_version"] {
            assert_eq!(ours.metadata().get(k), theirs.metadata().get(k), "{ty} {k}");
        }
    }
}
