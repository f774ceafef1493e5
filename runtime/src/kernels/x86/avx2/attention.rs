//! The f16-attention loops on F16C: 8 lanes per step, `_mm256_cvtps_ph` rounding to nearest
//! even exactly as `half::f16::from_f32` does (generic), so every result is generic's bits.

use crate::kernels::isa_glue::safe_entry;
use crate::kernels::AttentionF16Kernels;
use half::f16;
use std::arch::x86_64::*;

/// The AVX2 f16-attention entries.
pub(super) const ATTENTION_F16: AttentionF16Kernels = AttentionF16Kernels {
    mad: mad_f16,
    scale: scale_f16,
    round: round_f16,
};

safe_entry! {
    fn mad_f16(acc: &mut [f32], v: &[f16], w: f32) => mad_f16_avx2;
    fn scale_f16(acc: &mut [f32], s: f32) => scale_f16_avx2;
    fn round_f16(x: &mut [f32]) => round_f16_avx2;
}

/// 8 lanes -> nearest f16 (ties to even, whatever MXCSR says) -> f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn round_f16x8(v: __m256) -> __m256 {
    _mm256_cvtph_ps(_mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v))
}

/// One f32 -> nearest f16 (ties to even) -> f32, for the tails.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn round_f16x1(x: f32) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(
        _mm_set_ss(x),
    )))
}

/// acc[i..i + 8] = f(i, acc[i..i + 8]) for every whole 8 lanes; returns how many elements
/// that covered (the caller does the n % 8 tail).
#[inline(always)]
fn map_f32x8(acc: &mut [f32], mut f: impl FnMut(usize, __m256) -> __m256) -> usize {
    let n8 = acc.len() / 8 * 8;
    let p = acc.as_mut_ptr();
    let mut i = 0;
    while i < n8 {
        // SAFETY: i + 8 <= n8 <= acc.len().
        unsafe { _mm256_storeu_ps(p.add(i), f(i, _mm256_loadu_ps(p.add(i)))) };
        i += 8;
    }
    n8
}

// acc (n), v (n) -> acc (n): acc_i = f16(fma(v_i, w, acc_i)).
#[target_feature(enable = "avx2,fma,f16c")]
fn mad_f16_avx2(acc: &mut [f32], v: &[f16], w: f32) {
    let n = acc.len().min(v.len());
    let (acc, v) = (&mut acc[..n], &v[..n]);
    let wv = _mm256_set1_ps(w);
    let vp = v.as_ptr();
    let done = map_f32x8(acc, |i, a| {
        // SAFETY: map_f32x8 passes i + 8 <= n = v.len(); f16 is 2 bytes, 8 of them 16.
        let x = unsafe { _mm256_cvtph_ps(_mm_loadu_si128(vp.add(i) as *const __m128i)) };
        round_f16x8(_mm256_fmadd_ps(x, wv, a))
    });
    for (a, x) in acc[done..].iter_mut().zip(&v[done..]) {
        *a = round_f16x1(super::f16_to_f32(*x).mul_add(w, *a));
    }
}

// acc (n) -> acc (n): acc_i = f16(acc_i * s).
#[target_feature(enable = "avx2,fma,f16c")]
fn scale_f16_avx2(acc: &mut [f32], s: f32) {
    let sv = _mm256_set1_ps(s);
    let done = map_f32x8(acc, |_, a| round_f16x8(_mm256_mul_ps(a, sv)));
    for a in &mut acc[done..] {
        *a = round_f16x1(*a * s);
    }
}

// x (n) -> x (n): x_i = f16(x_i).
#[target_feature(enable = "avx2,fma,f16c")]
fn round_f16_avx2(x: &mut [f32]) {
    let done = map_f32x8(x, |_, a| round_f16x8(a));
    for e in &mut x[done..] {
        *e = round_f16x1(*e);
    }
}
