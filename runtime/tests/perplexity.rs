//! `run-edge perplexity` against reference/perplexity.json (llama-perplexity's algorithm
//! computed with transformers in float64).

mod common;

use edge_formats::GgmlType;
use std::path::{Path, PathBuf};
use std::process::Output;

fn corpus() -> PathBuf {
    common::shared_models().join("corpus/tinyshakespeare.txt")
}

/// `run-edge perplexity` of the F32 tinystories-656k model over `text`, with `args` after.
fn perplexity_of(text: &Path, args: &[&str]) -> Output {
    let model = common::quantized(
        &common::shared_models().join("tinystories-656k"),
        GgmlType::F32,
    );
    common::run_edge()
        .args(["perplexity", "-m"])
        .arg(&model)
        .arg("-f")
        .arg(text)
        .args(args)
        .output()
        .unwrap()
}

/// `X +/- Y` from stdout's last line, `Final estimate: PPL = X +/- Y` as llama-perplexity's.
fn parse_ppl(stdout: &str) -> (f64, f64) {
    let line = stdout
        .lines()
        .last()
        .filter(|l| l.starts_with("Final estimate: PPL = "))
        .unwrap_or_else(|| panic!("no final PPL line in {stdout:?}"));
    let rest = line.trim_start_matches("Final estimate: PPL = ");
    let (ppl, err) = rest.split_once(" +/- ").unwrap();
    (ppl.trim().parse().unwrap(), err.trim().parse().unwrap())
}

#[test]
fn tinystories_f32_perplexity_matches_reference_within_0_05_percent() {
    let reference = common::reference_json("perplexity.json");
    let expected = &reference["tinystories-656k"];
    let (want_ppl, want_err) = (
        expected["ppl"].as_f64().unwrap(),
        expected["error"].as_f64().unwrap(),
    );
    let n_ctx = expected["n_ctx"].as_u64().unwrap();
    let chunks = expected["chunks"].as_u64().unwrap();
    let out = perplexity_of(
        &corpus(),
        &["--ctx", &n_ctx.to_string(), "--chunks", &chunks.to_string()],
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    // Only the result on stdout.
    assert_eq!(stdout.lines().count(), 1, "stdout: {stdout:?}");
    let (ppl, err) = parse_ppl(&stdout);
    println!("ours: PPL = {ppl} +/- {err}; reference {want_ppl} +/- {want_err}");
    assert!(
        (ppl - want_ppl).abs() / want_ppl < 5e-4,
        "PPL {ppl} vs reference {want_ppl}"
    );
    assert!(
        (err - want_err).abs() / want_err < 5e-3,
        "error {err} vs reference {want_err}"
    );
    let scored = expected["scored_tokens"].as_u64().unwrap();
    assert!(
        stderr.contains(&format!("{scored} tokens scored")),
        "stderr: {stderr}"
    );
}

#[test]
fn perplexity_of_a_text_shorter_than_two_contexts_is_one_error_line() {
    let dir = common::tempdir();
    let text = dir.path().join("short.txt");
    std::fs::write(&text, "Once upon a time there was a cat.").unwrap();
    let out = perplexity_of(&text, &["--ctx", "256"]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr:?}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("needs at least 512"),
        "{stderr:?}"
    );
}

#[test]
fn perplexity_of_a_missing_text_file_is_one_error_line() {
    let model = common::quantized(
        &common::shared_models().join("tinystories-656k"),
        GgmlType::F32,
    );
    let out = common::run_edge()
        .args(["perplexity", "-m"])
        .arg(&model)
        .args(["-f", "/nonexistent/corpus.txt"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr:?}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("/nonexistent/corpus.txt"),
        "{stderr:?}"
    );
}

/// `run-edge perplexity` of SmolLM2 quantized by our quantizer (llama-quantize's bytes, see
/// the manifests) with llama-perplexity's settings (`-c 512 --chunks 16`, f16 cache) against
/// llama.cpp's figure on the same file (reference/llama.cpp). Each chunk runs as
/// llama-perplexity's one batch in its x86 arithmetic (`Session::forward_outputs`), so on x86
/// the figure and its error are llama.cpp's to every printed digit; elsewhere within 0.2%.
fn smollm2_perplexity_is_llama_cpps(file_type: &str, pure: bool) {
    let label = if pure {
        format!("pure-{file_type}")
    } else {
        file_type.to_string()
    };
    let reference =
        common::reference_json(&format!("llama.cpp/smollm2-135m-instruct-{label}.json"));
    let expected = &reference["perplexity"];
    assert_eq!(expected["args"], "-c 512 --chunks 16 -b 512");
    let (want_ppl, want_err) = (
        expected["ppl"].as_f64().unwrap(),
        expected["error"].as_f64().unwrap(),
    );
    let model = common::quantized_mix(file_type, pure);
    let out = common::run_edge()
        .args(["perplexity", "-m"])
        .arg(&model)
        .arg("-f")
        .arg(corpus())
        .args(["--ctx", "512", "--chunks", "16"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ppl, err) = parse_ppl(&stdout);
    println!("{label}: PPL = {ppl} +/- {err}; llama.cpp {want_ppl} +/- {want_err}");
    if cfg!(target_arch = "x86_64") && is_x86_feature_detected!("avx2") {
        assert_eq!(
            stdout.lines().last().unwrap(),
            format!("Final estimate: PPL = {want_ppl:.4} +/- {want_err:.5}"),
            "{label}: llama.cpp's figure to every printed digit"
        );
    } else {
        assert!(
            (ppl - want_ppl).abs() / want_ppl < 2e-3,
            "{label}: PPL {ppl} vs llama.cpp's {want_ppl}"
        );
    }
}

#[test]
fn smollm2_q4_k_m_perplexity_is_llama_cpps() {
    smollm2_perplexity_is_llama_cpps("q4_k_m", false);
}

#[test]
fn smollm2_pure_q2_k_perplexity_is_llama_cpps() {
    // The most sensitive file: a per-token difference in the logits moves its figure most.
    smollm2_perplexity_is_llama_cpps("q2_k", true);
}
