//! The K-quants with SDOT: the NEON dots of `neon::k_quants` with each sub-block's products
//! summed by `vdotq_s32`. SDOT lane i holds elements 4i..4i+4 of each 16, not the generic
//! kernels' e % 8 lanes, so the f32 scaling rounds other partial sums: Q2_K (one integer
//! sum per super-block) stays bit-identical to generic, Q3_K..Q6_K agree within f32
//! accumulation rounding (`tests/kernels_generic.rs`: 4 (nb + 16) eps32 A).

use super::sdot;
use crate::kernels::arm::neon::k_quants::{k_quant_dots, Lanes};
use crate::kernels::isa_glue::{row_loop, safe_entry};
use crate::kernels::TypeKernels;
use edge_formats::blocks::{BlockQ2_K, BlockQ3_K, BlockQ4_K, BlockQ5_K, BlockQ6_K, BlockQ8_K};
use std::arch::aarch64::*;

/// The dotprod Q2_K entries.
pub(super) const Q2_K: TypeKernels<BlockQ2_K, BlockQ8_K> =
    TypeKernels::new(dot_q2_k_q8_k, matvec_q2_k).with_gemm(gemm_q2_k);
/// The dotprod Q3_K entries.
pub(super) const Q3_K: TypeKernels<BlockQ3_K, BlockQ8_K> =
    TypeKernels::new(dot_q3_k_q8_k, matvec_q3_k).with_gemm(gemm_q3_k);
/// The dotprod Q4_K entries.
pub(super) const Q4_K: TypeKernels<BlockQ4_K, BlockQ8_K> =
    TypeKernels::new(dot_q4_k_q8_k, matvec_q4_k).with_gemm(gemm_q4_k);
/// The dotprod Q5_K entries.
pub(super) const Q5_K: TypeKernels<BlockQ5_K, BlockQ8_K> =
    TypeKernels::new(dot_q5_k_q8_k, matvec_q5_k).with_gemm(gemm_q5_k);
/// The dotprod Q6_K entries.
pub(super) const Q6_K: TypeKernels<BlockQ6_K, BlockQ8_K> =
    TypeKernels::new(dot_q6_k_q8_k, matvec_q6_k).with_gemm(gemm_q6_k);

safe_entry! {
    fn dot_q2_k_q8_k(w: &[BlockQ2_K], x: &[BlockQ8_K]) -> f32 => dot_q2_k_sdot;
    fn dot_q3_k_q8_k(w: &[BlockQ3_K], x: &[BlockQ8_K]) -> f32 => dot_q3_k_sdot;
    fn dot_q4_k_q8_k(w: &[BlockQ4_K], x: &[BlockQ8_K]) -> f32 => dot_q4_k_sdot;
    fn dot_q5_k_q8_k(w: &[BlockQ5_K], x: &[BlockQ8_K]) -> f32 => dot_q5_k_sdot;
    fn dot_q6_k_q8_k(w: &[BlockQ6_K], x: &[BlockQ8_K]) -> f32 => dot_q6_k_sdot;
    fn gemm_q2_k(out: &mut [&mut [f32]], w: &[BlockQ2_K], row_len: usize, xs: &[&[BlockQ8_K]]) => gemm_q2_k_sdot;
    fn gemm_q3_k(out: &mut [&mut [f32]], w: &[BlockQ3_K], row_len: usize, xs: &[&[BlockQ8_K]]) => gemm_q3_k_sdot;
    fn gemm_q4_k(out: &mut [&mut [f32]], w: &[BlockQ4_K], row_len: usize, xs: &[&[BlockQ8_K]]) => gemm_q4_k_sdot;
    fn gemm_q5_k(out: &mut [&mut [f32]], w: &[BlockQ5_K], row_len: usize, xs: &[&[BlockQ8_K]]) => gemm_q5_k_sdot;
    fn gemm_q6_k(out: &mut [&mut [f32]], w: &[BlockQ6_K], row_len: usize, xs: &[&[BlockQ8_K]]) => gemm_q6_k_sdot;
    fn matvec_q2_k(out: &mut [f32], w: &[BlockQ2_K], row_len: usize, x: &[BlockQ8_K]) => matvec_q2_k_sdot;
    fn matvec_q3_k(out: &mut [f32], w: &[BlockQ3_K], row_len: usize, x: &[BlockQ8_K]) => matvec_q3_k_sdot;
    fn matvec_q4_k(out: &mut [f32], w: &[BlockQ4_K], row_len: usize, x: &[BlockQ8_K]) => matvec_q4_k_sdot;
    fn matvec_q5_k(out: &mut [f32], w: &[BlockQ5_K], row_len: usize, x: &[BlockQ8_K]) => matvec_q5_k_sdot;
    fn matvec_q6_k(out: &mut [f32], w: &[BlockQ6_K], row_len: usize, x: &[BlockQ8_K]) => matvec_q6_k_sdot;
}

row_loop!(
    matvec_q2_k_sdot,
    BlockQ2_K,
    BlockQ8_K,
    dot_q2_k_sdot,
    "neon,dotprod"
);
row_loop!(
    matvec_q3_k_sdot,
    BlockQ3_K,
    BlockQ8_K,
    dot_q3_k_sdot,
    "neon,dotprod"
);
row_loop!(
    matvec_q4_k_sdot,
    BlockQ4_K,
    BlockQ8_K,
    dot_q4_k_sdot,
    "neon,dotprod"
);
row_loop!(
    matvec_q5_k_sdot,
    BlockQ5_K,
    BlockQ8_K,
    dot_q5_k_sdot,
    "neon,dotprod"
);
row_loop!(
    matvec_q6_k_sdot,
    BlockQ6_K,
    BlockQ8_K,
    dot_q6_k_sdot,
    "neon,dotprod"
);

/// acc + scale * (q . y) over 16 values, in the low four lanes.
#[inline]
#[target_feature(enable = "neon,dotprod")]
fn sdot_acc16(acc: Lanes, q: int8x16_t, y: int8x16_t, scale: i16) -> Lanes {
    let p = sdot(vdupq_n_s32(0), q, y);
    Lanes(vmlaq_n_s32(acc.0, p, i32::from(scale)), acc.1)
}

/// acc + scale * (q . y) over 32 values (one scale), in the low four lanes.
#[inline]
#[target_feature(enable = "neon,dotprod")]
fn sdot_acc32(acc: Lanes, q: [int8x16_t; 2], y: [int8x16_t; 2], scale: i16) -> Lanes {
    let p = sdot(sdot(vdupq_n_s32(0), q[0], y[0]), q[1], y[1]);
    Lanes(vmlaq_n_s32(acc.0, p, i32::from(scale)), acc.1)
}

k_quant_dots!(
    "neon,dotprod",
    sdot_acc16,
    sdot_acc32,
    dot_q2_k_sdot,
    dot_q3_k_sdot,
    dot_q4_k_sdot,
    dot_q5_k_sdot,
    dot_q6_k_sdot
);

// Tokens a pass (SmolLM2 under qemu as a Cortex-A76, M instructions per prompt token, every K
// gemm at 4 -> these): pure-q2_k 30.0 -> 27.1, pure-q3_k 31.5 -> 28.4, q5_k_m 33.5 -> 33.0
// (Q5_K at 8); Q6_K at 8 too: q5_k_m +0.3; Q4_K and Q6_K at 8: q4_k_m 29.7 -> 29.9.
crate::kernels::arm::neon::k_gemm::k_quant_gemms!(
    "neon,dotprod", sdot_acc16, sdot_acc32,
    q2_k: pass_q2_k_sdot, gemm_q2_k_sdot, matvec_q2_k_sdot, 8,
    q3_k: pass_q3_k_sdot, gemm_q3_k_sdot, matvec_q3_k_sdot, 8,
    q4_k: pass_q4_k_sdot, gemm_q4_k_sdot, matvec_q4_k_sdot, 4,
    q5_k: pass_q5_k_sdot, gemm_q5_k_sdot, matvec_q5_k_sdot, 8,
    q6_k: pass_q6_k_sdot, gemm_q6_k_sdot, matvec_q6_k_sdot, 4
);
