//! Seed corpora for the fuzz targets in fuzz/, made by our own writer:
//! `cargo test --test formats_fuzz_seeds -- --ignored` (re)writes fuzz/seeds/<target>/ (run by
//! scripts/fuzz); the non-ignored test checks that every committed seed still parses.
mod common;

use edge_formats::gguf::{
    GgmlDims, GgufFile, GgufHeader, GgufWriter, TensorSpec, Value, ValueType,
};
use edge_formats::safetensors::SafeTensors;
use edge_formats::GgmlType;
use std::path::{Path, PathBuf};

fn seeds_dir(target: &str) -> PathBuf {
    common::workspace().join("fuzz/seeds").join(target)
}

fn gguf(metadata: &[(String, Value)], tensors: &[(&str, &[u64], GgmlType)]) -> Vec<u8> {
    let specs: Vec<TensorSpec> = tensors
        .iter()
        .map(|(name, dims, ty)| TensorSpec {
            name: name.to_string(),
            dims: GgmlDims(dims.to_vec()),
            ty: *ty,
        })
        .collect();
    let mut w = GgufWriter::new(Vec::new(), metadata, &specs).unwrap();
    for (i, s) in specs.iter().enumerate() {
        let n = s.n_bytes().unwrap() as usize;
        w.write_tensor(&(0..n).map(|j| (i * 31 + j) as u8).collect::<Vec<u8>>())
            .unwrap();
    }
    w.finish().unwrap()
}

fn every_value_type() -> Vec<(String, Value)> {
    vec![
        ("t.u8".into(), Value::U8(200)),
        ("t.i8".into(), Value::I8(-5)),
        ("t.u16".into(), Value::U16(60000)),
        ("t.i16".into(), Value::I16(-300)),
        ("t.u32".into(), Value::U32(7)),
        ("t.i32".into(), Value::I32(-7)),
        ("t.f32".into(), Value::F32(1e-6)),
        ("t.bool".into(), Value::Bool(true)),
        ("t.string".into(), Value::from("▁héllo")),
        ("t.u64".into(), Value::U64(1 << 40)),
        ("t.i64".into(), Value::I64(-(1 << 40))),
        ("t.f64".into(), Value::F64(0.1)),
        (
            "t.nested".into(),
            Value::array(
                ValueType::Array,
                vec![
                    Value::array(ValueType::I32, vec![Value::I32(1), Value::I32(2)]),
                    Value::array(ValueType::String, vec!["a".into()]),
                ],
            ),
        ),
    ]
}

/// llama.cpp's tinystories metadata with every array cut to 8 entries, and its tensor names
/// and types with small dims.
fn llamacpp_like(ty: &str) -> Vec<u8> {
    let path = common::shared_models().join(format!("llama.cpp-made/tinystories-656k.{ty}.gguf"));
    let file = GgufFile::open(&path).unwrap();
    let meta: Vec<(String, Value)> = file
        .metadata()
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Array(items) => {
                    Value::array(items.elem_type(), items.iter().take(8).collect())
                }
                other => other.clone(),
            };
            (k.to_string(), v)
        })
        .collect();
    let tensors: Vec<(&str, Vec<u64>, GgmlType)> = file
        .tensors()
        .iter()
        .take(6)
        .map(|t| {
            let dims = if t.dims.0.len() == 1 {
                vec![32]
            } else {
                vec![32, 2]
            };
            (t.name.as_str(), dims, t.ty)
        })
        .collect();
    let refs: Vec<(&str, &[u64], GgmlType)> = tensors
        .iter()
        .map(|(n, d, t)| (*n, d.as_slice(), *t))
        .collect();
    gguf(&meta, &refs)
}

fn gguf_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let types = every_value_type();
    let mut aligned = types.clone();
    aligned.push(("general.alignment".into(), Value::U32(64)));
    vec![
        ("empty.gguf", gguf(&[], &[])),
        ("every_value_type.gguf", gguf(&types, &[])),
        (
            "every_tensor_type.gguf",
            gguf(
                &types[..3],
                &[
                    ("f32", &[3], GgmlType::F32),
                    ("f16", &[4, 2], GgmlType::F16),
                    ("bf16", &[2, 1, 2], GgmlType::BF16),
                    ("q8_0", &[32, 2], GgmlType::Q8_0),
                    ("q4_0", &[64], GgmlType::Q4_0),
                    ("q4_1", &[32, 1, 1, 2], GgmlType::Q4_1),
                    ("q8_1", &[32], GgmlType::Q8_1),
                ],
            ),
        ),
        (
            "alignment_64.gguf",
            gguf(
                &aligned,
                &[("a", &[5], GgmlType::F32), ("b", &[32], GgmlType::Q8_0)],
            ),
        ),
        ("llamacpp_like_q4_0.gguf", llamacpp_like("q4_0")),
        ("llamacpp_like_q8_0.gguf", llamacpp_like("q8_0")),
    ]
}

/// A safetensors image from (name, dtype, shape) and `__metadata__` JSON.
fn safetensors(tensors: &[(&str, &str, &[usize])], metadata: &str) -> Vec<u8> {
    let mut header = String::from("{");
    let mut data = Vec::new();
    for (name, dtype, shape) in tensors {
        let size = if *dtype == "F32" { 4 } else { 2 };
        let n = shape.iter().product::<usize>() * size;
        let begin = data.len();
        data.extend((0..n).map(|i| (i * 7 + 1) as u8));
        header.push_str(&format!(
            "\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape:?},\"data_offsets\":[{begin},{}]}},",
            data.len()
        ));
    }
    header.push_str(&format!("\"__metadata__\":{metadata}}}"));
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    out
}

fn safetensors_seeds() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty.safetensors", safetensors(&[], "{}")),
        (
            "dtypes_and_alias.safetensors",
            safetensors(
                &[
                    ("lm_head.weight", "F32", &[4, 3]),
                    ("norm", "F16", &[3]),
                    ("w", "BF16", &[2, 2, 2]),
                    ("scalar", "F32", &[]),
                ],
                r#"{"format":"pt","model.embed_tokens.weight":"lm_head.weight"}"#,
            ),
        ),
    ]
}

#[test]
#[ignore = "writes fuzz/seeds/; run by scripts/fuzz"]
fn write_fuzz_seeds() {
    for (target, seeds) in [
        ("gguf_reader", gguf_seeds()),
        ("safetensors_reader", safetensors_seeds()),
    ] {
        let dir = seeds_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

fn seed_files(target: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(seeds_dir(target))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn committed_seeds_are_current_and_parse() {
    let check = |target: &str, made: Vec<(&str, Vec<u8>)>, parse: &dyn Fn(&[u8], &Path) -> bool| {
        let files = seed_files(target);
        if files.is_empty() {
            return; // not written yet in this checkout
        }
        assert_eq!(
            files.len(),
            made.len(),
            "{target}: run the ignored write_fuzz_seeds"
        );
        for (name, bytes) in made {
            let path = seeds_dir(target).join(name);
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{}", path.display());
            assert!(parse(&bytes, &path), "{} does not parse", path.display());
        }
    };
    check("gguf_reader", gguf_seeds(), &|b, p| {
        GgufHeader::parse(b, p).is_ok()
    });
    check("safetensors_reader", safetensors_seeds(), &|b, p| {
        SafeTensors::from_bytes(b.to_vec(), p).is_ok()
    });
}
