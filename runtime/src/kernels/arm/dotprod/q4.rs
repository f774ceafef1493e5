//! Q4_0 and Q4_1 weights with SDOT: the multi-row kernels of `neon::q4` with each row's
//! block products summed by two SDOTs.

use super::sdot;
use crate::kernels::arm::neon::q4::q4_kernels;
use crate::kernels::arm::neon::sum_rows_i32;
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::TypeKernels;
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1};
use std::arch::aarch64::*;

/// The dotprod Q4_0 entries.
pub(super) const Q4_0: TypeKernels<BlockQ4_0, BlockQ8_0> =
    TypeKernels::new(dot_q4_0_q8_0, matvec_q4_0);
/// The dotprod Q4_1 entries.
pub(super) const Q4_1: TypeKernels<BlockQ4_1, BlockQ8_1> =
    TypeKernels::new(dot_q4_1_q8_1, matvec_q4_1);

safe_entry! {
    fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 => dot_q4_0_q8_0_sdot;
    fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 => dot_q4_1_q8_1_sdot;
    fn matvec_q4_0(out: &mut [f32], w: &[BlockQ4_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q4_0_sdot;
    fn matvec_q4_1(out: &mut [f32], w: &[BlockQ4_1], row_len: usize, x: &[BlockQ8_1]) => matvec_q4_1_sdot;
}

/// -8 * sum(x) of a block of x, as i32x4 whose lanes add up to it: the starting value of each
/// row's SDOTs, which then give the exact sum of (nibble - 8) * x.
#[inline]
#[target_feature(enable = "neon,dotprod")]
fn nibble_offset(x: (int8x16_t, int8x16_t)) -> int32x4_t {
    let minus8 = vdupq_n_s8(-8);
    sdot(sdot(vdupq_n_s32(0), x.0, minus8), x.1, minus8)
}

/// Four Q4_0 rows' raw nibbles . x's block, starting from `offset` -> the rows' exact i32 sums.
#[inline]
#[target_feature(enable = "neon,dotprod")]
fn group_sums_q4_0(
    w: [(int8x16_t, int8x16_t); 4],
    x: (int8x16_t, int8x16_t),
    offset: int32x4_t,
) -> int32x4_t {
    sum_rows_i32(w.map(|q| sdot(sdot(offset, q.0, x.0), q.1, x.1)))
}

/// Four Q4_1 rows' nibbles . x's block -> the rows' exact i32 sums.
#[inline]
#[target_feature(enable = "neon,dotprod")]
fn group_sums_q4_1(w: [(int8x16_t, int8x16_t); 4], x: (int8x16_t, int8x16_t)) -> int32x4_t {
    sum_rows_i32(w.map(|q| sdot(sdot(vdupq_n_s32(0), q.0, x.0), q.1, x.1)))
}

q4_kernels!(
    "neon,dotprod", nibble_offset, group_sums_q4_0, group_sums_q4_1,
    q4_0: pass_q4_0_sdot, dot_q4_0_q8_0_sdot, matvec_q4_0_sdot,
    q4_1: pass_q4_1_sdot, dot_q4_1_q8_1_sdot, matvec_q4_1_sdot
);
