//! NEON + dotprod (SDOT) kernels: the quantized dots of `neon` with `vdotq_s32`; everything
//! else is the NEON table. Bit-identical to `generic` for the quantized dots.

use super::neon::{self, quantized_dots};
use crate::kernels::isa_glue::{row_loop, safe_entry};
use crate::kernels::Kernels;
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1};
use std::arch::aarch64::*;

/// The dotprod table, or None when this CPU lacks NEON or the dot product extension.
pub fn kernels() -> Option<Kernels> {
    if !std::arch::is_aarch64_feature_detected!("dotprod") {
        return None;
    }
    Some(Kernels {
        dot_q4_0_q8_0,
        dot_q4_1_q8_1,
        dot_q8_0_q8_0,
        matvec_q4_0,
        matvec_q4_1,
        matvec_q8_0,
        ..neon::kernels()?.named("dotprod")
    })
}

safe_entry! {
    fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 => dot_q4_0_q8_0_sdot;
    fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 => dot_q4_1_q8_1_sdot;
    fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 => dot_q8_0_q8_0_sdot;
    fn matvec_q4_0(out: &mut [f32], w: &[BlockQ4_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q4_0_sdot;
    fn matvec_q4_1(out: &mut [f32], w: &[BlockQ4_1], row_len: usize, x: &[BlockQ8_1]) => matvec_q4_1_sdot;
    fn matvec_q8_0(out: &mut [f32], w: &[BlockQ8_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q8_0_sdot;
}

row_loop!(
    matvec_q4_0_sdot,
    BlockQ4_0,
    BlockQ8_0,
    dot_q4_0_q8_0_sdot,
    "neon,dotprod"
);
row_loop!(
    matvec_q4_1_sdot,
    BlockQ4_1,
    BlockQ8_1,
    dot_q4_1_q8_1_sdot,
    "neon,dotprod"
);
row_loop!(
    matvec_q8_0_sdot,
    BlockQ8_0,
    BlockQ8_0,
    dot_q8_0_q8_0_sdot,
    "neon,dotprod"
);

/// acc + SDOT(a, b): each i32 lane gains the sum of 4 adjacent i8 products. `vdotq_s32` is
/// still unstable in Rust (stdarch_neon_dotprod), so this is the one instruction in asm.
#[inline]
#[target_feature(enable = "neon,dotprod")]
fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: one register-only instruction; the dotprod extension is guaranteed by this
    // function's target_feature (reached only after `is_aarch64_feature_detected!`).
    unsafe {
        std::arch::asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

/// Exact sum of a0*b0 + a1*b1 over 32 lanes with SDOT.
#[inline]
#[target_feature(enable = "neon,dotprod")]
fn sum_products(a: (int8x16_t, int8x16_t), b: (int8x16_t, int8x16_t)) -> i32 {
    let acc = sdot(sdot(vdupq_n_s32(0), a.0, b.0), a.1, b.1);
    vaddvq_s32(acc)
}

quantized_dots!(
    "neon,dotprod",
    sum_products,
    dot_q4_0_q8_0_sdot,
    dot_q4_1_q8_1_sdot,
    dot_q8_0_q8_0_sdot
);
