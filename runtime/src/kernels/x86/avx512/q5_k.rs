//! Q5_K weights against Q8_K activations: ggml_vec_dot_q5_K_q8_K's AVX2 arithmetic with VNNI,
//! each row the bits of the AVX2 dot.
//!
//! Per super-block the AVX2 path forms eight exact i32 lanes (lane i: the elements e with
//! (e % 32) / 4 == i, times their sub-block's scale), then acc = fma(d_x d_w, lanes, acc), and
//! keeps the minimums in a scalar summs = fma(-d_x dmin_w, imin, summs); the result is the
//! horizontal sum of acc plus summs. Here 64 elements (sub-blocks 2 j | 2 j + 1) per register:
//! lane i of each half is that sub-block's lane i, and the halves add up to the AVX2 lanes
//! exactly.

use super::super::avx2::{f16_to_f32, hsum_f32x8, hsum_i32x8};
use super::k_quants::{load_y, scale_spreads, scales_and_mins, sub_block_sums};
use crate::kernels::isa_glue::{row_loop, safe_entry};
use edge_formats::blocks::{BlockQ5_K, BlockQ8_K};
use std::arch::x86_64::*;

safe_entry! {
    pub(super) fn dot_q5_k_q8_k(w: &[BlockQ5_K], x: &[BlockQ8_K]) -> f32 => dot_q5_k_avx512;
    pub(super) fn matvec_q5_k(out: &mut [f32], w: &[BlockQ5_K], row_len: usize, x: &[BlockQ8_K]) => matvec_q5_k_avx512;
}

row_loop!(
    matvec_q5_k_avx512,
    BlockQ5_K,
    BlockQ8_K,
    dot_q5_k_avx512,
    "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"
);

/// Chunk J of a block (sub-blocks 2 J | 2 J + 1: nibbles at qs + 32 J, fifth bits 2 J and
/// 2 J + 1 of qh) against x's register J: 16 i32 lanes, each sub-block's 8 lane sums times its
/// scale.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn chunk_lanes<const J: usize>(
    a: &BlockQ5_K,
    qh: __m512i,
    y: __m512i,
    spread: __m512i,
    scales: __m512i,
) -> __m512i {
    // SAFETY: qs has 128 bytes; this reads bytes 32 J .. 32 J + 32 (J < 4).
    let raw = unsafe { _mm256_loadu_si256(a.qs.as_ptr().add(32 * J).cast()) };
    // low nibbles (sub-block 2 J) in the low half, high nibbles (2 J + 1) in the high
    let both = _mm512_broadcast_i64x4(raw);
    let shifted = _mm512_srlv_epi64(both, _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4));
    let low = _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F));
    let bits = _mm512_inserti64x4::<1>(
        _mm512_castsi256_si512(_mm256_set1_epi8(1 << (2 * J))),
        _mm256_set1_epi8(1 << (2 * J + 1)),
    );
    let fifth = _mm512_test_epi8_mask(qh, bits);
    let q = _mm512_mask_add_epi8(low, fifth, low, _mm512_set1_epi8(16));
    let lanes = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, y);
    _mm512_mullo_epi32(lanes, _mm512_permutexvar_epi32(spread, scales))
}

/// The eight exact i32 lanes of one block as the AVX2 path forms them, and its exact
/// imin = sum of m * (the sums of 32).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn block_lanes(a: &BlockQ5_K, b: &BlockQ8_K, spreads: &[__m512i; 4]) -> (__m256i, i32) {
    let (scales, mins) = scales_and_mins(&a.scales);
    let scales = _mm512_cvtepu8_epi32(_mm_cvtsi64_si128(scales as i64));
    let y = load_y(b);
    // SAFETY: qh has exactly 32 bytes.
    let qh = _mm512_broadcast_i64x4(unsafe { _mm256_loadu_si256(a.qh.as_ptr().cast()) });
    let s01 = _mm512_add_epi32(
        chunk_lanes::<0>(a, qh, y[0], spreads[0], scales),
        chunk_lanes::<1>(a, qh, y[1], spreads[1], scales),
    );
    let s23 = _mm512_add_epi32(
        chunk_lanes::<2>(a, qh, y[2], spreads[2], scales),
        chunk_lanes::<3>(a, qh, y[3], spreads[3], scales),
    );
    let sumi = _mm512_add_epi32(s01, s23);
    let sumi = _mm256_add_epi32(
        _mm512_castsi512_si256(sumi),
        _mm512_extracti64x4_epi64::<1>(sumi),
    );
    let imin = _mm256_mullo_epi32(
        _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(mins as i64)),
        sub_block_sums(b),
    );
    (sumi, hsum_i32x8(imin))
}

// w (nb) . x (nb) -> f32; the AVX2 Q5_K dot (ggml_vec_dot_q5_K_q8_K's AVX2 path).
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn dot_q5_k_avx512(w: &[BlockQ5_K], x: &[BlockQ8_K]) -> f32 {
    let spreads = scale_spreads();
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let d = b.d * f16_to_f32(a.d);
        let dmin = -b.d * f16_to_f32(a.dmin);
        let (sumi, imin) = block_lanes(a, b, &spreads);
        summs = dmin.mul_add(imin as f32, summs);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum_f32x8(acc) + summs
}
