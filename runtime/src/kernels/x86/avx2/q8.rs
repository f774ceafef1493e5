//! Q8_0 weights against Q8_0 activations.

use super::{f16_to_f32, hsum_f32x8, load_q8, mul_sum_i8_f32};
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::x86::{prefetch, PREFETCH_AHEAD};
use crate::kernels::{generic, TypeKernels};
use edge_formats::BlockQ8_0;
use std::arch::x86_64::*;

/// The AVX2 Q8_0 entries.
pub(super) const Q8_0: TypeKernels<BlockQ8_0, BlockQ8_0> =
    TypeKernels::new(dot_q8_0_q8_0, matvec_q8_0).with_gemm(super::gemm::gemm_q8_0);

safe_entry! {
    fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 => dot_q8_0_q8_0_avx2;
    fn matvec_q8_0(out: &mut [f32], w: &[BlockQ8_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q8_0_avx2;
}

// w (rows, nb) @ x (nb) -> out (rows): row after row, each the bits of the dot.
#[target_feature(enable = "avx2,fma,f16c")]
fn matvec_q8_0_avx2(out: &mut [f32], w: &[BlockQ8_0], nb: usize, x: &[BlockQ8_0]) {
    generic::rows_by(out, w, nb, x, |row, x| dot_q8_0_by(row, x, PREFETCH_AHEAD))
}

// w (nb) . x (nb) -> f32; ggml_vec_dot_q8_0_q8_0 (AVX2 path).
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot_q8_0_q8_0_avx2(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    dot_q8_0_by(w, x, 0)
}

// w (nb) . x (nb) -> f32, prefetching `ahead` bytes past each block when ahead != 0 (a
// prefetch never faults, wherever it points).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q8_0_by(w: &[BlockQ8_0], x: &[BlockQ8_0], ahead: usize) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (a, b) in w.iter().zip(x) {
        if ahead != 0 {
            prefetch((a as *const BlockQ8_0).cast::<i8>().wrapping_add(ahead), 1);
        }
        let d = _mm256_set1_ps(f16_to_f32(a.d) * f16_to_f32(b.d));
        let q = mul_sum_i8_f32(load_q8(&a.qs), load_q8(&b.qs));
        acc = _mm256_fmadd_ps(d, q, acc);
    }
    hsum_f32x8(acc)
}
