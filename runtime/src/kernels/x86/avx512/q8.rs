//! Q8_0 weights against Q8_0 activations: ggml's AVX2 vec_dot arithmetic with VNNI, two
//! blocks per 512-bit register.

use super::super::avx2::{f16_to_f32, hsum_f32x8, load_q8};
use crate::kernels::generic;
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::x86::{prefetch, PREFETCH_AHEAD};
use edge_formats::BlockQ8_0;
use std::arch::x86_64::*;

safe_entry! {
    pub(super) fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 => dot_q8_0_q8_0_avx512;
    pub(super) fn matvec_q8_0(out: &mut [f32], w: &[BlockQ8_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q8_0_avx512;
}

/// Lane j: sum of the 4 products w_i y_i, i in 4 j .. 4 j + 4, exactly (the i32 lanes of
/// ggml's mul_sum_i8_pairs): VNNI multiplies unsigned by signed bytes, so it takes
/// (w + 128) y and starts from `neg_y128` = -128 (the same 4 y summed), lane by lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn lane_sums(w: __m256i, y: __m256i, neg_y128: __m256i) -> __m256i {
    let w_biased = _mm256_xor_si256(w, _mm256_set1_epi8(-128));
    _mm256_dpbusd_epi32(neg_y128, w_biased, y)
}

/// -128 times the sum of each 4 adjacent i8 of y (lane j: y_4j .. y_4j+3).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn neg_y128(y: __m256i) -> __m256i {
    let zero = _mm256_setzero_si256();
    _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, _mm256_set1_epi8(-128), y))
}

// w (nb) . x (nb) -> f32; ggml_vec_dot_q8_0_q8_0 (AVX2 path): 8 lanes of
// fma(d_w * d_x, lane_sum, acc) block after block, then hsum_float_8.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn dot_q8_0_q8_0_avx512(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    dot_q8_0_by(w, x, 0)
}

// w (nb) . x (nb) -> f32, prefetching `ahead` bytes past each block when ahead != 0 (a
// prefetch never faults, wherever it points): two blocks' lane sums in one 512-bit
// register, then their two fmas in block order.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn dot_q8_0_by(w: &[BlockQ8_0], x: &[BlockQ8_0], ahead: usize) -> f32 {
    let n = w.len().min(x.len());
    let (w, x) = (&w[..n], &x[..n]);
    let mut acc = _mm256_setzero_ps();
    let mut wp = w.chunks_exact(2);
    let mut xp = x.chunks_exact(2);
    for (a, b) in (&mut wp).zip(&mut xp) {
        if ahead != 0 {
            prefetch(
                a.as_ptr().cast::<i8>().wrapping_add(ahead),
                2 * std::mem::size_of::<BlockQ8_0>(),
            );
        }
        let two = |lo: &BlockQ8_0, hi: &BlockQ8_0| {
            _mm512_inserti64x4::<1>(_mm512_castsi256_si512(load_q8(&lo.qs)), load_q8(&hi.qs))
        };
        let y = two(&b[0], &b[1]);
        let zero = _mm512_setzero_si512();
        let neg = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(-128), y));
        let w_biased = _mm512_xor_si512(two(&a[0], &a[1]), _mm512_set1_epi8(-128));
        let q = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(neg, w_biased, y));
        let d0 = _mm256_set1_ps(f16_to_f32(a[0].d) * f16_to_f32(b[0].d));
        acc = _mm256_fmadd_ps(d0, _mm512_castps512_ps256(q), acc);
        let d1 = _mm256_set1_ps(f16_to_f32(a[1].d) * f16_to_f32(b[1].d));
        acc = _mm256_fmadd_ps(d1, high_half(q), acc);
    }
    for (a, b) in wp.remainder().iter().zip(xp.remainder()) {
        let d = _mm256_set1_ps(f16_to_f32(a.d) * f16_to_f32(b.d));
        let y = load_q8(&b.qs);
        let q = _mm256_cvtepi32_ps(lane_sums(load_q8(&a.qs), y, neg_y128(y)));
        acc = _mm256_fmadd_ps(d, q, acc);
    }
    hsum_f32x8(acc)
}

/// Lanes 8..16.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn high_half(v: __m512) -> __m256 {
    _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)))
}

// w (rows, nb) @ x (nb) -> out (rows): row after row, each the bits of the dot, prefetching
// PREFETCH_AHEAD bytes ahead. Row after row reads one stream; several rows per pass read
// interleaved ones, and decode from DRAM is bound by the reads (eight rows per pass, with
// prefetch: twice as fast from L2 but 13% more CPU time per SmolLM2 Q8_0 decode run).
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn matvec_q8_0_avx512(out: &mut [f32], w: &[BlockQ8_0], nb: usize, x: &[BlockQ8_0]) {
    generic::rows_by(out, w, nb, x, |row, x| dot_q8_0_by(row, x, PREFETCH_AHEAD))
}
