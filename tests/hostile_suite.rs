//! The hostile-input suite (issue 13, Build item 3): one table of hostile cases, each run on
//! every binary and mode that reads that kind of input (`quantize`; `run-edge` generating,
//! `perplexity`, `--chat` and the interactive `-cnv`), with the same assertions for all:
//! - an exit code below 100 and above 0 (101 is a panic; a signal is an abort or a crash), the
//!   code each case names (1 for a refused input, 2 for a usage error);
//! - exactly one stderr line, `error: ...`, under 600 bytes, naming the problem (the needles);
//! - peak RSS under [`RSS_BOUND`]: measured exactly, as `ru_maxrss` of the child from
//!   `wait4` (the kernel's high-water mark of that one process; polling `/proc` could miss a
//!   short peak and `RUSAGE_CHILDREN` mixes the children of parallel tests). Each child also
//!   runs under an address-space cap (`setrlimit(RLIMIT_AS)` in `pre_exec`, [`AS_CAP`]), so a
//!   regression fails fast instead of taking the shared machine down;
//! - nothing left behind: outputs go to a folder that must stay empty, and each child runs with
//!   its working directory and `TMPDIR` in folders that must stay empty too.
//!
//! Every input file is made here, in a temporary folder, from the test models (most from a copy
//! of tinystories-656k with one thing changed). The binaries are the ones `cargo build --release
//! --bins` (or `cargo test --workspace --release`) leaves beside this test's executable.
//! Run with `--nocapture` for each case's peak RSS.

mod common;

use common::hostile::{invalid_gguf_cases, mkfifo, write_invalid_gguf, InvalidGguf};
// What one child did: its exit status, stderr, and peak RSS in bytes.
use common::peak_rss::{wait_with_peak_rss, Finished as Outcome};
use edge_formats::gguf::{GgufFile, Value, ValueType};
use serde_json::json;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// The peak resident memory any case may reach. The inputs are tinystories-656k (a 0.7 MB
/// model) or a crafted file; the largest legitimate peak is a text input stopped at run-edge's
/// 256 MiB cap on text (`-f /dev/zero`), which holds what it read: that cap plus 64 MiB.
const RSS_BOUND: u64 = 320 << 20;

/// The address space a case may reserve (threads and allocator arenas reserve far more than
/// they touch, so this is well above the RSS bound).
const AS_CAP: u64 = 1 << 30;

/// A case that is still running after this is a hang (a FIFO read for ever, a loop).
const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Bin {
    Quantize,
    RunEdge,
}

/// One run of a binary on a hostile input and what it must say.
struct Run {
    bin: Bin,
    args: Vec<OsString>,
    stdin: Stdin,
    code: i32,
    needles: Vec<String>,
    /// `-cnv`: the load report comes first (the template renders at the first turn), so only
    /// the last stderr line must be the error.
    interactive: bool,
    /// The peak RSS this run must stay under ([`RSS_BOUND`] unless the case is tighter).
    rss_bound: u64,
}

enum Stdin {
    Null,
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// A hostile case: its name and the runs that exercise it.
struct Case {
    name: String,
    runs: Vec<Run>,
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn strings(needles: &[&str]) -> Vec<String> {
    needles.iter().map(|s| s.to_string()).collect()
}

/// Where the two binaries are, checked once per test process (the check walks the sources).
fn binary(bin: Bin) -> PathBuf {
    static PATHS: std::sync::OnceLock<[PathBuf; 2]> = std::sync::OnceLock::new();
    let [quantize, run_edge] = PATHS.get_or_init(|| [locate(Bin::Quantize), locate(Bin::RunEdge)]);
    match bin {
        Bin::Quantize => quantize.clone(),
        Bin::RunEdge => run_edge.clone(),
    }
}

/// A binary beside this test's executable's folder (target/release), built after its sources.
fn locate(bin: Bin) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let release = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/release/deps");
    let name = match bin {
        Bin::Quantize => "quantize",
        Bin::RunEdge => "run-edge",
    };
    let path = release.join(name);
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is missing: run `cargo build --release --bins` first",
                path.display()
            )
        });
    let newest = newest_source(match bin {
        Bin::Quantize => &["formats", "quantize"],
        Bin::RunEdge => &["formats", "runtime"],
    });
    assert!(
        built >= newest,
        "{} is older than the sources: run `cargo build --release --bins` first",
        path.display()
    );
    path
}

/// The newest modification time of the sources of `crates`.
fn newest_source(crates: &[&str]) -> SystemTime {
    fn walk(dir: &Path, newest: &mut SystemTime) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, newest);
            } else if let Ok(t) = entry.metadata().and_then(|m| m.modified()) {
                *newest = (*newest).max(t);
            }
        }
    }
    let mut newest = SystemTime::UNIX_EPOCH;
    for krate in crates {
        walk(&common::workspace().join(krate).join("src"), &mut newest);
    }
    newest
}

/// Runs `run` with its cwd and TMPDIR in `scratch`, under the address-space cap, and measures
/// its peak RSS from `wait4`.
fn execute(run: &Run, scratch: &Path) -> Outcome {
    let mut cmd = Command::new(binary(run.bin));
    cmd.args(&run.args)
        .current_dir(scratch.join("cwd"))
        .env("TMPDIR", scratch.join("tmp"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    match &run.stdin {
        Stdin::Null => cmd.stdin(Stdio::null()),
        Stdin::Bytes(_) => cmd.stdin(Stdio::piped()),
        Stdin::File(path) => cmd.stdin(std::fs::File::open(path).expect("stdin file")),
    };
    // SAFETY: setrlimit is async-signal-safe; the closure touches nothing else of the parent.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: AS_CAP,
                rlim_max: AS_CAP,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn");
    if let (Stdin::Bytes(bytes), Some(mut stdin)) = (&run.stdin, child.stdin.take()) {
        let bytes = bytes.clone();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
    }
    wait_with_peak_rss(child, TIMEOUT, &format!("{:?} {:?}", run.bin, run.args))
}

/// The suite's assertions on one run; a description of what failed, if anything.
fn check(run: &Run, out: &Outcome) -> Result<(), String> {
    let shown = &out.stderr[..out.stderr.len().min(1500)];
    match out.status.code() {
        Some(code) if code == run.code => {}
        _ => return Err(format!("exit {:?}, want {}: {shown}", out.status, run.code)),
    }
    if out.status.signal().is_some() || out.stderr.contains("panicked") {
        return Err(format!("a panic or a signal: {shown}"));
    }
    let mut lines: Vec<&str> = out.stderr.lines().collect();
    if run.interactive {
        lines.drain(..lines.len().saturating_sub(1));
    }
    if lines.len() != 1 || !lines[0].starts_with("error: ") || lines[0].len() >= 600 {
        return Err(format!("not one short `error: ` line: {shown:?}"));
    }
    if let Some(n) = run.needles.iter().find(|n| !lines[0].contains(n.as_str())) {
        return Err(format!("`{n}` not in {}", lines[0]));
    }
    if out.peak_rss >= run.rss_bound {
        return Err(format!(
            "peak RSS {} MiB, over the bound of {} MiB",
            out.peak_rss >> 20,
            run.rss_bound >> 20
        ));
    }
    Ok(())
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn tinystories() -> PathBuf {
    common::shared_models().join("tinystories-656k")
}

fn tinystories_q8() -> PathBuf {
    common::shared_models().join("llama.cpp-made/tinystories-656k.q8_0.gguf")
}

/// The folders of a suite run: inputs, the outputs (stay empty), and the children's cwd and
/// TMPDIR (stay empty).
struct Folders {
    _root: tempfile::TempDir,
    inputs: PathBuf,
    out: PathBuf,
    scratch: PathBuf,
}

impl Folders {
    fn new() -> Folders {
        let root = common::tempdir();
        let path = root.path().to_path_buf();
        for sub in ["inputs", "out", "scratch/cwd", "scratch/tmp"] {
            std::fs::create_dir_all(path.join(sub)).unwrap();
        }
        Folders {
            inputs: path.join("inputs"),
            out: path.join("out"),
            scratch: path.join("scratch"),
            _root: root,
        }
    }
}

/// A short text for perplexity runs.
fn text_file(f: &Folders) -> PathBuf {
    let path = f.inputs.join("text.txt");
    if !path.exists() {
        std::fs::write(
            &path,
            "Once upon a time there was a little dog. ".repeat(40),
        )
        .unwrap();
    }
    path
}

/// The runs of a bad model file: quantize reads it, and run-edge loads it in every mode.
fn model_runs(f: &Folders, model: &Path, name: &str, needles: &[&str]) -> Vec<Run> {
    let m = model.as_os_str().to_owned();
    let run_edge = |extra: &[&str], stdin: Stdin| {
        let mut args = vec![OsString::from("-m"), m.clone()];
        args.extend(os(extra));
        Run {
            bin: Bin::RunEdge,
            args,
            stdin,
            code: 1,
            needles: strings(needles),
            interactive: false,
            rss_bound: RSS_BOUND,
        }
    };
    let text = text_file(f);
    let mut perplexity = run_edge(&["-c", "64"], Stdin::Null);
    perplexity.args.insert(0, "perplexity".into());
    perplexity.args.extend(["-f".into(), text.into_os_string()]);
    vec![
        quantize_run(model, f.out.join(format!("{name}.gguf")), needles),
        run_edge(&["-p", "Once", "-n", "4"], Stdin::Null),
        perplexity,
        run_edge(&["-cnv", "-n", "4"], Stdin::Bytes(b"Hi\n".to_vec())),
    ]
}

/// An InvalidGguf edit of tinystories-656k's metadata.
fn edited(
    name: &'static str,
    key: &'static str,
    value: Value,
    needles: Vec<&'static str>,
) -> InvalidGguf {
    InvalidGguf {
        name,
        edits: vec![(key, Some(value))],
        dropped_tensor: None,
        needles,
    }
}

/// Numbers in a GGUF's metadata that used to be trusted before anything checked them.
fn size_cases() -> Vec<InvalidGguf> {
    let huge = Value::U64(1 << 62);
    let mut cases: Vec<InvalidGguf> = [
        (1u64 << 62, "2p62"),
        (1 << 40, "2p40"),
        (10_000_000, "1e7"),
        (3, "3"),
    ]
    .into_iter()
    .map(|(n, tag)| {
        let needle: &'static str = Box::leak(format!("llama.block_count: {n}, ").into_boxed_str());
        let name: &'static str = Box::leak(format!("block-count-{tag}").into_boxed_str());
        edited(
            name,
            "llama.block_count",
            Value::U64(n),
            vec![needle, "tensors for 2 blocks (blk.0 .. blk.1)"],
        )
    })
    .collect();
    cases.extend([
        edited(
            "block-count-1",
            "llama.block_count",
            Value::U32(1),
            vec!["llama.block_count: 1, ", "blk.1"],
        ),
        edited(
            "embedding-huge",
            "llama.embedding_length",
            huge.clone(),
            vec!["token_embd.weight"],
        ),
        edited(
            "ff-huge",
            "llama.feed_forward_length",
            huge.clone(),
            vec!["ffn_gate.weight"],
        ),
        edited(
            "heads-2p40",
            "llama.attention.head_count",
            Value::U64(1 << 40),
            vec!["attn_q.weight"],
        ),
        edited(
            "heads-kv-huge",
            "llama.attention.head_count_kv",
            huge.clone(),
            vec!["head_count_kv"],
        ),
        edited(
            "key-length-huge",
            "llama.attention.key_length",
            huge.clone(),
            vec!["key_length"],
        ),
        edited(
            "vocab-huge",
            "llama.vocab_size",
            huge.clone(),
            vec!["token_embd.weight"],
        ),
        edited(
            "rope-dims-huge",
            "llama.rope.dimension_count",
            huge,
            vec!["rope.dimension_count"],
        ),
        edited(
            "heads-0",
            "llama.attention.head_count",
            Value::U32(0),
            vec!["head_count"],
        ),
        edited(
            "block-count-negative",
            "llama.block_count",
            Value::I32(-1),
            vec!["llama.block_count"],
        ),
    ]);
    // 30 chained doublings of the normalizer: 2^30 times the text.
    let strs = |s: &str| Value::array(ValueType::String, vec![Value::from(s); 30]);
    cases.push(InvalidGguf {
        name: "normalizer-chain-30",
        edits: vec![
            ("edge.tokenizer.version", Some(Value::U32(1))),
            ("edge.tokenizer.normalizer.replace_from", Some(strs("a"))),
            ("edge.tokenizer.normalizer.replace_to", Some(strs("aa"))),
        ],
        dropped_tensor: None,
        needles: vec![
            "edge.tokenizer.normalizer.replace_from",
            "30 replacements can make a text 1073741824 times longer (the limit is 64)",
        ],
    });
    cases
}

/// A GGUF (v3, no tensors) whose one metadata entry `key` is an array of `count` zero bytes
/// of element type id `elem` (`elem_bytes` each).
fn gguf_with_array(path: &Path, key: &str, elem: u32, elem_bytes: usize, count: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(b"GGUF").unwrap();
    for word in [
        3u32.to_le_bytes().as_slice(),
        &0u64.to_le_bytes(),
        &1u64.to_le_bytes(),
    ] {
        f.write_all(word).unwrap();
    }
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

/// Model files: every crafted GGUF, and paths that are not regular files.
fn model_file_cases(f: &Folders) -> Vec<Case> {
    let src = GgufFile::open(&tinystories_q8()).unwrap();
    let mut cases = Vec::new();
    for case in invalid_gguf_cases(&src).into_iter().chain(size_cases()) {
        let path = f.inputs.join(format!("{}.gguf", case.name));
        write_invalid_gguf(&src, &case, &path);
        cases.push(Case {
            name: format!("gguf {}", case.name),
            runs: model_runs(f, &path, case.name, &case.needles),
        });
    }
    let blob = f.inputs.join("u8-array-64m.gguf");
    gguf_with_array(&blob, "general.blob", 0, 1, 64 << 20);
    // Compact arrays: the mapped file's pages and one byte per element, plus 32 MiB; quantize
    // holds one more copy, its plan's metadata (it writes it).
    let mut runs = model_runs(
        f,
        &blob,
        "blob",
        &["u8-array-64m.gguf", "general.architecture"],
    );
    for run in &mut runs {
        let copies = if run.bin == Bin::Quantize { 3 } else { 2 };
        run.rss_bound = (copies * 64 + 32) << 20;
    }
    cases.push(Case {
        name: "gguf 64 MiB uint8 array".into(),
        runs,
    });
    let fifo = f.inputs.join("pipe.gguf");
    mkfifo(&fifo);
    let folder = f.inputs.join("folder.gguf");
    std::fs::create_dir(&folder).unwrap();
    let looped = f.inputs.join("loop.gguf");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    let truncated = f.inputs.join("truncated.gguf");
    let bytes = std::fs::read(tinystories_q8()).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    for (name, path, needles) in [
        (
            "a FIFO",
            fifo,
            vec!["pipe.gguf", "a FIFO", "not a regular file"],
        ),
        ("a folder", folder, vec!["folder.gguf", "a folder"]),
        (
            "a symlink loop",
            looped,
            vec!["loop.gguf", "symbolic links"],
        ),
        (
            "missing",
            f.inputs.join("missing.gguf"),
            vec!["missing.gguf"],
        ),
        ("truncated", truncated, vec!["truncated.gguf"]),
    ] {
        let mut runs = model_runs(f, &path, "path", &needles);
        if name == "a folder" {
            // quantize reads a folder as a Hugging Face model.
            runs[0].needles = strings(&["folder.gguf", "missing config.json"]);
        }
        cases.push(Case {
            name: format!("model path: {name}"),
            runs,
        });
    }
    cases
}

/// Chat templates: run-edge renders them (`--chat -p` and `-cnv`); quantize copies them.
fn template_cases(f: &Folders) -> Vec<Case> {
    let src = GgufFile::open(&tinystories_q8()).unwrap();
    let raw = format!(
        "{{% for i in range(100000) %}}{}{{% endfor %}}",
        "x".repeat(4096)
    );
    let budget = ["bytes of text (the limit: 64 MiB", "template line 1"];
    let cases: Vec<(&str, String, Vec<&str>)> =
        vec![
        (
            "nested loops",
            "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}\
             {% endfor %}{% endfor %}{% endfor %}"
                .into(),
            vec!["chat template", "more than 10000000 instructions"],
        ),
        (
            "string doubling",
            "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}\
             {% endfor %}{{ ns.s }}"
                .into(),
            budget.to_vec(),
        ),
        (
            "list doubling",
            "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}\
             {% endfor %}"
                .into(),
            budget.to_vec(),
        ),
        ("100 GB of raw text", raw, budget.to_vec()),
        (
            "indent 1e12",
            "{{ 'a' | indent(1000000000000) }}".into(),
            vec!["indent width 1000000000000 is over 4096"],
        ),
        ("syntax error", "{% if %}".into(), vec!["chat template", "syntax error"]),
    ];
    cases
        .into_iter()
        .enumerate()
        .map(|(i, (name, source, needles))| {
            let case = InvalidGguf {
                name: "template",
                edits: vec![("tokenizer.chat_template", Some(Value::String(source)))],
                dropped_tensor: None,
                needles: vec![],
            };
            let path = f.inputs.join(format!("template-{i}.gguf"));
            write_invalid_gguf(&src, &case, &path);
            let m = path.into_os_string();
            let run = |extra: &[&str], stdin| Run {
                bin: Bin::RunEdge,
                args: [OsString::from("-m"), m.clone()]
                    .into_iter()
                    .chain(os(extra))
                    .collect(),
                stdin,
                code: 1,
                needles: strings(&needles),
                interactive: extra.contains(&"-cnv"),
                rss_bound: RSS_BOUND,
            };
            Case {
                name: format!("chat template: {name}"),
                runs: vec![
                    run(&["--chat", "-p", "hi", "-n", "1"], Stdin::Null),
                    run(&["-cnv", "-n", "1"], Stdin::Bytes(b"hi\n".to_vec())),
                ],
            }
        })
        .collect()
}

/// Flags and text inputs of run-edge, and quantize's flags.
fn flag_cases(f: &Folders) -> Vec<Case> {
    let m = tinystories_q8().into_os_string();
    let text = text_file(f).into_os_string();
    let latin1 = f.inputs.join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9 au lait").unwrap();
    let run_edge = |args: Vec<OsString>, stdin, needles: &[&str]| Run {
        bin: Bin::RunEdge,
        args,
        stdin,
        code: 1,
        needles: strings(needles),
        interactive: false,
        rss_bound: RSS_BOUND,
    };
    let gen = |extra: &[&str]| {
        let mut a = vec![OsString::from("-m"), m.clone(), "-p".into(), "hi".into()];
        a.extend(os(extra));
        a
    };
    let ppl = |extra: Vec<OsString>| {
        let mut a = vec![OsString::from("perplexity"), "-m".into(), m.clone()];
        a.extend(extra);
        a
    };
    let mut cases = Vec::new();
    for ctx in ["100000000", "3000000"] {
        let needle = format!("context {ctx}");
        cases.push(Case {
            name: format!("--ctx {ctx}"),
            runs: vec![
                run_edge(
                    gen(&["--ctx", ctx]),
                    Stdin::Null,
                    &[&needle, "needs", "available"],
                ),
                run_edge(
                    ppl(vec!["-f".into(), text.clone(), "-c".into(), ctx.into()]),
                    Stdin::Null,
                    &[&needle, "available"],
                ),
            ],
        });
    }
    for t in ["1099511627776", "100000"] {
        let needle = format!("{t} threads");
        cases.push(Case {
            name: format!("-t {t}"),
            runs: vec![run_edge(gen(&["-t", t]), Stdin::Null, &[&needle])],
        });
    }
    let limit = "more than 256 MiB of text (the limit)";
    cases.push(Case {
        name: "endless text inputs (/dev/zero)".into(),
        runs: vec![
            run_edge(
                ppl(os(&["-f", "/dev/zero"])),
                Stdin::Null,
                &["/dev/zero", limit],
            ),
            run_edge(
                vec![
                    "-m".into(),
                    m.clone(),
                    "-f".into(),
                    "/dev/zero".into(),
                    "-n".into(),
                    "1".into(),
                ],
                Stdin::Null,
                &["prompt file /dev/zero", limit],
            ),
            run_edge(
                vec!["-m".into(), m.clone(), "-n".into(), "1".into()],
                Stdin::File("/dev/zero".into()),
                &["the prompt on stdin", "more than 256 MiB"],
            ),
        ],
    });
    cases.push(Case {
        name: "perplexity text not UTF-8".into(),
        runs: vec![run_edge(
            ppl(vec!["-f".into(), latin1.into_os_string()]),
            Stdin::Null,
            &["latin1.txt", "not valid UTF-8 (at byte 3)"],
        )],
    });
    cases
}

/// A copy of tinystories-656k's Hugging Face folder at `inputs/name` (the weights linked), with
/// `edit` applied to it.
fn hf_folder(f: &Folders, name: &str, edit: impl FnOnce(&Path)) -> PathBuf {
    let dst = f.inputs.join(name);
    std::fs::create_dir(&dst).unwrap();
    for entry in std::fs::read_dir(tinystories()).unwrap().flatten() {
        let file = entry.file_name();
        if file == "model.safetensors" {
            std::os::unix::fs::symlink(entry.path(), dst.join(&file)).unwrap();
        } else {
            std::fs::write(dst.join(&file), std::fs::read(entry.path()).unwrap()).unwrap();
        }
    }
    edit(&dst);
    dst
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(path, v.to_string()).unwrap();
}

fn quantize_run(input: &Path, output: PathBuf, needles: &[&str]) -> Run {
    Run {
        bin: Bin::Quantize,
        args: vec![
            input.as_os_str().to_owned(),
            "--type".into(),
            "q8_0".into(),
            "--quiet".into(),
            "-o".into(),
            output.into_os_string(),
        ],
        stdin: Stdin::Null,
        code: 1,
        needles: strings(needles),
        interactive: false,
        rss_bound: RSS_BOUND,
    }
}

/// Hugging Face folders (config, tokenizer, weights) only quantize reads.
fn hf_cases(f: &Folders) -> Vec<Case> {
    let config = |key: &'static str, value: serde_json::Value| {
        move |d: &Path| edit_json(&d.join("config.json"), |c| c[key] = value)
    };
    let mut cases: Vec<(&str, PathBuf, Vec<&str>)> = vec![
        (
            "heads overflow",
            hf_folder(f, "heads-overflow", |d| {
                edit_json(&d.join("config.json"), |c| {
                    c["num_attention_heads"] = json!(536870920u32);
                    c["num_key_value_heads"] = json!(4);
                    c["head_dim"] = json!(16);
                })
            }),
            vec!["num_attention_heads", "536870920"],
        ),
        (
            "layers 2^32-1",
            hf_folder(
                f,
                "layers",
                config("num_hidden_layers", json!(4294967295u32)),
            ),
            vec!["num_hidden_layers", "4294967295", "tensors for 2 layers"],
        ),
        (
            "vocab 2^32-1",
            hf_folder(f, "vocab", config("vocab_size", json!(4294967295u32))),
            vec!["model.embed_tokens.weight", "4294967295"],
        ),
        (
            "hidden 2^32-1",
            hf_folder(f, "hidden", config("hidden_size", json!(4294967295u32))),
            vec!["hidden_size", "4294967295"],
        ),
        (
            "vocab 0",
            hf_folder(f, "vocab0", config("vocab_size", json!(0))),
            vec!["vocab_size", "found 0"],
        ),
        (
            "negative eps",
            hf_folder(f, "eps", config("rms_norm_eps", json!(-1e-6))),
            vec!["rms_norm_eps", "-1e-6 is not a non-negative number"],
        ),
        (
            "rope 1e300",
            hf_folder(f, "rope", config("rope_theta", json!(1e300))),
            vec![
                "rope_theta",
                "1e+300 is not a positive number that fits a float32",
            ],
        ),
        (
            "merge of unknown tokens",
            hf_folder(f, "merge", |d| {
                edit_json(&d.join("tokenizer.json"), |t| {
                    t["model"]["merges"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!("qqq zzz"))
                })
            }),
            vec!["tokenizer.ggml.merges", "`qqq` is not a token"],
        ),
        (
            "empty vocabulary",
            hf_folder(f, "empty-vocab", |d| {
                edit_json(&d.join("tokenizer.json"), |t| {
                    t["model"]["vocab"] = json!({});
                    t["model"]["merges"] = json!([]);
                    t["added_tokens"] = json!([]);
                })
            }),
            vec!["tokenizer.ggml.tokens`: 0 tokens"],
        ),
        (
            "repeated config key",
            hf_folder(f, "dup-key", |d| {
                let p = d.join("config.json");
                let old = std::fs::read_to_string(&p).unwrap();
                std::fs::write(&p, old.replacen('{', r#"{"rms_norm_eps": 0.5, "#, 1)).unwrap();
            }),
            vec!["config.json", "key `rms_norm_eps` appears twice"],
        ),
        (
            "config.json a FIFO",
            hf_folder(f, "fifo-config", |d| {
                std::fs::remove_file(d.join("config.json")).unwrap();
                mkfifo(&d.join("config.json"));
            }),
            vec!["config.json", "a FIFO"],
        ),
        (
            "safetensors a symlink loop",
            hf_folder(f, "st-loop", |d| {
                let st = d.join("model.safetensors");
                std::fs::remove_file(&st).unwrap();
                std::os::unix::fs::symlink(&st, &st).unwrap();
            }),
            vec!["model.safetensors", "symbolic links"],
        ),
        (
            "shard a folder",
            hf_folder(f, "shard-folder", |d| {
                std::fs::remove_file(d.join("model.safetensors")).unwrap();
                std::fs::create_dir(d.join("model-00001-of-00001.safetensors")).unwrap();
                std::fs::write(
                    d.join("model.safetensors.index.json"),
                    r#"{"weight_map":{"lm_head.weight":"model-00001-of-00001.safetensors"}}"#,
                )
                .unwrap();
            }),
            vec!["model-00001-of-00001.safetensors", "a folder"],
        ),
    ];
    // A NaN weight, in a real copy of the weights.
    let nan = hf_folder(f, "nan", |d| {
        let st = d.join("model.safetensors");
        let mut bytes = std::fs::read(&st).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        let name = "model.layers.0.mlp.down_proj.weight";
        let at = 8 + n + header[name]["data_offsets"][0].as_u64().unwrap() as usize + 4 * 400;
        bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        std::fs::remove_file(&st).unwrap();
        std::fs::write(&st, bytes).unwrap();
    });
    cases.push((
        "a NaN weight",
        nan,
        vec!["model.layers.0.mlp.down_proj.weight", "NaN"],
    ));
    cases
        .into_iter()
        .enumerate()
        .map(|(i, (name, dir, needles))| Case {
            name: format!("hf folder: {name}"),
            runs: vec![quantize_run(
                &dir,
                f.out.join(format!("hf-{i}.gguf")),
                &needles,
            )],
        })
        .collect()
}

/// What may already be at quantize's output path (made in the inputs folder, where the suite
/// checks they are kept as they were).
fn output_path_cases(f: &Folders) -> Vec<Case> {
    let d = f.inputs.join("outputs");
    std::fs::create_dir(&d).unwrap();
    let fifo = d.join("pipe.gguf");
    mkfifo(&fifo);
    std::fs::create_dir(d.join("folder.gguf")).unwrap();
    let link = d.join("link-to-pipe.gguf");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    let looped = d.join("loop.gguf");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    std::fs::write(d.join("a.gguf"), b"old").unwrap();
    std::fs::hard_link(d.join("a.gguf"), d.join("b.gguf")).unwrap();
    let input = tinystories();
    [
        ("a FIFO", fifo.clone(), vec!["pipe.gguf", "a FIFO"]),
        (
            "a folder",
            d.join("folder.gguf"),
            vec!["folder.gguf", "a folder"],
        ),
        (
            "a link to a FIFO",
            link,
            vec!["link-to-pipe.gguf", "a FIFO"],
        ),
        (
            "a symlink loop",
            looped,
            vec!["loop.gguf", "symbolic links"],
        ),
        (
            "a hard link",
            d.join("a.gguf"),
            vec!["a.gguf", "2 hard links"],
        ),
        (
            "a trailing slash",
            PathBuf::from(format!("{}/", d.join("new.gguf").display())),
            vec!["new.gguf/", "folder"],
        ),
    ]
    .into_iter()
    .map(|(name, path, needles)| Case {
        name: format!("quantize -o {name}"),
        runs: vec![quantize_run(&input, path, &needles)],
    })
    .collect()
}

/// Quantize's own flags.
fn quantize_flag_cases(f: &Folders) -> Vec<Case> {
    let input = tinystories().into_os_string();
    let out = f.out.join("flags.gguf").into_os_string();
    let run = |extra: &[&str], code, needles: &[&str]| {
        let mut args = vec![input.clone(), "--quiet".into(), "-o".into(), out.clone()];
        args.extend(os(extra));
        Run {
            bin: Bin::Quantize,
            args,
            stdin: Stdin::Null,
            code,
            needles: strings(needles),
            interactive: false,
            rss_bound: RSS_BOUND,
        }
    };
    vec![
        Case {
            name: "quantize --type nonsense".into(),
            runs: vec![run(&["--type", "q9_9"], 2, &["q9_9"])],
        },
        Case {
            name: "quantize -t 2^40".into(),
            runs: vec![run(
                &["-t", "1099511627776"],
                2,
                &["1099511627776", "1..=1024"],
            )],
        },
    ]
}

#[test]
fn every_hostile_case_is_refused_in_one_line_with_bounded_memory_and_nothing_left() {
    let started = Instant::now();
    let f = Folders::new();
    let mut cases = model_file_cases(&f);
    cases.extend(template_cases(&f));
    cases.extend(flag_cases(&f));
    cases.extend(hf_cases(&f));
    cases.extend(output_path_cases(&f));
    cases.extend(quantize_flag_cases(&f));
    let inputs_before = listing(&f.inputs);
    let outputs_before = listing(&f.inputs.join("outputs"));

    let mut failures = Vec::new();
    let (mut n_runs, mut peak) = (0, (0u64, String::new()));
    for case in &cases {
        for run in &case.runs {
            n_runs += 1;
            let out = execute(run, &f.scratch);
            let label = format!(
                "{} [{:?} {}]",
                case.name,
                run.bin,
                run.args
                    .first()
                    .map(|a| a.to_string_lossy())
                    .unwrap_or_default()
            );
            println!(
                "{:>6.1} MiB  {label}",
                out.peak_rss as f64 / (1 << 20) as f64
            );
            if out.peak_rss > peak.0 {
                peak = (out.peak_rss, label.clone());
            }
            if let Err(why) = check(run, &out) {
                failures.push(format!("{label}: {why}"));
            }
            for (what, dir) in [
                ("out", &f.out),
                ("cwd", &f.scratch.join("cwd")),
                ("TMPDIR", &f.scratch.join("tmp")),
            ] {
                let left = listing(dir);
                if !left.is_empty() {
                    failures.push(format!("{label}: left {left:?} in {what}"));
                    for name in left {
                        let _ = std::fs::remove_file(dir.join(name));
                    }
                }
            }
        }
    }
    assert_eq!(listing(&f.inputs), inputs_before, "inputs changed");
    assert_eq!(
        listing(&f.inputs.join("outputs")),
        outputs_before,
        "output paths changed"
    );
    println!(
        "{} cases, {n_runs} runs in {:.1} s; highest peak RSS {:.1} MiB ({}); bound {} MiB",
        cases.len(),
        started.elapsed().as_secs_f64(),
        peak.0 as f64 / (1 << 20) as f64,
        peak.1,
        RSS_BOUND >> 20
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
