//! The workspace's test helpers (tests/common at the root), plus what only the runtime's
//! tests need. Nothing here writes into ../shared.
#![allow(dead_code)]

#[path = "../../../tests/common/mod.rs"]
mod workspace_helpers;
pub use workspace_helpers::*;

pub mod greedy;

use edge_formats::gguf::{GgufFile, GgufWriter, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `run-edge` binary built for these tests.
pub fn run_edge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_run-edge"))
}

/// A reference JSON file under `../shared/models/reference`.
pub fn reference_json(relative: &str) -> serde_json::Value {
    let path = reference().join(relative);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The public SmolLM2 prompts (`public-<i>.json`), in order.
pub fn smollm2_public_cases() -> Vec<serde_json::Value> {
    (0..)
        .map(|i| reference().join(format!("smollm2-135m-instruct/public-{i}.json")))
        .take_while(|p| p.exists())
        .map(|p| serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap())
        .collect()
}

/// llama.cpp's tinystories-656k Q8_0 file, which the hostile-input suites copy and edit.
pub fn tinystories_q8() -> PathBuf {
    shared_models().join("llama.cpp-made/tinystories-656k.q8_0.gguf")
}

/// A copy of tinystories-656k (q8_0) at `dir/name` with `edits` applied to its metadata:
/// (key, Some(value)) sets or adds, (key, None) removes.
pub fn mutated(dir: &Path, name: &str, edits: &[(&str, Option<Value>)]) -> PathBuf {
    let src = GgufFile::open(&tinystories_q8()).unwrap();
    let mut meta: Vec<(String, Value)> = src.metadata().entries().to_vec();
    for (key, value) in edits {
        meta.retain(|(k, _)| k != key);
        if let Some(v) = value {
            meta.push((key.to_string(), v.clone()));
        }
    }
    let specs = hostile::tensor_specs(&src);
    let path = dir.join(name);
    let file = std::fs::File::create(&path).unwrap();
    let mut w = GgufWriter::new(std::io::BufWriter::new(file), &meta, &specs).unwrap();
    for t in src.tensors() {
        w.write_tensor(src.tensor_data(t)).unwrap();
    }
    w.finish().unwrap();
    path
}

/// `run-edge` under the address-space limit when `prlimit` exists.
pub fn run_edge_limited(args: &[&str]) -> Output {
    hostile::limited(Path::new(env!("CARGO_BIN_EXE_run-edge")))
        .args(args)
        .output()
        .expect("run run-edge")
}

/// Our quantizer's `--type <file_type>` (with `--pure` when asked) of SmolLM2, written once
/// into the process scratch folder.
pub fn quantized_mix(file_type: &str, pure: bool) -> PathBuf {
    let input = smollm2_folder();
    let stem = if pure {
        format!("smollm2-pure-{file_type}.gguf")
    } else {
        format!("smollm2-{file_type}.gguf")
    };
    let out = process_scratch().join(stem);
    let opts = edge_quantize::Options {
        input,
        output: Some(out),
        file_type: edge_quantize::plan::FileType::parse(file_type)
            .unwrap_or_else(|| panic!("file type {file_type}")),
        pure,
        output_ty: None,
        threads: None,
        verbose: false,
    };
    edge_quantize::run(&opts).unwrap_or_else(|e| panic!("quantize {file_type}: {e}"))
}
