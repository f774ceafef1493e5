//! Q4_1: 32 values as `d * q + m`, q in [0, 15], packed by
//! [`edge_formats::blocks::nibbles`]. Port of ggml `quantize_row_q4_1_ref`.

use super::block_scale::{min_max, scale_and_inverse};
use super::float::f32_to_f16_bits;
use edge_formats::blocks::nibbles::pack_q4;
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
    let (min, max) = min_max(x);
    let (d, id) = scale_and_inverse(max - min, 15.0);
    BlockQ4_1 {
        d: f16::from_bits(f32_to_f16_bits(d)),
        m: f16::from_bits(f32_to_f16_bits(min)),
        qs: pack_q4(&x.map(|v| nibble(v, min, id))),
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
