//! Re-quantizing llama.cpp's own SmolLM2 Q4_1 GGUF to Q8_0: every metadata key kept (only
//! `general.file_type` changes), the same tensors, each 2-D weight now Q8_0 and equal to
//! quantizing the dequantized Q4_1 values (which lie on a 4-bit grid, so Q8_0 holds them to
//! within its own rounding).

mod common;

use edge_formats::gguf::{GgufFile, Value};
use edge_formats::GgmlType;
use edge_quantize::codec::{dequantize_row, quantize_row};

#[test]
fn smollm2_q4_1_to_q8_0_keeps_metadata_and_tensors() {
    let input = common::smollm2_llamacpp_gguf();
    let dir = common::tempdir();
    let out = dir.path().join("requantized.gguf");
    let opts = edge_quantize::Options {
        input: input.clone(),
        output: Some(out.clone()),
        file_type: edge_quantize::plan::FileType::Q8_0,
        pure: false,
        output_ty: Some(GgmlType::Q8_0),
        threads: None,
        verbose: false,
    };
    let written = edge_quantize::run(&opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(written, out);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("requantized.gguf")],
        "no temp file left"
    );

    let src = GgufFile::open(&input).unwrap();
    let ours = GgufFile::open(&out).unwrap();

    // Metadata: same keys, same values with the same types, but general.file_type = 7 (Q8_0).
    let src_meta = src.metadata().entries();
    let our_meta = ours.metadata().entries();
    assert_eq!(src_meta.len(), our_meta.len(), "key count");
    for (k, v) in src_meta {
        let o = ours
            .metadata()
            .get(k)
            .unwrap_or_else(|| panic!("key {k} dropped"));
        if k == "general.file_type" {
            assert_eq!(o, &Value::U32(7));
            assert_ne!(v, o, "the source is not Q8_0");
        } else {
            assert_eq!(o, v, "key {k}");
        }
    }

    // Tensors: same names and dims; 1-D stay F32 (bytes unchanged), 2-D are Q8_0 and equal
    // to quantize_row(Q8_0, dequantize_row(Q4_1, source)).
    assert_eq!(src.tensors().len(), ours.tensors().len());
    let mut checked_2d = 0;
    for t in src.tensors() {
        let o = ours
            .tensor(&t.name)
            .unwrap_or_else(|| panic!("tensor {} dropped", t.name));
        assert_eq!(o.dims, t.dims, "{}", t.name);
        let data = ours.tensor_data(o);
        if t.dims.0.len() == 1 {
            assert_eq!(o.ty, GgmlType::F32, "{}", t.name);
            assert_eq!(t.ty, GgmlType::F32, "{}", t.name);
            assert!(data == src.tensor_data(t), "{} bytes", t.name);
            continue;
        }
        assert_eq!(o.ty, GgmlType::Q8_0, "{}", t.name);
        // Check the first and last 4 rows of every matrix (all of them for the small ones).
        let row_len = t.dims.row_len() as usize;
        let n_rows = t.dims.n_rows() as usize;
        let src_row_bytes = t.ty.row_bytes(row_len as u64).unwrap() as usize;
        let our_row_bytes = GgmlType::Q8_0.row_bytes(row_len as u64).unwrap() as usize;
        let rows: Vec<usize> = if n_rows <= 8 {
            (0..n_rows).collect()
        } else {
            (0..4).chain(n_rows - 4..n_rows).collect()
        };
        let (mut x, mut y) = (vec![0f32; row_len], vec![0f32; row_len]);
        let mut q = vec![0u8; our_row_bytes];
        for r in rows {
            let s = &src.tensor_data(t)[r * src_row_bytes..(r + 1) * src_row_bytes];
            dequantize_row(t.ty, s, &mut x).unwrap();
            quantize_row(GgmlType::Q8_0, &x, &mut q).unwrap();
            let mine = &data[r * our_row_bytes..(r + 1) * our_row_bytes];
            assert!(mine == &q[..], "{} row {r}", t.name);
            // Readable: dequantizes close to the Q4_1 values (error <= half a Q8_0 step of
            // block max / 127, plus the f16 rounding of the scale).
            dequantize_row(GgmlType::Q8_0, mine, &mut y).unwrap();
            let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (a, b) in x.iter().zip(&y) {
                assert!(
                    (a - b).abs() <= max / 127.0 * 0.6 + 1e-6,
                    "{} row {r}",
                    t.name
                );
            }
        }
        checked_2d += 1;
    }
    assert_eq!(checked_2d, 30 * 7 + 1, "every matrix checked");
}
