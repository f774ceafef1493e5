//! f32, f16 and bf16 weights against the f32 activation (ggml_vec_dot_f32 / _f16 / _bf16; for
//! f16 and bf16 weights x rounded to their type first, as ggml converts it).

use super::float_gemm::{gemm_bf16, gemm_f16, gemm_f32};
use crate::kernels::isa_glue::{row_loop, safe_entry};
use crate::kernels::{generic, GemmTakes, TypeKernels};
use edge_formats::blocks::float::f32_to_bf16_bits;
use half::{bf16, f16};
use std::arch::x86_64::*;

/// The AVX2 f32 entries; a batch of 2+ tokens takes llama.cpp's batch arithmetic
/// (`float_gemm`).
pub(super) const F32: TypeKernels<f32, f32> =
    TypeKernels::new(dot_f32, matvec_f32).with_batch_gemm(gemm_f32, GemmTakes::BatchOfAtLeast(2));
/// The AVX2 f16 entries; a batch of 2+ tokens as F32's.
pub(super) const F16: TypeKernels<f16, f32> = TypeKernels::new(dot_f16_f32, matvec_f16)
    .with_batch_gemm(gemm_f16, GemmTakes::BatchOfAtLeast(2));
/// The AVX2 bf16 entries; a batch of 2+ tokens as F32's.
pub(super) const BF16: TypeKernels<bf16, f32> = TypeKernels::new(dot_bf16_f32, matvec_bf16)
    .with_batch_gemm(gemm_bf16, GemmTakes::BatchOfAtLeast(2));

safe_entry! {
    fn dot_f32(w: &[f32], x: &[f32]) -> f32 => dot_f32_avx2;
    fn dot_f16_f32(w: &[f16], x: &[f32]) -> f32 => dot_f16_f32_avx2;
    fn dot_bf16_f32(w: &[bf16], x: &[f32]) -> f32 => dot_bf16_f32_avx2;
    fn matvec_f32(out: &mut [f32], w: &[f32], row_len: usize, x: &[f32]) => matvec_f32_avx2;
    fn matvec_f16(out: &mut [f32], w: &[f16], row_len: usize, x: &[f32]) => matvec_f16_avx2;
    fn matvec_bf16(out: &mut [f32], w: &[bf16], row_len: usize, x: &[f32]) => matvec_bf16_avx2;
}

row_loop!(matvec_f32_avx2, f32, f32, dot_f32_avx2, "avx2,fma,f16c");
row_loop!(matvec_f16_avx2, f16, f32, dot_f16_f32_avx2, "avx2,fma,f16c");
row_loop!(
    matvec_bf16_avx2,
    bf16,
    f32,
    dot_bf16_f32_avx2,
    "avx2,fma,f16c"
);

/// Sum of the 8 lanes in the order of ggml's `GGML_F32x8_REDUCE`: (lo + hi), then two
/// horizontal adds, ((0+4) + (1+5)) + ((2+6) + (3+7)).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_f32x8_hadd(v: __m256) -> f32 {
    let s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s2 = _mm_hadd_ps(s4, s4);
    _mm_cvtss_f32(_mm_hadd_ps(s2, s2))
}

/// The float dots as ggml_vec_dot_f32 / _f16 / _bf16 compute them: 4 x 8 lanes of fma
/// accumulators over chunks of 32 (for bf16 GCC fuses ggml's mul and add), reduced as
/// (a0 + a2) + (a1 + a3), then across lanes by `$hsum` (the f32/f16 dots' horizontal adds,
/// the bf16 dot's hsum_float_8); the tail (n % 32) is added in f64, one product at a time,
/// and the sum rounded to f32 last. `load_w(i)` gives 8 weights as f32 starting at element i
/// (< n - 7); `$round_x` / `$round_x1` give x as the dot takes it (8 lanes / one element).
macro_rules! float_dot {
    ($name:ident, $wty:ty, |$w:ident, $i:ident| $load:expr, $widen:expr, $round_x:expr,
     $round_x1:expr, $hsum:path) => {
        #[target_feature(enable = "avx2,fma,f16c")]
        pub(super) fn $name($w: &[$wty], x: &[f32]) -> f32 {
            let n = $w.len().min(x.len());
            let (wp, xp) = (&$w[..n], &x[..n]);
            let round_x = $round_x;
            let load_x = |i: usize| {
                // SAFETY: callers pass i + 8 <= n = xp.len().
                round_x(unsafe { _mm256_loadu_ps(xp.as_ptr().add(i)) })
            };
            let load_w = |$i: usize| {
                let $w = wp;
                // SAFETY: callers pass i + 8 <= n = wp.len().
                unsafe { $load }
            };
            let mut acc = [_mm256_setzero_ps(); 4];
            let mut i = 0;
            while i + 32 <= n {
                for (j, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(load_w(i + 8 * j), load_x(i + 8 * j), *a);
                }
                i += 32;
            }
            let sum4 = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]));
            let mut sum = $hsum(sum4) as f64;
            let (widen, round_x1) = ($widen, $round_x1);
            for (a, b) in wp[i..].iter().zip(&xp[i..]) {
                sum += (widen(*a) * round_x1(*b)) as f64;
            }
            sum as f32
        }
    };
}

float_dot!(
    dot_f32_avx2,
    f32,
    |w, i| _mm256_loadu_ps(w.as_ptr().add(i)),
    |v: f32| v,
    |x: __m256| x,
    |x: f32| x,
    hsum_f32x8_hadd
);
// ggml converts x to f16 before its f16 dot (the weights' dot type): x rounded to nearest even.
float_dot!(
    dot_f16_f32_avx2,
    f16,
    |w, i| _mm256_cvtph_ps(_mm_loadu_si128(w.as_ptr().add(i) as *const __m128i)),
    |v: f16| v.to_f32(),
    |x: __m256| _mm256_cvtph_ps(_mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(x)),
    |x: f32| f16::from_f32(x).to_f32(),
    hsum_f32x8_hadd
);
/// 8 f32 -> the f32 of their bf16 (ggml's `GGML_FP32_TO_BF16`: ties to even; a NaN keeps its
/// upper half with the quiet bit set), as ggml converts x before its bf16 dot.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn round_to_bf16(x: __m256) -> __m256 {
    let u = _mm256_castps_si256(x);
    let lowest_kept = _mm256_and_si256(_mm256_srli_epi32::<16>(u), _mm256_set1_epi32(1));
    let rounded = _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lowest_kept));
    let upper = _mm256_set1_epi32(0xffff_0000_u32 as i32);
    let nan = _mm256_cmpgt_epi32(
        _mm256_and_si256(u, _mm256_set1_epi32(0x7fff_ffff)),
        _mm256_set1_epi32(0x7f80_0000),
    );
    let quiet = _mm256_or_si256(_mm256_and_si256(u, upper), _mm256_set1_epi32(0x0040_0000));
    let r = _mm256_blendv_epi8(_mm256_and_si256(rounded, upper), quiet, nan);
    _mm256_castsi256_ps(r)
}

/// 8 bf16 at `p` widened exactly to f32.
///
/// # Safety
/// p must be valid for reading 8 bf16.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn load_bf16(p: *const bf16) -> __m256 {
    // SAFETY: the caller's contract: 16 readable bytes at p.
    let raw = unsafe { _mm_loadu_si128(p as *const __m128i) };
    _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(raw)))
}

// ggml converts x to bf16 before its bf16 dot, with its own rounding (`round_to_bf16`).
float_dot!(
    dot_bf16_f32_avx2,
    bf16,
    |w, i| load_bf16(w.as_ptr().add(i)),
    generic::bf16_to_f32,
    |x: __m256| round_to_bf16(x),
    |x: f32| generic::bf16_to_f32(bf16::from_bits(f32_to_bf16_bits(x))),
    super::hsum_f32x8
);
