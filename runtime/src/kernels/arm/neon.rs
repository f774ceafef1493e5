//! NEON kernels (aarch64 baseline), the twins of `generic`; see `arm/mod.rs` for how they
//! agree with it.

use crate::kernels::isa_glue::{row_loop, safe_entry};
use crate::kernels::{generic, Kernels};
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};
use half::{bf16, f16};
use std::arch::aarch64::*;

/// The NEON table, or None when this CPU lacks NEON.
pub fn kernels() -> Option<Kernels> {
    if !std::arch::is_aarch64_feature_detected!("neon") {
        return None;
    }
    Some(Kernels {
        quantize_q8_0,
        quantize_q8_1,
        dot_q4_0_q8_0,
        dot_q4_1_q8_1,
        dot_q8_0_q8_0,
        dot_f32,
        dot_bf16_f32,
        matvec_q4_0,
        matvec_q4_1,
        matvec_q8_0,
        matvec_f32,
        matvec_bf16,
        ..Kernels::scalar().named("neon")
    })
}

safe_entry! {
    fn quantize_q8_0(x: &[f32], out: &mut [BlockQ8_0]) => quantize_q8_0_neon;
    fn quantize_q8_1(x: &[f32], out: &mut [BlockQ8_1]) => quantize_q8_1_neon;
    fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 => dot_q4_0_q8_0_neon;
    fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 => dot_q4_1_q8_1_neon;
    fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 => dot_q8_0_q8_0_neon;
    fn dot_f32(w: &[f32], x: &[f32]) -> f32 => dot_f32_neon;
    fn dot_bf16_f32(w: &[bf16], x: &[f32]) -> f32 => dot_bf16_f32_neon;
    fn matvec_q4_0(out: &mut [f32], w: &[BlockQ4_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q4_0_neon;
    fn matvec_q4_1(out: &mut [f32], w: &[BlockQ4_1], row_len: usize, x: &[BlockQ8_1]) => matvec_q4_1_neon;
    fn matvec_q8_0(out: &mut [f32], w: &[BlockQ8_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q8_0_neon;
    fn matvec_f32(out: &mut [f32], w: &[f32], row_len: usize, x: &[f32]) => matvec_f32_neon;
    fn matvec_bf16(out: &mut [f32], w: &[bf16], row_len: usize, x: &[f32]) => matvec_bf16_neon;
}

row_loop!(
    matvec_q4_0_neon,
    BlockQ4_0,
    BlockQ8_0,
    dot_q4_0_q8_0_neon,
    "neon"
);
row_loop!(
    matvec_q4_1_neon,
    BlockQ4_1,
    BlockQ8_1,
    dot_q4_1_q8_1_neon,
    "neon"
);
row_loop!(
    matvec_q8_0_neon,
    BlockQ8_0,
    BlockQ8_0,
    dot_q8_0_q8_0_neon,
    "neon"
);
row_loop!(matvec_f32_neon, f32, f32, dot_f32_neon, "neon");
row_loop!(matvec_bf16_neon, bf16, f32, dot_bf16_f32_neon, "neon");

/// One full block -> (d, the 32 products rounded half to even as 8 x 4 i32).
#[inline]
#[target_feature(enable = "neon")]
fn quantize_block(xb: &[f32; QK]) -> (f32, [int32x4_t; 8]) {
    // SAFETY: xb has 32 f32; load i reads elements 4i..4i+4.
    let v: [float32x4_t; 8] = std::array::from_fn(|i| unsafe { vld1q_f32(xb.as_ptr().add(4 * i)) });
    let mut amax = vabsq_f32(v[0]);
    for vi in &v[1..] {
        amax = vmaxq_f32(amax, vabsq_f32(*vi));
    }
    let amax = vmaxvq_f32(amax);
    let d = amax / 127.0;
    let id = vdupq_n_f32(generic::activation_inverse_scale(amax));
    (d, v.map(|vi| vcvtnq_s32_f32(vmulq_f32(vi, id))))
}

/// 8 x 4 i32 (each in [-127, 127]) -> 32 i8 in order.
#[inline]
#[target_feature(enable = "neon")]
fn pack_i8(q: [int32x4_t; 8], out: &mut [i8; QK]) {
    for (i, pair) in q.chunks_exact(4).enumerate() {
        let lo = vcombine_s16(vqmovn_s32(pair[0]), vqmovn_s32(pair[1]));
        let hi = vcombine_s16(vqmovn_s32(pair[2]), vqmovn_s32(pair[3]));
        let bytes = vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi));
        // SAFETY: out has 32 bytes; i is 0 or 1, so bytes 16i..16i+16 are in bounds.
        unsafe { vst1q_s8(out.as_mut_ptr().add(16 * i), bytes) }
    }
}

// x (n) -> out (ceil(n/32)); ggml quantize_row_q8_0 (NEON path).
#[target_feature(enable = "neon")]
fn quantize_q8_0_neon(x: &[f32], out: &mut [BlockQ8_0]) {
    let full_block = |xb: &[f32; QK], block: &mut BlockQ8_0| {
        let (d, q) = quantize_block(xb);
        block.d = f16::from_f32(d);
        pack_i8(q, &mut block.qs);
    };
    generic::quantize_blocks_by(x, out, full_block, generic::quantize_q8_0);
}

// x (n) -> out (ceil(n/32)); ggml quantize_row_q8_1 (NEON path).
#[target_feature(enable = "neon")]
fn quantize_q8_1_neon(x: &[f32], out: &mut [BlockQ8_1]) {
    let full_block = |xb: &[f32; QK], block: &mut BlockQ8_1| {
        let (d, q) = quantize_block(xb);
        let mut s = q[0];
        for qi in &q[1..] {
            s = vaddq_s32(s, *qi);
        }
        block.d = f16::from_f32(d);
        block.s = f16::from_f32(d * vaddvq_s32(s) as f32);
        pack_i8(q, &mut block.qs);
    };
    generic::quantize_blocks_by(x, out, full_block, generic::quantize_q8_1);
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
fn sum_products(a: (int8x16_t, int8x16_t), b: (int8x16_t, int8x16_t)) -> i32 {
    let p0 = vmlal_high_s8(vmull_s8(vget_low_s8(a.0), vget_low_s8(b.0)), a.0, b.0);
    let p1 = vmlal_high_s8(vmull_s8(vget_low_s8(a.1), vget_low_s8(b.1)), a.1, b.1);
    vaddvq_s32(vpadalq_s16(vpaddlq_s16(p0), p1))
}

/// The quantized dots, w (nb) . x (nb) -> f32 (ggml_vec_dot_q4_0_q8_0, _q4_1_q8_1,
/// _q8_0_q8_0): each block reduced to its exact i32 sum by `$sum_products`, then scaled in
/// the generic order. Shared by the NEON and dotprod tables, which differ in `$sum_products`.
macro_rules! quantized_dots {
    ($features:literal, $sum_products:ident, $q4_0:ident, $q4_1:ident, $q8_0:ident) => {
        #[target_feature(enable = $features)]
        fn $q4_0(w: &[edge_formats::BlockQ4_0], x: &[edge_formats::BlockQ8_0]) -> f32 {
            let eight = std::arch::aarch64::vdupq_n_s8(8);
            let mut sumf = 0.0f32;
            for (a, b) in w.iter().zip(x) {
                let (lo, hi) = $crate::kernels::arm::neon::unpack_nibbles(&a.qs);
                let q = (
                    std::arch::aarch64::vsubq_s8(lo, eight),
                    std::arch::aarch64::vsubq_s8(hi, eight),
                );
                sumf = $crate::kernels::generic::scale_q4_0(
                    sumf,
                    $sum_products(q, $crate::kernels::arm::neon::load_q8(&b.qs)),
                    a,
                    b,
                );
            }
            sumf
        }

        #[target_feature(enable = $features)]
        fn $q4_1(w: &[edge_formats::BlockQ4_1], x: &[edge_formats::BlockQ8_1]) -> f32 {
            let mut sumf = 0.0f32;
            for (a, b) in w.iter().zip(x) {
                let sumi = $sum_products(
                    $crate::kernels::arm::neon::unpack_nibbles(&a.qs),
                    $crate::kernels::arm::neon::load_q8(&b.qs),
                );
                sumf = $crate::kernels::generic::scale_q4_1(sumf, sumi, a, b);
            }
            sumf
        }

        #[target_feature(enable = $features)]
        fn $q8_0(w: &[edge_formats::BlockQ8_0], x: &[edge_formats::BlockQ8_0]) -> f32 {
            let mut sumf = 0.0f32;
            for (a, b) in w.iter().zip(x) {
                let sumi = $sum_products(
                    $crate::kernels::arm::neon::load_q8(&a.qs),
                    $crate::kernels::arm::neon::load_q8(&b.qs),
                );
                sumf = $crate::kernels::generic::scale_q8_0(sumf, sumi, a, b);
            }
            sumf
        }
    };
}
pub(super) use quantized_dots;

quantized_dots!(
    "neon",
    sum_products,
    dot_q4_0_q8_0_neon,
    dot_q4_1_q8_1_neon,
    dot_q8_0_q8_0_neon
);

/// The float dots: 4 accumulators of 4 lanes over chunks of 16, one over chunks of 4, a
/// scalar tail.
macro_rules! float_dot {
    ($name:ident, $wty:ty, |$w:ident, $i:ident| $load:expr, $widen:expr) => {
        #[target_feature(enable = "neon")]
        fn $name($w: &[$wty], x: &[f32]) -> f32 {
            let n = $w.len().min(x.len());
            let (wp, xp) = (&$w[..n], &x[..n]);
            // SAFETY (both loads): callers pass i + 4 <= n = wp.len() = xp.len().
            let load_x = |i: usize| unsafe { vld1q_f32(xp.as_ptr().add(i)) };
            let load_w = |$i: usize| {
                let $w = wp;
                unsafe { $load }
            };
            let mut acc = [vdupq_n_f32(0.0); 4];
            let mut i = 0;
            while i + 16 <= n {
                for (j, a) in acc.iter_mut().enumerate() {
                    *a = vfmaq_f32(*a, load_w(i + 4 * j), load_x(i + 4 * j));
                }
                i += 16;
            }
            while i + 4 <= n {
                acc[0] = vfmaq_f32(acc[0], load_w(i), load_x(i));
                i += 4;
            }
            let mut sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
            let widen = $widen;
            for (a, b) in wp[i..].iter().zip(&xp[i..]) {
                sum += widen(*a) * b;
            }
            sum
        }
    };
}

float_dot!(
    dot_f32_neon,
    f32,
    |w, i| vld1q_f32(w.as_ptr().add(i)),
    |v: f32| v
);
float_dot!(
    dot_bf16_f32_neon,
    bf16,
    |w, i| vreinterpretq_f32_u32(vshll_n_u16::<16>(vld1_u16(w.as_ptr().add(i) as *const u16))),
    generic::bf16_to_f32
);
