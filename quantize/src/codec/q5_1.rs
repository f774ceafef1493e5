//! Q5_1: 32 values as `d * q + m`, q in [0, 31], laid out by
//! [`edge_formats::blocks::q5_0`]. Port of ggml `quantize_row_q5_1_ref`.

use super::block_scale::{min_max, scale_and_inverse};
use super::float::f32_to_f16_bits;
use edge_formats::blocks::q5_0::pack_q5;
use edge_formats::blocks::BlockQ5_1;
use edge_formats::QK;
use half::f16;

/// One value as ggml computes it: `(uint8_t)((x - min) * id + 0.5)` (no clamp: the sum is at
/// most about 31.5), the truncation of a non-negative sum.
#[inline(always)]
fn quint(x: f32, min: f32, id: f32) -> u8 {
    ((x - min) * id + 0.5) as u8
}

/// One block: min and max of x (starting from +-f32::MAX), d = (max - min) / 31, id = 1/d
/// or 0; the values use the f32 `min` and `id`, the block stores d and m = min as f16.
#[inline]
pub(super) fn quantize_block(x: &[f32; QK]) -> BlockQ5_1 {
    let (min, max) = min_max(x);
    let (d, id) = scale_and_inverse(max - min, 31.0);
    let (qh, qs) = pack_q5(&x.map(|v| quint(v, min, id)));
    BlockQ5_1 {
        d: f16::from_bits(f32_to_f16_bits(d)),
        m: f16::from_bits(f32_to_f16_bits(min)),
        qh,
        qs,
    }
}

/// src (n = 32 * dst.len()) -> dst (n / 32 blocks), ggml `quantize_row_q5_1_ref`.
/// `src.len()` must equal `dst.len() * 32` (checked in debug builds).
pub fn quantize_q5_1(src: &[f32], dst: &mut [BlockQ5_1]) {
    super::quantize_typed(src, dst, quantize_block)
}
