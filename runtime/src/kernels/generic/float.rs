//! Float weights (f32, f16, bf16), read against the f32 activation.

use super::rows_by;
use crate::kernels::TypeKernels;
use half::{bf16, f16};

/// The generic f32 entries of the kernel table.
pub const F32: TypeKernels<f32, f32> = TypeKernels::new(dot_f32, matvec_f32);
/// The generic f16 entries of the kernel table.
pub const F16: TypeKernels<f16, f32> = TypeKernels::new(dot_f16_f32, matvec_f16);
/// The generic bf16 entries of the kernel table.
pub const BF16: TypeKernels<bf16, f32> = TypeKernels::new(dot_bf16_f32, matvec_bf16);

/// w (n) . x (n) -> f32, accumulated left to right in f32.
pub fn dot_f32(w: &[f32], x: &[f32]) -> f32 {
    let mut sum = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        sum += a * b;
    }
    sum
}

/// w (n, f16) . x (n) -> f32: each weight widened exactly to f32, accumulated left to right.
pub fn dot_f16_f32(w: &[f16], x: &[f32]) -> f32 {
    let mut sum = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        sum += a.to_f32() * b;
    }
    sum
}

/// w (n, bf16) . x (n) -> f32: each weight widened exactly to f32, accumulated left to right.
pub fn dot_bf16_f32(w: &[bf16], x: &[f32]) -> f32 {
    let mut sum = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        sum += bf16_to_f32(*a) * b;
    }
    sum
}

/// bf16 -> f32, exact (the decoder of `edge_formats::blocks`).
#[inline(always)]
pub fn bf16_to_f32(v: bf16) -> f32 {
    edge_formats::blocks::bf16_bits_to_f32(v.to_bits())
}

// w (rows, k) @ x (k) -> out (rows).
pub fn matvec_f32(out: &mut [f32], w: &[f32], row_len: usize, x: &[f32]) {
    rows_by(out, w, row_len, x, dot_f32)
}
pub fn matvec_f16(out: &mut [f32], w: &[f16], row_len: usize, x: &[f32]) {
    rows_by(out, w, row_len, x, dot_f16_f32)
}
pub fn matvec_bf16(out: &mut [f32], w: &[bf16], row_len: usize, x: &[f32]) {
    rows_by(out, w, row_len, x, dot_bf16_f32)
}
