//! NEON kernels (aarch64 baseline), the twins of `generic`, one file per type family; see
//! `arm/mod.rs` for how they agree with it. The helpers the families (and `dotprod`) share
//! are here.

mod activation;
mod float;
pub(super) mod k_quants;
pub(super) mod q4;
pub(super) mod q5;
pub(super) mod q8;

use crate::kernels::Kernels;
use edge_formats::QK;
use std::arch::aarch64::*;

/// The NEON table, or None when this CPU lacks NEON.
pub fn kernels() -> Option<Kernels> {
    if !std::arch::is_aarch64_feature_detected!("neon") {
        return None;
    }
    Some(Kernels {
        quantize_q8_0: activation::quantize_q8_0,
        quantize_q8_1: activation::quantize_q8_1,
        q4_0: q4::Q4_0,
        q4_1: q4::Q4_1,
        q5_0: q5::Q5_0,
        q5_1: q5::Q5_1,
        q8_0: q8::Q8_0,
        q2_k: k_quants::Q2_K,
        q3_k: k_quants::Q3_K,
        q4_k: k_quants::Q4_K,
        q5_k: k_quants::Q5_K,
        q6_k: k_quants::Q6_K,
        f32: float::F32,
        bf16: float::BF16,
        ..Kernels::scalar().named("neon")
    })
}

/// A Q4 block's 32 nibbles as two i8x16: elements 0..16 and 16..32.
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn unpack_nibbles(qs: &[u8; QK / 2]) -> (int8x16_t, int8x16_t) {
    // SAFETY: qs has exactly 16 bytes.
    let v = unsafe { vld1q_u8(qs.as_ptr()) };
    let lo = vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F)));
    let hi = vreinterpretq_s8_u8(vshrq_n_u8::<4>(v));
    (lo, hi)
}

/// A Q8 block's 32 values as two i8x16.
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn load_q8(qs: &[i8; QK]) -> (int8x16_t, int8x16_t) {
    // SAFETY: qs has 32 bytes: 0..16 and 16..32.
    unsafe { (vld1q_s8(qs.as_ptr()), vld1q_s8(qs.as_ptr().add(16))) }
}

/// Exact sum of a0*b0 + a1*b1 over 32 lanes (|a| <= 127, |b| <= 127: pairs fit i16).
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn sum_products(a: (int8x16_t, int8x16_t), b: (int8x16_t, int8x16_t)) -> i32 {
    let p0 = vmlal_high_s8(vmull_s8(vget_low_s8(a.0), vget_low_s8(b.0)), a.0, b.0);
    let p1 = vmlal_high_s8(vmull_s8(vget_low_s8(a.1), vget_low_s8(b.1)), a.1, b.1);
    vaddvq_s32(vpadalq_s16(vpaddlq_s16(p0), p1))
}
