//! Q8_0 weights: 32 eight-bit values per block with an f16 scale, read against Q8_0
//! activations.

use super::rows_by;
use crate::kernels::TypeKernels;
use edge_formats::{BlockQ8_0, QK};

/// The generic Q8_0 entries of the kernel table.
pub const Q8_0: TypeKernels<BlockQ8_0, BlockQ8_0> = TypeKernels::new(dot_q8_0_q8_0, matvec_q8_0);

/// w (nb blocks) . x (nb blocks) -> f32. ggml_vec_dot_q8_0_q8_0 (generic): per block
/// sumf += sumi * (d_w * d_x) in f32.
pub fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let mut sumi = 0i32;
        for j in 0..QK {
            sumi += a.qs[j] as i32 * b.qs[j] as i32;
        }
        sumf = scale_q8_0(sumf, sumi, a, b);
    }
    sumf
}

/// The f32 scaling of one block's exact integer sum into the running sum, in ggml's generic
/// order (see `scale_q4_0`).
#[inline(always)]
pub fn scale_q8_0(sumf: f32, sumi: i32, a: &BlockQ8_0, b: &BlockQ8_0) -> f32 {
    sumf + sumi as f32 * (a.d.to_f32() * b.d.to_f32())
}

// w (rows, nb blocks) @ x (nb blocks) -> out (rows).
pub fn matvec_q8_0(out: &mut [f32], w: &[BlockQ8_0], row_len: usize, x: &[BlockQ8_0]) {
    rows_by(out, w, row_len, x, dot_q8_0_q8_0)
}
