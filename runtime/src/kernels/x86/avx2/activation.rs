//! The activation quantizers (ggml quantize_row_q8_0 / _q8_1, AVX2 path): bit-identical to
//! `generic`.

use super::hsum_i32x8;
use crate::kernels::generic;
use crate::kernels::isa_glue::safe_entry;
use edge_formats::{BlockQ8_0, BlockQ8_1, QK};
use half::f16;
use std::arch::x86_64::*;

safe_entry! {
    pub(super) fn quantize_q8_0(x: &[f32], out: &mut [BlockQ8_0]) => quantize_q8_0_avx2;
    pub(super) fn quantize_q8_1(x: &[f32], out: &mut [BlockQ8_1]) => quantize_q8_1_avx2;
}

/// One full block of 32 activations -> (d, the 32 rounded products as 4 x 8 i32).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn quantize_block(xb: &[f32; QK]) -> (f32, [__m256i; 4]) {
    // SAFETY: xb has 32 f32; each load reads 8 of them at offsets 0, 8, 16, 24.
    let v = unsafe {
        [
            _mm256_loadu_ps(xb.as_ptr()),
            _mm256_loadu_ps(xb.as_ptr().add(8)),
            _mm256_loadu_ps(xb.as_ptr().add(16)),
            _mm256_loadu_ps(xb.as_ptr().add(24)),
        ]
    };
    let sign = _mm256_set1_ps(-0.0);
    let mut amax = _mm256_andnot_ps(sign, v[0]);
    for vi in &v[1..] {
        amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, *vi));
    }
    let m4 = _mm_max_ps(
        _mm256_extractf128_ps::<1>(amax),
        _mm256_castps256_ps128(amax),
    );
    let m2 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    let m1 = _mm_max_ss(m2, _mm_movehdup_ps(m2));
    let amax = _mm_cvtss_f32(m1);
    let d = amax / 127.0;
    let id = _mm256_set1_ps(generic::activation_inverse_scale(amax));
    const NEAREST_EVEN: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    let q = v.map(|vi| _mm256_cvtps_epi32(_mm256_round_ps::<NEAREST_EVEN>(_mm256_mul_ps(vi, id))));
    (d, q)
}

/// 4 x 8 i32 (each in [-127, 127]) -> 32 i8 in order.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn pack_i8(q: [__m256i; 4], out: &mut [i8; QK]) {
    let a = _mm256_packs_epi32(q[0], q[1]); // 0-3 8-11 4-7 12-15 (16-bit)
    let b = _mm256_packs_epi32(q[2], q[3]); // 16-19 24-27 20-23 28-31
    let ab = _mm256_packs_epi16(a, b); // 0-3 8-11 16-19 24-27 4-7 12-15 20-23 28-31
    let ordered = _mm256_permutevar8x32_epi32(ab, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    // SAFETY: out has exactly 32 bytes.
    unsafe { _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, ordered) }
}

// x (n) -> out (ceil(n/32)); ggml quantize_row_q8_0 (AVX2 path).
#[target_feature(enable = "avx2,fma,f16c")]
fn quantize_q8_0_avx2(x: &[f32], out: &mut [BlockQ8_0]) {
    let full_block = |xb: &[f32; QK], block: &mut BlockQ8_0| {
        let (d, q) = quantize_block(xb);
        block.d = f16::from_f32(d);
        pack_i8(q, &mut block.qs);
    };
    generic::quantize_blocks_by(x, out, full_block, generic::quantize_q8_0);
}

// x (n) -> out (ceil(n/32)); ggml quantize_row_q8_1 (AVX2 path).
#[target_feature(enable = "avx2,fma,f16c")]
fn quantize_q8_1_avx2(x: &[f32], out: &mut [BlockQ8_1]) {
    let full_block = |xb: &[f32; QK], block: &mut BlockQ8_1| {
        let (d, q) = quantize_block(xb);
        let sum = hsum_i32x8(_mm256_add_epi32(
            _mm256_add_epi32(q[0], q[1]),
            _mm256_add_epi32(q[2], q[3]),
        ));
        block.d = f16::from_f32(d);
        block.s = f16::from_f32(d * sum as f32);
        pack_i8(q, &mut block.qs);
    };
    generic::quantize_blocks_by(x, out, full_block, generic::quantize_q8_1);
}
