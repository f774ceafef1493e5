//! Q5_0 and Q5_1 weights: 32 five-bit values per block with an f16 scale (and an f16 minimum
//! for Q5_1), read against Q8_0 and Q8_1 activations.

use super::rows_by;
use crate::kernels::TypeKernels;
use edge_formats::blocks::q5_0::unpack_q5;
use edge_formats::blocks::{BlockQ5_0, BlockQ5_1};
use edge_formats::{BlockQ8_0, BlockQ8_1};

/// The generic Q5_0 entries of the kernel table.
pub const Q5_0: TypeKernels<BlockQ5_0, BlockQ8_0> = TypeKernels::new(dot_q5_0_q8_0, matvec_q5_0);
/// The generic Q5_1 entries of the kernel table.
pub const Q5_1: TypeKernels<BlockQ5_1, BlockQ8_1> = TypeKernels::new(dot_q5_1_q8_1, matvec_q5_1);

/// w (nb blocks) . x (nb blocks) -> f32. ggml_vec_dot_q5_0_q8_0 (generic): per block
/// sumi = sum (q - 16) * y in i32, then sumf += (d_w * d_x) * sumi in f32.
pub fn dot_q5_0_q8_0(w: &[BlockQ5_0], x: &[BlockQ8_0]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let mut sumi = 0i32;
        for (&q, &y) in unpack_q5(a.qh, &a.qs).iter().zip(&b.qs) {
            sumi += (i32::from(q) - 16) * i32::from(y);
        }
        sumf = scale_q5_0(sumf, sumi, a, b);
    }
    sumf
}

/// w (nb blocks) . x (nb blocks) -> f32. ggml_vec_dot_q5_1_q8_1 (generic): per block
/// sumf += (d_w * d_x) * sumi + m_w * s_x in f32.
pub fn dot_q5_1_q8_1(w: &[BlockQ5_1], x: &[BlockQ8_1]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let mut sumi = 0i32;
        for (&q, &y) in unpack_q5(a.qh, &a.qs).iter().zip(&b.qs) {
            sumi += i32::from(q) * i32::from(y);
        }
        sumf = scale_q5_1(sumf, sumi, a, b);
    }
    sumf
}

/// The f32 scaling of one block's exact integer sum into the running sum, in ggml's generic
/// order (see `scale_q4_0`).
#[inline(always)]
pub fn scale_q5_0(sumf: f32, sumi: i32, a: &BlockQ5_0, b: &BlockQ8_0) -> f32 {
    sumf + (a.d.to_f32() * b.d.to_f32()) * sumi as f32
}
#[inline(always)]
pub fn scale_q5_1(sumf: f32, sumi: i32, a: &BlockQ5_1, b: &BlockQ8_1) -> f32 {
    sumf + ((a.d.to_f32() * b.d.to_f32()) * sumi as f32 + a.m.to_f32() * b.s.to_f32())
}

// w (rows, nb blocks) @ x (nb blocks) -> out (rows).
pub fn matvec_q5_0(out: &mut [f32], w: &[BlockQ5_0], row_len: usize, x: &[BlockQ8_0]) {
    rows_by(out, w, row_len, x, dot_q5_0_q8_0)
}
pub fn matvec_q5_1(out: &mut [f32], w: &[BlockQ5_1], row_len: usize, x: &[BlockQ8_1]) {
    rows_by(out, w, row_len, x, dot_q5_1_q8_1)
}
