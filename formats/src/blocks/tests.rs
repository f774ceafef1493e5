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

#[test]
fn q5_formulas() {
    // Element 0: low nibble 15 | bit 0 of qh -> 31; element 1: 15; element 16: 0 | bit 16
    // -> 16; element 17: 0.
    let qh = (1u32 | (1 << 16)).to_le_bytes();
    let b = BlockQ5_0 {
        d: f16::from_f32(0.5),
        qh,
        qs: [0x0f; 16],
    };
    let mut y = [0.0f32; QK];
    dequantize_q5_0(&[b], &mut y);
    assert_eq!((y[0], y[1], y[16], y[17]), (7.5, -0.5, 0.0, -8.0));
    let b = BlockQ5_1 {
        d: f16::from_f32(0.5),
        m: f16::from_f32(-1.0),
        qh,
        qs: [0x0f; 16],
    };
    dequantize_q5_1(&[b], &mut y);
    assert_eq!((y[0], y[1], y[16], y[17]), (14.5, 6.5, 7.0, -1.0));
}

#[test]
fn q2_k_and_q3_k_formulas() {
    // Every byte 0b11_10_01_00: element l of quarter k (of each half) is k.
    let b = BlockQ2_K {
        scales: [0x21; 16], // scale 1, min 2
        qs: [0b1110_0100; 64],
        d: f16::from_f32(1.0),
        dmin: f16::from_f32(0.5),
    };
    let mut y = [0.0f32; QK_K];
    dequantize_q2_k(&[b], &mut y);
    // x = 1 * q - 0.5 * 2
    assert_eq!(
        (y[0], y[32], y[64], y[96], y[200]),
        (-1.0, 0.0, 1.0, 2.0, 1.0)
    );
    let b = BlockQ3_K {
        hmask: std::array::from_fn(|i| if i == 0 { 1 } else { 0 }),
        qs: [0b1110_0100; 64],
        scales: q3_k::pack_q3_scales(&[34; 16]), // sc - 32 = 2
        d: f16::from_f32(0.5),
    };
    dequantize_q3_k(&[b], &mut y);
    // Element 0 has its high bit (q = 0); the others lose 4: x = 0.5 * 2 * (q - 4).
    assert_eq!((y[0], y[1], y[32], y[96]), (0.0, -4.0, -3.0, -1.0));
}

#[test]
fn q4_k_q5_k_q6_k_q8_k_formulas() {
    let sc: [u8; 8] = std::array::from_fn(|j| j as u8 + 1);
    let mins: [u8; 8] = std::array::from_fn(|j| j as u8);
    let b = BlockQ4_K {
        d: f16::from_f32(1.0),
        dmin: f16::from_f32(0.5),
        scales: q4_k::pack_scale_min_k4(&sc, &mins),
        qs: [0x73; 128], // low nibble 3, high nibble 7
    };
    let mut y = [0.0f32; QK_K];
    dequantize_q4_k(&[b], &mut y);
    // Sub-block j (32 values): (j + 1) * q - 0.5 * j; even sub-blocks read low nibbles.
    assert_eq!((y[0], y[40], y[255]), (3.0, 13.5, 52.5));
    let b = BlockQ5_K {
        d: f16::from_f32(1.0),
        dmin: f16::from_f32(0.5),
        scales: q4_k::pack_scale_min_k4(&sc, &mins),
        qh: [0x01; 32], // bit 4 of elements 0..32
        qs: [0x73; 128],
    };
    dequantize_q5_k(&[b], &mut y);
    assert_eq!((y[0], y[40], y[255]), (19.0, 13.5, 52.5));
    let q: [u8; QK_K] = std::array::from_fn(|e| (e % 64) as u8);
    let (ql, qh) = q6_k::pack_q6_k(&q);
    let b = BlockQ6_K {
        ql,
        qh,
        scales: std::array::from_fn(|j| j as i8 - 8),
        d: f16::from_f32(0.5),
    };
    dequantize_q6_k(&[b], &mut y);
    // x = 0.5 * (e / 16 - 8) * (e % 64 - 32)
    for (e, &v) in y.iter().enumerate() {
        let want = 0.5 * ((e / 16) as f32 - 8.0) * ((e % 64) as f32 - 32.0);
        assert_eq!(v, want, "element {e}");
    }
    let b = BlockQ8_K {
        d: 0.25,
        qs: std::array::from_fn(|e| (e % 256) as u8 as i8),
        bsums: [0; 16],
    };
    dequantize_q8_k(&[b], &mut y);
    assert_eq!((y[1], y[200]), (0.25, -14.0));
    // A shorter output gets a prefix.
    let mut short = [0.0f32; 3];
    dequantize_q8_k(&[b], &mut short);
    assert_eq!(short, [0.0, 0.25, 0.5]);
}

#[test]
fn k_layouts_round_trip() {
    let q: [u8; QK_K] = std::array::from_fn(|e| (e * 37 % 251) as u8);
    let q2 = q.map(|v| v & 3);
    assert_eq!(q2_k::unpack_2bit(&q2_k::pack_2bit(&q2)), q2);
    let q4 = q.map(|v| v & 15);
    assert_eq!(q4_k::unpack_4bit_k(&q4_k::pack_4bit_k(&q4)), q4);
    let q6 = q.map(|v| v & 63);
    let (ql, qh) = q6_k::pack_q6_k(&q6);
    assert_eq!(q6_k::unpack_q6_k(&ql, &qh), q6);
    let q3 = q.map(|v| v & 7);
    let (hmask, qs) = q3_k::pack_q3(&q3);
    let low = q2_k::unpack_2bit(&qs);
    for e in 0..QK_K {
        assert_eq!(low[e] | (((hmask[e % 32] >> (e / 32)) & 1) << 2), q3[e]);
    }
    let six: [u8; 16] = std::array::from_fn(|j| (j * 29 % 64) as u8);
    assert_eq!(q3_k::unpack_q3_scales(&q3_k::pack_q3_scales(&six)), six);
    let (sc, mins): ([u8; 8], [u8; 8]) = (
        std::array::from_fn(|j| (j * 23 % 64) as u8),
        std::array::from_fn(|j| (63 - j * 11 % 64) as u8),
    );
    let packed = q4_k::pack_scale_min_k4(&sc, &mins);
    for j in 0..8 {
        assert_eq!(q4_k::scale_min_k4(j, &packed), (sc[j], mins[j]));
    }
    let q5: [u8; QK] = std::array::from_fn(|j| (j * 7 % 32) as u8);
    let (qh, qs) = q5_0::pack_q5(&q5);
    assert_eq!(q5_0::unpack_q5(qh, &qs), q5);
}
