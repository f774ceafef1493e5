//! Q4_0 and Q4_1 weights against Q8_0 and Q8_1 activations (ggml_vec_dot_q4_0_q8_0,
//! _q4_1_q8_1): several rows per pass, each block reduced to its exact i32 sum and added to
//! its row's f32 lane (see `neon/mod.rs`). The nibbles enter the products raw (0..16); Q4_0's
//! offset of 8 is taken off once per block of x as 8 * sum(x), exactly.

use super::{products_i16, sum_rows_i16};
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::TypeKernels;
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1};
use std::arch::aarch64::*;

/// The NEON Q4_0 entries.
pub(super) const Q4_0: TypeKernels<BlockQ4_0, BlockQ8_0> =
    TypeKernels::new(dot_q4_0_q8_0, matvec_q4_0);
/// The NEON Q4_1 entries.
pub(super) const Q4_1: TypeKernels<BlockQ4_1, BlockQ8_1> =
    TypeKernels::new(dot_q4_1_q8_1, matvec_q4_1);

safe_entry! {
    fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 => dot_q4_0_q8_0_neon;
    fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 => dot_q4_1_q8_1_neon;
    fn matvec_q4_0(out: &mut [f32], w: &[BlockQ4_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q4_0_neon;
    fn matvec_q4_1(out: &mut [f32], w: &[BlockQ4_1], row_len: usize, x: &[BlockQ8_1]) => matvec_q4_1_neon;
}

/// 8 * sum(x) of a block of x, as i16x8 whose lanes 2r and 2r+1 add up to it (the layout of
/// `sum_rows_i16`'s result).
#[inline]
#[target_feature(enable = "neon")]
fn nibble_offset(x: (int8x16_t, int8x16_t)) -> int16x8_t {
    let s = vpadalq_s8(vpaddlq_s8(x.0), x.1);
    let s = vpaddq_s16(s, s);
    vshlq_n_s16::<3>(vpaddq_s16(s, s))
}

/// Four Q4_0 rows' raw nibbles . x's block - 8 * sum(x) -> the rows' exact i32 sums. In i16:
/// |nibble * x| <= 15 * 127, so 16 products fit, and the offset leaves at most 16 * 8 * 127.
#[inline]
#[target_feature(enable = "neon")]
fn group_sums_q4_0(
    w: [(int8x16_t, int8x16_t); 4],
    x: (int8x16_t, int8x16_t),
    offset: int16x8_t,
) -> int32x4_t {
    vpaddlq_s16(vsubq_s16(
        sum_rows_i16(w.map(|q| products_i16(q, x))),
        offset,
    ))
}

/// Four Q4_1 rows' nibbles . x's block -> the rows' exact i32 sums.
#[inline]
#[target_feature(enable = "neon")]
fn group_sums_q4_1(w: [(int8x16_t, int8x16_t); 4], x: (int8x16_t, int8x16_t)) -> int32x4_t {
    vpaddlq_s16(sum_rows_i16(w.map(|q| products_i16(q, x))))
}

/// The Q4_0 and Q4_1 kernels (dot: w (nb) . x (nb) -> f32; matvec: w (rows, row_len) @
/// x (row_len) -> out (rows)) over multi-row passes. Per ISA: `$offset` turns x's block into
/// what `$sums_q4_0` takes off for Q4_0's offset of 8, and `$sums_q4_0` / `$sums_q4_1` reduce
/// four rows' raw nibbles against x's block to their exact i32 sums.
macro_rules! q4_kernels {
    (
        $features:literal, $offset:ident, $sums_q4_0:ident, $sums_q4_1:ident,
        q4_0: $pass0:ident, $dot0:ident, $matvec0:ident,
        q4_1: $pass1:ident, $dot1:ident, $matvec1:ident
    ) => {
        // w (4G rows, nb) @ x (nb) -> one f32x4 per group of 4 rows.
        #[target_feature(enable = $features)]
        fn $pass0<const G: usize>(
            rows: $crate::kernels::arm::neon::Rows<edge_formats::BlockQ4_0, G>,
            x: &[edge_formats::BlockQ8_0],
        ) -> [std::arch::aarch64::float32x4_t; G] {
            use $crate::kernels::arm::f16::f16x4_to_f32;
            use $crate::kernels::arm::neon::{
                next_q4_0_group, next_x_q8_0, pass_len, row_cursors, scale_add,
            };
            let n = pass_len(&rows, x);
            let mut acc = [std::arch::aarch64::vdupq_n_f32(0.0); G];
            let mut cursors = row_cursors(&rows);
            let mut xp = x.as_ptr() as *const u8;
            for _ in 0..n {
                // SAFETY: fewer than n <= x.len() calls: xp is at a whole block of x.
                let (xq, dx) = unsafe { next_x_q8_0(&mut xp) };
                let offset = $offset(xq);
                for (a, group) in acc.iter_mut().zip(&mut cursors) {
                    // SAFETY: fewer than n = pass_len(rows, x) calls: each pointer is at a
                    // whole block of its row.
                    let (q, dw) = unsafe { next_q4_0_group(group) };
                    *a = scale_add(*a, $sums_q4_0(q, xq, offset), f16x4_to_f32(dw), dx);
                }
            }
            acc
        }

        // w (4G rows, nb) @ x (nb) -> one f32x4 per group of 4 rows; per block
        // d_w * d_x * sumi + m_w * s_x.
        #[target_feature(enable = $features)]
        fn $pass1<const G: usize>(
            rows: $crate::kernels::arm::neon::Rows<edge_formats::BlockQ4_1, G>,
            x: &[edge_formats::BlockQ8_1],
        ) -> [std::arch::aarch64::float32x4_t; G] {
            use $crate::kernels::arm::f16::f16x4_to_f32;
            use $crate::kernels::arm::neon::{
                next_q4_1_group, next_x_q8_1, pass_len, row_cursors, scale_add,
            };
            let n = pass_len(&rows, x);
            let mut acc = [std::arch::aarch64::vdupq_n_f32(0.0); G];
            let mut cursors = row_cursors(&rows);
            let mut xp = x.as_ptr() as *const u8;
            for _ in 0..n {
                // SAFETY: fewer than n <= x.len() calls: xp is at a whole block of x.
                let (xq, dx, sx) = unsafe { next_x_q8_1(&mut xp) };
                for (a, group) in acc.iter_mut().zip(&mut cursors) {
                    // SAFETY: fewer than n = pass_len(rows, x) calls: each pointer is at a
                    // whole block of its row.
                    let (q, dw, mw) = unsafe { next_q4_1_group(group) };
                    let scaled = scale_add(*a, $sums_q4_1(q, xq), f16x4_to_f32(dw), dx);
                    *a = std::arch::aarch64::vfmaq_n_f32(scaled, f16x4_to_f32(mw), sx);
                }
            }
            acc
        }

        #[target_feature(enable = $features)]
        fn $dot0(w: &[edge_formats::BlockQ4_0], x: &[edge_formats::BlockQ8_0]) -> f32 {
            $crate::kernels::arm::neon::dot_by_pass(w, x, |rows, x| $pass0::<1>(rows, x))
        }

        #[target_feature(enable = $features)]
        fn $dot1(w: &[edge_formats::BlockQ4_1], x: &[edge_formats::BlockQ8_1]) -> f32 {
            $crate::kernels::arm::neon::dot_by_pass(w, x, |rows, x| $pass1::<1>(rows, x))
        }

        #[target_feature(enable = $features)]
        fn $matvec0(
            out: &mut [f32],
            w: &[edge_formats::BlockQ4_0],
            row_len: usize,
            x: &[edge_formats::BlockQ8_0],
        ) {
            use $crate::kernels::arm::neon::{matvec_by_passes, PASS_GROUPS};
            matvec_by_passes(out, w, row_len, x, |rows, x| $pass0::<PASS_GROUPS>(rows, x))
        }

        #[target_feature(enable = $features)]
        fn $matvec1(
            out: &mut [f32],
            w: &[edge_formats::BlockQ4_1],
            row_len: usize,
            x: &[edge_formats::BlockQ8_1],
        ) {
            use $crate::kernels::arm::neon::{matvec_by_passes, PASS_GROUPS};
            matvec_by_passes(out, w, row_len, x, |rows, x| $pass1::<PASS_GROUPS>(rows, x))
        }
    };
}
pub(in crate::kernels::arm) use q4_kernels;

q4_kernels!(
    "neon", nibble_offset, group_sums_q4_0, group_sums_q4_1,
    q4_0: pass_q4_0_neon, dot_q4_0_q8_0_neon, matvec_q4_0_neon,
    q4_1: pass_q4_1_neon, dot_q4_1_q8_1_neon, matvec_q4_1_neon
);
