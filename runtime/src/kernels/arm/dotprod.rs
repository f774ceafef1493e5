//! NEON + dotprod (SDOT) kernels: the quantized dots of `neon` with `vdotq_s32`; everything
//! else is the NEON table. Bit-identical to `generic` for the quantized dots.

use super::neon::{self, load_q8, row_loop, unpack_nibbles};
use super::{scale_q4_0, scale_q4_1, scale_q8_0};
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

macro_rules! safe_entry {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? => $imp:ident;)*) => {$(
        fn $name($($arg: $ty),*) $(-> $ret)? {
            // SAFETY: only reachable through the table `kernels()` builds after checking
            // that the CPU has NEON and dotprod.
            unsafe { $imp($($arg),*) }
        }
    )*};
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

// w (nb) . x (nb) -> f32; ggml_vec_dot_q4_0_q8_0 (dotprod path), generic scaling.
#[target_feature(enable = "neon,dotprod")]
fn dot_q4_0_q8_0_sdot(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
    let eight = vdupq_n_s8(8);
    let mut sumf = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let (lo, hi) = unpack_nibbles(&a.qs);
        let sumi = sum_products((vsubq_s8(lo, eight), vsubq_s8(hi, eight)), load_q8(&b.qs));
        sumf = scale_q4_0(sumf, sumi, a, b);
    }
    sumf
}

// w (nb) . x (nb) -> f32; ggml_vec_dot_q4_1_q8_1 (dotprod path), generic scaling.
#[target_feature(enable = "neon,dotprod")]
fn dot_q4_1_q8_1_sdot(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let sumi = sum_products(unpack_nibbles(&a.qs), load_q8(&b.qs));
        sumf = scale_q4_1(sumf, sumi, a, b);
    }
    sumf
}

// w (nb) . x (nb) -> f32; ggml_vec_dot_q8_0_q8_0 (dotprod path), generic scaling.
#[target_feature(enable = "neon,dotprod")]
fn dot_q8_0_q8_0_sdot(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        sumf = scale_q8_0(sumf, sum_products(load_q8(&a.qs), load_q8(&b.qs)), a, b);
    }
    sumf
}
