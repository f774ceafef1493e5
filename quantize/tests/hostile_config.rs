//! Hostile numbers in a Hugging Face `config.json` (issue 13, items 2 and 3): each case runs
//! `quantize` on a copy of tinystories-656k whose config has one number changed and expects a
//! refusal before anything is sized by it: exit code 1 (no panic = 101, no abort = signal), one
//! short `error: ...` line naming the key and the value, and no output file left behind. The
//! cases run under an address-space limit (`prlimit --as`) where it exists, so a refusal also
//! proves the process stayed small.

#[path = "../../tests/common/hostile.rs"]
mod hostile;

use hostile::limited;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;

/// (key, new value) pairs merged into config.json.
type ConfigEdits = Vec<(&'static str, Value)>;

fn tinystories() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models/tinystories-656k")
}

/// tinystories-656k in `dir/name` with `edits` merged into config.json (the weights linked,
/// the small files copied).
fn model_with_config(dir: &Path, name: &str, edits: &[(&str, Value)]) -> PathBuf {
    let dst = dir.join(name);
    std::fs::create_dir(&dst).unwrap();
    for entry in std::fs::read_dir(tinystories()).unwrap() {
        let entry = entry.unwrap();
        let file = entry.file_name();
        if file == "model.safetensors" {
            std::os::unix::fs::symlink(entry.path(), dst.join(&file)).unwrap();
        } else if file != "config.json" {
            std::fs::write(dst.join(&file), std::fs::read(entry.path()).unwrap()).unwrap();
        }
    }
    let text = std::fs::read_to_string(tinystories().join("config.json")).unwrap();
    let mut config: Value = serde_json::from_str(&text).unwrap();
    for (key, value) in edits {
        config[*key] = value.clone();
    }
    std::fs::write(dst.join("config.json"), config.to_string()).unwrap();
    dst
}

fn quantize_limited(input: &Path, output: &Path) -> Output {
    limited(Path::new(env!("CARGO_BIN_EXE_quantize")))
        .arg(input)
        .args(["--type", "q8_0", "-o"])
        .arg(output)
        .output()
        .expect("run quantize")
}

/// A refusal (see `hostile::expect_refusal`) with exit code 1 and a message under 400 bytes.
fn expect_refusal(out: &Output, needles: &[&str]) {
    let line = hostile::expect_refusal(out, needles);
    assert_eq!(out.status.code(), Some(1), "{line}");
    assert!(line.len() < 400, "a short message: {line}");
}

#[test]
fn config_numbers_are_checked_before_anything_is_sized_by_them() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let cases: Vec<(ConfigEdits, Vec<&str>)> = vec![
        // The u32 product of heads and head size wrapped, then divided by zero.
        (
            vec![
                ("num_attention_heads", json!(536870920u32)),
                ("num_key_value_heads", json!(4)),
                ("head_dim", json!(16)),
            ],
            vec!["num_attention_heads", "536870920"],
        ),
        (
            vec![("head_dim", json!(2147483648u32))],
            vec!["num_attention_heads", "2147483648"],
        ),
        // A 2.5 TB list of expected tensors.
        (
            vec![("num_hidden_layers", json!(4294967295u32))],
            vec![
                "num_hidden_layers",
                "4294967295",
                "tensors for 2 layers (model.layers.0 .. 1)",
            ],
        ),
        (
            vec![("num_hidden_layers", json!(3))],
            vec!["num_hidden_layers", "3, but", "2 layers"],
        ),
        (
            vec![("num_hidden_layers", json!(1))],
            vec!["num_hidden_layers", "1, but", "2 layers"],
        ),
        (
            vec![("vocab_size", json!(4294967295u32))],
            vec!["model.embed_tokens.weight", "4294967295"],
        ),
        (
            vec![("intermediate_size", json!(4294967295u32))],
            vec!["gate_proj.weight", "4294967295"],
        ),
        (
            vec![("num_key_value_heads", json!(4294967295u32))],
            vec!["num_key_value_heads", "4294967295"],
        ),
        (
            vec![("hidden_size", json!(4294967295u32))],
            vec!["hidden_size", "4294967295"],
        ),
    ];
    for (i, (edits, needles)) in cases.iter().enumerate() {
        let model = model_with_config(dir.path(), &format!("m{i}"), edits);
        let out = quantize_limited(&model, &out_dir.join(format!("{i}.gguf")));
        expect_refusal(&out, needles);
    }
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}
