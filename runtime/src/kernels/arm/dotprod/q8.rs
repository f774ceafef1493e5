//! Q8_0 weights with SDOT: the multi-row kernels of `neon::q8` with each row's block products
//! summed by two SDOTs.

use super::sdot;
use crate::kernels::arm::neon::q8::q8_0_kernels;
use crate::kernels::arm::neon::sum_rows_i32;
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::TypeKernels;
use edge_formats::BlockQ8_0;
use std::arch::aarch64::*;

/// The dotprod Q8_0 entries.
pub(super) const Q8_0: TypeKernels<BlockQ8_0, BlockQ8_0> =
    TypeKernels::new(dot_q8_0_q8_0, matvec_q8_0);

safe_entry! {
    fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 => dot_q8_0_q8_0_sdot;
    fn matvec_q8_0(out: &mut [f32], w: &[BlockQ8_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q8_0_sdot;
}

/// What a group carries from block to block: each row's SDOT lanes, summed over every block
/// so far (never reset, so no zeroing per block), and their ADDP tree at the previous block.
#[derive(Clone, Copy)]
struct Running {
    rows: [int32x4_t; 4],
    previous: int32x4_t,
}

/// Four Q8_0 rows' blocks (as i8x16 pairs) . x's block -> the rows' exact i32 sums: two SDOTs
/// per row onto the running lanes, the ADDP tree, minus the previous tree. Exact even if the
/// running sums wrap: each block's sum fits i32, and wrapping arithmetic is exact mod 2^32.
#[inline]
#[target_feature(enable = "neon,dotprod")]
fn group_sums_q8(
    w: [(int8x16_t, int8x16_t); 4],
    x: (int8x16_t, int8x16_t),
    running: &mut Running,
) -> int32x4_t {
    for (acc, q) in running.rows.iter_mut().zip(w) {
        *acc = sdot(sdot(*acc, q.0, x.0), q.1, x.1);
    }
    let total = sum_rows_i32(running.rows);
    let block = vsubq_s32(total, running.previous);
    running.previous = total;
    block
}

q8_0_kernels!(
    "neon,dotprod",
    group_sums_q8,
    // SAFETY: all-zero bits are a valid int32x4_t (plain integers).
    unsafe { std::mem::zeroed::<Running>() },
    pass_q8_0_sdot,
    dot_q8_0_q8_0_sdot,
    matvec_q8_0_sdot
);
