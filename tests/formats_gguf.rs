//! GGUF reader and writer against llama.cpp's own files: every tensor's name, dims, type,
//! size and data hash and every metadata value against the manifests in
//! ../shared/models/llama.cpp-made; and a rewrite through our writer that must reproduce
//! llama.cpp's files byte for byte.
mod common;

use edge_formats::gguf::{GgufFile, GgufWriter, Value};
use edge_formats::{BlockQ4_1, GgmlType};
use serde_json::Value as Json;
use std::io::Write;
use std::path::{Path, PathBuf};

const TYPES: [&str; 4] = ["f32", "q8_0", "q4_0", "q4_1"];

fn tinystories_gguf(ty: &str) -> PathBuf {
    common::shared_models().join(format!("llama.cpp-made/tinystories-656k.{ty}.gguf"))
}

fn manifest(path: &Path) -> Json {
    let manifest = path.with_extension("manifest.json");
    serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap()
}

/// Python's `repr(float)`: the shortest round-trip digits, fixed notation when the decimal
/// exponent is in [-4, 16), else `d.ddde-05` / `de+16`.
fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let sci = format!("{:e}", x.abs()); // "1.2345e-5", shortest round-trip digits
    let (mantissa, exp) = sci.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if !(-4..16).contains(&exp) {
        let exp_sign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{mantissa}e{exp_sign}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{a}.{b}")
    };
    format!("{sign}{body}")
}

/// `json.dumps(s, ensure_ascii=False)` for a string.
fn python_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `json.dumps(v, ensure_ascii=False, separators=(",", ":"))` of a value as gguf-py reads it
/// (F32 widened to a Python float).
fn python_compact_json(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => python_json_string(s, out),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::F32(x) => out.push_str(&python_float_repr(f64::from(*x))),
        Value::F64(x) => out.push_str(&python_float_repr(*x)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                python_compact_json(&item, out);
            }
            out.push(']');
        }
        int => out.push_str(&int.as_i128().unwrap().to_string()),
    }
}

#[test]
fn python_repr_matches_known_outputs() {
    let cases = [
        (1e-6, "1e-06"),
        (9.999999974752427e-07, "9.999999974752427e-07"),
        (0.0001, "0.0001"),
        (1e-5, "1e-05"),
        (10000.0, "10000.0"),
        (1e16, "1e+16"),
        (1e15, "1000000000000000.0"),
        (1.5e300, "1.5e+300"),
        (-0.0, "-0.0"),
        (-12.5, "-12.5"),
        (0.1, "0.1"),
        (123456789.25, "123456789.25"),
    ];
    for (x, want) in cases {
        assert_eq!(python_float_repr(x), want, "{x:e}");
    }
    let mut s = String::new();
    python_json_string("a\"\\\n\u{1}é▁", &mut s);
    assert_eq!(s, "\"a\\\"\\\\\\n\\u0001é▁\"");
}

/// Compares one of our values with the manifest's JSON value.
fn check_value(key: &str, ours: &Value, want: &Json) {
    match (ours, want) {
        (Value::Array(items), Json::Object(o)) => {
            assert_eq!(
                items.len() as u64,
                o["array_len"].as_u64().unwrap(),
                "{key}"
            );
            let mut json = String::new();
            python_compact_json(ours, &mut json);
            assert_eq!(
                common::sha256_hex(json.as_bytes()),
                o["sha256_of_compact_json"].as_str().unwrap(),
                "{key}: compact JSON hash"
            );
        }
        (Value::Array(items), Json::Array(want)) => {
            assert_eq!(items.len(), want.len(), "{key}");
            for (a, b) in items.iter().zip(want) {
                check_value(key, &a, b);
            }
        }
        (Value::String(s), Json::String(w)) => assert_eq!(s, w, "{key}"),
        (Value::Bool(b), Json::Bool(w)) => assert_eq!(b, w, "{key}"),
        (Value::F32(_) | Value::F64(_), Json::Number(n)) => {
            assert_eq!(ours.as_f64().unwrap(), n.as_f64().unwrap(), "{key}")
        }
        (int, Json::Number(n)) => {
            let want = n
                .as_i64()
                .map(i128::from)
                .or(n.as_u64().map(i128::from))
                .unwrap_or_else(|| panic!("{key}: manifest number {n} is not an integer"));
            assert_eq!(int.as_i128(), Some(want), "{key}: {int}");
        }
        _ => panic!("{key}: ours {ours:.8} vs manifest {want}"),
    }
}

fn check_against_manifest(file: &GgufFile, manifest: &Json) {
    let want_tensors = manifest["tensors"].as_array().unwrap();
    assert_eq!(file.tensors().len(), want_tensors.len());
    for (t, w) in file.tensors().iter().zip(want_tensors) {
        assert_eq!(t.name, w["name"].as_str().unwrap());
        let dims: Vec<u64> = w["dims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(t.dims.0, dims, "{}", t.name);
        assert_eq!(t.ty.name(), w["type"].as_str().unwrap(), "{}", t.name);
        assert_eq!(t.n_bytes, w["nbytes"].as_u64().unwrap(), "{}", t.name);
        assert_eq!(
            common::sha256_hex(file.tensor_data(t)),
            w["sha256"].as_str().unwrap(),
            "{}",
            t.name
        );
    }
    let want_meta = manifest["metadata"].as_object().unwrap();
    let ours: Vec<&str> = file.metadata().iter().map(|(k, _)| k).collect();
    let want_keys: Vec<&str> = want_meta.keys().map(String::as_str).collect();
    let mut ours_sorted = ours.clone();
    ours_sorted.sort();
    let mut want_sorted = want_keys.clone();
    want_sorted.sort();
    // gguf-py lists general.alignment only if present; the manifests list every key.
    assert_eq!(ours_sorted, want_sorted);
    for (key, want) in want_meta {
        check_value(key, file.metadata().get(key).unwrap(), want);
    }
}

#[test]
fn llamacpp_tinystories_files_match_their_manifests() {
    for ty in TYPES {
        let path = tinystories_gguf(ty);
        let file = GgufFile::open(&path).unwrap();
        check_against_manifest(&file, &manifest(&path));
        let m = file.metadata();
        assert_eq!(m.get_str("general.architecture").unwrap(), "llama");
        assert_eq!(m.get_u32("llama.block_count").unwrap(), 2);
        assert_eq!(m.get_u64("llama.embedding_length").unwrap(), 128);
        assert_eq!(
            m.get_f32("llama.attention.layer_norm_rms_epsilon").unwrap(),
            1e-6
        );
        assert_eq!(
            m.get_str_array("tokenizer.ggml.tokens").unwrap().len(),
            2048
        );
        assert_eq!(
            m.get_f32_array("tokenizer.ggml.scores").unwrap().len(),
            2048
        );
        assert_eq!(
            m.get_i32_array("tokenizer.ggml.token_type").unwrap().len(),
            2048
        );
        assert!(m.get_bool("tokenizer.ggml.add_bos_token").unwrap());
        assert_eq!(file.header.alignment, 32);
    }
}

/// A sink that checks every byte written against the expected image.
struct CompareSink<'a> {
    want: &'a [u8],
    pos: usize,
}

impl Write for CompareSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let end = self.pos + buf.len();
        assert!(
            end <= self.want.len(),
            "writer wrote past {}",
            self.want.len()
        );
        if self.want[self.pos..end] != *buf {
            let i = (0..buf.len())
                .find(|&i| buf[i] != self.want[self.pos + i])
                .unwrap();
            panic!("first differing byte at offset {}", self.pos + i);
        }
        self.pos = end;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads a file and writes it back through our streaming writer in chunks: the result must be
/// the same bytes.
fn rewrite_is_identical(path: &Path) {
    let file = GgufFile::open(path).unwrap();
    let specs = common::hostile::tensor_specs(&file);
    let sink = CompareSink {
        want: file.bytes(),
        pos: 0,
    };
    let mut w = GgufWriter::new(sink, file.metadata().entries(), &specs).unwrap();
    for t in file.tensors() {
        for chunk in file.tensor_data(t).chunks(4096 + 7) {
            w.write_data(chunk).unwrap();
        }
        w.end_tensor().unwrap();
    }
    let sink = w.finish().unwrap();
    assert_eq!(sink.pos, file.bytes().len(), "{}", path.display());
}

#[test]
fn llamacpp_tinystories_files_rewrite_byte_identical() {
    for ty in TYPES {
        rewrite_is_identical(&tinystories_gguf(ty));
    }
}

#[test]
fn llamacpp_smollm2_q4_1_reads_and_rewrites_identically() {
    let path = common::smollm2_llamacpp_gguf();
    let file = GgufFile::open(&path).unwrap();
    let m = file.metadata();
    assert_eq!(m.get_str("general.architecture").unwrap(), "llama");
    assert_eq!(m.get_u32("llama.block_count").unwrap(), 30);
    assert_eq!(m.get_u32("llama.embedding_length").unwrap(), 576);
    assert_eq!(m.get_u32("llama.attention.head_count_kv").unwrap(), 3);
    assert_eq!(
        m.get_str_array("tokenizer.ggml.tokens").unwrap().len(),
        49152
    );
    assert_eq!(m.get_str("tokenizer.ggml.pre").unwrap(), "smollm");
    assert!(m.get_str_array("tokenizer.ggml.merges").unwrap().len() > 40000);
    // 30 layers x 9 tensors + token_embd + output_norm (tied: no output.weight).
    assert_eq!(file.tensors().len(), 30 * 9 + 2);
    let q = file.tensor("blk.0.attn_q.weight").unwrap();
    assert_eq!(q.ty, GgmlType::Q4_1);
    assert_eq!(q.dims.0, vec![576, 576]);
    let blocks: &[BlockQ4_1] = file.tensor_as(q).unwrap();
    assert_eq!(blocks.len(), 576 * 576 / 32);
    // Casting to a type of the wrong size is an error naming the tensor, not a panic.
    let norm = file.tensor("output_norm.weight").unwrap();
    let e = file.tensor_as::<BlockQ4_1>(norm).unwrap_err().to_string();
    assert!(e.contains("output_norm.weight"), "{e}");
    rewrite_is_identical(&path);
}
