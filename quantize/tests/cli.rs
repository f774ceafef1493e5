//! The `quantize` binary on bad inputs: exactly one `error: ...` line on stderr, exit code 1,
//! the message naming what is wrong, and nothing left in the output folder (no output, no
//! temporary file). Plus the fallback chain for rows that are not whole blocks and the
//! default output name.

use edge_formats::gguf::GgufFile;
use edge_formats::GgmlType;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn shared_models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models")
}

fn tinystories() -> PathBuf {
    shared_models().join("tinystories-656k")
}

fn quantize(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quantize"))
        .args(args)
        .output()
        .expect("run quantize")
}

/// Runs `quantize` expecting exit `code` and one `error: ` line containing every needle.
fn expect_exit(args: &[&std::ffi::OsStr], code: i32, needles: &[&str]) -> String {
    let out = quantize(args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(code), "exit code; stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line: {stderr:?}");
    assert!(lines[0].starts_with("error: "), "{stderr:?}");
    for n in needles {
        assert!(lines[0].contains(n), "`{n}` not in {stderr:?}");
    }
    lines[0].to_string()
}

/// Runs `quantize` expecting failure (exit 1): one `error: ` line containing every needle.
fn expect_error(args: &[&std::ffi::OsStr], needles: &[&str]) -> String {
    expect_exit(args, 1, needles)
}

/// Every entry of a folder (file names).
fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// A copy of tinystories-656k in `dir/name` without the files in `skip`.
fn copy_model(dir: &Path, name: &str, skip: &[&str]) -> PathBuf {
    let dst = dir.join(name);
    std::fs::create_dir(&dst).unwrap();
    for entry in std::fs::read_dir(tinystories()).unwrap() {
        let entry = entry.unwrap();
        let file = entry.file_name();
        if skip.iter().any(|s| file == *s) {
            continue;
        }
        std::fs::copy(entry.path(), dst.join(&file)).unwrap();
        // The shared files are read-only; the copies need not be.
        let mut perm = std::fs::metadata(dst.join(&file)).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perm.set_readonly(false);
        std::fs::set_permissions(dst.join(&file), perm).unwrap();
    }
    dst
}

/// Writes a safetensors file: `(name, dtype, shape, data)` in order.
fn write_safetensors(path: &Path, tensors: &[(&str, &str, Vec<usize>, Vec<u8>)]) {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, dtype, shape, data) in tensors {
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + data.len()]}),
        );
        offset += data.len();
    }
    let mut json = serde_json::Value::Object(header).to_string().into_bytes();
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&json);
    for (_, _, _, data) in tensors {
        bytes.extend_from_slice(data);
    }
    std::fs::write(path, bytes).unwrap();
}

fn f32_bytes(n: usize, seed: u32) -> Vec<u8> {
    (0..n)
        .flat_map(|i| {
            let x = ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32
                / (1u32 << 24) as f32
                - 0.5;
            x.to_le_bytes()
        })
        .collect()
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

#[test]
fn missing_config_json() {
    let dir = tempfile::tempdir().unwrap();
    let model = copy_model(dir.path(), "m", &["config.json"]);
    let out = dir.path().join("out.gguf");
    expect_error(
        &[model.as_os_str(), os("-o"), out.as_os_str()],
        &["missing config.json"],
    );
    assert_eq!(listing(dir.path()), ["m"].map(String::from).into());
}

#[test]
fn missing_tokenizer_json() {
    let dir = tempfile::tempdir().unwrap();
    let model = copy_model(dir.path(), "m", &["tokenizer.json"]);
    let out = dir.path().join("out.gguf");
    expect_error(
        &[model.as_os_str(), os("-o"), out.as_os_str()],
        &["missing tokenizer.json"],
    );
    assert_eq!(listing(dir.path()), ["m"].map(String::from).into());
}

#[test]
fn unsupported_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let model = copy_model(dir.path(), "m", &[]);
    let config = std::fs::read_to_string(model.join("config.json")).unwrap();
    std::fs::write(
        model.join("config.json"),
        config.replace("LlamaForCausalLM", "GPT2LMHeadModel"),
    )
    .unwrap();
    let out = dir.path().join("out.gguf");
    expect_error(
        &[model.as_os_str(), os("-o"), out.as_os_str()],
        &["unsupported architecture `GPT2LMHeadModel`", "config.json"],
    );
    assert_eq!(listing(dir.path()), ["m"].map(String::from).into());
}

#[test]
fn unsupported_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let model = copy_model(dir.path(), "m", &["model.safetensors"]);
    let ids: Vec<u8> = (0..4i32).flat_map(|i| i.to_le_bytes()).collect();
    write_safetensors(
        &model.join("model.safetensors"),
        &[("model.embed_tokens.weight", "I32", vec![4], ids)],
    );
    let out = dir.path().join("out.gguf");
    expect_error(
        &[model.as_os_str(), os("-o"), out.as_os_str()],
        &["I32", "model.safetensors"],
    );
    assert_eq!(listing(dir.path()), ["m"].map(String::from).into());
}

#[test]
fn truncated_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    let model = copy_model(dir.path(), "m", &[]);
    let weights = model.join("model.safetensors");
    let len = std::fs::metadata(&weights).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&weights)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let out = dir.path().join("out.gguf");
    expect_error(
        &[model.as_os_str(), os("-o"), out.as_os_str()],
        &["model.safetensors"],
    );
    assert_eq!(listing(dir.path()), ["m"].map(String::from).into());
}

#[test]
fn corrupt_gguf() {
    let dir = tempfile::tempdir().unwrap();
    let src = shared_models().join("llama.cpp-made/tinystories-656k.q8_0.gguf");
    let mut bytes = std::fs::read(src).unwrap();
    // Tensor count (bytes 8..16) far beyond what the file can hold.
    bytes[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    let input = dir.path().join("bad.gguf");
    std::fs::write(&input, &bytes).unwrap();
    let out = dir.path().join("out.gguf");
    expect_error(
        &[input.as_os_str(), os("-o"), out.as_os_str()],
        &["bad.gguf"],
    );
    assert_eq!(listing(dir.path()), ["bad.gguf"].map(String::from).into());
    // Truncated inside the tensor data.
    bytes =
        std::fs::read(shared_models().join("llama.cpp-made/tinystories-656k.q8_0.gguf")).unwrap();
    bytes.truncate(bytes.len() - 1000);
    std::fs::write(&input, &bytes).unwrap();
    expect_error(
        &[input.as_os_str(), os("-o"), out.as_os_str()],
        &["bad.gguf"],
    );
    assert_eq!(listing(dir.path()), ["bad.gguf"].map(String::from).into());
}

#[test]
fn shape_contradicting_config() {
    let dir = tempfile::tempdir().unwrap();
    let model = copy_model(dir.path(), "m", &[]);
    let config = std::fs::read_to_string(model.join("config.json")).unwrap();
    std::fs::write(
        model.join("config.json"),
        config.replace("\"intermediate_size\": 384", "\"intermediate_size\": 256"),
    )
    .unwrap();
    let out = dir.path().join("out.gguf");
    expect_error(
        &[model.as_os_str(), os("-o"), out.as_os_str()],
        &[
            "model.layers.0.mlp.gate_proj.weight",
            "[384, 128]",
            "contradicts config.json",
        ],
    );
    assert_eq!(listing(dir.path()), ["m"].map(String::from).into());
}

/// A Llama with hidden size 48 (not a multiple of 32): 1 layer, 2 heads of 24, FFN 64.
fn odd_model(dir: &Path) -> PathBuf {
    let model = copy_model(dir, "odd", &["model.safetensors", "config.json"]);
    let config = serde_json::json!({
        "architectures": ["LlamaForCausalLM"], "hidden_act": "silu", "hidden_size": 48,
        "intermediate_size": 64, "max_position_embeddings": 128, "num_attention_heads": 2,
        "num_hidden_layers": 1, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "tie_word_embeddings": true, "vocab_size": 2048
    });
    std::fs::write(model.join("config.json"), config.to_string()).unwrap();
    let t = |name: &'static str, shape: Vec<usize>, seed: u32| {
        let n = shape.iter().product();
        (name, "F32", shape, f32_bytes(n, seed))
    };
    write_safetensors(
        &model.join("model.safetensors"),
        &[
            t("model.embed_tokens.weight", vec![2048, 48], 1),
            t("model.layers.0.input_layernorm.weight", vec![48], 2),
            t("model.layers.0.mlp.down_proj.weight", vec![48, 64], 3),
            t("model.layers.0.mlp.gate_proj.weight", vec![64, 48], 4),
            t("model.layers.0.mlp.up_proj.weight", vec![64, 48], 5),
            t(
                "model.layers.0.post_attention_layernorm.weight",
                vec![48],
                6,
            ),
            t("model.layers.0.self_attn.k_proj.weight", vec![48, 48], 7),
            t("model.layers.0.self_attn.o_proj.weight", vec![48, 48], 8),
            t("model.layers.0.self_attn.q_proj.weight", vec![48, 48], 9),
            t("model.layers.0.self_attn.v_proj.weight", vec![48, 48], 10),
            t("model.norm.weight", vec![48], 11),
        ],
    );
    model
}

#[test]
fn row_length_not_a_multiple_of_32() {
    let dir = tempfile::tempdir().unwrap();
    let model = odd_model(dir.path());
    let out = dir.path().join("out.gguf");
    expect_error(
        &[
            model.as_os_str(),
            os("-o"),
            out.as_os_str(),
            os("--type"),
            os("q4_0"),
        ],
        &[
            "token_embd.weight",
            "row length 48",
            "no fallback type for Q8_0",
        ],
    );
    assert_eq!(listing(dir.path()), ["odd"].map(String::from).into());
}

#[test]
fn fallback_chain_is_applied_and_printed() {
    let dir = tempfile::tempdir().unwrap();
    let model = odd_model(dir.path());
    let out = dir.path().join("out.gguf");
    let res = quantize(&[
        model.as_os_str(),
        os("-o"),
        out.as_os_str(),
        os("--type"),
        os("q4_k"),
        os("--pure"),
    ]);
    let stderr = String::from_utf8(res.stderr).unwrap();
    assert!(res.status.success(), "{stderr}");
    // 48-wide rows: Q4_K -> Q5_0 -> F16; 64-wide ffn_down rows: Q4_K -> Q5_0.
    assert!(
        stderr.contains(
            "warning: tensor `blk.0.attn_q.weight`: row length 48 is not a multiple of 256 (Q4_K); \
             written as F16"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("`blk.0.ffn_down.weight`: row length 64") && stderr.contains("as Q5_0"),
        "{stderr}"
    );
    assert_eq!(
        listing(dir.path()),
        ["odd", "out.gguf"].map(String::from).into()
    );

    let g = GgufFile::open(&out).unwrap();
    let ty = |n: &str| g.tensor(n).unwrap().ty;
    assert_eq!(ty("token_embd.weight"), GgmlType::F16);
    assert_eq!(ty("blk.0.attn_q.weight"), GgmlType::F16);
    assert_eq!(ty("blk.0.ffn_gate.weight"), GgmlType::F16);
    assert_eq!(ty("blk.0.ffn_down.weight"), GgmlType::Q5_0);
    assert_eq!(ty("blk.0.attn_norm.weight"), GgmlType::F32);
    // F16 data is the f32 input rounded to f16 (ffn_up: no permutation).
    let info = g.tensor("blk.0.ffn_up.weight").unwrap();
    let want: Vec<u8> = f32_bytes(64 * 48, 5)
        .chunks_exact(4)
        .flat_map(|b| {
            let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            half::f16::from_f32(x).to_bits().to_le_bytes()
        })
        .collect();
    assert!(g.tensor_data(info) == &want[..]);
}

#[test]
fn unwritable_output_path() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("no/such/folder/out.gguf");
    expect_error(
        &[tinystories().as_os_str(), os("-o"), out.as_os_str()],
        &["cannot write output", "out.gguf"],
    );
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn output_naming_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let model = copy_model(dir.path(), "m", &[]);
    let before = listing(&model);
    let weights = model.join("model.safetensors");
    let size = std::fs::metadata(&weights).unwrap().len();
    // A file inside the input folder, spelled with `..`.
    let inside = model.join("../m/model.safetensors");
    expect_error(
        &[model.as_os_str(), os("-o"), inside.as_os_str()],
        &["would overwrite the input"],
    );
    let inside_new = model.join("new.gguf");
    expect_error(
        &[model.as_os_str(), os("-o"), inside_new.as_os_str()],
        &["would overwrite the input"],
    );
    assert_eq!(listing(&model), before);
    assert_eq!(std::fs::metadata(&weights).unwrap().len(), size);
    // A GGUF input named as its own output.
    let gguf = dir.path().join("in.gguf");
    std::fs::copy(
        shared_models().join("llama.cpp-made/tinystories-656k.q8_0.gguf"),
        &gguf,
    )
    .unwrap();
    let bytes = std::fs::read(&gguf).unwrap();
    expect_error(
        &[
            gguf.as_os_str(),
            os("-o"),
            gguf.as_os_str(),
            os("--type"),
            os("q4_0"),
        ],
        &["would overwrite the input", "in.gguf"],
    );
    assert!(std::fs::read(&gguf).unwrap() == bytes);
    assert_eq!(
        listing(dir.path()),
        ["in.gguf", "m"].map(String::from).into()
    );
}

#[test]
fn default_output_name_beside_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let model = copy_model(dir.path(), "tinystories-656k", &[]);
    let res = quantize(&[model.as_os_str(), os("--type"), os("q4_1"), os("--quiet")]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(res.stderr.is_empty(), "--quiet prints nothing");
    let out = dir.path().join("tinystories-656k-q4_1.gguf");
    let g = GgufFile::open(&out).unwrap();
    assert_eq!(g.tensor("blk.0.attn_q.weight").unwrap().ty, GgmlType::Q4_1);
    // --output-type defaults to q8_0.
    assert_eq!(g.tensor("token_embd.weight").unwrap().ty, GgmlType::Q8_0);
    assert_eq!(
        listing(dir.path()),
        ["tinystories-656k", "tinystories-656k-q4_1.gguf"]
            .map(String::from)
            .into()
    );
}

#[test]
fn bad_type_is_a_usage_error() {
    let out = quantize(&[tinystories().as_os_str(), os("--type"), os("q8_1")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("q8_1"));
}

#[test]
fn verbose_prints_a_table_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.gguf");
    let res = quantize(&[
        tinystories().as_os_str(),
        os("-o"),
        out.as_os_str(),
        os("--type"),
        os("q4_0"),
    ]);
    let stderr = String::from_utf8(res.stderr).unwrap();
    assert!(res.status.success(), "{stderr}");
    // Header + 20 tensors + summary; no progress bar when stderr is not a terminal.
    assert_eq!(stderr.lines().count(), 22, "{stderr}");
    let q = stderr
        .lines()
        .find(|l| l.starts_with("blk.0.attn_q.weight"))
        .unwrap();
    assert!(
        q.contains("128 x 128") && q.contains("Q4_0") && q.contains("9216"),
        "{q}"
    );
    assert!(
        stderr.lines().last().unwrap().contains("bits per weight"),
        "{stderr}"
    );
}

#[test]
fn safetensors_file_input_equals_folder_input() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.gguf"), dir.path().join("b.gguf"));
    let file = tinystories().join("model.safetensors");
    for (input, out) in [(tinystories(), &a), (file, &b)] {
        let res = quantize(&[input.as_os_str(), os("-o"), out.as_os_str(), os("-q")]);
        assert!(
            res.status.success(),
            "{}",
            String::from_utf8_lossy(&res.stderr)
        );
    }
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap());
}

/// The SmolLM2 folder in the fetched-models cache (`$EDGE_MODELS`, else
/// `~/.cache/edge-models`); `fetch-models` is idempotent and fast once cached.
fn smollm2() -> PathBuf {
    let dir = std::env::var_os("EDGE_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/edge-models")
        });
    let status = Command::new(shared_models().join("../scripts/fetch-models"))
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run fetch-models");
    assert!(status.success(), "fetch-models failed");
    dir.join("smollm2-135m-instruct")
}

#[test]
fn interrupt_or_termination_leaves_no_file() {
    // SmolLM2 takes a second or two: long enough to signal once the temporary file exists.
    let input = smollm2();
    for signal in ["INT", "TERM"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("smol.gguf");
        let mut interrupted = false;
        for _attempt in 0..3 {
            let mut child = Command::new(env!("CARGO_BIN_EXE_quantize"))
                .arg(&input)
                .args(["--type", "q8_0", "-q", "-o"])
                .arg(&out)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let start = std::time::Instant::now();
            while !listing(dir.path()).iter().any(|n| n.contains(".tmp-")) {
                assert!(
                    start.elapsed().as_secs() < 120,
                    "no temporary file appeared"
                );
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            let sent = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(child.id().to_string())
                .status()
                .unwrap();
            let result = child.wait_with_output().unwrap();
            if result.status.success() || !sent.success() {
                // It finished before the signal arrived: try again.
                let _ = std::fs::remove_file(&out);
                continue;
            }
            let stderr = String::from_utf8_lossy(&result.stderr);
            assert_eq!(result.status.code(), Some(130), "SIG{signal}: {stderr}");
            assert_eq!(
                stderr.trim(),
                "error: interrupted; no output written",
                "SIG{signal}"
            );
            assert!(
                listing(dir.path()).is_empty(),
                "SIG{signal} left {:?}",
                listing(dir.path())
            );
            interrupted = true;
            break;
        }
        assert!(interrupted, "quantize finished before every SIG{signal}");
    }
}

// ---------------------------------------------------------------------------------------------
// llama-quantize's habits: `-t`, the positional form, one-line usage errors (exit 2), shards.

/// A usage error: exit code 2, exactly one `error: ` line containing every needle.
fn expect_usage_error(args: &[&std::ffi::OsStr], needles: &[&str]) -> String {
    expect_exit(args, 2, needles)
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn positional_form_equals_the_flag_form() {
    let dir = tempfile::tempdir().unwrap();
    let by_flags = dir.path().join("flags.gguf");
    let by_position = dir.path().join("positional.gguf");
    assert_success(&quantize(&[
        tinystories().as_os_str(),
        os("--type"),
        os("q8_0"),
        os("-o"),
        by_flags.as_os_str(),
        os("-t"),
        os("1"),
        os("-q"),
    ]));
    assert_success(&quantize(&[
        tinystories().as_os_str(),
        by_position.as_os_str(),
        os("q8_0"),
        os("1"),
        os("-q"),
    ]));
    assert!(std::fs::read(&by_flags).unwrap() == std::fs::read(&by_position).unwrap());
}

#[test]
fn positional_type_without_an_output_names_the_file_beside_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let model = copy_model(dir.path(), "tinystories-656k", &[]);
    assert_success(&quantize(&[model.as_os_str(), os("q4_1"), os("-q")]));
    let g = GgufFile::open(&dir.path().join("tinystories-656k-q4_1.gguf")).unwrap();
    assert_eq!(g.tensor("blk.0.attn_q.weight").unwrap().ty, GgmlType::Q4_1);
}

#[test]
fn a_type_given_twice_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.gguf");
    expect_usage_error(
        &[
            tinystories().as_os_str(),
            out.as_os_str(),
            os("q8_0"),
            os("--type"),
            os("q4_0"),
        ],
        &["given twice"],
    );
    expect_usage_error(
        &[tinystories().as_os_str(), out.as_os_str(), os("q9_9")],
        &["q9_9"],
    );
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn clap_errors_are_one_line_with_the_suggestion() {
    let line = expect_usage_error(&[tinystories().as_os_str(), os("--quiett")], &["--quiett"]);
    assert!(line.contains("tip:") && line.contains("--quiet"), "{line}");
    expect_usage_error(&[], &["<INPUT>"]);
}

#[test]
fn one_shard_of_a_sharded_model_asks_for_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let shard = dir.path().join("model-00001-of-00002.safetensors");
    std::fs::write(&shard, b"not read").unwrap();
    expect_error(
        &[shard.as_os_str()],
        &[
            "one shard",
            "2 files",
            "pass the folder",
            &dir.path().display().to_string(),
        ],
    );
}
