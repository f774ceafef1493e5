//! The activation quantizers (ggml quantize_row_q8_0 / _q8_1, NEON path): bit-identical to
//! `generic`.

use crate::kernels::generic;
use crate::kernels::isa_glue::safe_entry;
use edge_formats::{BlockQ8_0, BlockQ8_1, QK};
use half::f16;
use std::arch::aarch64::*;

safe_entry! {
    pub(super) fn quantize_q8_0(x: &[f32], out: &mut [BlockQ8_0]) => quantize_q8_0_neon;
    pub(super) fn quantize_q8_1(x: &[f32], out: &mut [BlockQ8_1]) => quantize_q8_1_neon;
}

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
