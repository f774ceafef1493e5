//! Q5_0: 32 values as `d * (q - 16)`, q in [0, 31], laid out by
//! [`edge_formats::blocks::q5_0`]. Port of ggml `quantize_row_q5_0_ref`.

use super::block_scale::{scale_and_inverse, signed_absmax};
use super::float::f32_to_f16_bits;
use edge_formats::blocks::q5_0::pack_q5;
use edge_formats::blocks::BlockQ5_0;
use edge_formats::QK;
use half::f16;

/// One value as ggml computes it: `min(31, (int8_t)(x * id + 16.5))`, the truncation of a
/// non-negative sum, i.e. round half up of `x * id + 16` (`as i8` truncates, saturating).
#[inline(always)]
fn quint(x: f32, id: f32) -> u8 {
    (((x * id + 16.5) as i8).min(31)) as u8
}

/// One block: `max` is the first element of largest |x| with its sign; d = max / -16 (that
/// element maps to q = 0 exactly); id = 1/d, or 0 when d is zero.
#[inline]
pub(super) fn quantize_block(x: &[f32; QK]) -> BlockQ5_0 {
    let (d, id) = scale_and_inverse(signed_absmax(x).0, -16.0);
    let (qh, qs) = pack_q5(&x.map(|v| quint(v, id)));
    BlockQ5_0 {
        d: f16::from_bits(f32_to_f16_bits(d)),
        qh,
        qs,
    }
}

/// src (n = 32 * dst.len()) -> dst (n / 32 blocks), ggml `quantize_row_q5_0_ref`.
/// `src.len()` must equal `dst.len() * 32` (checked in debug builds).
pub fn quantize_q5_0(src: &[f32], dst: &mut [BlockQ5_0]) {
    super::quantize_typed(src, dst, quantize_block)
}
