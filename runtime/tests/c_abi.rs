//! libedge from C and C++. `examples/c/generate.c`, built with the system C compiler against the
//! static and the shared library (installed by `scripts/install-lib`, flags from pkg-config),
//! and `examples/cpp/generate.cpp` (RAII wrappers) print `run-edge`'s greedy text;
//! `tests/c/abi_checks.c` checks the error paths (null arguments, a missing file, a corrupt
//! file, too-small buffers, a full context, invalid UTF-8, the abort and piece callbacks, a
//! panic forced inside Rust, a load stopped by its progress callback), the load's progress,
//! threads changed mid-session (logits unchanged in bits) and the low-level loop; `tests/c/threads.c` runs two sessions over one
//! model on two threads at once and enters one session from two threads; `examples/c/chat.c`
//! holds `run-edge -i`'s greedy conversation on SmolLM2.

mod common;

use edge_formats::GgmlType;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const PROMPT: &str = "Once upon a time";
const N_TOKENS: &str = "32";

/// target/release: where cargo puts run-edge, libedge.a and libedge.so.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_run-edge"))
        .parent()
        .expect("run-edge has a folder")
        .to_path_buf()
}

/// The folder with the newest libedge.a and libedge.so: `cargo build` puts them in
/// target/release, while `cargo test` leaves the ones it builds in target/release/deps.
fn lib_dir() -> PathBuf {
    let release = target_dir();
    let modified = |dir: &Path| {
        let a = std::fs::metadata(dir.join("libedge.a")).and_then(|m| m.modified());
        let so_exists = dir.join("libedge.so").is_file();
        a.ok().filter(|_| so_exists)
    };
    [release.join("deps"), release]
        .into_iter()
        .filter_map(|dir| modified(&dir).map(|t| (t, dir)))
        .max_by_key(|(t, _)| *t)
        .map(|(_, dir)| dir)
        .expect("libedge.a and libedge.so in target/release or target/release/deps")
}

fn workspace_file(relative: &str) -> PathBuf {
    common::workspace().join(relative)
}

fn tinystories() -> PathBuf {
    common::quantized(
        &common::shared_models().join("tinystories-656k"),
        GgmlType::F32,
    )
}

/// The system libraries a Rust static library needs (`rustc --print native-static-libs`).
const STATIC_LIBS: [&str; 5] = ["-lpthread", "-ldl", "-lm", "-lrt", "-lgcc_s"];

/// Compiles `source` into `out` with `cc` (C11, or `c++` in C++17 for a .cpp file), warnings
/// as errors, against edge.h and `link`.
fn compile(source: &Path, out: &Path, link: &[&std::ffi::OsStr]) {
    let (compiler, standard) = match source.extension().and_then(|e| e.to_str()) {
        Some("cpp") => ("c++", "-std=c++17"),
        _ => ("cc", "-std=c11"),
    };
    let output = Command::new(compiler)
        .arg(standard)
        .args(["-O1", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(workspace_file("include"))
        .arg(source)
        .arg("-o")
        .arg(out)
        .args(link)
        .output()
        .unwrap_or_else(|e| panic!("run {compiler} (the system compiler): {e}"));
    assert!(
        output.status.success(),
        "cc {}: {}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A C program linked statically.
fn static_example(dir: &Path, name: &str, source: &Path) -> PathBuf {
    let exe = dir.join(name);
    let lib = lib_dir().join("libedge.a");
    let mut link = vec![std::ffi::OsStr::new("-pthread"), lib.as_os_str()];
    link.extend(STATIC_LIBS.iter().map(std::ffi::OsStr::new));
    compile(source, &exe, &link);
    exe
}

fn stdout_of(command: &mut Command) -> String {
    let output = command.output().expect("run the program");
    assert!(
        output.status.success(),
        "{command:?}: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn run_edge_greedy(model: &Path) -> String {
    stdout_of(
        common::run_edge()
            .arg("-m")
            .arg(model)
            .args(["-p", PROMPT, "-n", N_TOKENS, "--temp", "0"]),
    )
}

#[test]
fn generate_c_against_the_static_library_prints_run_edges_greedy_text() {
    let dir = tempfile::tempdir().unwrap();
    let model = tinystories();
    let exe = static_example(
        dir.path(),
        "generate",
        &workspace_file("examples/c/generate.c"),
    );
    let ours = stdout_of(Command::new(&exe).arg(&model).args([PROMPT, N_TOKENS]));
    let expected = run_edge_greedy(&model);
    assert!(!expected.is_empty());
    assert_eq!(ours, expected);
}

#[test]
fn generate_cpp_with_raii_wrappers_prints_run_edges_greedy_text() {
    let dir = tempfile::tempdir().unwrap();
    let model = tinystories();
    let exe = static_example(
        dir.path(),
        "generate-cpp",
        &workspace_file("examples/cpp/generate.cpp"),
    );
    let ours = stdout_of(Command::new(&exe).arg(&model).args([PROMPT, N_TOKENS]));
    assert_eq!(ours, run_edge_greedy(&model));
    // A failed load throws edge::Error, caught in main: a message and exit status 1.
    let missing = Command::new(&exe)
        .arg(dir.path().join("missing.gguf"))
        .arg(PROMPT)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("missing.gguf") && stderr.contains("EDGE_IO"),
        "{stderr}"
    );
}

#[test]
fn generate_c_against_the_shared_library_prints_run_edges_greedy_text() {
    let dir = tempfile::tempdir().unwrap();
    let model = tinystories();
    // Installed as a user would: libedge.so.0 and its link, edge.h, edge.pc for pkg-config.
    let prefix = dir.path().join("prefix");
    let install = Command::new(workspace_file("scripts/install-lib"))
        .arg(&prefix)
        .arg(lib_dir())
        .output()
        .unwrap();
    assert!(
        install.status.success(),
        "{}",
        String::from_utf8_lossy(&install.stderr)
    );
    let flags = stdout_of(
        Command::new("pkg-config")
            .args(["--cflags", "--libs", "edge"])
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")),
    );
    let lib_dir = prefix.join("lib");
    let rpath = format!("-Wl,-rpath,{}", lib_dir.display());
    let mut link: Vec<&std::ffi::OsStr> = flags.split_whitespace().map(|f| f.as_ref()).collect();
    link.push(rpath.as_ref());
    let exe = dir.path().join("generate");
    compile(&workspace_file("examples/c/generate.c"), &exe, &link);
    // The program must find the library by its SONAME alone.
    std::fs::remove_file(lib_dir.join("libedge.so")).unwrap();
    let ours = stdout_of(Command::new(&exe).arg(&model).args([PROMPT, N_TOKENS]));
    assert_eq!(ours, run_edge_greedy(&model));
}

#[test]
fn c_error_paths_return_their_documented_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let exe = static_example(
        dir.path(),
        "abi_checks",
        &workspace_file("runtime/tests/c/abi_checks.c"),
    );
    let missing = dir.path().join("missing.gguf");
    // The model cut in half: its tensors' data lies outside the file.
    let corrupt = dir.path().join("corrupt.gguf");
    let bytes = std::fs::read(tinystories()).unwrap();
    std::fs::write(&corrupt, &bytes[..bytes.len() / 2]).unwrap();
    let out = stdout_of(
        Command::new(&exe)
            .arg(tinystories())
            .arg(&missing)
            .arg(&corrupt),
    );
    assert!(out.starts_with("ok "), "{out}");
}

#[test]
fn two_sessions_on_two_threads_match_running_them_one_after_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let exe = static_example(
        dir.path(),
        "threads",
        &workspace_file("runtime/tests/c/threads.c"),
    );
    let out = stdout_of(Command::new(&exe).arg(tinystories()));
    assert!(out.starts_with("ok: "), "{out}");
}

/// `command` with `input` on stdin; its stdout.
fn stdout_with_input(command: &mut Command, input: &str) -> String {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the program");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

#[test]
fn chat_c_holds_run_edges_greedy_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::quantized(&common::smollm2_folder(), GgmlType::Q8_0);
    let exe = static_example(dir.path(), "chat", &workspace_file("examples/c/chat.c"));
    // Two turns: the second reuses the first's KV cache.
    let input = "What is the capital of France?\nAnd of Italy?\n";
    let ours = stdout_with_input(Command::new(&exe).arg(&model).args(["24", "0"]), input);
    let expected = stdout_with_input(
        common::run_edge()
            .arg("-m")
            .arg(&model)
            .args(["-i", "-n", "24", "--temp", "0"]),
        input,
    );
    assert_eq!(ours.lines().count(), 2, "{ours}");
    assert!(ours.lines().all(|reply| !reply.trim().is_empty()), "{ours}");
    assert_eq!(ours, expected);
}
