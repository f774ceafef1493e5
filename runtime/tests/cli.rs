//! The `run-edge` binary: greedy output against llama.cpp's on the same SmolLM2 files, chat on
//! llama.cpp's own file, and one error line for every kind of bad input (exit 2 for a usage
//! error, 1 for any other).

mod common;

use common::greedy::{self, top2, N_CTX};
use edge::Model;
use edge::Tokenizer;
use edge::{KvType, Session, SessionParams};
use edge_formats::GgmlType;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// Greedy generation against llama.cpp

fn run_edge_greedy(model: &Path, text: &str) -> Output {
    common::run_edge()
        .arg("-m")
        .arg(model)
        .args(["-p", text])
        .args([
            "--kv-type",
            "f16",
            "--special",
            "-n",
            "32",
            "--temp",
            "0",
            "--ctx",
        ])
        .arg(N_CTX.to_string())
        .output()
        .unwrap()
}

/// Every public prompt through the library; one of them (the chat prompt, which stops at
/// an end-of-generation token) through the binary too, whose stdout must be the same text.
fn greedy_matches_llamacpp(ty: GgmlType) {
    let type_name = ty.name().to_lowercase();
    let model_path = common::quantized(&common::smollm2_folder(), ty);
    let ours = greedy::check_all(
        &model_path,
        &format!("smollm2-135m-instruct-{type_name}"),
        &type_name,
    );
    let cases = common::smollm2_public_cases();

    let chat = cases
        .iter()
        .position(|c| c["chat"].as_bool() == Some(true))
        .unwrap();
    let out = run_edge_greedy(&model_path, cases[chat]["text"].as_str().unwrap());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{}\n", ours[chat]),
        "binary vs library (the binary ends with a newline)"
    );
    for needle in [
        "memory: weights",
        "KV cache",
        "f16, context 512",
        "prompt:",
        "generated:",
        "tokens/s",
    ] {
        assert!(
            stderr.contains(needle),
            "{needle:?} missing from stderr: {stderr}"
        );
    }
}

#[test]
fn greedy_q8_0_matches_llamacpp() {
    greedy_matches_llamacpp(GgmlType::Q8_0);
}

#[test]
fn greedy_q4_0_matches_llamacpp() {
    greedy_matches_llamacpp(GgmlType::Q4_0);
}

#[test]
fn greedy_q4_1_matches_llamacpp() {
    greedy_matches_llamacpp(GgmlType::Q4_1);
}

/// `--chat` with llama.cpp's default sampler (temperature 0.8, top-k 40, top-p 0.95, min-p
/// 0.05). Greedy decoding is no test here: the first token of this answer is a near tie ("The"
/// vs "L", top-1 margin 0.098 in float64), and llama.cpp's own greedy run takes "L'Étoile, ...".
/// A 135M model sampled at 0.8 does not name Paris every time (8 of 12 seeds did when this was
/// written), so the test asks it of most of eight seeds, each a separate run of the binary.
#[test]
fn chat_on_llamacpp_file_answers_paris() {
    const SEEDS: u64 = 8;
    let mut answers = Vec::new();
    for seed in 1..=SEEDS {
        let out = common::run_edge()
            .arg("-m")
            .arg(common::smollm2_llamacpp_gguf())
            .args(["--chat", "-p", "What is the capital of France?", "-n", "64"])
            .args(["--ctx", "512", "--seed", &seed.to_string()])
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Special tokens are not printed without --special.
        assert!(!stdout.contains("<|im_"), "stdout: {stdout:?}");
        answers.push(stdout);
    }
    let paris = answers.iter().filter(|a| a.contains("Paris")).count();
    assert!(
        paris * 2 > SEEDS as usize,
        "only {paris} of {SEEDS} answers name Paris: {answers:#?}"
    );
}

/// One generation with the binary, greedy, 16 tokens, without the newline the binary ends it
/// with.
fn greedy_stdout(model: &Path, extra: &[&str]) -> String {
    let out = common::run_edge()
        .arg("-m")
        .arg(model)
        .args(["--temp", "0", "-n", "16", "--ctx", "512"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    stdout
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("no final newline: {stdout:?}"))
        .to_string()
}

/// `--mmap` and `--no-mmap` change where the weights live (the memory line says which; x86-64
/// Linux reads them into memory by default, elsewhere they are mapped), never the tokens.
#[test]
fn mapped_and_resident_weights_generate_the_same_tokens() {
    let model = common::quantized(&common::smollm2_folder(), GgmlType::Q4_0);
    let run = |flag: &[&str]| {
        let out = common::run_edge()
            .arg("-m")
            .arg(&model)
            .args(["-p", "The capital of France", "--ignore-eos", "-t", "2"])
            .args(["--temp", "0", "-n", "24", "--ctx", "128"])
            .args(flag)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "stderr: {stderr}");
        (String::from_utf8(out.stdout).unwrap(), stderr)
    };
    let (mapped, mapped_err) = run(&["--mmap"]);
    let (resident, resident_err) = run(&["--no-mmap"]);
    let (default, default_err) = run(&[]);
    assert!(mapped.len() > "The capital of France".len(), "{mapped:?}");
    assert_eq!(resident, mapped);
    assert_eq!(default, mapped);
    assert!(mapped_err.contains(" MB mapped, KV cache"), "{mapped_err}");
    assert!(
        resident_err.contains(" MB resident, KV cache"),
        "{resident_err}"
    );
    let default_storage = match cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        true => " MB resident, KV cache",
        false => " MB mapped, KV cache",
    };
    assert!(default_err.contains(default_storage), "{default_err}");
}

/// `-i` keeps the cache across turns: its second reply must be what a fresh run on the whole
/// rendered conversation gives.
#[test]
fn interactive_chat_second_turn_equals_a_fresh_run_on_the_conversation() {
    use edge::{ChatMessage, ChatTemplate};
    use std::io::Write;
    let model = common::smollm2_llamacpp_gguf();
    let (q1, q2) = ("What is the capital of France?", "Tell me more about it.");

    let r1 = greedy_stdout(&model, &["--chat", "-p", q1]);
    let file = edge_formats::gguf::GgufFile::open(&model).unwrap();
    let template = ChatTemplate::from_metadata(file.metadata())
        .unwrap()
        .unwrap();
    let conversation = template
        .render(
            &[
                ChatMessage::user(q1),
                ChatMessage::assistant(r1.as_str()),
                ChatMessage::user(q2),
            ],
            true,
        )
        .unwrap();
    let r2 = greedy_stdout(&model, &["-p", &conversation]);

    let mut child = common::run_edge()
        .arg("-m")
        .arg(&model)
        .args(["-i", "--temp", "0", "-n", "16", "--ctx", "512"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = format!("{q1}\n{q2}\n");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{r1}\n{r2}\n")
    );
}

#[test]
fn interactive_chat_stops_cleanly_when_the_context_is_full() {
    use std::io::Write;
    let mut child = common::run_edge()
        .arg("-m")
        .arg(common::smollm2_llamacpp_gguf())
        .args(["-i", "--temp", "0", "-n", "16", "--ctx", "48"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Hi\nWhat is the capital of France?\nAnd of Germany?\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(stderr.contains("context full"), "stderr: {stderr}");
    assert!(!stderr.contains("error:"), "stderr: {stderr}");
}

// ---------------------------------------------------------------------------------------------
// Bad input: one `error: ...` line on stderr, nothing on stdout, exit code 2 for a usage
// error (clap's convention), 1 for any other.

fn tinystories() -> PathBuf {
    common::quantized(
        &common::shared_models().join("tinystories-656k"),
        GgmlType::F32,
    )
}

fn run_edge_args(args: &[&str]) -> Output {
    common::run_edge().args(args).output().unwrap()
}

fn with_model(model: &Path, args: &[&str]) -> Output {
    common::run_edge()
        .arg("-m")
        .arg(model)
        .args(args)
        .output()
        .unwrap()
}

/// Asserts the one-line error of a bad input (exit code 1) and returns it.
fn assert_one_error_line(out: &Output, needles: &[&str]) -> String {
    assert_error_line(out, 1, needles)
}

/// Asserts the one-line error of a usage error (exit code 2) and returns it.
fn assert_usage_error(out: &Output, needles: &[&str]) -> String {
    assert_error_line(out, 2, needles)
}

fn assert_error_line(out: &Output, code: i32, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr:?}");
    assert!(stderr.starts_with("error: "), "stderr: {stderr:?}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr:?}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    }
    stderr
}

/// A copy of `model` in a temp dir, changed by `edit`.
fn edited_copy(model: &Path, edit: impl FnOnce(&mut Vec<u8>)) -> (tempfile::TempDir, PathBuf) {
    let dir = common::tempdir();
    let path = dir.path().join("edited.gguf");
    let mut bytes = std::fs::read(model).unwrap();
    edit(&mut bytes);
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(needle)))
}

/// Byte offset of the type field of tensor `name`'s info (name, n_dims u32, dims u64s, type u32).
fn tensor_type_offset(bytes: &[u8], name: &str) -> usize {
    let mut key = (name.len() as u64).to_le_bytes().to_vec();
    key.extend_from_slice(name.as_bytes());
    let at = find(bytes, &key) + key.len();
    let n_dims = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    at + 4 + 8 * n_dims
}

#[test]
fn bad_input_missing_model_file() {
    let out = run_edge_args(&["-m", "/nonexistent/model.gguf", "-p", "hi"]);
    assert_one_error_line(&out, &["/nonexistent/model.gguf"]);
}

#[test]
fn bad_input_no_model_flag() {
    assert_usage_error(&run_edge_args(&["-p", "hi"]), &["--model"]);
}

#[test]
fn bad_input_not_a_gguf() {
    let corpus = common::shared_models().join("corpus/tinyshakespeare.txt");
    assert_one_error_line(&with_model(&corpus, &["-p", "hi"]), &["not a GGUF"]);
}

#[test]
fn bad_input_corrupt_gguf_header() {
    let (_dir, path) = edited_copy(&tinystories(), |b| {
        // Tensor count u64 at offset 8: absurdly large.
        b[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    });
    assert_one_error_line(&with_model(&path, &["-p", "hi"]), &["edited.gguf"]);
}

#[test]
fn bad_input_truncated_gguf() {
    let (_dir, path) = edited_copy(&tinystories(), |b| b.truncate(b.len() / 2));
    for storage in [&[][..], &["--mmap"], &["--no-mmap"]] {
        let args = [&["-p", "hi"][..], storage].concat();
        assert_one_error_line(
            &with_model(&path, &args),
            &["edited.gguf", "outside the file"],
        );
    }
}

#[test]
fn bad_input_unsupported_architecture() {
    let (_dir, path) = edited_copy(&tinystories(), |b| {
        let key = b"general.architecture";
        // key, then value type u32 (8 = string), length u64 (5), "llama".
        let at = find(b, key) + key.len() + 12;
        assert_eq!(&b[at..at + 5], b"llama");
        b[at..at + 5].copy_from_slice(b"mamba");
    });
    assert_one_error_line(
        &with_model(&path, &["-p", "hi"]),
        &["architecture", "mamba"],
    );
}

#[test]
fn bad_input_unknown_tensor_type() {
    let (_dir, path) = edited_copy(&tinystories(), |b| {
        let at = tensor_type_offset(b, "blk.0.attn_q.weight");
        b[at..at + 4].copy_from_slice(&12u32.to_le_bytes()); // ggml Q4_K
    });
    assert_one_error_line(
        &with_model(&path, &["-p", "hi"]),
        &["blk.0.attn_q.weight", "12"],
    );
}

#[test]
fn bad_input_unsupported_tensor_type() {
    let (_dir, path) = edited_copy(&tinystories(), |b| {
        let at = tensor_type_offset(b, "blk.0.attn_q.weight");
        b[at..at + 4].copy_from_slice(&9u32.to_le_bytes()); // Q8_1: a file type, not a weight type
    });
    assert_one_error_line(
        &with_model(&path, &["-p", "hi"]),
        &["blk.0.attn_q.weight", "Q8_1"],
    );
}

#[test]
fn bad_input_empty_prompt() {
    assert_usage_error(&with_model(&tinystories(), &["-p", ""]), &["empty prompt"]);
}

#[test]
fn bad_input_no_prompt() {
    assert_usage_error(&with_model(&tinystories(), &[]), &["prompt"]);
}

#[test]
fn bad_input_negative_temperature() {
    assert_usage_error(
        &with_model(&tinystories(), &["-p", "hi", "--temp", "-1"]),
        &["--temp", "-1"],
    );
}

#[test]
fn bad_input_top_p_above_one() {
    assert_usage_error(
        &with_model(&tinystories(), &["-p", "hi", "--top-p", "2"]),
        &["--top-p", "2"],
    );
}

#[test]
fn bad_input_min_p_negative() {
    assert_usage_error(
        &with_model(&tinystories(), &["-p", "hi", "--min-p", "-0.5"]),
        &["--min-p"],
    );
}

#[test]
fn bad_input_zero_context() {
    assert_usage_error(
        &with_model(&tinystories(), &["-p", "hi", "--ctx", "0"]),
        &["--ctx", "0"],
    );
}

#[test]
fn bad_input_zero_threads() {
    assert_usage_error(
        &with_model(&tinystories(), &["-p", "hi", "--threads", "0"]),
        &["--threads"],
    );
}

#[test]
fn bad_input_unknown_kv_type() {
    assert_usage_error(
        &with_model(&tinystories(), &["-p", "hi", "--kv-type", "q8"]),
        &["--kv-type", "q8"],
    );
}

#[test]
fn bad_input_unknown_isa() {
    assert_usage_error(
        &with_model(&tinystories(), &["-p", "hi", "--isa", "sse9"]),
        &["--isa", "sse9"],
    );
}

#[test]
fn bad_input_prompt_longer_than_context() {
    let prompt = "Once upon a time there was a little girl who liked to play in the park.";
    let out = with_model(&tinystories(), &["-p", prompt, "--ctx", "8"]);
    assert_one_error_line(&out, &["prompt has", "context of 8 tokens"]);
}

#[test]
fn bad_input_chat_without_template() {
    // tinystories-656k has no chat template.
    let out = with_model(&tinystories(), &["-p", "hi", "--chat"]);
    assert_one_error_line(&out, &["chat template"]);
}

// ---------------------------------------------------------------------------------------------
// Output rules on a small model

#[test]
fn only_generated_text_on_stdout_and_n_predict_is_honoured() {
    let out = with_model(
        &tinystories(),
        &[
            "-p",
            "Once upon a time",
            "-n",
            "12",
            "--temp",
            "0",
            "--ignore-eos",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    // The same greedy continuation through the library.
    let model = Arc::new(Model::open(&tinystories()).unwrap());
    let tokenizer = Tokenizer::from_metadata(model.metadata()).unwrap();
    let mut session = Session::new(
        model,
        SessionParams {
            n_ctx: 64,
            kv_type: KvType::F16,
            ..Default::default()
        },
    )
    .unwrap();
    let ids = tokenizer.encode("Once upon a time", tokenizer.add_bos_default(), true);
    let mut logits = session.forward_batch(&ids).unwrap();
    let mut tokens = Vec::new();
    for _ in 0..12 {
        let (t, _) = top2(logits);
        tokens.push(t);
        logits = session.forward(t).unwrap();
    }
    assert_eq!(stdout, format!("{}\n", tokenizer.decode(&tokens, false)));
    assert!(stderr.contains("generated: 12 tokens"), "stderr: {stderr}");
}

// ---------------------------------------------------------------------------------------------
// `run-edge bench`: argument handling and output shape (never its times)

fn bench(args: &[&str]) -> Output {
    common::run_edge()
        .arg("bench")
        .arg("-m")
        .arg(tinystories())
        .args(args)
        .output()
        .unwrap()
}

fn bench_stdout(args: &[&str]) -> String {
    let out = bench(args);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The cells of a markdown table row.
fn cells(row: &str) -> Vec<&str> {
    let inner = row.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(str::trim).collect()
}

#[test]
fn bench_markdown_has_a_row_per_thread_count_and_test() {
    let stdout = bench_stdout(&["-p", "8", "-n", "4", "-r", "1", "-t", "1,2"]);
    let tables: Vec<Vec<&str>> = stdout
        .split("\n\n")
        .map(|t| t.lines().filter(|l| l.starts_with('|')).collect())
        .collect();
    assert_eq!(tables.len(), 2, "stdout: {stdout}");
    let speed = &tables[0];
    assert_eq!(
        cells(speed[0]),
        ["model", "size", "params", "threads", "ISA", "test", "t/s"]
    );
    let rows: Vec<Vec<&str>> = speed[2..].iter().map(|r| cells(r)).collect();
    let tests: Vec<(&str, &str)> = rows.iter().map(|r| (r[3], r[5])).collect();
    assert_eq!(
        tests,
        [("1", "pp8"), ("1", "tg4"), ("2", "pp8"), ("2", "tg4")]
    );
    for row in &rows {
        assert!(row[0].starts_with("llama "), "{row:?}");
        assert!(row[1].ends_with("MiB"), "{row:?}");
        assert!(row[2].ends_with(" M"), "{row:?}");
        assert!(!row[4].is_empty(), "{row:?}");
        let (mean, sd) = row[6].split_once(" ± ").unwrap();
        assert!(mean.parse::<f64>().unwrap() > 0.0, "{row:?}");
        assert_eq!(sd.parse::<f64>().unwrap(), 0.0, "one repetition: {row:?}");
    }
    let bound = &tables[1];
    assert_eq!(cells(bound[0])[5], "of bound");
    let rows: Vec<Vec<&str>> = bound[2..].iter().map(|r| cells(r)).collect();
    assert_eq!(rows.len(), 2, "one row per decode test: {bound:?}");
    for row in rows {
        assert_eq!(row[1], "tg4");
        assert!(row[5].ends_with('%'), "{row:?}");
    }
}

#[test]
fn bench_json_uses_llama_bench_field_names() {
    let stdout = bench_stdout(&["-p", "8", "-n", "4", "-r", "2", "-t", "1", "-o", "json"]);
    let records: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(records.len(), 2, "{stdout}");
    let file = edge_formats::gguf::GgufFile::open(&tinystories()).unwrap();
    let n_params: u64 = file.tensors().iter().map(|t| t.n_elements()).sum();
    let size: u64 = file.tensors().iter().map(|t| t.n_bytes).sum();
    for (record, (n_prompt, n_gen)) in records.iter().zip([(8, 0), (0, 4)]) {
        assert_eq!(record["n_prompt"], n_prompt, "{record}");
        assert_eq!(record["n_gen"], n_gen, "{record}");
        assert_eq!(record["n_threads"], 1);
        assert_eq!(record["model_n_params"], n_params);
        assert_eq!(record["model_size"], size);
        assert_eq!(record["type_k"], "f32");
        let mapped_by_default = !cfg!(all(target_arch = "x86_64", target_os = "linux"));
        assert_eq!(record["use_mmap"], mapped_by_default, "{record}");
        assert!(record["avg_ts"].as_f64().unwrap() > 0.0);
        assert!(record["stddev_ts"].as_f64().unwrap() >= 0.0);
        assert_eq!(record["samples_ts"].as_array().unwrap().len(), 2);
        assert_eq!(record["samples_ns"].as_array().unwrap().len(), 2);
        // `general.file_type` named as llama.cpp names it (the file is F32).
        let model_type = record["model_type"].as_str().unwrap();
        assert!(
            model_type.starts_with("llama") && model_type.ends_with(" all F32"),
            "{model_type}"
        );
        let time = record["test_time"].as_str().unwrap();
        assert!(time.len() == 20 && time.ends_with('Z'), "{time}");
    }
    assert!(records[0].get("bound_share").is_none());
    let bytes = records[1]["bytes_per_token"].as_u64().unwrap();
    assert!(bytes >= file.tensors().iter().map(|t| t.n_bytes).min().unwrap());
    assert!(records[1]["bound_share"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_jsonl_is_one_object_per_line_and_kv_type_is_honoured() {
    let stdout = bench_stdout(&["-p", "8", "-n", "0", "-r", "1", "-t", "1", "-o", "jsonl"]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let record: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(record["n_prompt"], 8);
    let stdout = bench_stdout(&[
        "-p",
        "0",
        "-n",
        "4",
        "-r",
        "1",
        "-t",
        "1",
        "-o",
        "jsonl",
        "--kv-type",
        "f16",
    ]);
    let record: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(record["n_gen"], 4);
    assert_eq!(record["type_v"], "f16");
}

#[test]
fn bench_depth_fills_the_context_first_and_names_the_test_as_llama_bench() {
    let stdout = bench_stdout(&["-p", "0", "-n", "2", "-d", "0,6", "-r", "1", "-t", "1"]);
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|l| l.starts_with("| llama"))
        .map(cells)
        .collect();
    let tests: Vec<&str> = rows.iter().map(|r| r[5]).collect();
    assert_eq!(tests, ["tg2", "tg2 @ d6"], "{stdout}");
    let json = bench_stdout(&[
        "-p", "3", "-n", "0", "-d", "5", "-r", "1", "-t", "1", "-o", "jsonl",
    ]);
    let record: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(
        (record["n_prompt"].clone(), record["n_depth"].clone()),
        (3.into(), 5.into())
    );
}

#[test]
fn bench_bad_arguments_are_one_error_line() {
    assert_usage_error(&bench(&["-r", "0"]), &["--repetitions"]);
    assert_usage_error(&bench(&["-o", "xml"]), &["xml"]);
    assert_usage_error(&bench(&["-t", "1,0"]), &["--threads"]);
    assert_one_error_line(&bench(&["-p", "0", "-n", "0"]), &["nothing to measure"]);
    assert_usage_error(&run_edge_args(&["bench", "-p", "8"]), &["--model"]);
}
