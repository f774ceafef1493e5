//! Q4_0: 32 values as `d * (q - 8)`, q in [0, 15], packed by
//! [`edge_formats::blocks::nibbles`]. Port of ggml `quantize_row_q4_0_ref`.

use super::block_scale::{scale_and_inverse, signed_absmax};
use super::float::f32_to_f16_bits;
use edge_formats::blocks::nibbles::pack_q4;
use edge_formats::{BlockQ4_0, QK};
use half::f16;

/// One nibble as ggml computes it: `min(15, (int8_t)(x * id + 8.5))`. The cast truncates
/// toward zero, which for the non-negative sums here is floor, i.e. round half up of
/// `x * id + 8`. Rust's `as i8` truncates too (saturating, NaN -> 0, as x86 gives for ggml).
#[inline(always)]
fn nibble(x: f32, id: f32) -> u8 {
    (((x * id + 8.5) as i8).min(15)) as u8
}

/// One block: x (32) -> (d, qs). `max` is the first element of largest |x| with its sign;
/// d = max / -8 (so that element maps to q = 0, i.e. -8, exactly, and the other sign reaches
/// at most +7); id = 1/d, or 0 when d is zero (an all-zero block gives d = -0.0).
#[inline]
pub(super) fn quantize_block(x: &[f32; QK]) -> BlockQ4_0 {
    let (d, id) = scale_and_inverse(signed_absmax(x).0, -8.0);
    BlockQ4_0 {
        d: f16::from_bits(f32_to_f16_bits(d)),
        qs: pack_q4(&x.map(|v| nibble(v, id))),
    }
}

/// src (n = 32 * dst.len()) -> dst (n / 32 blocks), ggml `quantize_row_q4_0_ref`.
/// `src.len()` must equal `dst.len() * 32` (checked in debug builds).
pub fn quantize_q4_0(src: &[f32], dst: &mut [BlockQ4_0]) {
    debug_assert_eq!(src.len(), dst.len() * QK, "quantize_q4_0: src/dst lengths");
    for (block, x) in dst.iter_mut().zip(src.chunks_exact(QK)) {
        if let Ok(x) = <&[f32; QK]>::try_from(x) {
            *block = quantize_block(x);
        }
    }
}
