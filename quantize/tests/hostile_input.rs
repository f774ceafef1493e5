//! Hostile inputs to `quantize` (issue 13, items 5, 7 and 8): NaN, infinite and out-of-range
//! weights, model files that are not regular files (FIFOs would block forever), misleading
//! messages, `general.alignment = 1`, and an input truncated while it is mapped (SIGBUS) or a
//! run killed outright, whose temporary file the next run sweeps. Every file is made here.

#[path = "../../tests/common/hostile.rs"]
mod hostile;

use edge_formats::gguf::{GgmlDims, GgufFile, GgufWriter, TensorSpec, Value, ALIGNMENT_KEY};
use edge_formats::GgmlType;
use hostile::{expect_refusal, expect_success, finish, listing, mkfifo, tensor_specs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn tinystories() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models/tinystories-656k")
}

fn quantize_cmd(input: &Path, output: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_quantize"));
    cmd.arg(input)
        .args(args)
        .args(["--quiet", "-o"])
        .arg(output)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn quantize(input: &Path, output: &Path, args: &[&str]) -> Output {
    let child = quantize_cmd(input, output, args).spawn().unwrap();
    finish(child, &format!("quantize {}", input.display()))
}

/// tinystories-656k as an all-F32 GGUF in `dir`.
fn f32_gguf(dir: &Path) -> PathBuf {
    let out = dir.join("tiny-f32.gguf");
    expect_success(&quantize(
        &tinystories(),
        &out,
        &["--type", "f32", "--output-type", "f32"],
    ));
    out
}

/// A copy of GGUF `src` at `dst` with `extra` metadata (replacing keys of the same name) and
/// f32 value `index` of tensor `tensor` set to `value`.
fn rewrite(src: &Path, dst: &Path, extra: &[(&str, Value)], poke: Option<(&str, usize, f32)>) {
    let file = GgufFile::open(src).unwrap();
    let mut meta: Vec<(String, Value)> = file
        .metadata()
        .entries()
        .iter()
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
        .cloned()
        .collect();
    meta.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let specs = tensor_specs(&file);
    let mut w = GgufWriter::new(Vec::new(), &meta, &specs).unwrap();
    for t in file.tensors() {
        let mut data = file.tensor_data(t).to_vec();
        if let Some((name, i, v)) = poke {
            if name == t.name {
                assert_eq!(t.ty, GgmlType::F32);
                data[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
        w.write_tensor(&data).unwrap();
    }
    std::fs::write(dst, w.finish().unwrap()).unwrap();
}

#[test]
fn alignment_one_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = f32_gguf(d);
    let a1 = d.join("a1.gguf");
    rewrite(&src, &a1, &[(ALIGNMENT_KEY, Value::U32(1))], None);
    assert_eq!(GgufFile::open(&a1).unwrap().header.alignment, 1);
    let out = d.join("a1-q8_0.gguf");
    expect_success(&quantize(&a1, &out, &["--type", "q8_0"]));
    assert!(GgufFile::open(&out).is_ok());
}

#[test]
fn nan_infinite_and_out_of_range_weights_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = f32_gguf(d);
    let out_dir = d.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    // blk.0.ffn_down.weight: rows of 384 (intermediate_size): index 400 is row 1, column 16.
    let tensor = "blk.0.ffn_down.weight";
    let cases: Vec<(f32, &str, Vec<&str>)> = vec![
        (
            f32::NAN,
            "q8_0",
            vec![tensor, "400", "row 1, column 16", "NaN"],
        ),
        (f32::INFINITY, "q4_0", vec![tensor, "400", "inf"]),
        (f32::NEG_INFINITY, "f16", vec![tensor, "400", "-inf"]),
        // Finite, but past F16's largest value (65504): it would be written as infinity.
        (1e5, "f16", vec![tensor, "400", "100000", "F16"]),
        // The Q8_0 scale (an F16) of a block holding 1e38 overflows.
        (1e38, "q8_0", vec![tensor, "400", "Q8_0"]),
    ];
    for (i, (value, ty, needles)) in cases.iter().enumerate() {
        let bad = d.join(format!("bad{i}.gguf"));
        rewrite(&src, &bad, &[], Some((tensor, 400, *value)));
        let out = quantize(&bad, &out_dir.join(format!("{i}.gguf")), &["--type", ty]);
        expect_refusal(&out, needles);
    }
    assert!(listing(&out_dir).is_empty(), "{:?}", listing(&out_dir));

    // From safetensors too: the tensor is named as the input names it.
    let model = hf_copy(d, "hf-nan");
    let st = model.join("model.safetensors");
    let mut bytes = std::fs::read(&st).unwrap();
    let name = "model.layers.0.mlp.down_proj.weight";
    let at = safetensors_data_start(&bytes, name) + 4 * 400;
    bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::remove_file(&st).unwrap();
    std::fs::write(&st, bytes).unwrap();
    let out = quantize(&model, &out_dir.join("hf.gguf"), &["--type", "q8_0"]);
    expect_refusal(&out, &[name, "400", "NaN"]);
    assert!(listing(&out_dir).is_empty());
}

/// Absolute byte offset of tensor `name`'s data in a safetensors image.
fn safetensors_data_start(bytes: &[u8], name: &str) -> usize {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    assert_eq!(header[name]["dtype"], "F32");
    8 + n + header[name]["data_offsets"][0].as_u64().unwrap() as usize
}

/// tinystories-656k copied into `dir/name` (the weights linked unless replaced by the caller).
fn hf_copy(dir: &Path, name: &str) -> PathBuf {
    let dst = dir.join(name);
    std::fs::create_dir(&dst).unwrap();
    for entry in std::fs::read_dir(tinystories()).unwrap() {
        let entry = entry.unwrap();
        std::fs::write(
            dst.join(entry.file_name()),
            std::fs::read(entry.path()).unwrap(),
        )
        .unwrap();
    }
    dst
}

#[test]
fn model_files_that_are_not_regular_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out_dir = d.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("o.gguf");

    // FIFOs given as the input, under each name quantize recognizes.
    for name in ["pipe", "pipe.gguf", "pipe.safetensors"] {
        let fifo = d.join(name);
        mkfifo(&fifo);
        expect_refusal(
            &quantize(&fifo, &out, &[]),
            &[name, "a FIFO", "not a regular file"],
        );
    }
    // Inside a model folder: each file that is read, as a FIFO.
    for file in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "model.safetensors",
    ] {
        let model = hf_copy(d, &format!("fifo-{file}"));
        std::fs::remove_file(model.join(file)).unwrap();
        mkfifo(&model.join(file));
        expect_refusal(&quantize(&model, &out, &[]), &[file, "a FIFO"]);
    }
    // A symlink loop was "missing model.safetensors".
    let model = hf_copy(d, "loop");
    let st = model.join("model.safetensors");
    std::fs::remove_file(&st).unwrap();
    std::os::unix::fs::symlink(&st, &st).unwrap();
    expect_refusal(
        &quantize(&model, &out, &[]),
        &["model.safetensors", "symbolic links"],
    );
    // A dangling symlink names its target.
    let model = hf_copy(d, "dangling");
    let cfg = model.join("config.json");
    std::fs::remove_file(&cfg).unwrap();
    std::os::unix::fs::symlink(d.join("gone.json"), &cfg).unwrap();
    expect_refusal(
        &quantize(&model, &out, &[]),
        &["config.json", "gone.json", "does not exist"],
    );
    // A shard that is a folder was "No such device".
    let model = hf_copy(d, "shard-folder");
    std::fs::remove_file(model.join("model.safetensors")).unwrap();
    std::fs::create_dir(model.join("model-00001-of-00001.safetensors")).unwrap();
    std::fs::write(
        model.join("model.safetensors.index.json"),
        r#"{"weight_map":{"lm_head.weight":"model-00001-of-00001.safetensors"}}"#,
    )
    .unwrap();
    expect_refusal(
        &quantize(&model, &out, &[]),
        &[
            "model-00001-of-00001.safetensors",
            "a folder",
            "not a regular file",
        ],
    );
    // vocab_size 0 names the key and the value.
    let model = hf_copy(d, "vocab0");
    let cfg = model.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    config["vocab_size"] = 0.into();
    std::fs::write(&cfg, config.to_string()).unwrap();
    expect_refusal(&quantize(&model, &out, &[]), &["vocab_size", "found 0"]);
    assert!(listing(&out_dir).is_empty());
}

/// A valid one-block Llama GGUF of width 8192 (tinystories-656k's tokenizer) whose F32
/// tensors are zeros, sparse on disk (1.1 GiB): long enough to quantize that the test can act
/// while quantize reads it.
fn big_sparse_gguf(path: &Path) {
    let tiny = GgufFile::open(&tinystories().join("../llama.cpp-made/tinystories-656k.q8_0.gguf"))
        .unwrap();
    let (n_embd, n_ff, n_vocab) = (8192u64, 32u64, 2048u64);
    let mut meta: Vec<(String, Value)> = tiny
        .metadata()
        .entries()
        .iter()
        .filter(|(k, _)| k.starts_with("general.architecture") || k.starts_with("tokenizer."))
        .cloned()
        .collect();
    for (key, v) in [
        ("block_count", 1),
        ("embedding_length", n_embd),
        ("feed_forward_length", n_ff),
        ("attention.head_count", 64),
        ("context_length", 512),
    ] {
        meta.push((format!("llama.{key}"), Value::U64(v)));
    }
    meta.push((
        "llama.attention.layer_norm_rms_epsilon".into(),
        Value::F32(1e-5),
    ));
    let spec = |name: &str, dims: Vec<u64>| TensorSpec {
        name: name.into(),
        dims: GgmlDims(dims),
        ty: GgmlType::F32,
    };
    let mut specs = vec![
        spec("token_embd.weight", vec![n_embd, n_vocab]),
        spec("output_norm.weight", vec![n_embd]),
    ];
    for t in ["attn_q", "attn_k", "attn_v", "attn_output"] {
        specs.push(spec(&format!("blk.0.{t}.weight"), vec![n_embd, n_embd]));
    }
    for t in ["attn_norm", "ffn_norm"] {
        specs.push(spec(&format!("blk.0.{t}.weight"), vec![n_embd]));
    }
    for t in ["ffn_gate", "ffn_up"] {
        specs.push(spec(&format!("blk.0.{t}.weight"), vec![n_embd, n_ff]));
    }
    specs.push(spec("blk.0.ffn_down.weight", vec![n_ff, n_embd]));
    let data_bytes: u64 = specs
        .iter()
        .map(|s| (4 * s.dims.n_elements().unwrap()).next_multiple_of(32))
        .sum();
    let mut header = Vec::new();
    drop(GgufWriter::new(&mut header, &meta, &specs).unwrap());
    let f = std::fs::File::create(path).unwrap();
    std::io::Write::write_all(&mut &f, &header).unwrap();
    f.set_len(header.len() as u64 + data_bytes).unwrap();
}

/// Starts quantize on `input` and returns once its temporary file exists (the input is mapped
/// and being read), with that file's name.
fn start_and_wait_for_temp(input: &Path, out_dir: &Path) -> (Child, String) {
    let mut child = quantize_cmd(input, &out_dir.join("big.gguf"), &["--threads", "1"])
        .spawn()
        .unwrap();
    let temp = format!(".big.gguf.tmp-{}", child.id());
    let started = Instant::now();
    while !out_dir.join(&temp).exists() {
        assert!(child.try_wait().unwrap().is_none(), "quantize ended early");
        assert!(started.elapsed() < Duration::from_secs(60), "no temp file");
        std::thread::sleep(Duration::from_millis(1));
    }
    (child, temp)
}

#[test]
fn truncated_input_and_killed_runs_leave_nothing_for_long() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out_dir = d.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let big = d.join("big-input.gguf");
    big_sparse_gguf(&big);

    // Truncated while mapped: a clear message instead of a bare SIGBUS.
    let (child, temp) = start_and_wait_for_temp(&big, &out_dir);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&big)
        .unwrap()
        .set_len(4096)
        .unwrap();
    let out = finish(child, "on a truncated input");
    expect_refusal(&out, &["SIGBUS", "input", "truncated"]);
    // The handler may only write and exit: the temporary file stays...
    assert_eq!(listing(&out_dir), [temp]);

    // ... and so does one of a run killed by SIGKILL; this run sweeps the first one.
    big_sparse_gguf(&big);
    let (mut child, temp) = start_and_wait_for_temp(&big, &out_dir);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(listing(&out_dir), [temp]);
    // The next run to the same output sweeps it.
    let small = f32_gguf(d);
    expect_success(&quantize(&small, &out_dir.join("big.gguf"), &[]));
    assert_eq!(listing(&out_dir), ["big.gguf"]);
}
