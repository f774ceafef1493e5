//! Our quantizer against llama-quantize's file types (issue 18): for every manifest in
//! `../shared/models/llama.cpp-made` made by `llama-quantize [--pure] F32 OUT TYPE`, the same
//! command of ours (`--type t [--pure]`, see the models README) writes the same tensors with
//! the same types and data hashes, and the same `general.file_type`.
//!
//! - `<model>.pure-<t>`: `--type t --pure` (Q5_0, Q5_1 and every K-quant on every 2-D tensor,
//!   fallbacks where rows are not whole super-blocks).
//! - `<model>.<mix>`: `--type mix`, llama-quantize's per-tensor rules.
//! - `<model>.mix-<t>`: `--type t` for the 32-block types (output / tied token_embd rule).

mod common;

use edge_formats::gguf::{GgufFile, Value};
use edge_quantize::plan::FileType;
use std::path::Path;

/// Quantizes `folder` with `--type file_type [--pure]` and compares with the manifest.
fn check(folder: &Path, manifest: &str, file_type: &str, pure: bool) {
    let file_type = FileType::parse(file_type).expect("a file type");
    let dir = common::tempdir();
    let out = dir.path().join("out.gguf");
    let opts = edge_quantize::Options {
        input: folder.to_path_buf(),
        output: Some(out.clone()),
        file_type,
        pure,
        output_ty: None,
        threads: None,
        verbose: false,
    };
    edge_quantize::run(&opts).unwrap_or_else(|e| panic!("{manifest}: {e}"));
    let path = common::shared_models()
        .join("llama.cpp-made")
        .join(format!("{manifest}.manifest.json"));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let ours = GgufFile::open(&out).unwrap();
    let tensors = m["tensors"].as_array().unwrap();
    assert_eq!(
        ours.tensors().len(),
        tensors.len(),
        "{manifest}: tensor count"
    );
    for t in tensors {
        let name = t["name"].as_str().unwrap();
        let o = ours
            .tensor(name)
            .unwrap_or_else(|| panic!("{manifest}: missing tensor {name}"));
        assert_eq!(
            o.ty.name(),
            t["type"].as_str().unwrap(),
            "{manifest}: type of {name}"
        );
        assert_eq!(
            common::sha256_hex(ours.tensor_data(o)),
            t["sha256"].as_str().unwrap(),
            "{manifest}: data of {name}"
        );
    }
    let want = m["metadata"]["general.file_type"].as_u64();
    let got = match ours.metadata().get("general.file_type") {
        Some(Value::U32(v)) => Some(u64::from(*v)),
        other => panic!("{manifest}: general.file_type {other:?}"),
    };
    assert_eq!(got, want, "{manifest}: general.file_type");
}

fn tiny256(manifest_suffix: &str, file_type: &str, pure: bool) {
    let folder = common::shared_models().join("tiny-random-llama-256");
    check(
        &folder,
        &format!("tiny-random-llama-256.{manifest_suffix}"),
        file_type,
        pure,
    );
}

fn smollm2(manifest_suffix: &str, file_type: &str, pure: bool) {
    check(
        &common::smollm2_folder(),
        &format!("smollm2-135m-instruct.{manifest_suffix}"),
        file_type,
        pure,
    );
}

/// One test per (model, type): `pure-<t>`, `<mix>` and `mix-<t>` manifests.
macro_rules! manifest_tests {
    ($($test:ident: $model:ident, $manifest:literal, $ty:literal, $pure:literal;)*) => {
        $(#[test]
        fn $test() {
            $model($manifest, $ty, $pure);
        })*
    };
}

manifest_tests! {
    tiny256_pure_q5_0: tiny256, "pure-q5_0", "q5_0", true;
    tiny256_pure_q5_1: tiny256, "pure-q5_1", "q5_1", true;
    tiny256_pure_q2_k: tiny256, "pure-q2_k", "q2_k", true;
    tiny256_pure_q3_k: tiny256, "pure-q3_k", "q3_k", true;
    tiny256_pure_q4_k: tiny256, "pure-q4_k", "q4_k", true;
    tiny256_pure_q5_k: tiny256, "pure-q5_k", "q5_k", true;
    tiny256_pure_q6_k: tiny256, "pure-q6_k", "q6_k", true;
    tiny256_q2_k: tiny256, "q2_k", "q2_k", false;
    tiny256_q3_k_s: tiny256, "q3_k_s", "q3_k_s", false;
    tiny256_q3_k_m: tiny256, "q3_k_m", "q3_k_m", false;
    tiny256_q3_k_l: tiny256, "q3_k_l", "q3_k_l", false;
    tiny256_q4_k_s: tiny256, "q4_k_s", "q4_k_s", false;
    tiny256_q4_k_m: tiny256, "q4_k_m", "q4_k_m", false;
    tiny256_q5_k_s: tiny256, "q5_k_s", "q5_k_s", false;
    tiny256_q5_k_m: tiny256, "q5_k_m", "q5_k_m", false;
    tiny256_q6_k: tiny256, "q6_k", "q6_k", false;
    tiny256_mix_q4_0: tiny256, "mix-q4_0", "q4_0", false;
    tiny256_mix_q4_1: tiny256, "mix-q4_1", "q4_1", false;
    tiny256_mix_q5_0: tiny256, "mix-q5_0", "q5_0", false;
    tiny256_mix_q5_1: tiny256, "mix-q5_1", "q5_1", false;
    tiny256_mix_q8_0: tiny256, "mix-q8_0", "q8_0", false;
    smollm2_pure_q5_0: smollm2, "pure-q5_0", "q5_0", true;
    smollm2_pure_q5_1: smollm2, "pure-q5_1", "q5_1", true;
    smollm2_pure_q2_k: smollm2, "pure-q2_k", "q2_k", true;
    smollm2_pure_q3_k: smollm2, "pure-q3_k", "q3_k", true;
    smollm2_pure_q4_k: smollm2, "pure-q4_k", "q4_k", true;
    smollm2_pure_q5_k: smollm2, "pure-q5_k", "q5_k", true;
    smollm2_pure_q6_k: smollm2, "pure-q6_k", "q6_k", true;
    smollm2_q2_k: smollm2, "q2_k", "q2_k", false;
    smollm2_q3_k_s: smollm2, "q3_k_s", "q3_k_s", false;
    smollm2_q3_k_m: smollm2, "q3_k_m", "q3_k_m", false;
    smollm2_q3_k_l: smollm2, "q3_k_l", "q3_k_l", false;
    smollm2_q4_k_s: smollm2, "q4_k_s", "q4_k_s", false;
    smollm2_q4_k_m: smollm2, "q4_k_m", "q4_k_m", false;
    smollm2_q5_k_s: smollm2, "q5_k_s", "q5_k_s", false;
    smollm2_q5_k_m: smollm2, "q5_k_m", "q5_k_m", false;
    smollm2_q6_k: smollm2, "q6_k", "q6_k", false;
    smollm2_mix_q4_0: smollm2, "mix-q4_0", "q4_0", false;
    smollm2_mix_q4_1: smollm2, "mix-q4_1", "q4_1", false;
    smollm2_mix_q5_0: smollm2, "mix-q5_0", "q5_0", false;
    smollm2_mix_q5_1: smollm2, "mix-q5_1", "q5_1", false;
    smollm2_mix_q8_0: smollm2, "mix-q8_0", "q8_0", false;
}

/// The `mix-<t>` manifests of the two smaller models (untied tiny-random-llama: token_embd
/// keeps the base type, output takes the tied rule; tinystories: 128-wide rows, Q8_0 output).
#[test]
fn small_models_mix_types() {
    for model in ["tiny-random-llama", "tinystories-656k"] {
        let folder = common::shared_models().join(model);
        for t in ["q4_0", "q4_1", "q5_0", "q5_1", "q8_0"] {
            check(&folder, &format!("{model}.mix-{t}"), t, false);
        }
    }
}

/// The aliases name the M mixes, as in llama-quantize.
#[test]
fn k_aliases_are_the_m_mixes() {
    for (alias, mix) in [("q3_k", "q3_k_m"), ("q4_k", "q4_k_m"), ("q5_k", "q5_k_m")] {
        tiny256(mix, alias, false);
    }
}
