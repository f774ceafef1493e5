//! Q8_0: 32 values as `d * q`, q in [-127, 127], d = amax / 127 stored as f16.
//! Port of ggml `quantize_row_q8_0_ref`.

use super::float::f32_to_f16_bits;
use edge_formats::{BlockQ8_0, QK};
use half::f16;

/// ggml's `MAX(a, b)` macro, `a > b ? a : b`: a NaN in `b` replaces `a`, a NaN in `a` is
/// replaced by the next `b`. Kept as is so blocks holding NaN quantize as ggml's do.
#[inline(always)]
pub(super) fn ggml_max(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

/// The largest |x| of a block, folded left to right with [`ggml_max`].
#[inline(always)]
pub(super) fn abs_max(x: &[f32; QK]) -> f32 {
    x.iter().fold(0.0f32, |amax, v| ggml_max(amax, v.abs()))
}

/// One block: x (32) -> (d, qs). Scale d = amax / 127 in f32, id = 1/d (0 when d is 0),
/// q = round(x * id) half away from zero (`f32::round` = C `roundf`).
#[inline]
pub(super) fn quantize_block(x: &[f32; QK]) -> BlockQ8_0 {
    let amax = abs_max(x);
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut qs = [0i8; QK];
    for (q, v) in qs.iter_mut().zip(x) {
        // In range by construction (|v * id| <= ~127); `as` saturates and maps NaN to 0.
        *q = (v * id).round() as i8;
    }
    BlockQ8_0 {
        d: f16::from_bits(f32_to_f16_bits(d)),
        qs,
    }
}

/// src (n = 32 * dst.len()) -> dst (n / 32 blocks), ggml `quantize_row_q8_0_ref`.
/// `src.len()` must equal `dst.len() * 32` (checked in debug builds; otherwise only the
/// whole blocks both slices have are written).
pub fn quantize_q8_0(src: &[f32], dst: &mut [BlockQ8_0]) {
    debug_assert_eq!(src.len(), dst.len() * QK, "quantize_q8_0: src/dst lengths");
    for (block, x) in dst.iter_mut().zip(src.chunks_exact(QK)) {
        if let Ok(x) = <&[f32; QK]>::try_from(x) {
            *block = quantize_block(x);
        }
    }
}
