//! NEON + dotprod (SDOT) kernels: the quantized kernels of `neon` with `vdotq_s32`, one file
//! per type family; everything else is the NEON table.

mod gemm_q4_1;
mod gemm_q5;
mod k_quants;
mod q4;
mod q5;
mod q8;
mod repacked;
mod repacked_gemm;

use super::neon;
use crate::kernels::Kernels;
use std::arch::aarch64::*;

/// The dotprod table, or None when this CPU lacks NEON or the dot product extension.
pub fn kernels() -> Option<Kernels> {
    if !std::arch::is_aarch64_feature_detected!("dotprod") {
        return None;
    }
    Some(Kernels {
        q4_0: q4::Q4_0,
        q4_1: q4::Q4_1.with_gemm(gemm_q4_1::gemm_q4_1),
        q5_0: q5::Q5_0.with_gemm(gemm_q5::gemm_q5_0),
        q5_1: q5::Q5_1.with_gemm(gemm_q5::gemm_q5_1),
        q8_0: q8::Q8_0,
        q2_k: k_quants::Q2_K,
        q3_k: k_quants::Q3_K,
        q4_k: k_quants::Q4_K,
        q5_k: k_quants::Q5_K,
        q6_k: k_quants::Q6_K,
        q4_0x4: repacked::matvec_q4_0x4,
        q8_0x4: repacked::matvec_q8_0x4,
        q4_0x4_gemm: Some(repacked_gemm::gemm_q4_0x4),
        q8_0x4_gemm: Some(repacked_gemm::gemm_q8_0x4),
        ..neon::kernels()?.named("dotprod")
    })
}

/// acc + SDOT(a, b): each i32 lane gains the sum of 4 adjacent i8 products. `vdotq_s32` is
/// still unstable in Rust (stdarch_neon_dotprod), so this is the one instruction in asm.
#[inline]
#[target_feature(enable = "neon,dotprod")]
pub(super) fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
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
