//! What the hostile-input suites share: running a binary under an address-space limit, the
//! check of a refusal (one short `error: ` line, an exit below 100), and small file helpers.
//! Only std and edge-formats, so that every crate's tests can include it by `#[path]`.
#![allow(dead_code)]

use edge_formats::gguf::{GgufFile, GgufWriter, TensorSpec, Value, ValueType};
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// The address space a hostile case may use (the test models are a few MB; threads and the
/// allocator's arenas take the rest).
pub const AS_LIMIT: u64 = 1 << 30;

/// `program` under `prlimit --as=AS_LIMIT` where prlimit exists, else `program` alone: a case
/// that would allocate gigabytes fails instead of swapping.
pub fn limited(program: &Path) -> Command {
    let has_prlimit = Command::new("prlimit")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_prlimit {
        return Command::new(program);
    }
    let mut c = Command::new("prlimit");
    c.arg(format!("--as={AS_LIMIT}")).arg("--").arg(program);
    c
}

/// A refusal: an exit code in 1..100 (no panic = 101, no signal), exactly one stderr line,
/// `error: ...`, shorter than 600 bytes, containing every needle. Returns the line.
pub fn expect_refusal(out: &Output, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let shown = &stderr[..stderr.len().min(2000)];
    assert!(
        out.status.code().is_some_and(|c| (1..100).contains(&c)),
        "exit status {:?}; stderr: {shown}",
        out.status
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {shown:?}");
    let line = lines[0];
    assert!(line.starts_with("error: "), "{line}");
    assert!(
        line.len() < 600,
        "a short message, got {} bytes",
        line.len()
    );
    for n in needles {
        assert!(line.contains(n), "`{n}` not in {line}");
    }
    line.to_string()
}

/// A success, with stderr in the message when it is not one.
pub fn expect_success(out: &Output) {
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits for `child`, killing it after 60 s (a FIFO would block it forever).
pub fn finish(mut child: Child, what: &str) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("{what} blocked");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait_with_output().unwrap()
}

/// Names in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A FIFO at `path` (by the `mkfifo` command).
pub fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// The tensor specs of `file`, to write a copy of it with GgufWriter.
pub fn tensor_specs(file: &GgufFile) -> Vec<TensorSpec> {
    file.tensors()
        .iter()
        .map(|t| TensorSpec {
            name: t.name.clone(),
            dims: t.dims.clone(),
            ty: t.ty,
        })
        .collect()
}

/// A GGUF that breaks one rule of `edge_formats::validate` (issue 13, item 6): both binaries
/// must refuse it with a one-line error containing every needle, quantize writing nothing.
pub struct InvalidGguf {
    pub name: &'static str,
    /// (key, Some(value)) sets or adds a metadata key, (key, None) removes it.
    pub edits: Vec<(&'static str, Option<Value>)>,
    /// A tensor left out of the copy.
    pub dropped_tensor: Option<&'static str>,
    pub needles: Vec<&'static str>,
}

fn string_array(items: &[&str]) -> Value {
    Value::array(
        ValueType::String,
        items.iter().map(|s| Value::from(*s)).collect(),
    )
}

/// The cases, for a copy of tinystories-656k (2 blocks, 2048 SentencePiece-style tokens).
pub fn invalid_gguf_cases(src: &GgufFile) -> Vec<InvalidGguf> {
    let meta = src.metadata();
    let tokens = meta.get_str_array("tokenizer.ggml.tokens").unwrap();
    let mut merges = meta
        .opt_str_array("tokenizer.ggml.merges")
        .unwrap()
        .unwrap_or_default();
    merges.push("qqq zzz");
    let shortened = |key: &str| -> Option<Value> {
        let array = meta.get_array(key).ok()?;
        let items = array.to_values();
        Some(Value::array(
            array.elem_type(),
            items[..items.len() - 1].to_vec(),
        ))
    };
    let case = |name, edits, needles| InvalidGguf {
        name,
        edits,
        dropped_tensor: None,
        needles,
    };
    vec![
        InvalidGguf {
            name: "missing-tensor",
            edits: vec![],
            dropped_tensor: Some("blk.1.ffn_up.weight"),
            needles: vec!["tensor blk.1.ffn_up.weight: missing"],
        },
        case(
            "negative-eps",
            vec![(
                "llama.attention.layer_norm_rms_epsilon",
                Some(Value::F32(-1e-5)),
            )],
            vec!["llama.attention.layer_norm_rms_epsilon: -0.00001 is not a non-negative"],
        ),
        case(
            "rope-zero",
            vec![("llama.rope.freq_base", Some(Value::F32(0.0)))],
            vec!["llama.rope.freq_base: 0 is not a positive number"],
        ),
        case(
            "rope-1e300",
            vec![("llama.rope.freq_base", Some(Value::F64(1e300)))],
            vec!["llama.rope.freq_base: inf is not a positive number"],
        ),
        case(
            "heads-kv-3",
            vec![("llama.attention.head_count_kv", Some(Value::U32(3)))],
            vec!["head_count 8 is not a multiple of head_count_kv 3"],
        ),
        case(
            "merge-of-unknown-tokens",
            vec![("tokenizer.ggml.merges", Some(string_array(&merges)))],
            vec![
                "tokenizer.ggml.merges",
                "\"qqq zzz\"",
                "`qqq` is not a token",
            ],
        ),
        case(
            "empty-vocabulary",
            vec![
                ("tokenizer.ggml.tokens", Some(string_array(&[]))),
                ("tokenizer.ggml.scores", None),
                ("tokenizer.ggml.token_type", None),
                ("tokenizer.ggml.merges", None),
            ],
            vec!["tokenizer.ggml.tokens`: 0 tokens"],
        ),
        case(
            "fewer-tokens-than-rows",
            vec![
                (
                    "tokenizer.ggml.tokens",
                    Some(string_array(&tokens[..tokens.len() - 1])),
                ),
                ("tokenizer.ggml.scores", shortened("tokenizer.ggml.scores")),
                (
                    "tokenizer.ggml.token_type",
                    shortened("tokenizer.ggml.token_type"),
                ),
            ],
            vec!["2047 tokens in tokenizer.ggml.tokens for a vocabulary of 2048"],
        ),
        case(
            "eos-out-of-range",
            vec![("tokenizer.ggml.eos_token_id", Some(Value::U32(5000)))],
            vec!["tokenizer.ggml.eos_token_id", "5000 out of range"],
        ),
        case(
            "normalizer-growth",
            vec![
                ("edge.tokenizer.version", Some(Value::U32(1))),
                (
                    "edge.tokenizer.normalizer.replace_from",
                    Some(string_array(&["a", "b", "c", "d", "e", "f", "g"])),
                ),
                (
                    "edge.tokenizer.normalizer.replace_to",
                    Some(string_array(&["bb", "cc", "dd", "ee", "ff", "gg", "hh"])),
                ),
            ],
            vec!["replacements can make a text 128 times longer (the limit is 64)"],
        ),
    ]
}

/// A copy of `src` at `dst` with `case`'s metadata edits and tensor left out.
pub fn write_invalid_gguf(src: &GgufFile, case: &InvalidGguf, dst: &Path) {
    let mut meta: Vec<(String, Value)> = src.metadata().entries().to_vec();
    for (key, value) in &case.edits {
        meta.retain(|(k, _)| k != key);
        if let Some(v) = value {
            meta.push((key.to_string(), v.clone()));
        }
    }
    let kept = |name: &str| case.dropped_tensor != Some(name);
    let specs: Vec<TensorSpec> = tensor_specs(src)
        .into_iter()
        .filter(|t| kept(&t.name))
        .collect();
    let file = std::fs::File::create(dst).unwrap();
    let mut w = GgufWriter::new(std::io::BufWriter::new(file), &meta, &specs).unwrap();
    for t in src.tensors().iter().filter(|t| kept(&t.name)) {
        w.write_tensor(src.tensor_data(t)).unwrap();
    }
    w.finish().unwrap();
}
