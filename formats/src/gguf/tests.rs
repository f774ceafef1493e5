//! Reader and writer together: round trips (fixed and property-based), every truncation,
//! and hand-made corrupt headers whose errors must name the problem.
use super::*;
use crate::GgmlType;
use proptest::prelude::*;
use std::path::Path;

const PATH: &str = "test.gguf";

fn parse(bytes: &[u8]) -> crate::Result<GgufHeader> {
    GgufHeader::parse(bytes, Path::new(PATH))
}

fn parse_err(bytes: &[u8]) -> String {
    match parse(bytes) {
        Ok(h) => panic!("accepted: {h:?}"),
        Err(e) => e.to_string(),
    }
}

fn spec(name: &str, dims: &[u64], ty: GgmlType) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        dims: GgmlDims(dims.to_vec()),
        ty,
    }
}

/// Writes a file whose tensor data are `data[i]`.
fn write(metadata: &[(String, Value)], tensors: &[TensorSpec], data: &[Vec<u8>]) -> Vec<u8> {
    let mut w = GgufWriter::new(Vec::new(), metadata, tensors).unwrap();
    for d in data {
        for chunk in d.chunks(7) {
            w.write_data(chunk).unwrap();
        }
        w.end_tensor().unwrap();
    }
    w.finish().unwrap()
}

fn small_metadata() -> Vec<(String, Value)> {
    vec![
        ("general.architecture".into(), Value::from("llama")),
        ("a.u32".into(), Value::U32(7)),
        (
            "a.strs".into(),
            Value::array(ValueType::String, vec!["x".into(), "▁é".into()]),
        ),
    ]
}

/// A small valid file: two tensors, 3 metadata keys.
fn small_file() -> Vec<u8> {
    let tensors = [
        spec("norm", &[3], GgmlType::F32),
        spec("w", &[32, 2], GgmlType::Q4_0),
    ];
    write(
        &small_metadata(),
        &tensors,
        &[vec![1; 12], (0..36).collect()],
    )
}

#[test]
fn small_file_round_trips() {
    let bytes = small_file();
    let h = parse(&bytes).unwrap();
    assert_eq!(h.metadata.entries(), &small_metadata()[..]);
    assert_eq!(h.alignment, 32);
    assert_eq!(h.data_offset % 32, 0);
    assert_eq!(h.tensors.len(), 2);
    let w = &h.tensors[1];
    assert_eq!((w.offset, w.n_bytes, w.ty), (32, 36, GgmlType::Q4_0));
    assert_eq!(
        h.tensor_data(&bytes, w).unwrap(),
        (0..36).collect::<Vec<u8>>()
    );
    // Padding after the last tensor too, like gguf.cpp and gguf-py.
    assert_eq!(bytes.len() as u64, h.data_offset + 32 + 64);
    assert!(
        bytes[(h.data_offset + 12) as usize..(h.data_offset + 32) as usize]
            .iter()
            .all(|&b| b == 0)
    );
}

/// A file larger than one read chunk (8 MiB) with a ragged length: its tensors as three sizes
/// of pseudo-random bytes.
fn large_file() -> Vec<u8> {
    let tensors = [
        spec("big", &[2_400_000], GgmlType::F32),
        spec("w", &[32, 3], GgmlType::Q4_0),
        spec("norm", &[5], GgmlType::F32),
    ];
    let bytes = |n: usize, seed: usize| -> Vec<u8> {
        (0..n).map(|i| ((i * 131 + seed) % 251) as u8).collect()
    };
    write(
        &small_metadata(),
        &tensors,
        &[bytes(9_600_000, 1), bytes(54, 2), bytes(20, 3)],
    )
}

#[test]
fn a_resident_file_reads_the_same_bytes_as_a_mapped_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.gguf");
    let bytes = large_file();
    std::fs::write(&path, &bytes).unwrap();
    let mapped = GgufFile::open(&path).unwrap();
    let resident = GgufFile::open_as(&path, Storage::Resident).unwrap();
    assert_eq!(
        (mapped.storage(), mapped.is_mapped()),
        (Storage::Mapped, true)
    );
    assert_eq!(
        (resident.storage(), resident.is_mapped()),
        (Storage::Resident, false)
    );
    assert_eq!(resident.tensors(), mapped.tensors());
    assert_eq!(resident.metadata().entries(), mapped.metadata().entries());
    assert_eq!(resident.bytes(), &bytes[..]);
    assert_eq!(mapped.bytes(), &bytes[..]);
    for info in resident.tensors() {
        let data = resident.tensor_data(info);
        assert_eq!(data, mapped.tensor_data(info), "tensor {}", info.name);
        assert_eq!(data.len() as u64, info.n_bytes);
        assert_eq!(data.as_ptr() as usize % 32, 0, "tensor {}", info.name);
    }
    assert_eq!(resident.bytes().as_ptr() as usize % 4096, 0);
    // A copy: rewriting the file afterwards changes what the mapping shows, not the copy.
    std::fs::write(&path, vec![0u8; bytes.len()]).unwrap();
    assert_eq!(resident.bytes(), &bytes[..]);
    assert!(mapped.bytes().iter().all(|&b| b == 0));
}

#[test]
fn a_bad_file_gives_the_same_error_mapped_and_resident() {
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.gguf");
    let bytes = small_file();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let empty = dir.path().join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    for path in [&truncated, &empty, &dir.path().to_path_buf()] {
        let error = |storage| GgufFile::open_as(path, storage).unwrap_err().to_string();
        let mapped = error(Storage::Mapped);
        assert_eq!(error(Storage::Resident), mapped);
        assert!(mapped.contains(&*path.to_string_lossy()), "{mapped}");
        assert!(!mapped.contains('\n'), "{mapped}");
    }
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = small_file();
    let h = parse(&bytes).unwrap();
    let data_end = h
        .tensors
        .iter()
        .map(|t| h.data_offset + t.offset + t.n_bytes)
        .max()
        .unwrap();
    for n in 0..data_end as usize {
        assert!(parse(&bytes[..n]).is_err(), "prefix of {n} bytes accepted");
    }
    // Only the zero padding after the last tensor may go (llama.cpp does not need it either).
    for n in data_end as usize..bytes.len() {
        assert!(parse(&bytes[..n]).is_ok(), "prefix of {n} bytes rejected");
    }
}

#[test]
fn every_single_byte_corruption_is_handled() {
    // Not all are errors (a data byte is just data), but none may panic.
    let bytes = small_file();
    for i in 0..bytes.len() {
        for v in [0u8, 1, 0x7f, 0xff] {
            let mut b = bytes.clone();
            b[i] = v;
            let _ = parse(&b);
        }
    }
}

#[test]
fn custom_alignment_is_honoured() {
    let mut meta = small_metadata();
    meta.push((ALIGNMENT_KEY.into(), Value::U32(64)));
    let tensors = [
        spec("a", &[5], GgmlType::F32),
        spec("b", &[2], GgmlType::F16),
    ];
    let bytes = write(&meta, &tensors, &[vec![9; 20], vec![8; 4]]);
    let h = parse(&bytes).unwrap();
    assert_eq!(h.alignment, 64);
    assert_eq!(h.data_offset % 64, 0);
    assert_eq!(h.tensors[1].offset, 64);
    assert_eq!(bytes.len() as u64, h.data_offset + 128);
}

/// Hand-made headers.
struct Builder(Vec<u8>);

impl Builder {
    fn new(version: u32, n_tensors: u64, n_kv: u64) -> Self {
        let mut b = Vec::new();
        b.extend_from_slice(b"GGUF");
        b.extend_from_slice(&version.to_le_bytes());
        b.extend_from_slice(&n_tensors.to_le_bytes());
        b.extend_from_slice(&n_kv.to_le_bytes());
        Builder(b)
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn str(mut self, s: &[u8]) -> Self {
        self.0.extend_from_slice(&(s.len() as u64).to_le_bytes());
        self.0.extend_from_slice(s);
        self
    }
    fn kv_u32(self, key: &str, v: u32) -> Self {
        self.str(key.as_bytes()).u32(ValueType::U32.id()).u32(v)
    }
    fn info(self, name: &str, dims: &[u64], ty: u32, offset: u64) -> Self {
        let mut b = self.str(name.as_bytes()).u32(dims.len() as u32);
        for &d in dims {
            b = b.u64(d);
        }
        b.u32(ty).u64(offset)
    }
    /// Pads to 32 and appends `n` data bytes.
    fn data(mut self, n: usize) -> Vec<u8> {
        while !self.0.len().is_multiple_of(32) {
            self.0.push(0);
        }
        self.0.resize(self.0.len() + n, 0);
        self.0
    }
}

fn assert_names(e: &str, parts: &[&str]) {
    for p in parts {
        assert!(e.contains(p), "`{e}` does not mention `{p}`");
    }
    assert!(e.contains(PATH), "`{e}` does not name the file");
}

#[test]
fn version_2_and_big_endian_are_clear_errors() {
    let e = parse_err(&Builder::new(2, 0, 0).data(0));
    assert_names(&e, &["version 2", "only version 3"]);
    let e = parse_err(&Builder::new(3u32.swap_bytes(), 0, 0).data(0));
    assert_names(&e, &["big-endian"]);
    let e = parse_err(b"GGML\x03\0\0\0");
    assert_names(&e, &["not a GGUF file"]);
}

#[test]
fn huge_counts_error_before_allocating() {
    let e = parse_err(&Builder::new(3, 0, 1 << 60).data(64));
    assert_names(&e, &["metadata count", "cannot fit"]);
    let e = parse_err(&Builder::new(3, u64::MAX, 0).data(64));
    assert_names(&e, &["tensor count", "cannot fit"]);
    // An array claiming 2^60 elements.
    let b = Builder::new(3, 0, 1)
        .str(b"tokenizer.ggml.tokens")
        .u32(ValueType::Array.id())
        .u32(ValueType::String.id())
        .u64(1 << 60)
        .data(64);
    let e = parse_err(&b);
    assert_names(
        &e,
        &[
            "tokenizer.ggml.tokens",
            "1152921504606846976",
            "byte offset 57",
        ],
    );
    // Nested arrays claiming many empty arrays each.
    let b = Builder::new(3, 0, 1)
        .str(b"k")
        .u32(ValueType::Array.id())
        .u32(ValueType::Array.id())
        .u64(u64::MAX / 2)
        .data(64);
    assert_names(&parse_err(&b), &["`k`", "cannot fit"]);
}

#[test]
fn bad_string_length_names_the_key() {
    let b = Builder::new(3, 0, 1)
        .str(b"general.name")
        .u32(ValueType::String.id())
        .u64(1 << 40)
        .data(8);
    assert_names(
        &parse_err(&b),
        &["general.name", "claims 1099511627776 bytes"],
    );
    let b = Builder::new(3, 0, 1).u64(u64::MAX).data(8);
    assert_names(&parse_err(&b), &["metadata entry 0", "key"]);
}

#[test]
fn invalid_utf8_is_an_error_naming_the_key() {
    let b = Builder::new(3, 0, 1)
        .str(b"bad\xffkey")
        .u32(ValueType::U8.id())
        .data(1);
    assert_names(
        &parse_err(&b),
        &["metadata entry 0", "not valid UTF-8", "byte offset 24"],
    );
    let b = Builder::new(3, 0, 1)
        .str(b"general.name")
        .u32(ValueType::String.id())
        .str(b"ok\xc3")
        .data(0);
    assert_names(&parse_err(&b), &["general.name", "not valid UTF-8"]);
}

#[test]
fn bad_alignment_is_an_error() {
    for a in [0u32, 3, 48] {
        let b = Builder::new(3, 0, 1).kv_u32(ALIGNMENT_KEY, a).data(0);
        assert_names(&parse_err(&b), &[ALIGNMENT_KEY, "power of two"]);
    }
    let b = Builder::new(3, 0, 1)
        .str(ALIGNMENT_KEY.as_bytes())
        .u32(ValueType::String.id())
        .str(b"32")
        .data(0);
    assert_names(&parse_err(&b), &[ALIGNMENT_KEY, "string"]);
}

#[test]
fn tensor_data_must_lie_inside_the_file_and_be_aligned() {
    let b = Builder::new(3, 1, 0).info("w", &[8], 0, 0).data(31);
    assert_names(
        &parse_err(&b),
        &["tensor `w`", "32 bytes", "outside the file"],
    );
    let b = Builder::new(3, 1, 0)
        .info("w", &[8], 0, u64::MAX - 31)
        .data(32);
    assert_names(&parse_err(&b), &["tensor `w`", "outside the file"]);
    let b = Builder::new(3, 1, 0).info("w", &[1], 0, 4).data(64);
    assert_names(&parse_err(&b), &["tensor `w`", "offset 4", "alignment 32"]);
    let b = Builder::new(3, 1, 0).info("w", &[1], 0, 0).data(4);
    assert!(parse(&b).is_ok());
}

#[test]
fn bad_tensor_infos_are_named() {
    let b = Builder::new(3, 1, 0).info("w", &[8], 16, 0).data(64);
    assert_names(&parse_err(&b), &["tensor `w`", "ggml type id 16"]);
    let b = Builder::new(3, 1, 0).info("w", &[33], 2, 0).data(64);
    assert_names(
        &parse_err(&b),
        &["tensor `w`", "row length 33", "block size 32"],
    );
    let b = Builder::new(3, 1, 0)
        .info("w", &[1, 1, 1, 1, 1], 0, 0)
        .data(64);
    assert_names(&parse_err(&b), &["tensor `w`", "5 dims"]);
    let b = Builder::new(3, 1, 0)
        .info("w", &[1 << 40, 1 << 40], 0, 0)
        .data(64);
    assert_names(&parse_err(&b), &["tensor `w`", "overflow"]);
    let b = Builder::new(3, 2, 0)
        .info("w", &[1], 0, 0)
        .info("w", &[1], 0, 32)
        .data(64);
    assert_names(&parse_err(&b), &["duplicate tensor name `w`"]);
}

#[test]
fn duplicate_keys_and_deep_nesting_are_errors() {
    let b = Builder::new(3, 0, 2).kv_u32("k", 1).kv_u32("k", 2).data(0);
    assert_names(&parse_err(&b), &["duplicate metadata key `k`"]);
    let mut b = Builder::new(3, 0, 1)
        .str(b"deep")
        .u32(ValueType::Array.id());
    for _ in 0..100 {
        b = b.u32(ValueType::Array.id()).u64(1);
    }
    assert_names(&parse_err(&b.data(0)), &["`deep`", "nested deeper"]);
}

#[test]
fn writer_checks_sizes_and_specs() {
    let meta = small_metadata();
    let tensors = [spec("a", &[4], GgmlType::F32)];
    let mut w = GgufWriter::new(Vec::new(), &meta, &tensors).unwrap();
    assert!(w
        .write_data(&[0; 17])
        .unwrap_err()
        .to_string()
        .contains("`a`"));
    w.write_data(&[0; 15]).unwrap();
    let e = w.end_tensor().unwrap_err().to_string();
    assert!(e.contains("`a`") && e.contains("15 bytes"), "{e}");
    w.write_data(&[0]).unwrap();
    w.end_tensor().unwrap();
    assert!(w.write_data(&[0]).is_err());
    assert!(w.end_tensor().is_err());
    w.finish().unwrap();

    let w = GgufWriter::new(Vec::new(), &meta, &tensors).unwrap();
    assert!(w.finish().unwrap_err().to_string().contains("`a`"));
    let bad = [spec("q", &[33], GgmlType::Q8_0)];
    let e = GgufWriter::new(Vec::new(), &meta, &bad)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("`q`") && e.contains("row length 33"), "{e}");
    let dup = [
        spec("a", &[1], GgmlType::F32),
        spec("a", &[1], GgmlType::F32),
    ];
    assert!(GgufWriter::new(Vec::new(), &meta, &dup).is_err());
    let mixed = vec![(
        "m".to_string(),
        Value::array(ValueType::U8, vec![Value::U8(1), Value::I8(1)]),
    )];
    let e = GgufWriter::new(Vec::new(), &mixed, &[])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("`m`") && e.contains("element 1"), "{e}");
    let align = vec![(ALIGNMENT_KEY.to_string(), Value::U64(32))];
    assert!(GgufWriter::new(Vec::new(), &align, &[]).is_err());
}

fn arb_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u8>().prop_map(Value::U8),
        any::<i8>().prop_map(Value::I8),
        any::<u16>().prop_map(Value::U16),
        any::<i16>().prop_map(Value::I16),
        any::<u32>().prop_map(Value::U32),
        any::<i32>().prop_map(Value::I32),
        // Bit patterns, NaNs included: compared by bits below.
        any::<u32>().prop_map(|b| Value::F32(f32::from_bits(b))),
        any::<bool>().prop_map(Value::Bool),
        ".{0,12}".prop_map(Value::String),
        any::<u64>().prop_map(Value::U64),
        any::<i64>().prop_map(Value::I64),
        any::<u64>().prop_map(|b| Value::F64(f64::from_bits(b))),
    ]
}

/// A homogeneous array of `depth` levels (0 = scalars).
fn arb_value() -> impl Strategy<Value = Value> {
    arb_scalar().prop_recursive(3, 64, 8, |inner| {
        (inner, 0usize..6).prop_flat_map(|(template, n)| {
            let ty = template.type_of();
            // Elements of the template's type (arrays: of its element type).
            let elem = same_type_as(template);
            proptest::collection::vec(elem, n..=n).prop_map(move |items| Value::array(ty, items))
        })
    })
}

/// A strategy producing values of the same GGUF type (for arrays: same nesting) as `v`.
fn same_type_as(v: Value) -> BoxedStrategy<Value> {
    match v {
        Value::U8(_) => any::<u8>().prop_map(Value::U8).boxed(),
        Value::I8(_) => any::<i8>().prop_map(Value::I8).boxed(),
        Value::U16(_) => any::<u16>().prop_map(Value::U16).boxed(),
        Value::I16(_) => any::<i16>().prop_map(Value::I16).boxed(),
        Value::U32(_) => any::<u32>().prop_map(Value::U32).boxed(),
        Value::I32(_) => any::<i32>().prop_map(Value::I32).boxed(),
        Value::F32(_) => any::<u32>()
            .prop_map(|b| Value::F32(f32::from_bits(b)))
            .boxed(),
        Value::Bool(_) => any::<bool>().prop_map(Value::Bool).boxed(),
        Value::String(_) => ".{0,12}".prop_map(Value::String).boxed(),
        Value::U64(_) => any::<u64>().prop_map(Value::U64).boxed(),
        Value::I64(_) => any::<i64>().prop_map(Value::I64).boxed(),
        Value::F64(_) => any::<u64>()
            .prop_map(|b| Value::F64(f64::from_bits(b)))
            .boxed(),
        Value::Array(items) => {
            let ty = items.elem_type();
            let elem = match items.iter().next() {
                Some(first) => same_type_as(first),
                None => same_type_as(zero_of(ty)),
            };
            proptest::collection::vec(elem, 0..4)
                .prop_map(move |v| Value::array(ty, v))
                .boxed()
        }
    }
}

/// Some value of a type (an array type: an empty array of u8).
fn zero_of(ty: ValueType) -> Value {
    match ty {
        ValueType::U8 => Value::U8(0),
        ValueType::I8 => Value::I8(0),
        ValueType::U16 => Value::U16(0),
        ValueType::I16 => Value::I16(0),
        ValueType::U32 => Value::U32(0),
        ValueType::I32 => Value::I32(0),
        ValueType::F32 => Value::F32(0.0),
        ValueType::Bool => Value::Bool(false),
        ValueType::String => Value::String(String::new()),
        ValueType::Array => Value::array(ValueType::U8, Vec::new()),
        ValueType::U64 => Value::U64(0),
        ValueType::I64 => Value::I64(0),
        ValueType::F64 => Value::F64(0.0),
    }
}

/// Equality with floats compared by bits (NaN round-trips).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F32(x), Value::F32(y)) => x.to_bits() == y.to_bits(),
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(xs), Value::Array(ys)) => {
            xs.elem_type() == ys.elem_type()
                && xs.len() == ys.len()
                && xs.iter().zip(ys.iter()).all(|(x, y)| same(&x, &y))
        }
        _ => a == b,
    }
}

fn arb_tensor() -> impl Strategy<Value = (TensorSpec, Vec<u8>)> {
    let ty = prop_oneof![
        Just(GgmlType::F32),
        Just(GgmlType::F16),
        Just(GgmlType::Q8_0),
        Just(GgmlType::Q4_0),
        Just(GgmlType::Q4_1),
    ];
    (
        ty,
        1u64..4,
        proptest::collection::vec(1u64..4, 0..3),
        "[a-z.]{1,8}",
    )
        .prop_flat_map(|(ty, row_blocks, outer, name)| {
            let mut dims = vec![row_blocks * ty.block_size() as u64];
            dims.extend(outer);
            let spec = TensorSpec {
                name,
                dims: GgmlDims(dims),
                ty,
            };
            let n = spec.n_bytes().unwrap_or(0) as usize;
            proptest::collection::vec(any::<u8>(), n..=n).prop_map(move |d| (spec.clone(), d))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn write_then_read(
        meta in proptest::collection::btree_map("\\PC{1,16}", arb_value(), 0..8),
        tensors in proptest::collection::vec(arb_tensor(), 0..5),
    ) {
        let meta: Vec<(String, Value)> = meta.into_iter().collect();
        let mut seen = std::collections::HashSet::new();
        let tensors: Vec<_> = tensors.into_iter().filter(|(s, _)| seen.insert(s.name.clone())).collect();
        let specs: Vec<TensorSpec> = tensors.iter().map(|(s, _)| s.clone()).collect();
        let data: Vec<Vec<u8>> = tensors.iter().map(|(_, d)| d.clone()).collect();
        let bytes = write(&meta, &specs, &data);
        let h = parse(&bytes).unwrap();
        prop_assert_eq!(h.metadata.len(), meta.len());
        for ((k, v), (k2, v2)) in meta.iter().zip(h.metadata.entries()) {
            prop_assert_eq!(k, k2);
            prop_assert!(same(v, v2), "{}: {:?} vs {:?}", k, v, v2);
        }
        prop_assert_eq!(h.tensors.len(), specs.len());
        for ((t, s), d) in h.tensors.iter().zip(&specs).zip(&data) {
            prop_assert_eq!(&t.name, &s.name);
            prop_assert_eq!(&t.dims, &s.dims);
            prop_assert_eq!(t.ty, s.ty);
            prop_assert_eq!(t.offset % 32, 0);
            prop_assert_eq!(h.tensor_data(&bytes, t).unwrap(), &d[..]);
        }
    }
}

/// Arrays parse into typed vectors: about their size on disk in memory (issue 13, item 4: a
/// byte array took 33 times its size as a Vec of Values).
#[test]
fn arrays_are_stored_compactly() {
    let n = 10_000usize;
    let tokens: Vec<Value> = (0..n).map(|i| Value::from(format!("t{i}"))).collect();
    let text_bytes: usize = (0..n).map(|i| format!("t{i}").len()).sum();
    let meta = vec![
        (
            "a.u8".to_string(),
            Value::array(ValueType::U8, vec![Value::U8(7); n]),
        ),
        (
            "a.f32".to_string(),
            Value::array(ValueType::F32, vec![Value::F32(0.5); n]),
        ),
        (
            "a.bool".to_string(),
            Value::array(ValueType::Bool, vec![Value::Bool(true); n]),
        ),
        (
            "a.str".to_string(),
            Value::array(ValueType::String, tokens.clone()),
        ),
    ];
    let h = parse(&write(&meta, &[], &[])).unwrap();
    let heap = |key: &str| h.metadata.get_array(key).unwrap().heap_bytes();
    assert_eq!(heap("a.u8"), n);
    assert_eq!(heap("a.f32"), 4 * n);
    assert_eq!(heap("a.bool"), n);
    // The text (its buffer may have grown to twice its length) and one end offset each.
    let strs = heap("a.str");
    assert!(strs <= 2 * text_bytes + 8 * n, "{strs} bytes");
    // And they read back as they were written.
    assert_eq!(h.metadata.get_array("a.str").unwrap().to_values(), tokens);
    assert_eq!(h.metadata.get_f32_array("a.f32").unwrap(), vec![0.5; n]);
}
