//! What the hostile-input suites share: running a binary under an address-space limit, the
//! check of a refusal (one short `error: ` line, an exit below 100), and small file helpers.
//! Only std and edge-formats, so that every crate's tests can include it by `#[path]`.
#![allow(dead_code)]

use edge_formats::gguf::{GgufFile, TensorSpec};
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
