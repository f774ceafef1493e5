//! Q4_0 and Q4_1 weights: 32 four-bit values per block with an f16 scale (and an f16 minimum
//! for Q4_1), read against Q8_0 and Q8_1 activations.

use super::rows_by;
use crate::kernels::TypeKernels;
use edge_formats::blocks::nibbles::unpack_q4;
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1};

/// The generic Q4_0 entries of the kernel table.
pub const Q4_0: TypeKernels<BlockQ4_0, BlockQ8_0> = TypeKernels::new(dot_q4_0_q8_0, matvec_q4_0);
/// The generic Q4_1 entries of the kernel table.
pub const Q4_1: TypeKernels<BlockQ4_1, BlockQ8_1> = TypeKernels::new(dot_q4_1_q8_1, matvec_q4_1);

/// w (nb blocks) . x (nb blocks) -> f32. ggml_vec_dot_q4_0_q8_0 (generic): per block
/// sumi = sum (q - 8) * y in i32, then sumf += sumi * d_w * d_x (left to right) in f32.
pub fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let mut sumi = 0i32;
        for (&q, &y) in unpack_q4(&a.qs).iter().zip(&b.qs) {
            sumi += (i32::from(q) - 8) * i32::from(y);
        }
        sumf = scale_q4_0(sumf, sumi, a, b);
    }
    sumf
}

/// w (nb blocks) . x (nb blocks) -> f32. ggml_vec_dot_q4_1_q8_1 (generic): per block
/// sumf += (d_w * d_x) * sumi + m_w * s_x in f32.
pub fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let mut sumi = 0i32;
        for (&q, &y) in unpack_q4(&a.qs).iter().zip(&b.qs) {
            sumi += i32::from(q) * i32::from(y);
        }
        sumf = scale_q4_1(sumf, sumi, a, b);
    }
    sumf
}

/// The f32 scaling of one block's exact integer sum `sumi` into the running sum, in ggml's
/// generic order; every kernel that reduces a block to its i32 sum first scales with these.
#[inline(always)]
pub fn scale_q4_0(sumf: f32, sumi: i32, a: &BlockQ4_0, b: &BlockQ8_0) -> f32 {
    sumf + sumi as f32 * a.d.to_f32() * b.d.to_f32()
}
#[inline(always)]
pub fn scale_q4_1(sumf: f32, sumi: i32, a: &BlockQ4_1, b: &BlockQ8_1) -> f32 {
    sumf + ((a.d.to_f32() * b.d.to_f32()) * sumi as f32 + a.m.to_f32() * b.s.to_f32())
}

// w (rows, nb blocks) @ x (nb blocks) -> out (rows).
pub fn matvec_q4_0(out: &mut [f32], w: &[BlockQ4_0], row_len: usize, x: &[BlockQ8_0]) {
    rows_by(out, w, row_len, x, dot_q4_0_q8_0)
}
pub fn matvec_q4_1(out: &mut [f32], w: &[BlockQ4_1], row_len: usize, x: &[BlockQ8_1]) {
    rows_by(out, w, row_len, x, dot_q4_1_q8_1)
}
