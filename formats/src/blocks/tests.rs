use super::*;

#[test]
fn ids_round_trip() {
    for t in GgmlType::ALL {
        assert_eq!(GgmlType::from_id(t.id()), Some(t));
        assert_eq!(GgmlType::parse(&t.name().to_lowercase()), Some(t));
    }
    assert_eq!(GgmlType::from_id(16), None); // IQ2_XXS: not ours
    assert_eq!(GgmlType::from_id(12), Some(GgmlType::Q4_K));
}

#[test]
fn row_bytes_checks_blocks() {
    assert_eq!(GgmlType::Q4_0.row_bytes(64), Some(36));
    assert_eq!(GgmlType::Q4_0.row_bytes(65), None);
    assert_eq!(GgmlType::F16.row_bytes(3), Some(6));
}

#[test]
fn the_table_holds_ggml_facts() {
    let facts: Vec<_> = TYPES
        .iter()
        .map(|r| (r.ty.id(), r.name, r.block_size, r.block_bytes, r.file_type))
        .collect();
    assert_eq!(
        facts,
        [
            (0, "F32", 1, 4, Some(0)),
            (1, "F16", 1, 2, Some(1)),
            (30, "BF16", 1, 2, Some(32)),
            (8, "Q8_0", 32, 34, Some(7)),
            (2, "Q4_0", 32, 18, Some(2)),
            (3, "Q4_1", 32, 20, Some(3)),
            (9, "Q8_1", 32, 36, None),
            (6, "Q5_0", 32, 22, Some(8)),
            (7, "Q5_1", 32, 24, Some(9)),
            (10, "Q2_K", 256, 84, Some(10)),
            (11, "Q3_K", 256, 110, Some(12)),
            (12, "Q4_K", 256, 144, Some(15)),
            (13, "Q5_K", 256, 176, Some(17)),
            (14, "Q6_K", 256, 210, Some(18)),
            (15, "Q8_K", 256, 292, None),
        ]
    );
    assert!(!GgmlType::WEIGHT_TYPES.contains(&GgmlType::Q8_1));
    assert!(!GgmlType::WEIGHT_TYPES.contains(&GgmlType::Q8_K));
    for row in &TYPES {
        assert_eq!(row.ty.info(), row);
    }
}

#[test]
fn dequantize_formulas() {
    let b = BlockQ4_0 {
        d: f16::from_f32(0.5),
        qs: [0x0f; 16],
    };
    let mut y = [0.0f32; QK];
    dequantize_q4_0(&[b], &mut y);
    assert!(y[..16].iter().all(|&v| v == 3.5)); // (15 - 8) * 0.5
    assert!(y[16..].iter().all(|&v| v == -4.0)); // (0 - 8) * 0.5
    let b = BlockQ8_0 {
        d: f16::from_f32(0.25),
        qs: std::array::from_fn(|j| j as i8 - 16),
    };
    dequantize_q8_0(&[b], &mut y);
    assert_eq!(y[0], -4.0);
    assert_eq!(y[31], 3.75);
}

#[test]
fn q4_1_and_q8_1_formulas() {
    let b = BlockQ4_1 {
        d: f16::from_f32(0.5),
        m: f16::from_f32(-1.0),
        qs: [0x3f; 16],
    };
    let mut y = [0.0f32; QK];
    dequantize_q4_1(&[b], &mut y);
    assert!(y[..16].iter().all(|&v| v == 6.5)); // 15 * 0.5 - 1
    assert!(y[16..].iter().all(|&v| v == 0.5)); // 3 * 0.5 - 1
    let b = BlockQ8_1 {
        d: f16::from_f32(2.0),
        s: f16::from_f32(1.0e4),
        qs: std::array::from_fn(|j| j as i8 - 16),
    };
    dequantize_q8_1(&[b], &mut y);
    assert_eq!((y[0], y[31]), (-32.0, 30.0));
}

#[test]
fn slices_and_bytes_decode_alike() {
    let blocks: Vec<BlockQ4_1> = (0..3u8)
        .map(|i| BlockQ4_1 {
            d: f16::from_f32(0.25 * f32::from(i + 1)),
            m: f16::from_f32(-0.5),
            qs: std::array::from_fn(|j| (j as u8).wrapping_mul(37).wrapping_add(i)),
        })
        .collect();
    let mut typed = vec![0.0f32; 3 * QK];
    dequantize_q4_1(&blocks, &mut typed);
    let mut from_bytes = vec![0.0f32; 3 * QK];
    // Unaligned on purpose: the bytes of a GGUF tensor need not be aligned for the block.
    let mut bytes = vec![0u8];
    bytes.extend_from_slice(bytemuck::cast_slice(&blocks));
    dequantize_row(GgmlType::Q4_1, &bytes[1..], &mut from_bytes).unwrap();
    assert_eq!(typed, from_bytes);
    // A shorter destination takes a prefix.
    let mut prefix = [0.0f32; 40];
    dequantize_q4_1(&blocks, &mut prefix);
    assert_eq!(prefix[..], typed[..40]);
}

#[test]
fn floats_widen_exactly() {
    let h = [
        f16::from_f32(1.5),
        f16::from_bits(0x0001),
        f16::NEG_INFINITY,
    ];
    let mut y = [0.0f32; 3];
    dequantize_f16(&h, &mut y);
    assert_eq!(y, [1.5, 2.0f32.powi(-24), f32::NEG_INFINITY]);
    let b = [bf16::from_bits(0x3f80), bf16::from_bits(0xc020)];
    dequantize_bf16(&b, &mut y[..2]);
    assert_eq!(y[..2], [1.0, -2.5]);
    assert_eq!(bf16_bits_to_f32(0x7f80), f32::INFINITY);
    assert_eq!(f16_bits_to_f32(0x3c00), 1.0);
}

#[test]
fn row_errors_name_type_and_sizes() {
    let mut y = [0.0f32; 32];
    assert_eq!(
        dequantize_row(GgmlType::Q8_0, &[0; 33], &mut y),
        Err(RowError::BufferSize {
            ty: GgmlType::Q8_0,
            n_elements: 32,
            expected: 34,
            actual: 33
        })
    );
    assert_eq!(
        dequantize_row(GgmlType::Q4_0, &[0; 18], &mut y[..31])
            .unwrap_err()
            .to_string(),
        "Q4_0: 31 elements is not a multiple of the block size 32"
    );
}
