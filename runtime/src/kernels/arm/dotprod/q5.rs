//! Q5_0 and Q5_1 weights with SDOT (the NEON dots of `neon::q5` with the block sum in SDOT):
//! bit-identical to `generic`.

use super::sdot;
use crate::kernels::arm::neon::q5::q5_dots;
use crate::kernels::isa_glue::{row_loop, safe_entry};
use crate::kernels::TypeKernels;
use edge_formats::blocks::{BlockQ5_0, BlockQ5_1};
use edge_formats::{BlockQ8_0, BlockQ8_1};
use std::arch::aarch64::*;

/// The dotprod Q5_0 entries.
pub(super) const Q5_0: TypeKernels<BlockQ5_0, BlockQ8_0> =
    TypeKernels::new(dot_q5_0_q8_0, matvec_q5_0);
/// The dotprod Q5_1 entries.
pub(super) const Q5_1: TypeKernels<BlockQ5_1, BlockQ8_1> =
    TypeKernels::new(dot_q5_1_q8_1, matvec_q5_1);

safe_entry! {
    fn dot_q5_0_q8_0(w: &[BlockQ5_0], x: &[BlockQ8_0]) -> f32 => dot_q5_0_q8_0_sdot;
    fn dot_q5_1_q8_1(w: &[BlockQ5_1], x: &[BlockQ8_1]) -> f32 => dot_q5_1_q8_1_sdot;
    fn matvec_q5_0(out: &mut [f32], w: &[BlockQ5_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q5_0_sdot;
    fn matvec_q5_1(out: &mut [f32], w: &[BlockQ5_1], row_len: usize, x: &[BlockQ8_1]) => matvec_q5_1_sdot;
}

row_loop!(
    matvec_q5_0_sdot,
    BlockQ5_0,
    BlockQ8_0,
    dot_q5_0_q8_0_sdot,
    "neon,dotprod"
);
row_loop!(
    matvec_q5_1_sdot,
    BlockQ5_1,
    BlockQ8_1,
    dot_q5_1_q8_1_sdot,
    "neon,dotprod"
);

/// Exact sum of q . y over 32 values with SDOT.
#[inline]
#[target_feature(enable = "neon,dotprod")]
fn sum_products32(q: [int8x16_t; 2], y: [int8x16_t; 2]) -> i32 {
    vaddvq_s32(sdot(sdot(vdupq_n_s32(0), q[0], y[0]), q[1], y[1]))
}

q5_dots!(
    "neon,dotprod",
    sum_products32,
    dot_q5_0_q8_0_sdot,
    dot_q5_1_q8_1_sdot
);
