//! The one-token f16 attention (`AttentionF16Kernels::attend`, a decoded token's queries over
//! the cache) on AVX-512: the AVX2 entry's arithmetic, with each query's value sum held in
//! registers across all the keys instead of stored and reloaded per key.
//!
//! Per query and key, the same operations in the same order as the AVX2 entry: its f16 dot
//! (4 x 8 lanes of fma accumulators over chunks of 32, here as 2 x 16 lanes: lanes 0..8 of
//! the even vector are its accumulator 0, lanes 8..16 its accumulator 1, the odd vector its 2
//! and 3, so the reduction (0 + 2) + (1 + 3) is one add of the two vectors, then the halves),
//! then `generic::online_softmax_step` with each value sum element rounded to f16 per key. The
//! queries run one after the other (each over every key, in order): only the interleaving of
//! independent queries differs, so every result is the AVX2 entry's bits.

use super::avx2::attention::attend_f16 as attend_f16_avx2;
use crate::kernels::isa_glue::safe_entry;
use half::f16;
use std::arch::x86_64::*;

safe_entry! {
    pub(super) fn attend_f16(keys: &[f16], values: &[f16], queries: &[&[f32]], scale: f32, max: &mut [f32], sum: &mut [f32], accs: &mut [&mut [f32]]) => attend_f16_avx512;
}

// keys (n, hd), values (n, hd), queries[i] (hd) -> max[i], sum[i], accs[i] (hd), carried on
// from their values on entry. Heads of 32, 64, 96 or 128 take the register kernel; others the
// AVX2 entry.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
fn attend_f16_avx512(
    keys: &[f16],
    values: &[f16],
    queries: &[&[f32]],
    scale: f32,
    max: &mut [f32],
    sum: &mut [f32],
    accs: &mut [&mut [f32]],
) {
    let hd = queries.first().map_or(0, |q| q.len());
    let fits = queries.iter().all(|q| q.len() == hd) && accs.iter().all(|a| a.len() >= hd);
    let run = match hd {
        32 if fits => attend_in_registers::<2>,
        64 if fits => attend_in_registers::<4>,
        96 if fits => attend_in_registers::<6>,
        128 if fits => attend_in_registers::<8>,
        _ => return attend_f16_avx2(keys, values, queries, scale, max, sum, accs),
    };
    let states = max.iter_mut().zip(sum.iter_mut()).zip(accs.iter_mut());
    for (q, ((m, s), acc)) in queries.iter().zip(states) {
        // SAFETY: q.len() == 16 * N and acc.len() >= 16 * N (checked above).
        unsafe { run(keys, values, q, scale, m, s, acc) };
    }
}

/// One query (16 N lanes) over every key: its max, sum and value sum carried in registers.
///
/// # Safety
/// q.len() == 16 * N, acc.len() >= 16 * N, N even.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
unsafe fn attend_in_registers<const N: usize>(
    keys: &[f16],
    values: &[f16],
    q: &[f32],
    scale: f32,
    max: &mut f32,
    sum: &mut f32,
    acc: &mut [f32],
) {
    let hd = 16 * N;
    // SAFETY: the caller's lengths: 16 N f32 of q; i < N.
    let qv: [__m512; N] =
        std::array::from_fn(|i| unsafe { _mm512_loadu_ps(q.as_ptr().add(16 * i)) });
    // SAFETY: the caller's lengths: at least 16 N f32 of acc; i < N.
    let mut a: [__m512; N] =
        std::array::from_fn(|i| unsafe { _mm512_loadu_ps(acc.as_ptr().add(16 * i)) });
    let (mut m, mut s) = (*max, *sum);
    for (key, val) in keys.chunks_exact(hd).zip(values.chunks_exact(hd)) {
        let score = dot(key, &qv) * scale;
        let (mut rescale, mut weight) = (1.0f32, 1.0f32);
        if score > m {
            rescale = (m - score).exp();
            m = score;
            let r = _mm512_set1_ps(rescale);
            for v in &mut a {
                *v = round_f16x16(_mm512_mul_ps(*v, r));
            }
        } else {
            weight = (score - m).exp();
        }
        let w = _mm512_set1_ps(weight);
        for (i, v) in a.iter_mut().enumerate() {
            // SAFETY: val has hd = 16 N halves; i < N.
            let x = unsafe { widen16(val.as_ptr().add(16 * i)) };
            *v = round_f16x16(_mm512_fmadd_ps(x, w, *v));
        }
        s = s.mul_add(rescale, weight);
    }
    for (i, v) in a.iter().enumerate() {
        // SAFETY: acc has at least 16 N f32; i < N.
        unsafe { _mm512_storeu_ps(acc.as_mut_ptr().add(16 * i), *v) };
    }
    (*max, *sum) = (m, s);
}

/// key (16 N halves) . q (16 N lanes) in the AVX2 f16 dot's lanes and reduction order.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
fn dot<const N: usize>(key: &[f16], q: &[__m512; N]) -> f32 {
    let (mut even, mut odd) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    for c in 0..N / 2 {
        // SAFETY: key has 16 N halves (chunks_exact); 32 c + 32 <= 16 N.
        let (k0, k1) = unsafe {
            (
                widen16(key.as_ptr().add(32 * c)),
                widen16(key.as_ptr().add(32 * c + 16)),
            )
        };
        even = _mm512_fmadd_ps(k0, q[2 * c], even);
        odd = _mm512_fmadd_ps(k1, q[2 * c + 1], odd);
    }
    let pairs = _mm512_castps_pd(_mm512_add_ps(even, odd));
    let sum8 = _mm256_add_ps(
        _mm256_castpd_ps(_mm512_castpd512_pd256(pairs)),
        _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(pairs)),
    );
    let s4 = _mm_add_ps(
        _mm256_castps256_ps128(sum8),
        _mm256_extractf128_ps::<1>(sum8),
    );
    let s2 = _mm_hadd_ps(s4, s4);
    _mm_cvtss_f32(_mm_hadd_ps(s2, s2))
}

/// 16 halves at p -> f32, exactly.
///
/// # Safety
/// p must be valid for reads of 16 f16.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
unsafe fn widen16(p: *const f16) -> __m512 {
    // SAFETY: the caller's promise: 32 readable bytes.
    _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(p as *const __m256i) })
}

/// 16 lanes -> nearest f16 (ties to even, whatever MXCSR says) -> f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
fn round_f16x16(v: __m512) -> __m512 {
    _mm512_cvtph_ps(_mm512_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v))
}
