//! Hostile inputs beyond sizes (issue 13, items 4 and 8): valid but unusual GGUF files
//! (`general.alignment = 1`), crafted tokenizers, chat templates and metadata that would take
//! unbounded work or memory, and text inputs that are not text or never end. Every file is made
//! here, in a temporary folder, from a copy of tinystories-656k with its metadata edited; every
//! run of `run-edge` that could allocate runs under an address-space limit (`prlimit --as`).

mod common;

use common::hostile::{self, limited, tensor_specs};
use edge_formats::gguf::{GgufFile, GgufWriter, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

fn tinystories_q8() -> PathBuf {
    common::shared_models().join("llama.cpp-made/tinystories-656k.q8_0.gguf")
}

/// A copy of tinystories-656k (q8_0) at `dir/name` with `edits` applied to its metadata:
/// (key, Some(value)) sets or adds, (key, None) removes.
fn mutated(dir: &Path, name: &str, edits: &[(&str, Option<Value>)]) -> PathBuf {
    let src = GgufFile::open(&tinystories_q8()).unwrap();
    let mut meta: Vec<(String, Value)> = src.metadata().entries().to_vec();
    for (key, value) in edits {
        meta.retain(|(k, _)| k != key);
        if let Some(v) = value {
            meta.push((key.to_string(), v.clone()));
        }
    }
    let specs = tensor_specs(&src);
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
fn run_edge_limited(args: &[&str]) -> Output {
    limited(Path::new(env!("CARGO_BIN_EXE_run-edge")))
        .args(args)
        .output()
        .expect("run run-edge")
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Greedy text of `model` on a fixed prompt.
fn greedy(model: &Path) -> Vec<u8> {
    let out = run_edge_limited(&[
        "-m",
        arg(model),
        "-p",
        "Once upon a time",
        "-n",
        "16",
        "--temp",
        "0",
    ]);
    hostile::expect_success(&out);
    out.stdout
}

#[test]
fn a_file_with_alignment_one_runs_and_gives_the_same_text() {
    let dir = common::tempdir();
    let path = mutated(
        dir.path(),
        "align1.gguf",
        &[("general.alignment", Some(Value::U32(1)))],
    );
    let file = GgufFile::open(&path).unwrap();
    let misaligned = file
        .tensors()
        .iter()
        .filter(|t| !(file.tensor_data(t).as_ptr() as usize).is_multiple_of(4))
        .count();
    assert!(misaligned > 0, "the case must hold misaligned tensors");
    // Copied once at load; an aligned file keeps zero-copy views of its mapping.
    assert!(edge::Model::open(&path).unwrap().n_realigned_tensors() > 0);
    assert_eq!(
        edge::Model::open(&tinystories_q8())
            .unwrap()
            .n_realigned_tensors(),
        0
    );
    assert_eq!(greedy(&path), greedy(&tinystories_q8()));
}
