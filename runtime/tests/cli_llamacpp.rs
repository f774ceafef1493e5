//! `run-edge` as a llama.cpp user drives it: llama.cpp's flag spellings, a random seed that is
//! printed, the prompt from stdin, the final newline, chat transcripts and timings, and Ctrl-C
//! (stop the reply; in a chat, back to the prompt).

mod common;

use edge_formats::GgmlType;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn tinystories() -> PathBuf {
    common::quantized(
        &common::shared_models().join("tinystories-656k"),
        GgmlType::F32,
    )
}

fn run(args: &[&str]) -> Output {
    common::run_edge()
        .arg("-m")
        .arg(tinystories())
        .args(args)
        .output()
        .unwrap()
}

/// A run with `input` on stdin.
fn run_with_stdin(model: &Path, args: &[&str], input: &str) -> Output {
    let mut child = common::run_edge()
        .arg("-m")
        .arg(model)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ok_stdout(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The one `error: ` line of a usage error (exit code 2).
fn usage_error(out: &Output) -> String {
    let stderr = stderr_of(out);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.starts_with("error: "), "{stderr:?}");
    stderr
}

const GREEDY: [&str; 4] = ["--temp", "0", "-n", "12"];

// ---------------------------------------------------------------------------------------------
// Flag spellings

#[test]
fn llama_cpp_spellings_give_the_same_text_as_ours() {
    let ours = ok_stdout(&run(&[
        &GREEDY[..],
        &["-p", "Once upon a time", "--ctx", "64", "--kv-type", "f16"],
        &["--seed", "3"],
    ]
    .concat()));
    let theirs = run(&[
        &GREEDY[..],
        &["-p", "Once upon a time", "--ctx-size", "64", "-ctk", "f16"],
        &["-ctv", "f16", "-s", "3", "-ngl", "99", "-b", "3"],
    ]
    .concat());
    assert_eq!(ok_stdout(&theirs), ours);
    assert!(
        stderr_of(&theirs).contains("no GPU offload"),
        "{}",
        stderr_of(&theirs)
    );
    assert!(stderr_of(&theirs).contains("f16, context 64"));
}

#[test]
fn different_key_and_value_cache_types_are_refused() {
    let line = usage_error(&run(&["-p", "hi", "-ctk", "f16", "-ctv", "f32"]));
    assert!(line.contains("one cache type"), "{line}");
}

#[test]
fn prompt_escapes_are_processed_unless_no_escape() {
    let escaped = ok_stdout(&run(&[&GREEDY[..], &["-p", r"Once upon\na time"]].concat()));
    let literal = ok_stdout(&run(&[
        &GREEDY[..],
        &["--no-escape", "-p", "Once upon\na time"],
    ]
    .concat()));
    assert_eq!(escaped, literal);
    let unescaped = ok_stdout(&run(&[
        &GREEDY[..],
        &["--no-escape", "-p", r"Once upon\na time"],
    ]
    .concat()));
    assert_ne!(escaped, unescaped, "--no-escape keeps the backslash");
}

#[test]
fn prompt_from_a_file_equals_the_same_prompt_given_with_p() {
    let dir = common::tempdir();
    let file = dir.path().join("prompt.txt");
    std::fs::write(&file, "Once upon a time").unwrap();
    let from_p = ok_stdout(&run(&[&GREEDY[..], &["-p", "Once upon a time"]].concat()));
    let from_f = ok_stdout(&run(
        &[&GREEDY[..], &["-f", file.to_str().unwrap()]].concat()
    ));
    assert_eq!(from_f, from_p);
}

#[test]
fn reverse_prompt_stops_the_text_before_it() {
    let full = ok_stdout(&run(&[&GREEDY[..], &["-p", "Once upon a time"]].concat()));
    // A word from the middle of the greedy text.
    let word = full
        .split_whitespace()
        .nth(3)
        .unwrap_or_else(|| panic!("too short: {full:?}"));
    let cut = ok_stdout(&run(&[
        &GREEDY[..],
        &["-p", "Once upon a time", "-r", word],
    ]
    .concat()));
    let before = &full[..full.find(word).unwrap()];
    assert_eq!(cut, format!("{before}\n"), "stopped at {word:?}");
}

#[test]
fn n_minus_one_generates_until_the_context_is_full() {
    let out = run(&[
        "-p",
        "Once upon a time",
        "--temp",
        "0",
        "-n",
        "-1",
        "--ignore-eos",
    ]);
    let out = run_edge_ok(out);
    assert!(out.contains("context full"), "{out}");
}

fn run_edge_ok(out: Output) -> String {
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    stderr
}

#[test]
fn unknown_flag_is_one_line_with_clap_s_suggestion() {
    let line = usage_error(&run(&["-p", "hi", "--seeed", "1"]));
    assert!(line.contains("--seeed"), "{line}");
    assert!(line.contains("tip:") && line.contains("--seed"), "{line}");
}

#[test]
fn conversation_and_system_prompt_spellings_run_a_chat() {
    let out = run_with_stdin(
        &common::smollm2_llamacpp_gguf(),
        &["-cnv", "-sys", "Be brief.", "--temp", "0", "-n", "4"],
        "Hi\n",
    );
    let stdout = ok_stdout(&out);
    assert!(!stdout.trim().is_empty(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("> Hi"), "{}", stderr_of(&out));
}

// ---------------------------------------------------------------------------------------------
// Seed, stdin prompt, output

/// The `seed: N` line of stderr.
fn seed_of(out: &Output) -> u64 {
    let stderr = stderr_of(out);
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("seed: "))
        .unwrap_or_else(|| panic!("no seed line: {stderr}"));
    line.trim().parse().unwrap()
}

#[test]
fn the_default_seed_is_random_and_printed_and_a_given_seed_reproduces() {
    let args = ["-p", "Once upon a time", "-n", "24"];
    let a = run(&args);
    let b = run(&args);
    assert_eq!(a.status.code(), Some(0), "{}", stderr_of(&a));
    assert_ne!(seed_of(&a), seed_of(&b), "two random seeds");
    let random = run(&[&args[..], &["-s", "-1"]].concat());
    assert_ne!(seed_of(&random), seed_of(&a));

    let again = run(&[&args[..], &["--seed", &seed_of(&a).to_string()]].concat());
    assert_eq!(seed_of(&again), seed_of(&a));
    assert_eq!(
        ok_stdout(&again),
        ok_stdout(&a),
        "the printed seed reproduces"
    );
}

#[test]
fn prompt_from_stdin_when_no_p_is_given() {
    let from_p = ok_stdout(&run(&[&GREEDY[..], &["-p", "Once upon a time"]].concat()));
    let from_stdin = ok_stdout(&run_with_stdin(&tinystories(), &GREEDY, "Once upon a time"));
    assert_eq!(from_stdin, from_p);
}

#[test]
fn one_shot_output_ends_with_a_newline() {
    let stdout = ok_stdout(&run(&[&GREEDY[..], &["-p", "Once upon a time"]].concat()));
    assert!(stdout.ends_with('\n') && stdout.len() > 1, "{stdout:?}");
}

#[test]
fn chat_echoes_piped_lines_and_prints_timings_once_unless_verbose() {
    let model = common::smollm2_llamacpp_gguf();
    let args = ["-i", "--temp", "0", "-n", "4", "--ctx", "256"];
    let out = run_with_stdin(&model, &args, "Hi\nBye\n");
    ok_stdout(&out);
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("> Hi\n") && stderr.contains("> Bye\n"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("generated:").count(), 1, "{stderr}");
    assert!(
        stderr.contains("generated: 8 tokens"),
        "the totals: {stderr}"
    );

    let out = run_with_stdin(&model, &[&args[..], &["--verbose"]].concat(), "Hi\nBye\n");
    ok_stdout(&out);
    assert_eq!(stderr_of(&out).matches("generated:").count(), 3);
}

// ---------------------------------------------------------------------------------------------
// Ctrl-C

/// A child whose stdout and stderr are collected as they come.
struct Running {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

fn collect(mut from: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&buffer);
    std::thread::spawn(move || {
        let mut chunk = [0u8; 256];
        while let Ok(n) = from.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    buffer
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = common::run_edge()
            .arg("-m")
            .arg(common::smollm2_llamacpp_gguf())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Running {
            child,
            stdout,
            stderr,
        }
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Waits (at most two minutes) until `ready` holds.
    fn wait_for(&self, what: &str, ready: impl Fn(&Running) -> bool) {
        let start = Instant::now();
        while !ready(self) {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "timed out waiting for {what}; stderr: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The exit code, once the child has ended and its output is read.
    fn finish(mut self) -> (Option<i32>, String, String) {
        let status = self.child.wait().unwrap();
        // The reader threads end at end of file, soon after the exit.
        std::thread::sleep(Duration::from_millis(200));
        (status.code(), self.stdout(), self.stderr())
    }
}

#[test]
fn ctrl_c_stops_a_one_shot_run_and_prints_what_it_has() {
    let running = Running::start(&[
        "-p",
        "Tell me a very long story.",
        "--temp",
        "0",
        "--ignore-eos",
        "-n",
        "-1",
        "--ctx",
        "2048",
    ]);
    running.wait_for("some text", |r| r.stdout().len() > 8);
    running.interrupt();
    let (code, stdout, stderr) = running.finish();
    assert_eq!(code, Some(130), "stderr: {stderr}");
    assert!(stdout.len() > 8 && stdout.ends_with('\n'), "{stdout:?}");
    assert!(stderr.contains("generated:"), "timings: {stderr}");
    assert!(!stderr.contains("error:"), "{stderr}");
}

#[test]
fn ctrl_c_in_a_chat_returns_to_the_prompt_and_ctrl_d_exits_with_the_summary() {
    let mut running = Running::start(&[
        "-i",
        "--temp",
        "0",
        "--ignore-eos",
        "-n",
        "-1",
        "--ctx",
        "2048",
    ]);
    let mut stdin = running.child.stdin.take().unwrap();
    stdin.write_all(b"Tell me a very long story.\n").unwrap();
    stdin.flush().unwrap();
    running.wait_for("the reply", |r| r.stdout().len() > 8);
    running.interrupt();
    running.wait_for("the prompt again", |r| {
        r.stderr().matches("> ").count() >= 2
    });
    // Still running: the chat goes on until Ctrl-D.
    assert!(running.child.try_wait().unwrap().is_none());
    drop(stdin);
    let (code, stdout, stderr) = running.finish();
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert!(stdout.ends_with('\n'), "{stdout:?}");
    assert_eq!(stderr.matches("generated:").count(), 1, "{stderr}");
}

#[test]
fn a_second_ctrl_c_at_the_chat_prompt_exits_with_the_summary() {
    let mut running = Running::start(&["-i", "--temp", "0", "--ignore-eos", "-n", "-1"]);
    let mut stdin = running.child.stdin.take().unwrap();
    stdin.write_all(b"Tell me a very long story.\n").unwrap();
    stdin.flush().unwrap();
    running.wait_for("the reply", |r| r.stdout().len() > 8);
    running.interrupt();
    running.wait_for("the prompt again", |r| {
        r.stderr().matches("> ").count() >= 2
    });
    running.interrupt();
    let (code, _, stderr) = running.finish();
    drop(stdin);
    assert_eq!(code, Some(130), "stderr: {stderr}");
    assert_eq!(stderr.matches("generated:").count(), 1, "{stderr}");
}
