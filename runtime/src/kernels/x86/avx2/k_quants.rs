//! The K-quants against Q8_K activations, in the f32 order of llama.cpp's AVX2 build (the one
//! that reproduces the reference files) for each type.
//!
//! The integer parts are exact whatever the instruction order; only the f32 steps must match.
//! Single tokens (`dot`, `matvec`):
//! - Q4_K: llama.cpp repacks these matrices (8 rows interleaved) whenever it is built with
//!   AVX2, and its gemv keeps two running sums per row: acc = fma(isum, d_w d_x, acc) and
//!   acc_m = fma(imin, dmin_w d_x, acc_m) per super-block, isum = sum of sc * q . y and
//!   imin = sum of m * bsums, both exact; the result is acc - acc_m.
//! - Q2_K, Q3_K, Q5_K, Q6_K: `ggml_vec_dot_q*_K_q8_K` (AVX2 path): eight exact i32 lanes per
//!   super-block, lane i holding the elements e with (e % 32) / 4 == i times their sub-block
//!   scale (Q6_K: minus 32 * (bsums * scales) of sub-blocks 2i and 2i + 1), then
//!   acc = fma(d_x d_w, lanes, acc) and one horizontal sum at the end. Q2_K fmas dmin times
//!   eight lanes of sum(bsums * m) into the same acc first; Q5_K's minimums are a scalar
//!   running sum, summs = fma(dmin, imin, summs) (GCC contracts ggml's `summs += dmin * imin`).
//!
//! Prompt batches (`gemm`): llama.cpp's batch arithmetic, see the section below; which tokens
//! take it is the table entry's [`GemmTakes`].

use super::{f16_to_f32, hsum_f32x8, hsum_i32x8};
use crate::kernels::dispatch::GemmTakes;
use crate::kernels::generic::gemm_by;
use crate::kernels::isa_glue::{row_loop, safe_entry};
use crate::kernels::TypeKernels;
use edge_formats::blocks::q3_k::unpack_q3_scales;
use edge_formats::blocks::q4_k::scale_min_k4;
use edge_formats::blocks::{BlockQ2_K, BlockQ3_K, BlockQ4_K, BlockQ5_K, BlockQ6_K, BlockQ8_K};
use std::arch::x86_64::*;

/// The AVX2 Q2_K entries.
pub(super) const Q2_K: TypeKernels<BlockQ2_K, BlockQ8_K> =
    TypeKernels::new(dot_q2_k_q8_k, matvec_q2_k)
        .with_batch_gemm(gemm_q2_k, GemmTakes::BatchOfAtLeast(TILED_MIN_BATCH));
/// The AVX2 Q3_K entries.
pub(super) const Q3_K: TypeKernels<BlockQ3_K, BlockQ8_K> =
    TypeKernels::new(dot_q3_k_q8_k, matvec_q3_k)
        .with_batch_gemm(gemm_q3_k, GemmTakes::BatchOfAtLeast(TILED_MIN_BATCH));
/// The AVX2 Q4_K entries.
pub(super) const Q4_K: TypeKernels<BlockQ4_K, BlockQ8_K> =
    TypeKernels::new(dot_q4_k_q8_k, matvec_q4_k)
        .with_batch_gemm(gemm_q4_k, GemmTakes::WholeGroupsOf(Q4_K_GEMM_GROUP));
/// The AVX2 Q5_K entries.
pub(super) const Q5_K: TypeKernels<BlockQ5_K, BlockQ8_K> =
    TypeKernels::new(dot_q5_k_q8_k, matvec_q5_k)
        .with_batch_gemm(gemm_q5_k, GemmTakes::BatchOfAtLeast(TILED_MIN_BATCH));
/// The AVX2 Q6_K entries.
pub(super) const Q6_K: TypeKernels<BlockQ6_K, BlockQ8_K> =
    TypeKernels::new(dot_q6_k_q8_k, matvec_q6_k)
        .with_batch_gemm(gemm_q6_k, GemmTakes::BatchOfAtLeast(TILED_MIN_BATCH));

safe_entry! {
    fn dot_q2_k_q8_k(w: &[BlockQ2_K], x: &[BlockQ8_K]) -> f32 => dot_q2_k_avx2;
    fn dot_q3_k_q8_k(w: &[BlockQ3_K], x: &[BlockQ8_K]) -> f32 => dot_q3_k_avx2;
    fn dot_q4_k_q8_k(w: &[BlockQ4_K], x: &[BlockQ8_K]) -> f32 => dot_q4_k_avx2;
    fn dot_q5_k_q8_k(w: &[BlockQ5_K], x: &[BlockQ8_K]) -> f32 => dot_q5_k_avx2;
    fn dot_q6_k_q8_k(w: &[BlockQ6_K], x: &[BlockQ8_K]) -> f32 => dot_q6_k_avx2;
    fn matvec_q2_k(out: &mut [f32], w: &[BlockQ2_K], row_len: usize, x: &[BlockQ8_K]) => matvec_q2_k_avx2;
    fn matvec_q3_k(out: &mut [f32], w: &[BlockQ3_K], row_len: usize, x: &[BlockQ8_K]) => matvec_q3_k_avx2;
    fn matvec_q4_k(out: &mut [f32], w: &[BlockQ4_K], row_len: usize, x: &[BlockQ8_K]) => matvec_q4_k_avx2;
    fn matvec_q5_k(out: &mut [f32], w: &[BlockQ5_K], row_len: usize, x: &[BlockQ8_K]) => matvec_q5_k_avx2;
    fn matvec_q6_k(out: &mut [f32], w: &[BlockQ6_K], row_len: usize, x: &[BlockQ8_K]) => matvec_q6_k_avx2;
}

row_loop!(
    matvec_q2_k_avx2,
    BlockQ2_K,
    BlockQ8_K,
    dot_q2_k_avx2,
    "avx2,fma,f16c"
);
row_loop!(
    matvec_q3_k_avx2,
    BlockQ3_K,
    BlockQ8_K,
    dot_q3_k_avx2,
    "avx2,fma,f16c"
);
row_loop!(
    matvec_q4_k_avx2,
    BlockQ4_K,
    BlockQ8_K,
    dot_q4_k_avx2,
    "avx2,fma,f16c"
);
row_loop!(
    matvec_q5_k_avx2,
    BlockQ5_K,
    BlockQ8_K,
    dot_q5_k_avx2,
    "avx2,fma,f16c"
);
row_loop!(
    matvec_q6_k_avx2,
    BlockQ6_K,
    BlockQ8_K,
    dot_q6_k_avx2,
    "avx2,fma,f16c"
);

/// Bytes at..at + 32 of `bytes` (a fixed part of a block: the range is always inside).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load32(bytes: &[u8], at: usize) -> __m256i {
    let chunk = &bytes[at..at + 32];
    // SAFETY: chunk has exactly 32 bytes.
    unsafe { _mm256_loadu_si256(chunk.as_ptr() as *const __m256i) }
}

/// Activation values at..at + 32 of a Q8_K block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_y(b: &BlockQ8_K, at: usize) -> __m256i {
    load32(bytemuck::cast_slice(&b.qs), at)
}

/// Eight i32 lanes of one chunk of 32: (q - off) . y, elements 0..16 times `s_lo` and
/// 16..32 times `s_hi`; lane i covers elements 4i..4i+4. q, off unsigned (q <= 63, off <= 32).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn chunk_lanes(q: __m256i, off: Option<__m256i>, y: __m256i, s_lo: i16, s_hi: i16) -> __m256i {
    let mut p16 = _mm256_maddubs_epi16(q, y);
    if let Some(off) = off {
        p16 = _mm256_sub_epi16(p16, _mm256_maddubs_epi16(off, y));
    }
    let scales = _mm256_set_m128i(_mm_set1_epi16(s_hi), _mm_set1_epi16(s_lo));
    _mm256_madd_epi16(scales, p16)
}

/// Bits 2k..2k+2 of each byte.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn two_bits(v: __m256i, k: usize) -> __m256i {
    let shifted = match k {
        0 => v,
        1 => _mm256_srli_epi16::<2>(v),
        2 => _mm256_srli_epi16::<4>(v),
        _ => _mm256_srli_epi16::<6>(v),
    };
    _mm256_and_si256(shifted, _mm256_set1_epi8(3))
}

/// Bit `b` (0..8) of each byte, as 0 or 1.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn bit_of_bytes(v: __m256i, b: usize) -> __m256i {
    let shifted = _mm256_srl_epi16(v, _mm_cvtsi32_si128(b as i32));
    _mm256_and_si256(shifted, _mm256_set1_epi8(1))
}

/// Low (k = 0) or high (k = 1) nibbles of each byte.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn nibbles(v: __m256i, k: usize) -> __m256i {
    let shifted = if k == 0 { v } else { _mm256_srli_epi16::<4>(v) };
    _mm256_and_si256(shifted, _mm256_set1_epi8(0xF))
}

// w (nb) . x (nb) -> f32; ggml_vec_dot_q2_K_q8_K (AVX2 path).
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q2_k_avx2(w: &[BlockQ2_K], x: &[BlockQ8_K]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (a, b) in w.iter().zip(x) {
        let d = b.d * f16_to_f32(a.d);
        let dmin = -b.d * f16_to_f32(a.dmin);
        let mins: [i32; 8] = std::array::from_fn(|i| {
            i32::from(a.scales[2 * i] >> 4) * i32::from(b.bsums[2 * i])
                + i32::from(a.scales[2 * i + 1] >> 4) * i32::from(b.bsums[2 * i + 1])
        });
        // SAFETY: mins is 8 i32 = 32 bytes.
        let prod = unsafe { _mm256_loadu_si256(mins.as_ptr() as *const __m256i) };
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(prod), acc);
        let mut sumi = _mm256_setzero_si256();
        for half in 0..2 {
            let bits = load32(&a.qs, 32 * half);
            for k in 0..4 {
                let sub = 8 * half + 2 * k;
                let (s_lo, s_hi) = (a.scales[sub] & 0xF, a.scales[sub + 1] & 0xF);
                let y = load_y(b, 128 * half + 32 * k);
                let lanes = chunk_lanes(two_bits(bits, k), None, y, s_lo.into(), s_hi.into());
                sumi = _mm256_add_epi32(sumi, lanes);
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum_f32x8(acc)
}

// w (nb) . x (nb) -> f32; ggml_vec_dot_q3_K_q8_K (AVX2 path).
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q3_k_avx2(w: &[BlockQ3_K], x: &[BlockQ8_K]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (a, b) in w.iter().zip(x) {
        let d = b.d * f16_to_f32(a.d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi_q3_k(a, b)), acc);
    }
    hsum_f32x8(acc)
}

/// The eight exact i32 lanes of one Q3_K block against Q8_K: q - 4 where the high bit is
/// clear, as (low bits) . y - (4 where clear) . y, times (scale - 32).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn sumi_q3_k(a: &BlockQ3_K, b: &BlockQ8_K) -> __m256i {
    let scales = unpack_q3_scales(&a.scales).map(|s| i16::from(s) - 32);
    let hmask = load32(&a.hmask, 0);
    let mut sumi = _mm256_setzero_si256();
    for half in 0..2 {
        let bits = load32(&a.qs, 32 * half);
        for k in 0..4 {
            let sub = 8 * half + 2 * k;
            let clear = _mm256_xor_si256(bit_of_bytes(hmask, 4 * half + k), _mm256_set1_epi8(1));
            let off = _mm256_slli_epi16::<2>(clear);
            let y = load_y(b, 128 * half + 32 * k);
            let (s_lo, s_hi) = (scales[sub], scales[sub + 1]);
            let lanes = chunk_lanes(two_bits(bits, k), Some(off), y, s_lo, s_hi);
            sumi = _mm256_add_epi32(sumi, lanes);
        }
    }
    sumi
}

/// The 6-bit scales of a Q4_K/Q5_K block and its exact sum of m * (the sums of 32).
#[inline(always)]
fn scales_and_min_sum(packed: &[u8; 12], bsums: &[i16; 16]) -> ([i16; 8], i32) {
    let pairs: [(u8, u8); 8] = std::array::from_fn(|j| scale_min_k4(j, packed));
    let sum32 = |j: usize| i32::from(bsums[2 * j]) + i32::from(bsums[2 * j + 1]);
    let imin = (0..8).map(|j| i32::from(pairs[j].1) * sum32(j)).sum();
    (pairs.map(|p| i16::from(p.0)), imin)
}

// w (nb) . x (nb) -> f32; ggml's repacked q4_K_8x8 gemv/gemm, one row of the eight.
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q4_k_avx2(w: &[BlockQ4_K], x: &[BlockQ8_K]) -> f32 {
    let (mut acc, mut acc_m) = (0.0f32, 0.0f32);
    for (a, b) in w.iter().zip(x) {
        let (scales, imin) = scales_and_min_sum(&a.scales, &b.bsums);
        let mut sumi = _mm256_setzero_si256();
        for j in 0..4 {
            let bits = load32(&a.qs, 32 * j);
            for k in 0..2 {
                let s = scales[2 * j + k];
                let y = load_y(b, 64 * j + 32 * k);
                sumi = _mm256_add_epi32(sumi, chunk_lanes(nibbles(bits, k), None, y, s, s));
            }
        }
        let isum = hsum_i32x8(sumi);
        acc = (isum as f32).mul_add(f16_to_f32(a.d) * b.d, acc);
        acc_m = (imin as f32).mul_add(f16_to_f32(a.dmin) * b.d, acc_m);
    }
    acc - acc_m
}

// w (nb) . x (nb) -> f32; ggml_vec_dot_q5_K_q8_K (AVX2 path).
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q5_k_avx2(w: &[BlockQ5_K], x: &[BlockQ8_K]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let d = b.d * f16_to_f32(a.d);
        let dmin = -b.d * f16_to_f32(a.dmin);
        let (scales, imin) = scales_and_min_sum(&a.scales, &b.bsums);
        summs = dmin.mul_add(imin as f32, summs);
        let high = load32(&a.qh, 0);
        let mut sumi = _mm256_setzero_si256();
        for j in 0..4 {
            let bits = load32(&a.qs, 32 * j);
            for k in 0..2 {
                let fifth = _mm256_slli_epi16::<4>(bit_of_bytes(high, 2 * j + k));
                let q = _mm256_or_si256(nibbles(bits, k), fifth);
                let s = scales[2 * j + k];
                let y = load_y(b, 64 * j + 32 * k);
                sumi = _mm256_add_epi32(sumi, chunk_lanes(q, None, y, s, s));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum_f32x8(acc) + summs
}

// w (nb) . x (nb) -> f32; ggml_vec_dot_q6_K_q8_K (AVX2 path).
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q6_k_avx2(w: &[BlockQ6_K], x: &[BlockQ8_K]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (a, b) in w.iter().zip(x) {
        let d = b.d * f16_to_f32(a.d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi_q6_k(a, b)), acc);
    }
    hsum_f32x8(acc)
}

/// The eight exact i32 lanes of one Q6_K block against Q8_K as ggml's AVX2 path forms them:
/// q . y times the scales with q in [0, 63], then lane i less 32 * (bsums * scales) of
/// sub-blocks 2i and 2i + 1.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn sumi_q6_k(a: &BlockQ6_K, b: &BlockQ8_K) -> __m256i {
    let offsets: [i32; 8] = std::array::from_fn(|i| {
        32 * (i32::from(b.bsums[2 * i]) * i32::from(a.scales[2 * i])
            + i32::from(b.bsums[2 * i + 1]) * i32::from(a.scales[2 * i + 1]))
    });
    // SAFETY: offsets is 8 i32 = 32 bytes.
    let offsets = unsafe { _mm256_loadu_si256(offsets.as_ptr() as *const __m256i) };
    let mut sumi = _mm256_sub_epi32(_mm256_setzero_si256(), offsets);
    for half in 0..2 {
        let low = [load32(&a.ql, 64 * half), load32(&a.ql, 64 * half + 32)];
        let high = load32(&a.qh, 32 * half);
        for k in 0..4 {
            let top = _mm256_slli_epi16::<4>(two_bits(high, k));
            let q = _mm256_or_si256(nibbles(low[k % 2], k / 2), top);
            let sub = 8 * half + 2 * k;
            let (s_lo, s_hi) = (a.scales[sub].into(), a.scales[sub + 1].into());
            let y = load_y(b, 128 * half + 32 * k);
            sumi = _mm256_add_epi32(sumi, chunk_lanes(q, None, y, s_lo, s_hi));
        }
    }
    sumi
}

// ---------------------------------------------------------------------------------------------
// Prompt batches. llama.cpp's x86 build multiplies a batch of tokens with other kernels than a
// single token, each output in its own f32 order:
// - Q4_K (repacked): the rows of whole groups of 4 tokens by ggml_gemm_q4_K_8x8_q8_K, which
//   adds each pair of sub-blocks separately: acc = fma(isum_pair, d_w d_x, acc) and
//   acc_m = fma(imin_pair, dmin_w d_x, acc_m), four times per super-block; the last n % 4
//   tokens by the gemv (`dot`).
// - Q2_K, Q3_K, Q5_K, Q6_K: batches of 8 or more tokens by the tiled K-quant matmul
//   (ggml-cpu/tiled, on unless GGML_CPU_TILED_MM=0): per super-block res = d_w * s1
//   (rounded), res = fma(-dmin_w, s2, res) where there are minimums, acc = fma(res, d_x, acc),
//   s1 and s2 the exact sums of sc * q . y and m * bsums. Smaller batches by `dot`.

/// The tiled matmul's f32 steps for one super-block: acc + (d_w s1 - dmin_w s2) d_x.
#[inline(always)]
fn tiled_step(acc: f32, d_w: f32, s1: i32, dmin_w: Option<(f32, i32)>, d_x: f32) -> f32 {
    let mut res = d_w * s1 as f32;
    if let Some((dmin_w, s2)) = dmin_w {
        res = (-dmin_w).mul_add(s2 as f32, res);
    }
    res.mul_add(d_x, acc)
}

/// Exact sum of (sc & 15) * q . y over a Q2_K block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn isum_q2_k(a: &BlockQ2_K, b: &BlockQ8_K) -> i32 {
    let mut sumi = _mm256_setzero_si256();
    for half in 0..2 {
        let bits = load32(&a.qs, 32 * half);
        for k in 0..4 {
            let sub = 8 * half + 2 * k;
            let (s_lo, s_hi) = (a.scales[sub] & 0xF, a.scales[sub + 1] & 0xF);
            let y = load_y(b, 128 * half + 32 * k);
            let lanes = chunk_lanes(two_bits(bits, k), None, y, s_lo.into(), s_hi.into());
            sumi = _mm256_add_epi32(sumi, lanes);
        }
    }
    hsum_i32x8(sumi)
}

// w (nb) . x (nb) -> f32; the tiled matmul's order.
#[target_feature(enable = "avx2,fma,f16c")]
fn tiled_dot_q2_k(w: &[BlockQ2_K], x: &[BlockQ8_K]) -> f32 {
    let mut acc = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let s2: i32 = a
            .scales
            .iter()
            .zip(&b.bsums)
            .map(|(&sc, &s)| i32::from(sc >> 4) * i32::from(s))
            .sum();
        let dmin = Some((f16_to_f32(a.dmin), s2));
        acc = tiled_step(acc, f16_to_f32(a.d), isum_q2_k(a, b), dmin, b.d);
    }
    acc
}

// w (nb) . x (nb) -> f32; the tiled matmul's order.
#[target_feature(enable = "avx2,fma,f16c")]
fn tiled_dot_q3_k(w: &[BlockQ3_K], x: &[BlockQ8_K]) -> f32 {
    let mut acc = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let s1 = hsum_i32x8(sumi_q3_k(a, b));
        acc = tiled_step(acc, f16_to_f32(a.d), s1, None, b.d);
    }
    acc
}

// w (nb) . x (nb) -> f32; the tiled matmul's order.
#[target_feature(enable = "avx2,fma,f16c")]
fn tiled_dot_q5_k(w: &[BlockQ5_K], x: &[BlockQ8_K]) -> f32 {
    let mut acc = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let (scales, s2) = scales_and_min_sum(&a.scales, &b.bsums);
        let s1 = isum_q5_k(a, b, &scales);
        let dmin = Some((f16_to_f32(a.dmin), s2));
        acc = tiled_step(acc, f16_to_f32(a.d), s1, dmin, b.d);
    }
    acc
}

// w (nb) . x (nb) -> f32; the tiled matmul's order.
#[target_feature(enable = "avx2,fma,f16c")]
fn tiled_dot_q6_k(w: &[BlockQ6_K], x: &[BlockQ8_K]) -> f32 {
    let mut acc = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let s1 = hsum_i32x8(sumi_q6_k(a, b));
        acc = tiled_step(acc, f16_to_f32(a.d), s1, None, b.d);
    }
    acc
}

// w (nb) . x (nb) -> f32; ggml_gemm_q4_K_8x8_q8_K's order (pairs of sub-blocks).
#[target_feature(enable = "avx2,fma,f16c")]
fn gemm_dot_q4_k(w: &[BlockQ4_K], x: &[BlockQ8_K]) -> f32 {
    let (mut acc, mut acc_m) = (0.0f32, 0.0f32);
    for (a, b) in w.iter().zip(x) {
        let pairs: [(u8, u8); 8] = std::array::from_fn(|j| scale_min_k4(j, &a.scales));
        let (d, dmin) = (f16_to_f32(a.d) * b.d, f16_to_f32(a.dmin) * b.d);
        for j in 0..4 {
            let bits = load32(&a.qs, 32 * j);
            let mut lanes = _mm256_setzero_si256();
            let mut imin = 0i32;
            for k in 0..2 {
                let (sc, m) = pairs[2 * j + k];
                let y = load_y(b, 64 * j + 32 * k);
                let s = i16::from(sc);
                lanes = _mm256_add_epi32(lanes, chunk_lanes(nibbles(bits, k), None, y, s, s));
                let sub = 2 * (2 * j + k);
                imin += i32::from(m) * (i32::from(b.bsums[sub]) + i32::from(b.bsums[sub + 1]));
            }
            acc = (hsum_i32x8(lanes) as f32).mul_add(d, acc);
            acc_m = (imin as f32).mul_add(dmin, acc_m);
        }
    }
    acc - acc_m
}

/// Exact sum of sc * q . y over a Q5_K block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn isum_q5_k(a: &BlockQ5_K, b: &BlockQ8_K, scales: &[i16; 8]) -> i32 {
    let high = load32(&a.qh, 0);
    let mut sumi = _mm256_setzero_si256();
    for j in 0..4 {
        let bits = load32(&a.qs, 32 * j);
        for k in 0..2 {
            let fifth = _mm256_slli_epi16::<4>(bit_of_bytes(high, 2 * j + k));
            let q = _mm256_or_si256(nibbles(bits, k), fifth);
            let s = scales[2 * j + k];
            let y = load_y(b, 64 * j + 32 * k);
            sumi = _mm256_add_epi32(sumi, chunk_lanes(q, None, y, s, s));
        }
    }
    hsum_i32x8(sumi)
}

/// llama.cpp's tiled matmul takes batches of at least this many tokens.
const TILED_MIN_BATCH: usize = 8;

/// ggml_gemm_q4_K_8x8_q8_K takes the tokens of a batch in groups of this many.
const Q4_K_GEMM_GROUP: usize = 4;

/// The gemm entries: w (rows, row_len) @ xs[t] (row_len) -> out[t] (rows), every output in
/// the batch order above (`generic::gemm_by` over the batch dots).
macro_rules! batch_gemm {
    ($($name:ident: $w:ty => $dot:ident;)*) => {$(
        pub(in crate::kernels::x86) fn $name(
            out: &mut [&mut [f32]],
            w: &[$w],
            row_len: usize,
            xs: &[&[BlockQ8_K]],
        ) {
            gemm_by(out, w, row_len, xs, |row, x| {
                // SAFETY: only reachable through the AVX2 table, which `kernels()` builds only
                // after checking that the CPU has avx2, fma and f16c.
                unsafe { $dot(row, x) }
            })
        }
    )*};
}

batch_gemm! {
    gemm_q2_k: BlockQ2_K => tiled_dot_q2_k;
    gemm_q3_k: BlockQ3_K => tiled_dot_q3_k;
    gemm_q4_k: BlockQ4_K => gemm_dot_q4_k;
    gemm_q5_k: BlockQ5_K => tiled_dot_q5_k;
    gemm_q6_k: BlockQ6_K => tiled_dot_q6_k;
}
