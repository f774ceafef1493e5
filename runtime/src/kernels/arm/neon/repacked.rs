//! The repacked Q4_0 and Q8_0 layouts (`kernels::repacked`) on NEON: scalar loops in the ARM
//! kernels' arithmetic (each block's exact i32 sum, then acc = fma(f32(sumi), d_w * d_x,
//! acc)), so each row is the bits of `neon`'s (and `dotprod`'s) dot of the row. Run only when
//! a model repacked for dotprod is used with the NEON table; `dotprod::repacked` has the fast
//! kernels.

use crate::kernels::repacked::{rows_by_unpacking, unpack_q4_0, unpack_q8_0};
use crate::kernels::repacked::{BlockQ4_0x4, BlockQ8_0x4};
use edge_formats::blocks::nibbles::unpack_q4;
use edge_formats::BlockQ8_0;

/// acc + f32(sumi) * (d_w * d_x) with one rounding for the multiply-add (ARM's FMLA).
#[inline(always)]
pub(in crate::kernels::arm) fn fused_scale(acc: f32, sumi: i32, dw: f32, dx: f32) -> f32 {
    (sumi as f32).mul_add(dw * dx, acc)
}

// w (rows, row_len) @ x (row_len) -> out (rows)
pub(super) fn matvec_q4_0x4(out: &mut [f32], w: &[BlockQ4_0x4], row_len: usize, x: &[BlockQ8_0]) {
    rows_by_unpacking(out, w, row_len, x, unpack_q4_0, |blocks, x| {
        let mut acc = 0.0f32;
        for (a, b) in blocks.zip(x) {
            let mut sumi = 0i32;
            for (&q, &y) in unpack_q4(&a.qs).iter().zip(&b.qs) {
                sumi += (i32::from(q) - 8) * i32::from(y);
            }
            acc = fused_scale(acc, sumi, a.d.to_f32(), b.d.to_f32());
        }
        acc
    })
}

// w (rows, row_len) @ x (row_len) -> out (rows)
pub(super) fn matvec_q8_0x4(out: &mut [f32], w: &[BlockQ8_0x4], row_len: usize, x: &[BlockQ8_0]) {
    rows_by_unpacking(out, w, row_len, x, unpack_q8_0, |blocks, x| {
        let mut acc = 0.0f32;
        for (a, b) in blocks.zip(x) {
            let mut sumi = 0i32;
            for (&q, &y) in a.qs.iter().zip(&b.qs) {
                sumi += i32::from(q) * i32::from(y);
            }
            acc = fused_scale(acc, sumi, a.d.to_f32(), b.d.to_f32());
        }
        acc
    })
}
