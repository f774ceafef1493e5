//! The inner loops of attention over an f16 KV cache, in ggml's flash-attention arithmetic
//! (`ggml_vec_mad_f16`, `ggml_vec_scale_f16`): the value accumulator is kept as f32 values
//! that are each exactly an f16, and every update is rounded back to f16, to nearest even.

use crate::kernels::AttentionF16Kernels;
use half::f16;

/// The generic f16-attention entries of the kernel table.
pub const ATTENTION_F16: AttentionF16Kernels = AttentionF16Kernels {
    mad: mad_f16,
    scale: scale_f16,
    round: round_f16,
};

/// f32 -> nearest f16 (ties to even) -> f32.
#[inline(always)]
fn to_f16_and_back(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

/// acc (n) += v (n) * w, one fused multiply-add per element rounded to f16:
/// acc_i = f16(fma(v_i, w, acc_i)). Runs over the shorter of the two.
pub fn mad_f16(acc: &mut [f32], v: &[f16], w: f32) {
    for (a, x) in acc.iter_mut().zip(v) {
        *a = to_f16_and_back(x.to_f32().mul_add(w, *a));
    }
}

/// acc (n) *= s, each product rounded to f16: acc_i = f16(acc_i * s).
pub fn scale_f16(acc: &mut [f32], s: f32) {
    for a in acc {
        *a = to_f16_and_back(*a * s);
    }
}

/// x (n) -> x (n), every element rounded to the nearest f16 (ties to even), kept as f32.
pub fn round_f16(x: &mut [f32]) {
    for e in x {
        *e = to_f16_and_back(*e);
    }
}
