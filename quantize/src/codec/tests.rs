//! Edge cases of the block codecs: the values ggml's `*_ref` quantizers give, worked out by
//! hand from their arithmetic (see each test), and the byte-level entry points.

use super::*;
use edge_formats::blocks::nibbles::unpack_q4;
use edge_formats::blocks::{dequantize_q4_0, dequantize_q4_1, dequantize_q8_0};
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, GgmlType, QK};
use half::f16;

fn q8_0(x: &[f32; QK]) -> BlockQ8_0 {
    let mut b = [BlockQ8_0::default()];
    quantize_q8_0(x, &mut b);
    b[0]
}
fn q8_1(x: &[f32; QK]) -> BlockQ8_1 {
    let mut b = [BlockQ8_1::default()];
    quantize_q8_1(x, &mut b);
    b[0]
}
fn q4_0(x: &[f32; QK]) -> BlockQ4_0 {
    let mut b = [BlockQ4_0::default()];
    quantize_q4_0(x, &mut b);
    b[0]
}
fn q4_1(x: &[f32; QK]) -> BlockQ4_1 {
    let mut b = [BlockQ4_1::default()];
    quantize_q4_1(x, &mut b);
    b[0]
}
/// Nibble `j` (0..32) of a Q4 block.
fn nibble(qs: &[u8; 16], j: usize) -> u8 {
    unpack_q4(qs)[j]
}

#[test]
fn all_zero_blocks() {
    let zero = [0.0f32; QK];
    // Q8_0: d = 0 / 127 = +0, id = 0, q = round(0) = 0.
    assert_eq!(q8_0(&zero), BlockQ8_0::default());
    // Q4_0: max stays +0, d = +0 / -8 = -0.0 (f16 0x8000), id = 0, q = trunc(8.5) = 8.
    let b = q4_0(&zero);
    assert_eq!(b.d.to_bits(), 0x8000);
    assert_eq!(b.qs, [0x88; 16]);
    // Q4_1: min = max = 0, d = 0, q = trunc(0.5) = 0.
    assert_eq!(q4_1(&zero), BlockQ4_1::default());
    let b = q8_1(&zero);
    assert_eq!((b.d.to_bits(), b.s.to_bits(), b.qs), (0, 0, [0; QK]));
}

#[test]
fn negative_zero_blocks() {
    let nz = [-0.0f32; QK];
    // Q8_0: amax = fabs(-0) = +0 -> all bytes zero (q = round(-0 * 0) = -0 -> 0).
    assert_eq!(q8_0(&nz), BlockQ8_0::default());
    // Q4_0: |-0| is not > 0, so max stays +0: same as an all-zero block.
    assert_eq!(q4_0(&nz), q4_0(&[0.0; QK]));
    // Q4_1: min = max = -0 (the first comparisons against +-f32::MAX take it),
    // d = (-0 - -0) / 15 = +0, but m = -0 is stored: f16 0x8000.
    let b = q4_1(&nz);
    assert_eq!((b.d.to_bits(), b.m.to_bits(), b.qs), (0, 0x8000, [0; 16]));
}

#[test]
fn one_huge_value() {
    let mut x = [1.0f32; QK];
    x[5] = 1.0e6;
    // Q8_0: d = 1e6/127 ~ 7874 (finite in f16); the others give round(1/7874) = 0.
    let b = q8_0(&x);
    assert_eq!(b.d, f16::from_f32(1.0e6 / 127.0));
    assert_eq!(b.qs[5], 127);
    assert!(b.qs.iter().enumerate().all(|(j, &q)| j == 5 || q == 0));
    // Beyond f16 range the stored d overflows to +inf, as ggml's does.
    x[5] = 1.0e30;
    assert_eq!(q8_0(&x).d.to_bits(), 0x7c00);
    // Q4_0: max = 1e30, d = -1.25e29 -> f16 -inf; the huge value maps to q = 0 and the ones
    // to trunc(1 * id + 8.5) = 8.
    let b = q4_0(&x);
    assert_eq!(b.d.to_bits(), 0xfc00);
    assert_eq!(nibble(&b.qs, 5), 0);
    assert!((0..QK).all(|j| j == 5 || nibble(&b.qs, j) == 8));
}

#[test]
fn negative_max() {
    let mut x = [0.5f32; QK];
    x[3] = -4.0;
    // Q8_0: amax = 4, d = 4/127; -4 -> -127, 0.5 * 31.75 = 15.875 -> 16.
    let b = q8_0(&x);
    assert_eq!(b.qs[3], -127);
    assert_eq!(b.qs[0], 16);
    // Q4_0: max = -4 keeps its sign, d = 0.5 > 0, so -4 maps to q = 0 (value -8 * 0.5) and
    // 0.5 to trunc(1 + 8.5) = 9.
    let b = q4_0(&x);
    assert_eq!(b.d, f16::from_f32(0.5));
    assert_eq!(nibble(&b.qs, 3), 0);
    assert_eq!(nibble(&b.qs, 0), 9);
}

#[test]
fn q4_0_takes_the_first_of_equal_magnitudes() {
    let mut x = [0.0f32; QK];
    x[2] = 2.0;
    x[20] = -2.0;
    // First |max| wins: max = 2 -> d = -0.25.
    assert_eq!(q4_0(&x).d, f16::from_f32(-0.25));
    x[2] = -2.0;
    x[20] = 2.0;
    assert_eq!(q4_0(&x).d, f16::from_f32(0.25));
}

#[test]
fn q8_0_ties_round_half_away_from_zero() {
    // amax = 127 -> d = 1, id = 1: x * id is exactly x.
    let mut x = [0.0f32; QK];
    x[0] = 127.0;
    let ties = [0.5f32, -0.5, 1.5, -1.5, 2.5, -2.5, 126.5, -126.5];
    let away = [1i8, -1, 2, -2, 3, -3, 127, -127];
    x[1..9].copy_from_slice(&ties);
    let b = q8_0(&x);
    assert_eq!(b.d, f16::from_f32(1.0));
    assert_eq!(&b.qs[1..9], &away);
    // Ties to even would give 0, 0, 2, -2, 2, -2, 126, -126: differs in six places.
    let even: Vec<i8> = ties.iter().map(|t| t.round_ties_even() as i8).collect();
    assert_ne!(&b.qs[1..9], even.as_slice());
    // Q8_1 rounds the same way, and s = f16(sum(q) * d).
    let b1 = q8_1(&x);
    assert_eq!(b1.qs, b.qs);
    let sum: i32 = b.qs.iter().map(|&q| i32::from(q)).sum();
    assert_eq!(sum, 127);
    assert_eq!(b1.s, f16::from_f32(127.0));
}

#[test]
fn q4_ties_round_half_up() {
    // Q4_0: max = -8 -> d = 1, id = 1; q = trunc(x + 8.5): x + 8 rounded half *up*
    // (toward +inf), so -2.5 -> -2 while 2.5 -> 3; 7.5 saturates at 15 (= +7).
    let mut x = [0.0f32; QK];
    x[0] = -8.0;
    let ties = [0.5f32, -0.5, 2.5, -2.5, 7.5, -7.5];
    let expect = [9u8, 8, 11, 6, 15, 1];
    x[1..7].copy_from_slice(&ties);
    let b = q4_0(&x);
    assert_eq!(b.d, f16::from_f32(1.0));
    for (j, e) in expect.iter().enumerate() {
        assert_eq!(nibble(&b.qs, j + 1), *e, "tie {}", ties[j]);
    }
    // Q4_1: min = -1, max = 14 -> d = 1, id = 1; q = trunc(x - min + 0.5).
    let mut x = [0.0f32; QK];
    x[0] = -1.0;
    x[1] = 14.0;
    x[2] = 1.5; // 2.5 -> 3 (ties to even would give 2)
    x[3] = -0.5; // 0.5 -> 1 (ties to even: 0)
    x[4] = 13.5; // 14.5 -> 15
    let b = q4_1(&x);
    assert_eq!((b.d, b.m), (f16::from_f32(1.0), f16::from_f32(-1.0)));
    assert_eq!([0, 1, 2, 3, 4].map(|j| nibble(&b.qs, j)), [0, 15, 3, 1, 15]);
    // And the nibbles dequantize to q * d + m.
    let mut y = [0.0f32; QK];
    dequantize_q4_1(&[b], &mut y);
    assert_eq!(&y[..5], &[-1.0, 14.0, 2.0, 0.0, 14.0]);
}

#[test]
fn q4_1_keeps_f32_min_for_the_nibbles() {
    // min = 0.1 is not an f16: the nibbles use the f32 min, the block stores f16(0.1).
    let x: [f32; QK] = std::array::from_fn(|j| 0.1 + j as f32 * 0.25);
    let b = q4_1(&x);
    assert_eq!(b.m, f16::from_f32(0.1));
    assert_eq!(b.d, f16::from_f32((x[31] - 0.1) / 15.0));
    // (x - 0.1) * 15/7.75 + 0.5 truncated: element 31 -> 15, element 0 -> 0.
    assert_eq!(nibble(&b.qs, 0), 0);
    assert_eq!(nibble(&b.qs, 31), 15);
}

#[test]
fn byte_entry_points_match_the_typed_ones() {
    let x: Vec<f32> = (0..4 * QK)
        .map(|i| ((i as f32) * 0.37).sin() * 3.0 - 0.2)
        .collect();
    let n_blocks = x.len() / QK;

    let mut blocks = vec![BlockQ8_0::default(); n_blocks];
    quantize_q8_0(&x, &mut blocks);
    let mut bytes = vec![0u8; n_blocks * 34];
    quantize_row(GgmlType::Q8_0, &x, &mut bytes).unwrap();
    assert_eq!(bytes.as_slice(), bytemuck::cast_slice::<_, u8>(&blocks));
    let (mut a, mut b) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    dequantize_q8_0(&blocks, &mut a);
    dequantize_row(GgmlType::Q8_0, &bytes, &mut b).unwrap();
    assert_eq!(a, b);

    let mut blocks = vec![BlockQ8_1::default(); n_blocks];
    quantize_q8_1(&x, &mut blocks);
    let mut bytes = vec![0u8; n_blocks * 36];
    quantize_row(GgmlType::Q8_1, &x, &mut bytes).unwrap();
    assert_eq!(bytes.as_slice(), bytemuck::cast_slice::<_, u8>(&blocks));

    let mut blocks = vec![BlockQ4_0::default(); n_blocks];
    quantize_q4_0(&x, &mut blocks);
    let mut bytes = vec![0u8; n_blocks * 18];
    quantize_row(GgmlType::Q4_0, &x, &mut bytes).unwrap();
    assert_eq!(bytes.as_slice(), bytemuck::cast_slice::<_, u8>(&blocks));
    dequantize_q4_0(&blocks, &mut a);
    dequantize_row(GgmlType::Q4_0, &bytes, &mut b).unwrap();
    assert_eq!(a, b);

    let mut blocks = vec![BlockQ4_1::default(); n_blocks];
    quantize_q4_1(&x, &mut blocks);
    let mut bytes = vec![0u8; n_blocks * 20];
    quantize_row(GgmlType::Q4_1, &x, &mut bytes).unwrap();
    assert_eq!(bytes.as_slice(), bytemuck::cast_slice::<_, u8>(&blocks));
    dequantize_q4_1(&blocks, &mut a);
    dequantize_row(GgmlType::Q4_1, &bytes, &mut b).unwrap();
    assert_eq!(a, b);
}

#[test]
fn float_rows_are_little_endian_bits() {
    let x = [1.0f32, -2.5, 65504.0, 1.0e-8, f32::INFINITY, 3.0e38];
    let mut bytes = vec![0u8; 12];
    quantize_row(GgmlType::F16, &x, &mut bytes).unwrap();
    let bits: Vec<u16> = bytes
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    assert_eq!(bits, [0x3c00, 0xc100, 0x7bff, 0x0000, 0x7c00, 0x7c00]);
    quantize_row(GgmlType::BF16, &x, &mut bytes).unwrap();
    let bits: Vec<u16> = bytes
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    assert_eq!(bits[..2], [0x3f80, 0xc020]);
    let mut back = [0.0f32; 6];
    dequantize_row(GgmlType::BF16, &bytes, &mut back).unwrap();
    assert_eq!(back[0], 1.0);
    assert_eq!(back[1], -2.5);
    let mut bytes = vec![0u8; 24];
    quantize_row(GgmlType::F32, &x, &mut bytes).unwrap();
    assert_eq!(&bytes[..4], &1.0f32.to_le_bytes());
    dequantize_row(GgmlType::F32, &bytes, &mut back).unwrap();
    assert_eq!(back, x);
}

#[test]
fn length_errors() {
    let x = [0.0f32; 33];
    let mut out = vec![0u8; 64];
    assert_eq!(
        quantize_row(GgmlType::Q4_0, &x, &mut out),
        Err(CodecError::NotBlockMultiple {
            ty: GgmlType::Q4_0,
            len: 33,
            block: 32
        })
    );
    assert_eq!(
        quantize_row(GgmlType::Q8_0, &x[..32], &mut out),
        Err(CodecError::BufferSize {
            ty: GgmlType::Q8_0,
            n_elements: 32,
            expected: 34,
            actual: 64
        })
    );
    let mut y = [0.0f32; 32];
    assert!(matches!(
        dequantize_row(GgmlType::Q4_1, &out[..19], &mut y),
        Err(CodecError::BufferSize { expected: 20, .. })
    ));
    assert!(matches!(
        dequantize_row(GgmlType::F16, &out[..5], &mut y[..3]),
        Err(CodecError::BufferSize { expected: 6, .. })
    ));
    let msg = CodecError::NotBlockMultiple {
        ty: GgmlType::Q4_0,
        len: 33,
        block: 32,
    }
    .to_string();
    assert_eq!(
        msg,
        "Q4_0: 33 elements is not a multiple of the block size 32"
    );
}

#[test]
fn relative_rms_error_formula() {
    assert_eq!(relative_rms_error(&[3.0, 4.0], &[3.0, 4.0]), 0.0);
    // sqrt((1 + 0) / (9 + 16)) = 0.2
    assert!((relative_rms_error(&[3.0, 4.0], &[2.0, 4.0]) - 0.2).abs() < 1e-12);
    assert_eq!(relative_rms_error(&[0.0], &[1.0]), f64::INFINITY);
    assert_eq!(relative_rms_error(&[], &[]), 0.0);
}

#[test]
fn q4_rounding_is_the_f32_sum_then_truncation() {
    // ggml adds 8.5 (Q4_0) or 0.5 (Q4_1) in f32 and truncates; the sum itself rounds, so
    // values just past a half step can fall back (or forward) to the other side. A port with
    // `round()` would differ here.
    let mut x = [0.0f32; QK];
    x[0] = -8.0; // d = 1, id = 1
    x[1] = f32::from_bits(0xbf00_0001); // -(0.5 + 2^-24): 8.5 + x = 8 - 2^-24 -> 8.0 in f32
    let b = q4_0(&x);
    assert_eq!(nibble(&b.qs, 1), 8, "round() would give 7");
    let mut x = [0.0f32; QK];
    x[1] = 15.0; // min 0, max 15: d = 1, id = 1
    x[2] = f32::from_bits(0x3eff_ffff); // 0.5 - 2^-25: + 0.5 = 1 - 2^-25, a tie -> 1.0 in f32
    let b = q4_1(&x);
    assert_eq!(nibble(&b.qs, 2), 1, "round() would give 0");
}

#[test]
fn nearest_int_rounds_half_to_even() {
    use super::kquant::nearest_int;
    let cases = [
        (0.5, 0),
        (1.5, 2),
        (2.5, 2),
        (-0.5, 0),
        (-1.5, -2),
        (2.49, 2),
        (-7.51, -8),
    ];
    for (x, want) in cases {
        assert_eq!(nearest_int(x), want, "{x}");
    }
}

/// Gaussian-ish values with a few outliers, deterministic.
fn wavy(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let t = i as f32;
            let v = (t * 0.37).sin() + 0.5 * (t * 1.93).cos();
            if i % 97 == 13 {
                8.0 * v
            } else {
                v
            }
        })
        .collect()
}

#[test]
fn new_types_round_trip_within_their_precision() {
    let x = wavy(4 * 256);
    let err = |ty: GgmlType| {
        let mut bytes = vec![0u8; ty.row_bytes(x.len() as u64).unwrap() as usize];
        quantize_row(ty, &x, &mut bytes).unwrap();
        let mut y = vec![0.0f32; x.len()];
        dequantize_row(ty, &bytes, &mut y).unwrap();
        relative_rms_error(&x, &y)
    };
    // (type, bound on the relative RMS error, about 1.25 x what the encoders give).
    let bounds = [
        (GgmlType::Q2_K, 0.4),
        (GgmlType::Q3_K, 0.25),
        (GgmlType::Q4_K, 0.11),
        (GgmlType::Q5_0, 0.08),
        (GgmlType::Q5_1, 0.06),
        (GgmlType::Q5_K, 0.06),
        (GgmlType::Q6_K, 0.03),
    ];
    for (ty, bound) in bounds {
        let e = err(ty);
        assert!(e > 0.0 && e < bound, "{ty}: relative rms error {e}");
    }
    assert!(err(GgmlType::Q6_K) < err(GgmlType::Q4_K));
    assert!(err(GgmlType::Q4_K) < err(GgmlType::Q2_K));
}

#[test]
fn new_types_encode_zeros_as_zeros() {
    let x = vec![0.0f32; 256];
    for ty in [
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q2_K,
        GgmlType::Q3_K,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
    ] {
        let mut bytes = vec![0u8; ty.row_bytes(256).unwrap() as usize];
        quantize_row(ty, &x, &mut bytes).unwrap();
        let mut y = vec![1.0f32; 256];
        dequantize_row(ty, &bytes, &mut y).unwrap();
        assert!(y.iter().all(|&v| v == 0.0), "{ty}");
    }
    // Q8_K is an activation type: no file encoder.
    let mut out = vec![0u8; 292];
    assert_eq!(
        quantize_row(GgmlType::Q8_K, &x, &mut out),
        Err(CodecError::Unsupported { ty: GgmlType::Q8_K })
    );
}
