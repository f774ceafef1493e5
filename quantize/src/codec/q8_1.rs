//! Q8_1: Q8_0 plus `s = d * sum(q)` (f16), the block sum the Q4_1 dot product needs.
//! Port of ggml `quantize_row_q8_1_ref`.

use super::float::f32_to_f16_bits;
use super::q8_0;
use edge_formats::{BlockQ8_1, QK};
use half::f16;

/// One block: as Q8_0 (same amax, d, id, rounding half away from zero), and
/// s = f16((sum of the integer q as f32) * d), with d the f32 scale before its f16 rounding.
#[inline]
pub(super) fn quantize_block(x: &[f32; QK]) -> BlockQ8_1 {
    let amax = q8_0::abs_max(x);
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut qs = [0i8; QK];
    for (q, v) in qs.iter_mut().zip(x) {
        *q = (v * id).round() as i8;
    }
    // |sum| <= 32 * 127, exact in f32.
    let sum: i32 = qs.iter().map(|&q| i32::from(q)).sum();
    BlockQ8_1 {
        d: f16::from_bits(f32_to_f16_bits(d)),
        s: f16::from_bits(f32_to_f16_bits(sum as f32 * d)),
        qs,
    }
}

/// src (n = 32 * dst.len()) -> dst (n / 32 blocks), ggml `quantize_row_q8_1_ref`.
/// `src.len()` must equal `dst.len() * 32` (checked in debug builds).
pub fn quantize_q8_1(src: &[f32], dst: &mut [BlockQ8_1]) {
    debug_assert_eq!(src.len(), dst.len() * QK, "quantize_q8_1: src/dst lengths");
    for (block, x) in dst.iter_mut().zip(src.chunks_exact(QK)) {
        if let Ok(x) = <&[f32; QK]>::try_from(x) {
            *block = quantize_block(x);
        }
    }
}
