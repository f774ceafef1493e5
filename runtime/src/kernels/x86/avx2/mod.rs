//! AVX2 + FMA + F16C kernels, the twins of `generic` (same signatures, same length rules),
//! one file per type family like `generic`; the helpers they share are here.
//!
//! Each kernel is an `unsafe #[target_feature]` function behind a safe wrapper; the
//! wrappers are reachable only through the table [`kernels`] returns, which it returns only
//! after `is_x86_feature_detected!` confirmed avx2, fma and f16c.
//!
//! Agreement with `generic` (tested in tests/kernels_generic.rs):
//! - quantizers: bit-identical (same f32 amax, d, id and product; `_mm256_round_ps` with
//!   round-to-nearest is ties-to-even like `f32::round_ties_even`).
//! - quantized dots: the per-block integer sums are identical; the f32 accumulation is the one
//!   llama.cpp's AVX2 build uses for the type, so results differ from generic by f32 rounding
//!   only and from llama.cpp not at all: Q8_0 and Q4_1 as `vec_dot` (8 lanes,
//!   `fma(d_w * d_x, lane_sum, acc)`, then a horizontal sum), Q4_0 as the repacked
//!   gemv/gemm (`fma(block_sum, d_w * d_x, acc)`, block after block); Q5_0 and Q5_1 as
//!   `vec_dot` like Q8_0 and Q4_1.
//! - Q8_K quantizer: generic (ggml's x86 build runs its reference quantize_row_q8_K too).
//! - K-quant dots: ggml's AVX2 vec_dot (`k_quants`: eight exact i32 lanes per super-block,
//!   one fma per super-block, the minimums as there).
//! - float dots: ggml_vec_dot_f32/f16's 4 x 8 lanes of fma accumulators, its reduction order,
//!   the tail in f64.
//! - SwiGLU: bit-identical (`generic::expf_ggml` on 8 lanes).
//! - f16 attention loops: bit-identical (F16C rounds to nearest even like `half`).
//! - gemm (Q4_0, Q8_0): every output the bits of the type's AVX2 dot (tiles over rows and
//!   tokens only; `gemm`). F32 and F16 (`float_gemm`): llama.cpp's batch order for 2+ tokens
//!   (llamafile's tinyBLAS), not the dot's.
//!
//! Domain: q8 values in [-127, 127] (what every quantizer produces; `_mm256_sign_epi8` cannot
//! negate -128, exactly as in ggml).

mod activation;
pub(super) mod attention;
mod float;
mod float_gemm;
mod gemm;
pub(super) mod k_quants;
mod q4;
mod q5;
mod q8;
mod swiglu;

use crate::kernels::Kernels;
use edge_formats::QK;
use half::f16;
use std::arch::x86_64::*;

/// The AVX2 table, or None when this CPU lacks AVX2, FMA or F16C.
pub fn kernels() -> Option<Kernels> {
    if !(is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c"))
    {
        return None;
    }
    Some(Kernels {
        quantize_q8_0: activation::quantize_q8_0,
        quantize_q8_1: activation::quantize_q8_1,
        quantize_q8_k: activation::quantize_q8_k,
        q4_0: q4::Q4_0,
        q4_1: q4::Q4_1,
        q5_0: q5::Q5_0,
        q5_1: q5::Q5_1,
        q8_0: q8::Q8_0,
        q2_k: k_quants::Q2_K,
        q3_k: k_quants::Q3_K,
        q4_k: k_quants::Q4_K,
        q5_k: k_quants::Q5_K,
        q6_k: k_quants::Q6_K,
        f32: float::F32,
        f16: float::F16,
        bf16: float::BF16,
        swiglu: swiglu::swiglu,
        attention_f16: attention::ATTENTION_F16,
        ..Kernels::scalar().named("avx2")
    })
}

/// f16 -> f32 exactly (F16C).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn f16_to_f32(h: f16) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h.to_bits() as i32)))
}

/// Sum of the 8 lanes: (hi + lo) pairwise, as ggml's hsum_float_8.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn hsum_f32x8(v: __m256) -> f32 {
    let s4 = _mm_add_ps(_mm256_extractf128_ps::<1>(v), _mm256_castps256_ps128(v));
    let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    let s1 = _mm_add_ss(s2, _mm_movehdup_ps(s2));
    _mm_cvtss_f32(s1)
}

/// Sum of the 8 i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn hsum_i32x8(v: __m256i) -> i32 {
    let s4 = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s2 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
    let s1 = _mm_add_epi32(s2, _mm_shuffle_epi32::<0b10_11_00_01>(s2));
    _mm_cvtsi128_si32(s1)
}

/// 32 i8 of a q8 block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn load_q8(qs: &[i8; QK]) -> __m256i {
    // SAFETY: qs has exactly 32 bytes.
    unsafe { _mm256_loadu_si256(qs.as_ptr() as *const __m256i) }
}

/// Unsigned x (u8 <= 127) times signed y (i8), summed in i32 lanes of 4 products, as f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn mul_sum_u8_i8_f32(x: __m256i, y: __m256i) -> __m256 {
    _mm256_cvtepi32_ps(mul_sum_u8_i8_i32(x, y))
}

/// Signed x (i8, not -128) times y (i8), summed in i32 lanes of 4 products, as f32
/// (ggml's mul_sum_i8_pairs_float: |x| times y with x's signs).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn mul_sum_i8_f32(x: __m256i, y: __m256i) -> __m256 {
    let ax = _mm256_sign_epi8(x, x);
    let sy = _mm256_sign_epi8(y, x);
    mul_sum_u8_i8_f32(ax, sy)
}

/// Unsigned x (u8 <= 127) times signed y (i8), summed in i32 lanes of 4 products.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn mul_sum_u8_i8_i32(x: __m256i, y: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1))
}
