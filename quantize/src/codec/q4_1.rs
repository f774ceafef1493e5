//! Q4_1: 32 values as `d * q + m`, q in [0, 15], nibbles laid out as Q4_0.
//! Port of ggml `quantize_row_q4_1_ref` / `dequantize_row_q4_1`.

use super::float::{f16_bits_to_f32, f32_to_f16_bits};
use edge_formats::{BlockQ4_1, QK};
use half::f16;

/// One nibble as ggml computes it: `min(15, (int8_t)((x - min) * id + 0.5))`, truncation
/// of a non-negative sum, i.e. round half up of `(x - min) * id`.
#[inline(always)]
fn nibble(x: f32, min: f32, id: f32) -> u8 {
    ((((x - min) * id + 0.5) as i8).min(15)) as u8
}

/// One block: min and max of x (starting from +-f32::MAX, NaN never selected),
/// d = (max - min) / 15, id = 1/d or 0; the nibbles use the f32 `min` and `id`, while the
/// block stores d and m = min rounded to f16.
#[inline]
pub(super) fn quantize_block(x: &[f32; QK]) -> BlockQ4_1 {
    let mut min = f32::MAX;
    let mut max = -f32::MAX;
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    let d = (max - min) / 15.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut qs = [0u8; QK / 2];
    let (lo, hi) = x.split_at(QK / 2);
    for ((q, &a), &b) in qs.iter_mut().zip(lo).zip(hi) {
        *q = nibble(a, min, id) | (nibble(b, min, id) << 4);
    }
    BlockQ4_1 {
        d: f16::from_bits(f32_to_f16_bits(d)),
        m: f16::from_bits(f32_to_f16_bits(min)),
        qs,
    }
}

/// src (n = 32 * dst.len()) -> dst (n / 32 blocks), ggml `quantize_row_q4_1_ref`.
/// `src.len()` must equal `dst.len() * 32` (checked in debug builds).
pub fn quantize_q4_1(src: &[f32], dst: &mut [BlockQ4_1]) {
    debug_assert_eq!(src.len(), dst.len() * QK, "quantize_q4_1: src/dst lengths");
    for (block, x) in dst.iter_mut().zip(src.chunks_exact(QK)) {
        if let Ok(x) = <&[f32; QK]>::try_from(x) {
            *block = quantize_block(x);
        }
    }
}

/// src (n / 32 blocks) -> dst (n = 32 * src.len()): x = q * d + m (a product then a sum,
/// not fused), ggml `dequantize_row_q4_1`. `dst.len()` must equal `src.len() * 32`.
pub fn dequantize_q4_1(src: &[BlockQ4_1], dst: &mut [f32]) {
    debug_assert_eq!(
        dst.len(),
        src.len() * QK,
        "dequantize_q4_1: src/dst lengths"
    );
    for (block, y) in src.iter().zip(dst.chunks_exact_mut(QK)) {
        let d = f16_bits_to_f32(block.d.to_bits());
        let m = f16_bits_to_f32(block.m.to_bits());
        let (lo, hi) = y.split_at_mut(QK / 2);
        for ((a, b), &q) in lo.iter_mut().zip(hi.iter_mut()).zip(&block.qs) {
            *a = f32::from(q & 0x0f) * d + m;
            *b = f32::from(q >> 4) * d + m;
        }
    }
}
