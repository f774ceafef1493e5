//! Hostile inputs beyond sizes (issue 13, items 4 and 8): valid but unusual GGUF files
//! (`general.alignment = 1`), crafted tokenizers, chat templates and metadata that would take
//! unbounded work or memory, and text inputs that are not text or never end. Every file is made
//! here, in a temporary folder, from a copy of tinystories-656k with its metadata edited; every
//! run of `run-edge` that could allocate runs under an address-space limit (`prlimit --as`).

mod common;

use common::hostile::{self, limited};
use common::{mutated, run_edge_limited, tinystories_q8};
use edge_formats::gguf::{GgufFile, Value};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

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

/// `run-edge -i` on smollm2 with `input` on stdin: (exit status, stdout, stderr).
fn chat(input: &[u8]) -> (Option<i32>, String, String) {
    let mut child = limited(Path::new(env!("CARGO_BIN_EXE_run-edge")))
        .arg("-m")
        .arg(common::smollm2_llamacpp_gguf())
        .args(["-i", "--temp", "0", "-n", "4", "--ctx", "256"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    let out = hostile::finish(child, "run-edge -i");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_invalid_utf8_chat_line_is_reported_and_the_chat_goes_on() {
    let (code, clean, _) = chat(b"Hi\nWho are you?\n");
    assert_eq!(code, Some(0));
    let (code, out, stderr) = chat(b"Hi\n\xff\xfeoops\nWho are you?\n");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(out, clean, "the same replies, the bad line skipped");
    assert!(
        stderr.contains("error: the line is not valid UTF-8 (at byte 0); it was skipped"),
        "{stderr}"
    );
}

#[test]
fn an_endless_chat_line_is_skipped_without_being_kept() {
    let (code, clean, _) = chat(b"Hi\n");
    assert_eq!(code, Some(0));
    let mut input = vec![b'a'; 3 << 20];
    input.extend_from_slice(b"\nHi\n");
    let (code, out, stderr) = chat(&input);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(out, clean);
    assert!(
        stderr.contains("error: the line is longer than 1 MiB (the limit); it was skipped"),
        "{stderr}"
    );
}

#[test]
fn endless_text_inputs_are_read_with_a_cap() {
    let model = tinystories_q8();
    let out = run_edge_limited(&["perplexity", "-m", arg(&model), "-f", "/dev/zero"]);
    hostile::expect_refusal(
        &out,
        &["/dev/zero", "more than 256 MiB of text (the limit)"],
    );
    let out = run_edge_limited(&["-m", arg(&model), "-f", "/dev/zero", "-n", "1"]);
    hostile::expect_refusal(
        &out,
        &[
            "prompt file /dev/zero",
            "more than 256 MiB of text (the limit)",
        ],
    );
    let out = limited(Path::new(env!("CARGO_BIN_EXE_run-edge")))
        .args(["-m", arg(&model), "-n", "1"])
        .stdin(std::fs::File::open("/dev/zero").unwrap())
        .output()
        .unwrap();
    hostile::expect_refusal(&out, &["the prompt on stdin", "more than 256 MiB"]);
}

#[test]
fn a_perplexity_file_that_is_not_utf8_is_refused_with_the_offset() {
    let dir = common::tempdir();
    let path = dir.path().join("latin1.txt");
    std::fs::write(&path, b"caf\xe9 au lait").unwrap();
    let out = run_edge_limited(&["perplexity", "-m", arg(&tinystories_q8()), "-f", arg(&path)]);
    hostile::expect_refusal(&out, &["latin1.txt", "not valid UTF-8 (at byte 3)"]);
}

fn strings(items: &[&str]) -> Value {
    Value::array(
        edge_formats::gguf::ValueType::String,
        items.iter().map(|s| Value::String(s.to_string())).collect(),
    )
}

#[test]
fn normalizer_replacements_that_grow_text_exponentially_are_refused_at_load() {
    let dir = common::tempdir();
    let hf = |name: &str, from: &[&str], to: &[&str]| {
        mutated(
            dir.path(),
            name,
            &[
                ("edge.tokenizer.version", Some(Value::U32(1))),
                (
                    "edge.tokenizer.normalizer.replace_from",
                    Some(strings(from)),
                ),
                ("edge.tokenizer.normalizer.replace_to", Some(strings(to))),
            ],
        )
    };
    // 30 chained doublings: 2^30 times the prompt (16 GB on a 16-character prompt).
    let path = hf("chain.gguf", &["a"; 30], &["aa"; 30]);
    let out = run_edge_limited(&["-m", arg(&path), "-p", "aaaaaaaaaaaaaaaa", "-n", "1"]);
    hostile::expect_refusal(
        &out,
        &[
            "edge.tokenizer.normalizer.replace_from",
            "30 replacements can make a text 1073741824 times longer (the limit is 64)",
        ],
    );
    // The usual one, " " -> "▁", loads and runs.
    let path = hf("space.gguf", &[" "], &["\u{2581}"]);
    let out = run_edge_limited(&["-m", arg(&path), "-p", "a b", "-n", "1"]);
    hostile::expect_success(&out);
}

#[test]
fn a_chat_template_whose_loops_do_not_end_is_stopped_with_an_error() {
    let dir = common::tempdir();
    let nested = "{% for a in range(100000) %}{% for b in range(100000) %}\
                  {% for c in range(100000) %}{% endfor %}{% endfor %}{% endfor %}";
    let path = mutated(
        dir.path(),
        "loops.gguf",
        &[(
            "tokenizer.chat_template",
            Some(Value::String(nested.into())),
        )],
    );
    let child = limited(Path::new(env!("CARGO_BIN_EXE_run-edge")))
        .args(["-m", arg(&path), "--chat", "-p", "hi", "-n", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = hostile::finish(child, "run-edge --chat");
    hostile::expect_refusal(&out, &["chat template", "more than 10000000 instructions"]);
}

/// A template that doubles a string 64 times stays within minijinja's fuel (66 instructions of
/// it) but would make a 2^65-byte string: rendering counts the bytes its operations make and
/// stops at the budget with one line naming the template problem.
#[test]
fn a_chat_template_that_doubles_a_string_is_stopped_at_its_memory_budget() {
    let dir = common::tempdir();
    // A plain `set` in a loop is local to one pass (Jinja scoping): a namespace carries it.
    let doubling = "{% set ns = namespace(s='ab') %}{% for i in range(64) %}\
                    {% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}";
    let path = mutated(
        dir.path(),
        "doubling.gguf",
        &[(
            "tokenizer.chat_template",
            Some(Value::String(doubling.into())),
        )],
    );
    let child = limited(Path::new(env!("CARGO_BIN_EXE_run-edge")))
        .args(["-m", arg(&path), "--chat", "-p", "hi", "-n", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = hostile::finish(child, "run-edge --chat");
    hostile::expect_refusal(
        &out,
        &[
            "chat template",
            "bytes of text (the limit: 64 MiB",
            "template line 1",
        ],
    );
}

/// libedge's `edge_chat_apply_template` (include/edge.h) on the same template.
mod c_abi {
    use std::ffi::{c_char, CStr};
    #[repr(C)]
    pub struct Message {
        pub role: *const c_char,
        pub content: *const c_char,
    }
    pub enum Model {}
    extern "C" {
        pub fn edge_model_load(path: *const c_char, params: *const u8, out: *mut *mut Model)
            -> i32;
        pub fn edge_model_free(model: *mut Model);
        pub fn edge_chat_apply_template(
            model: *const Model,
            messages: *const Message,
            n_messages: usize,
            add_assistant: bool,
            buf: *mut c_char,
            capacity: usize,
            n_out: *mut usize,
        ) -> i32;
        fn edge_last_error() -> *const c_char;
    }
    pub fn last_error() -> String {
        // SAFETY: edge_last_error returns a NUL-terminated string owned by this thread's slot.
        unsafe { CStr::from_ptr(edge_last_error()) }
            .to_string_lossy()
            .into_owned()
    }
}

#[test]
fn the_c_abi_stops_a_doubling_chat_template_with_bad_model() {
    use std::ffi::CString;
    let dir = common::tempdir();
    let doubling = "{% set ns = namespace(s='ab') %}{% for i in range(64) %}\
                    {% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}";
    let path = mutated(
        dir.path(),
        "doubling.gguf",
        &[(
            "tokenizer.chat_template",
            Some(Value::String(doubling.into())),
        )],
    );
    let c_path = CString::new(arg(&path)).unwrap();
    let (role, content) = (c"user", c"hello");
    let message = c_abi::Message {
        role: role.as_ptr(),
        content: content.as_ptr(),
    };
    let mut model = std::ptr::null_mut();
    let mut n = 0usize;
    // SAFETY: a NUL-terminated path, NULL params, and a place for the handle; then the live
    // handle, one message of NUL-terminated strings, NULL/0 to ask for the size.
    unsafe {
        assert_eq!(
            c_abi::edge_model_load(c_path.as_ptr(), std::ptr::null(), &mut model),
            0
        );
        let status = c_abi::edge_chat_apply_template(
            model,
            &message,
            1,
            true,
            std::ptr::null_mut(),
            0,
            &mut n,
        );
        let error = c_abi::last_error();
        c_abi::edge_model_free(model);
        assert_eq!(status, -3, "EDGE_BAD_MODEL: {error}");
        assert!(
            error.contains("bytes of text (the limit: 64 MiB"),
            "{error}"
        );
    }
}

/// A GGUF (v3, no tensors) whose one metadata entry `key` is an array of `count` elements of
/// type id `elem` (each `elem_bytes` zero bytes on disk).
fn gguf_with_array(path: &Path, key: &str, elem: u32, elem_bytes: usize, count: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(b"GGUF").unwrap();
    f.write_all(&3u32.to_le_bytes()).unwrap();
    f.write_all(&0u64.to_le_bytes()).unwrap();
    f.write_all(&1u64.to_le_bytes()).unwrap();
    f.write_all(&(key.len() as u64).to_le_bytes()).unwrap();
    f.write_all(key.as_bytes()).unwrap();
    f.write_all(&9u32.to_le_bytes()).unwrap();
    f.write_all(&elem.to_le_bytes()).unwrap();
    f.write_all(&(count as u64).to_le_bytes()).unwrap();
    let zeros = vec![0u8; 1 << 20];
    let mut left = count * elem_bytes;
    while left > 0 {
        let n = left.min(zeros.len());
        f.write_all(&zeros[..n]).unwrap();
        left -= n;
    }
    f.flush().unwrap();
}

#[test]
fn a_metadata_array_takes_about_its_size_in_memory() {
    let dir = common::tempdir();
    // 64 MiB of uint8 elements: 2.2 GB as a Vec of Values once (33x), then refused at 8x; now
    // stored one byte each.
    let path = dir.path().join("u8s.gguf");
    gguf_with_array(&path, "general.blob", 0, 1, 64 << 20);
    let file = GgufFile::open(&path).unwrap();
    let blob = file.metadata().get_array("general.blob").unwrap();
    assert_eq!(blob.len(), 64 << 20);
    assert_eq!(blob.heap_bytes(), 64 << 20);
    drop(file);
    // run-edge refuses the file for what it lacks, in one line, under the address-space cap.
    let out = run_edge_limited(&["-m", arg(&path), "-p", "hi", "-n", "1"]);
    hostile::expect_refusal(&out, &["u8s.gguf", "general.architecture"]);
    // 2^20 strings (empty: 8 bytes each on disk) and 2^20 int32: one offset or value each.
    for (key, elem, bytes) in [
        ("tokenizer.ggml.tokens", 8u32, 8usize),
        ("tokenizer.ggml.token_type", 5, 4),
    ] {
        let path = dir.path().join(format!("{key}.gguf"));
        gguf_with_array(&path, key, elem, bytes, 1 << 20);
        let file = GgufFile::open(&path).unwrap();
        let array = file.metadata().get_array(key).unwrap();
        assert_eq!(array.len(), 1 << 20);
        assert!(
            array.heap_bytes() <= bytes << 20,
            "{key}: {} bytes",
            array.heap_bytes()
        );
    }
}

/// A model file truncated while run-edge generates from its mapping (`--mmap`): the next read
/// of a lost page raises SIGBUS, which run-edge (its binary, never the library) reports in one
/// line with exit code 1 instead of dying silently.
#[test]
fn a_model_truncated_while_running_is_reported_in_one_line() {
    use std::io::Read;
    let dir = common::tempdir();
    let model = dir.path().join("smollm2.gguf");
    std::fs::copy(common::smollm2_llamacpp_gguf(), &model).unwrap();
    let mut child = common::run_edge()
        .args([
            "-m",
            arg(&model),
            "--mmap",
            "-p",
            "Once upon a time",
            "-n",
            "1000",
        ])
        .args(["--ignore-eos", "--temp", "0", "-t", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first generated byte: the weights are mapped and being read.
    let mut stdout = child.stdout.take().unwrap();
    stdout.read_exact(&mut [0u8; 1]).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&model)
        .unwrap()
        .set_len(4096)
        .unwrap();
    let out = hostile::finish(child, "run-edge on a truncated model");
    drop(stdout);
    // The load report came before; the error is the last line.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(last.starts_with("error: "), "{stderr}");
    assert!(
        last.contains("model file was truncated") && last.contains("SIGBUS"),
        "{stderr}"
    );
}

/// Read into memory (`--no-mmap`), the weights no longer depend on the file: truncating it
/// while run-edge generates changes nothing, the generation runs to its end.
#[test]
fn a_resident_model_truncated_while_running_generates_to_the_end() {
    use std::io::Read;
    let dir = common::tempdir();
    let model = dir.path().join("smollm2.gguf");
    std::fs::copy(common::smollm2_llamacpp_gguf(), &model).unwrap();
    let mut child = common::run_edge()
        .args(["-m", arg(&model), "--no-mmap", "-p", "Once upon a time"])
        .args(["-n", "48", "--ignore-eos", "--temp", "0", "-t", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&model)
        .unwrap()
        .set_len(4096)
        .unwrap();
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let out = hostile::finish(child, "run-edge on a resident, truncated model");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("generated: 48 tokens"), "{stderr}");
    assert!(rest.len() > 48, "{:?}", String::from_utf8_lossy(&rest));
}
