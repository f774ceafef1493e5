//! The per-block scale search the 32-value encoders share (ggml's `quantize_row_q{4,5}_{0,1}_ref`).

/// (the first element of largest magnitude with its sign, that magnitude): a later element of
/// equal magnitude does not replace it, nor does NaN (ggml's `amax`/`max` loop).
#[inline(always)]
pub(super) fn signed_absmax(x: &[f32]) -> (f32, f32) {
    let mut amax = 0.0f32;
    let mut max = 0.0f32;
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    (max, amax)
}

/// (min, max) of x, starting from (f32::MAX, -f32::MAX): NaN is never selected.
#[inline(always)]
pub(super) fn min_max(x: &[f32]) -> (f32, f32) {
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
    (min, max)
}

/// d = value / divisor and its inverse id = 1 / d, or 0 when d is zero, in f32 as ggml.
#[inline(always)]
pub(super) fn scale_and_inverse(value: f32, divisor: f32) -> (f32, f32) {
    let d = value / divisor;
    (d, if d != 0.0 { 1.0 / d } else { 0.0 })
}
