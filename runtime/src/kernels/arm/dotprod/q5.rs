//! Q5_0 and Q5_1 weights with SDOT: the multi-row kernels of `neon::q5` with each row's
//! block products summed by two SDOTs (bit-identical to `generic`, like the NEON ones).

use super::sdot;
use crate::kernels::arm::neon::q5::q5_kernels;
use crate::kernels::arm::neon::{map4, sum_rows_i32};
use crate::kernels::isa_glue::safe_entry;
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

/// Four rows' values minus 16 . x's block -> the rows' exact i32 sums.
#[inline]
#[target_feature(enable = "neon,dotprod")]
fn group_sums(w: [(int8x16_t, int8x16_t); 4], x: (int8x16_t, int8x16_t)) -> int32x4_t {
    sum_rows_i32(map4(w, |q| sdot(sdot(vdupq_n_s32(0), q.0, x.0), q.1, x.1)))
}

q5_kernels!(
    "neon,dotprod", group_sums,
    q5_0: pass_q5_0_sdot, dot_q5_0_q8_0_sdot, matvec_q5_0_sdot,
    q5_1: pass_q5_1_sdot, dot_q5_1_q8_1_sdot, matvec_q5_1_sdot
);
