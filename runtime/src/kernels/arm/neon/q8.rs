//! Q8_0 weights against Q8_0 activations (ggml_vec_dot_q8_0_q8_0): several rows per pass,
//! each block reduced to its exact i32 sum and added to its row's f32 lane (see `neon/mod.rs`).

use super::{products_i32, sum_rows_i32};
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::TypeKernels;
use edge_formats::BlockQ8_0;
use std::arch::aarch64::*;

/// The NEON Q8_0 entries.
pub(super) const Q8_0: TypeKernels<BlockQ8_0, BlockQ8_0> =
    TypeKernels::new(dot_q8_0_q8_0, matvec_q8_0);

safe_entry! {
    fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 => dot_q8_0_q8_0_neon;
    fn matvec_q8_0(out: &mut [f32], w: &[BlockQ8_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q8_0_neon;
}

/// Four Q8_0 rows' blocks (as i8x16 pairs) . x's block -> the rows' exact i32 sums
/// (SMULL/SMLAL in i16 pairs, SADALP, ADDP tree); nothing carried between blocks.
#[inline]
#[target_feature(enable = "neon")]
fn group_sums_q8(
    w: [(int8x16_t, int8x16_t); 4],
    x: (int8x16_t, int8x16_t),
    _running: &mut (),
) -> int32x4_t {
    sum_rows_i32(w.map(|q| products_i32(q, x)))
}

/// The Q8_0 kernels: `$dot` (w (nb) . x (nb) -> f32) and `$matvec` (w (rows, row_len) @
/// x (row_len) -> out (rows)) over the multi-row pass `$pass`, with `$group_sums` reducing
/// four rows' blocks against x's block to their exact i32 sums, keeping what it carries from
/// block to block in a group's `$running` (starting value). Shared by the NEON and dotprod
/// tables, which differ in `$group_sums`.
macro_rules! q8_0_kernels {
    (
        $features:literal, $group_sums:ident, $running:expr,
        $pass:ident, $dot:ident, $matvec:ident
    ) => {
        // w (4G rows, nb) @ x (nb) -> one f32x4 per group of 4 rows.
        #[target_feature(enable = $features)]
        fn $pass<const G: usize>(
            rows: $crate::kernels::arm::neon::Rows<edge_formats::BlockQ8_0, G>,
            x: &[edge_formats::BlockQ8_0],
        ) -> [std::arch::aarch64::float32x4_t; G] {
            use $crate::kernels::arm::f16::f16x4_to_f32;
            use $crate::kernels::arm::neon::{
                next_q8_0_group, next_x_q8_0, pass_len, row_cursors, scale_add,
            };
            let n = pass_len(&rows, x);
            let mut acc = [std::arch::aarch64::vdupq_n_f32(0.0); G];
            let mut cursors = row_cursors(&rows);
            let mut xp = x.as_ptr() as *const u8;
            let mut running = [$running; G];
            for _ in 0..n {
                // SAFETY: fewer than n <= x.len() calls: xp is at a whole block of x.
                let (xq, dx) = unsafe { next_x_q8_0(&mut xp) };
                for ((a, group), run) in acc.iter_mut().zip(&mut cursors).zip(&mut running) {
                    // SAFETY: fewer than n = pass_len(rows, x) calls: each pointer is at a
                    // whole block of its row.
                    let (q, dw) = unsafe { next_q8_0_group(group) };
                    *a = scale_add(*a, $group_sums(q, xq, run), f16x4_to_f32(dw), dx);
                }
            }
            acc
        }

        #[target_feature(enable = $features)]
        fn $dot(w: &[edge_formats::BlockQ8_0], x: &[edge_formats::BlockQ8_0]) -> f32 {
            $crate::kernels::arm::neon::dot_by_pass(w, x, |rows, x| $pass::<1>(rows, x))
        }

        #[target_feature(enable = $features)]
        fn $matvec(
            out: &mut [f32],
            w: &[edge_formats::BlockQ8_0],
            row_len: usize,
            x: &[edge_formats::BlockQ8_0],
        ) {
            use $crate::kernels::arm::neon::{matvec_by_passes, PASS_GROUPS};
            matvec_by_passes(out, w, row_len, x, |rows, x| $pass::<PASS_GROUPS>(rows, x))
        }
    };
}
pub(in crate::kernels::arm) use q8_0_kernels;

q8_0_kernels!(
    "neon",
    group_sums_q8,
    (),
    pass_q8_0_neon,
    dot_q8_0_q8_0_neon,
    matvec_q8_0_neon
);
