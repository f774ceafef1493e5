//! quantize validates the model it is about to write with the checks run-edge loads it with
//! (`edge_formats::validate`, issue 13, item 6): a GGUF copy or a Hugging Face folder that
//! would give a file run-edge refuses is refused with one `error:` line naming the problem,
//! and nothing is written. The GGUF cases are shared with `runtime/tests/hostile_validate.rs`,
//! which checks that run-edge refuses the same files.

#[path = "../../tests/common/hostile.rs"]
mod hostile;

use edge_formats::gguf::GgufFile;
use hostile::{expect_refusal, invalid_gguf_cases, limited, listing, write_invalid_gguf};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;

fn shared_models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models")
}

fn quantize(input: &Path, output: &Path) -> Output {
    limited(Path::new(env!("CARGO_BIN_EXE_quantize")))
        .arg(input)
        .args(["--type", "q8_0", "-o"])
        .arg(output)
        .output()
        .expect("run quantize")
}

#[test]
fn gguf_copies_that_run_edge_refuses_are_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let src =
        GgufFile::open(&shared_models().join("llama.cpp-made/tinystories-656k.q8_0.gguf")).unwrap();
    for case in invalid_gguf_cases(&src) {
        let input = dir.path().join(format!("{}.gguf", case.name));
        write_invalid_gguf(&src, &case, &input);
        let out = quantize(&input, &out_dir.join(format!("{}.gguf", case.name)));
        let line = expect_refusal(&out, &case.needles);
        assert!(line.contains("fails run-edge's checks"), "{line}");
    }
    assert_eq!(listing(&out_dir), Vec::<String>::new(), "files left behind");
}

/// tinystories-656k in `dir/name` with its config.json and tokenizer.json edited.
fn hf_model(
    dir: &Path,
    name: &str,
    edit_config: impl FnOnce(&mut Value),
    edit_tokenizer: impl FnOnce(&mut Value),
) -> PathBuf {
    let src = shared_models().join("tinystories-656k");
    let dst = dir.join(name);
    std::fs::create_dir(&dst).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        let file = entry.file_name();
        if file == "model.safetensors" {
            std::os::unix::fs::symlink(entry.path(), dst.join(&file)).unwrap();
        } else {
            std::fs::copy(entry.path(), dst.join(&file)).unwrap();
        }
    }
    let edit = |file: &str, f: &mut dyn FnMut(&mut Value)| {
        let path = dst.join(file);
        let mut json: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        f(&mut json);
        std::fs::write(&path, json.to_string()).unwrap();
    };
    let mut edit_config = Some(edit_config);
    edit("config.json", &mut |j| (edit_config.take().unwrap())(j));
    let mut edit_tokenizer = Some(edit_tokenizer);
    edit("tokenizer.json", &mut |j| {
        (edit_tokenizer.take().unwrap())(j)
    });
    dst
}

type Edit = Box<dyn FnOnce(&mut Value)>;

fn keep() -> Edit {
    Box::new(|_| {})
}

fn set(key: &'static str, value: Value) -> Edit {
    Box::new(move |j| j[key] = value)
}

#[test]
fn hugging_face_models_that_would_give_an_invalid_gguf_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let cases: Vec<(&str, Edit, Edit, Vec<&str>)> = vec![
        (
            "negative-eps",
            set("rms_norm_eps", json!(-1e-6)),
            keep(),
            vec![
                "config.json",
                "rms_norm_eps",
                "-1e-6 is not a non-negative number",
            ],
        ),
        (
            "rope-zero",
            set("rope_theta", json!(0.0)),
            keep(),
            vec!["config.json", "rope_theta", "0.0 is not a positive number"],
        ),
        (
            "rope-1e300",
            set("rope_theta", json!(1e300)),
            keep(),
            vec![
                "rope_theta",
                "1e+300 is not a positive number that fits a float32",
            ],
        ),
        (
            "merge-of-unknown-tokens",
            keep(),
            Box::new(|t| {
                t["model"]["merges"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("qqq zzz"))
            }),
            vec![
                "tokenizer.ggml.merges",
                "\"qqq zzz\"",
                "`qqq` is not a token",
            ],
        ),
        (
            // The last token's id moved past the end: ids 2047..2099 are gaps, filled with
            // [PAD] tokens, and the list no longer matches the embedding's 2048 rows.
            "gap-in-ids",
            keep(),
            Box::new(|t| {
                let vocab = t["model"]["vocab"].as_object_mut().unwrap();
                let last = vocab
                    .iter()
                    .find(|(_, id)| id.as_u64() == Some(2047))
                    .map(|(k, _)| k.clone())
                    .unwrap();
                vocab.insert(last, json!(2100));
            }),
            vec!["2101 tokens in tokenizer.ggml.tokens for a vocabulary of 2048"],
        ),
        (
            "empty-vocabulary",
            keep(),
            Box::new(|t| {
                t["model"]["vocab"] = json!({});
                t["model"]["merges"] = json!([]);
                t["added_tokens"] = json!([]);
            }),
            vec!["tokenizer.ggml.tokens`: 0 tokens"],
        ),
        (
            "normalizer-growth",
            keep(),
            Box::new(|t| {
                let steps = t["normalizer"]["normalizers"].as_array_mut().unwrap();
                for (from, to) in [
                    ("a", "bb"),
                    ("b", "cc"),
                    ("c", "dd"),
                    ("d", "ee"),
                    ("e", "ff"),
                    ("f", "gg"),
                ] {
                    steps.push(
                        json!({"type": "Replace", "pattern": {"String": from}, "content": to}),
                    );
                }
            }),
            vec!["replacements can make a text 192 times longer (the limit is 64)"],
        ),
    ];
    for (name, config, tokenizer, needles) in cases {
        let model = hf_model(dir.path(), name, config, tokenizer);
        let out = quantize(&model, &out_dir.join(format!("{name}.gguf")));
        expect_refusal(&out, &needles);
    }
    assert_eq!(listing(&out_dir), Vec::<String>::new(), "files left behind");
}

/// serde_json keeps the last of a repeated key silently: a config.json saying `rms_norm_eps`
/// twice, or a tokenizer.json naming a token twice, is refused naming the key.
#[test]
fn repeated_json_keys_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let prepend = |file: &Path, text: &str, after: &str| {
        let old = std::fs::read_to_string(file).unwrap();
        let at = old.find(after).unwrap() + after.len();
        std::fs::write(file, format!("{}{text}{}", &old[..at], &old[at..])).unwrap();
    };
    let model = hf_model(dir.path(), "config", |_| {}, |_| {});
    prepend(&model.join("config.json"), r#""rms_norm_eps": 0.5, "#, "{");
    expect_refusal(
        &quantize(&model, &out_dir.join("config.gguf")),
        &["config.json", "key `rms_norm_eps` appears twice"],
    );
    let model = hf_model(dir.path(), "tokenizer", |_| {}, |_| {});
    prepend(
        &model.join("tokenizer.json"),
        r#""<unk>": 7, "#,
        r#""vocab":{"#,
    );
    expect_refusal(
        &quantize(&model, &out_dir.join("tokenizer.gguf")),
        &[
            "tokenizer.json",
            "key `<unk>` appears twice in `model.vocab`",
        ],
    );
    assert_eq!(listing(&out_dir), Vec::<String>::new(), "files left behind");
}
