//! Peak memory of a generation: `run-edge` on SmolLM2-135M Q4_0 at `--ctx 512`, 128 tokens,
//! stays below the file's size plus the KV cache plus 30 MB (the speed issue's bound: the
//! weights are held once, mapped or read into memory but never both, and decoding allocates
//! nothing). Both KV types with the default storage (resident on x86-64 Linux), and the
//! other storage once.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

/// What the bound allows above the file and the KV cache: code, the thread stacks,
/// the scratch buffers, the tokenizer and the page tables.
const SLACK_BYTES: u64 = 30_000_000;

/// (peak resident bytes, stderr) of `command` run to its end (a successful one).
fn peak_rss(mut command: Command) -> (u64, String) {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start run-edge");
    let end = common::peak_rss::wait_with_peak_rss(child, Duration::from_secs(600), "run-edge");
    assert!(
        end.status.success(),
        "run-edge failed ({}): {}",
        end.status,
        end.stderr
    );
    (end.peak_rss, end.stderr)
}

/// The KV cache's size in bytes from run-edge's `memory:` line ("KV cache 23.6 MB (...").
fn kv_cache_bytes(stderr: &str) -> u64 {
    let after = stderr
        .split("KV cache ")
        .nth(1)
        .unwrap_or_else(|| panic!("no KV cache figure in: {stderr}"));
    let mb: f64 = after
        .split(" MB")
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("unreadable KV cache figure in: {stderr}"));
    (mb * 1e6) as u64
}

/// `storage`: extra flags (`--mmap`, `--no-mmap`), none for the default.
fn generation_stays_within_file_plus_kv_plus_30_mb(kv_type: &str, storage: &[&str]) {
    let model = common::quantized(&common::smollm2_folder(), edge_formats::GgmlType::Q4_0);
    let file_bytes = std::fs::metadata(&model).expect("model file").len();
    let mut command = common::run_edge();
    command
        .arg("-m")
        .arg(&model)
        .args(["-p", "Once upon a time", "-n", "128", "--ignore-eos"])
        .args(["--temp", "0", "--ctx", "512", "--threads", "2"])
        .args(["--kv-type", kv_type])
        .args(storage);
    let (peak, stderr) = peak_rss(command);
    let kv = kv_cache_bytes(&stderr);
    let bound = file_bytes + kv + SLACK_BYTES;
    eprintln!(
        "peak RSS {:.1} MB, bound {:.1} MB (file {:.1} + KV {:.1} + 30), --kv-type {kv_type} \
         {storage:?}",
        peak as f64 / 1e6,
        bound as f64 / 1e6,
        file_bytes as f64 / 1e6,
        kv as f64 / 1e6
    );
    assert!(
        peak < bound,
        "peak RSS {peak} bytes over the bound {bound} (--kv-type {kv_type} {storage:?})"
    );
}

#[test]
fn q4_0_generation_peak_rss_is_bounded_f32_kv() {
    generation_stays_within_file_plus_kv_plus_30_mb("f32", &[]);
}

#[test]
fn q4_0_generation_peak_rss_is_bounded_f16_kv() {
    generation_stays_within_file_plus_kv_plus_30_mb("f16", &[]);
}

/// The storage that is not the platform's default: mapped on x86-64 Linux, resident elsewhere.
#[test]
fn q4_0_generation_peak_rss_is_bounded_other_storage() {
    let other = match cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        true => "--mmap",
        false => "--no-mmap",
    };
    generation_stays_within_file_plus_kv_plus_30_mb("f16", &[other]);
}
