//! The activation quantizers (ggml quantize_row_q8_0 / _q8_1, AVX2 path, and quantize_row_q8_K):
//! bit-identical to `generic`.

use super::hsum_i32x8;
use crate::kernels::generic;
use crate::kernels::isa_glue::safe_entry;
use edge_formats::blocks::{BlockQ8_K, QK_K};
use edge_formats::{BlockQ8_0, BlockQ8_1, QK};
use half::f16;
use std::arch::x86_64::*;

safe_entry! {
    pub(super) fn quantize_q8_0(x: &[f32], out: &mut [BlockQ8_0]) => quantize_q8_0_avx2;
    pub(super) fn quantize_q8_1(x: &[f32], out: &mut [BlockQ8_1]) => quantize_q8_1_avx2;
    pub(super) fn quantize_q8_k(x: &[f32], out: &mut [BlockQ8_K]) => quantize_q8_k_avx2;
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
    let amax = hmax_ps(amax);
    let d = amax / 127.0;
    let id = _mm256_set1_ps(generic::activation_inverse_scale(amax));
    const NEAREST_EVEN: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    let q = v.map(|vi| _mm256_cvtps_epi32(_mm256_round_ps::<NEAREST_EVEN>(_mm256_mul_ps(vi, id))));
    (d, q)
}

/// The largest of the 8 lanes by `max_ps` (halves, then pairs, then lanes).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hmax_ps(v: __m256) -> f32 {
    let m4 = _mm_max_ps(_mm256_extractf128_ps::<1>(v), _mm256_castps256_ps128(v));
    let m2 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    _mm_cvtss_f32(_mm_max_ss(m2, _mm_movehdup_ps(m2)))
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

// x (n) -> out (ceil(n/256)); ggml quantize_row_q8_K: generic's bits, 8 lanes at a time.
#[target_feature(enable = "avx2,fma,f16c")]
fn quantize_q8_k_avx2(x: &[f32], out: &mut [BlockQ8_K]) {
    for (block, xb) in out.iter_mut().zip(x.chunks(QK_K)) {
        match <&[f32; QK_K]>::try_from(xb) {
            Ok(xb) => quantize_block_q8_k(xb, block),
            Err(_) => generic::quantize_block_q8_k(xb, block),
        }
    }
}

/// One full block of 256 activations -> `block`, as `generic::quantize_block_q8_k`: the
/// signed value of the first element of largest magnitude sets iscale = -127 / max, each
/// q = round_ties_even(iscale * x) (NaN products 0, as `as i32` makes them), and the sums
/// of each 16 q.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn quantize_block_q8_k(xb: &[f32; QK_K], block: &mut BlockQ8_K) {
    let sign = _mm256_set1_ps(-0.0);
    let load = |i: usize| {
        // SAFETY: i is a multiple of 8 below 256: 8 f32 of xb.
        unsafe { _mm256_loadu_ps(xb.as_ptr().add(i)) }
    };
    // max_ps gives its second operand when either is NaN: NaN never raises amax, as in
    // generic's `>`.
    let mut amax = _mm256_setzero_ps();
    for i in (0..QK_K).step_by(8) {
        amax = _mm256_max_ps(_mm256_andnot_ps(sign, load(i)), amax);
    }
    let amax = hmax_ps(amax);
    let mut iscale = 0.0f32;
    if amax != 0.0 {
        let target = _mm256_set1_ps(amax);
        let first = (0..QK_K).step_by(8).find_map(|i| {
            let hits = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(
                _mm256_andnot_ps(sign, load(i)),
                target,
            ));
            (hits != 0).then(|| i + hits.trailing_zeros() as usize)
        });
        if let Some(max) = first.map(|i| xb[i]) {
            iscale = -127.0 / max;
        }
    }
    if !iscale.is_finite() {
        iscale = 0.0;
    }
    let scale = _mm256_set1_ps(iscale);
    const NEAREST_EVEN: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    let round = |i: usize| {
        let p = _mm256_mul_ps(load(i), scale);
        let p = _mm256_and_ps(p, _mm256_cmp_ps::<_CMP_ORD_Q>(p, p));
        _mm256_cvtps_epi32(_mm256_round_ps::<NEAREST_EVEN>(p))
    };
    let (chunks, _) = block.qs.as_chunks_mut::<QK>();
    for (c, (qs, sums)) in chunks
        .iter_mut()
        .zip(block.bsums.chunks_exact_mut(2))
        .enumerate()
    {
        let q = [0, 8, 16, 24].map(|o| round(c * QK + o));
        // |iscale * x| <= 127 up to rounding, so the i32 are in [-127, 127] and sum exactly.
        sums[0] = hsum_i32x8(_mm256_add_epi32(q[0], q[1])) as i16;
        sums[1] = hsum_i32x8(_mm256_add_epi32(q[2], q[3])) as i16;
        pack_i8(q, qs);
    }
    block.d = if iscale == 0.0 { 0.0 } else { 1.0 / iscale };
}
