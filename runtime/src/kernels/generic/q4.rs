//! Q4_0 and Q4_1 weights: 32 four-bit values per block with an f16 scale (and an f16 minimum
//! for Q4_1), read against Q8_0 and Q8_1 activations.

use super::rows_by;
use crate::kernels::TypeKernels;
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};

/// The generic Q4_0 entries of the kernel table.
pub const Q4_0: TypeKernels<BlockQ4_0, BlockQ8_0> = TypeKernels::new(dot_q4_0_q8_0, matvec_q4_0);
/// The generic Q4_1 entries of the kernel table.
pub const Q4_1: TypeKernels<BlockQ4_1, BlockQ8_1> = TypeKernels::new(dot_q4_1_q8_1, matvec_q4_1);

/// Signed 4-bit value j of a Q4_0 block (element j in the low nibble of byte j, element
/// j + 16 in the high nibble), minus the offset 8.
#[inline(always)]
pub(super) fn nibbles(qs: &[u8; QK / 2]) -> ([i32; QK / 2], [i32; QK / 2]) {
    let mut lo = [0i32; QK / 2];
    let mut hi = [0i32; QK / 2];
    for j in 0..QK / 2 {
        lo[j] = (qs[j] & 0x0F) as i32;
        hi[j] = (qs[j] >> 4) as i32;
    }
    (lo, hi)
}

/// w (nb blocks) . x (nb blocks) -> f32. ggml_vec_dot_q4_0_q8_0 (generic): per block
/// sumi = sum (q - 8) * y in i32, then sumf += sumi * d_w * d_x (left to right) in f32.
pub fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let (lo, hi) = nibbles(&a.qs);
        let mut sumi = 0i32;
        for j in 0..QK / 2 {
            sumi += (lo[j] - 8) * b.qs[j] as i32;
            sumi += (hi[j] - 8) * b.qs[j + QK / 2] as i32;
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
        let (lo, hi) = nibbles(&a.qs);
        let mut sumi = 0i32;
        for j in 0..QK / 2 {
            sumi += lo[j] * b.qs[j] as i32;
            sumi += hi[j] * b.qs[j + QK / 2] as i32;
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
