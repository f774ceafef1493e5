//! The f16-attention loops on F16C: 8 lanes per step, `_mm256_cvtps_ph` rounding to nearest
//! even exactly as `half::f16::from_f32` does (generic), so every result is generic's bits.

use crate::kernels::generic;
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::AttentionF16Kernels;
use half::f16;
use std::arch::x86_64::*;

mod tiled;
use tiled::attend_f16_tiled_avx2;

/// The AVX2 f16-attention entries.
pub(super) const ATTENTION_F16: AttentionF16Kernels = AttentionF16Kernels {
    mad: mad_f16,
    scale: scale_f16,
    round: round_f16,
    attend: attend_f16,
    attend_tiled: attend_f16_tiled,
};

safe_entry! {
    fn mad_f16(acc: &mut [f32], v: &[f16], w: f32) => mad_f16_avx2;
    fn scale_f16(acc: &mut [f32], s: f32) => scale_f16_avx2;
    fn round_f16(x: &mut [f32]) => round_f16_avx2;
    pub(in crate::kernels::x86) fn attend_f16(keys: &[f16], values: &[f16], queries: &[&[f32]], scale: f32, max: &mut [f32], sum: &mut [f32], accs: &mut [&mut [f32]]) => attend_f16_avx2;
    fn attend_f16_tiled(keys: &[f16], values: &[f16], queries: &[&[f32]], first_pos: usize, scale: f32, outs: &mut [&mut [f32]]) => attend_f16_tiled_avx2;
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
#[inline]
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
#[inline]
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

/// Longest head whose key and value rows `attend_f16_avx2` widens once for all queries.
const WIDE_HEAD: usize = 256;

// keys (n, hd), values (n, hd), queries[i] (hd) -> max[i], sum[i], accs[i] (hd): the
// generic entry's steps with the dot, the rescale and the value update inlined; each key
// and value row is widened to f32 once (exactly) for all the queries.
#[target_feature(enable = "avx2,fma,f16c")]
fn attend_f16_avx2(
    keys: &[f16],
    values: &[f16],
    queries: &[&[f32]],
    scale: f32,
    max: &mut [f32],
    sum: &mut [f32],
    accs: &mut [&mut [f32]],
) {
    let Some(hd) = queries.first().map(|q| q.len()).filter(|&hd| hd > 0) else {
        return;
    };
    let wide = hd <= WIDE_HEAD && hd % 8 == 0;
    let mut key_f32 = [0f32; WIDE_HEAD];
    let mut value_f32 = [0f32; WIDE_HEAD];
    for (key, val) in keys.chunks_exact(hd).zip(values.chunks_exact(hd)) {
        if wide {
            widen_f16(&mut key_f32[..hd], key);
            widen_f16(&mut value_f32[..hd], val);
        }
        for (((q, m), s), acc) in queries
            .iter()
            .zip(max.iter_mut())
            .zip(sum.iter_mut())
            .zip(accs.iter_mut())
        {
            if wide {
                let score = dot_f32_widened(&key_f32[..hd], key, q) * scale;
                generic::online_softmax_step(
                    score,
                    m,
                    s,
                    acc,
                    val,
                    |acc, r| scale_f16_avx2(acc, r),
                    |acc, _, w| mad_widened(acc, &value_f32[..hd], w),
                );
            } else {
                let score = dot_f16_f32(key, q) * scale;
                generic::online_softmax_step(
                    score,
                    m,
                    s,
                    acc,
                    val,
                    |acc, r| scale_f16_avx2(acc, r),
                    |acc, v, w| mad_f16_avx2(acc, v, w),
                );
            }
        }
    }
}

// h (n, n % 8 == 0) -> out (n): exact f16 -> f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn widen_f16(out: &mut [f32], h: &[f16]) {
    let n = out.len().min(h.len()) / 8 * 8;
    for i in (0..n).step_by(8) {
        // SAFETY: i + 8 <= n <= both lengths; 8 f16 are 16 bytes.
        unsafe {
            let x = _mm256_cvtph_ps(_mm_loadu_si128(h.as_ptr().add(i) as *const __m128i));
            _mm256_storeu_ps(out.as_mut_ptr().add(i), x);
        }
    }
}

// acc (n), v (n, f16 values widened) -> acc (n): acc_i = f16(fma(v_i, w, acc_i)), n % 8 == 0.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn mad_widened(acc: &mut [f32], v: &[f32], w: f32) {
    let n = acc.len().min(v.len()) / 8 * 8;
    let wv = _mm256_set1_ps(w);
    let (ap, vp) = (acc.as_mut_ptr(), v.as_ptr());
    for i in (0..n).step_by(8) {
        // SAFETY: i + 8 <= n <= both lengths.
        unsafe {
            let a = _mm256_fmadd_ps(_mm256_loadu_ps(vp.add(i)), wv, _mm256_loadu_ps(ap.add(i)));
            _mm256_storeu_ps(ap.add(i), round_f16x8(a));
        }
    }
}

/// `dot_f16_f32(key, x)` with the key already widened to `wide` (same length): the same
/// arithmetic, reading the widened lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_f32_widened(wide: &[f32], key: &[f16], x: &[f32]) -> f32 {
    let n = wide.len().min(x.len());
    let load = |i: usize| {
        // SAFETY: callers pass i + 8 <= n, within both.
        unsafe {
            (
                _mm256_loadu_ps(wide.as_ptr().add(i)),
                _mm256_loadu_ps(x.as_ptr().add(i)),
            )
        }
    };
    dot_by(n, load, key, x)
}

/// w (n, f16) . x (n) with the arithmetic of the AVX2 table's f16 dot (ggml_vec_dot_f16): 4 x 8
/// lanes of fma accumulators over chunks of 32, reduced as (a0 + a2) + (a1 + a3), then
/// ((0+4) + (1+5)) + ((2+6) + (3+7)); the tail added in f64 and the sum rounded last.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_f16_f32(w: &[f16], x: &[f32]) -> f32 {
    let n = w.len().min(x.len());
    let load = |i: usize| {
        // SAFETY: callers pass i + 8 <= n, within both.
        unsafe {
            (
                _mm256_cvtph_ps(_mm_loadu_si128(w.as_ptr().add(i) as *const __m128i)),
                _mm256_loadu_ps(x.as_ptr().add(i)),
            )
        }
    };
    dot_by(n, load, w, x)
}

/// The dot of `dot_f16_f32` over n elements, `load(i)` giving lanes i..i + 8 of w and x as
/// f32; the tail (n % 32) read from `w` and `x`.
#[inline(always)]
fn dot_by(n: usize, load: impl Fn(usize) -> (__m256, __m256), w: &[f16], x: &[f32]) -> f32 {
    // SAFETY: (whole function) only called from avx2/fma/f16c functions.
    unsafe {
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (j, a) in acc.iter_mut().enumerate() {
                let (wv, xv) = load(i + 8 * j);
                *a = _mm256_fmadd_ps(wv, xv, *a);
            }
            i += 32;
        }
        let sum4 = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]));
        let s4 = _mm_add_ps(
            _mm256_castps256_ps128(sum4),
            _mm256_extractf128_ps::<1>(sum4),
        );
        let s2 = _mm_hadd_ps(s4, s4);
        let mut total = _mm_cvtss_f32(_mm_hadd_ps(s2, s2)) as f64;
        for (a, b) in w[i..n].iter().zip(&x[i..n]) {
            total += (a.to_f32() * b) as f64;
        }
        total as f32
    }
}
