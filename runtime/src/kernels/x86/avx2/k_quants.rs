//! The K-quants against Q8_K activations, as ggml's AVX2 `ggml_vec_dot_q*_K_q8_K`.
//!
//! Every one reduces a super-block to eight exact i32 lanes, lane i holding the elements e
//! with (e % 32) / 4 == i (maddubs then madd over 32-value chunks), times their sub-block
//! scale; then acc = fma(d_x d_w, lanes, acc) per super-block and one horizontal sum at the
//! end. The minimums: Q2_K fmas dmin times eight lanes of sum(bsums * m) into the same acc
//! first; Q4_K keeps four such lanes in a separate 128-bit accumulator; Q5_K a scalar sum.
//! The integer lanes are exact whatever the instruction order, so matching those f32 steps
//! is what makes the results equal ggml's.

use super::{f16_to_f32, hsum_f32x8};
use crate::kernels::isa_glue::{row_loop, safe_entry};
use crate::kernels::TypeKernels;
use edge_formats::blocks::q3_k::unpack_q3_scales;
use edge_formats::blocks::q4_k::scale_min_k4;
use edge_formats::blocks::{BlockQ2_K, BlockQ3_K, BlockQ4_K, BlockQ5_K, BlockQ6_K, BlockQ8_K};
use std::arch::x86_64::*;

/// The AVX2 Q2_K entries.
pub(super) const Q2_K: TypeKernels<BlockQ2_K, BlockQ8_K> =
    TypeKernels::new(dot_q2_k_q8_k, matvec_q2_k);
/// The AVX2 Q3_K entries.
pub(super) const Q3_K: TypeKernels<BlockQ3_K, BlockQ8_K> =
    TypeKernels::new(dot_q3_k_q8_k, matvec_q3_k);
/// The AVX2 Q4_K entries.
pub(super) const Q4_K: TypeKernels<BlockQ4_K, BlockQ8_K> =
    TypeKernels::new(dot_q4_k_q8_k, matvec_q4_k);
/// The AVX2 Q5_K entries.
pub(super) const Q5_K: TypeKernels<BlockQ5_K, BlockQ8_K> =
    TypeKernels::new(dot_q5_k_q8_k, matvec_q5_k);
/// The AVX2 Q6_K entries.
pub(super) const Q6_K: TypeKernels<BlockQ6_K, BlockQ8_K> =
    TypeKernels::new(dot_q6_k_q8_k, matvec_q6_k);

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

// w (nb) . x (nb) -> f32; ggml_vec_dot_q3_K_q8_K (AVX2 path): q - 4 where the high bit is
// clear, as (low bits) . y - (4 where clear) . y.
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q3_k_avx2(w: &[BlockQ3_K], x: &[BlockQ8_K]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (a, b) in w.iter().zip(x) {
        let d = b.d * f16_to_f32(a.d);
        let scales = unpack_q3_scales(&a.scales).map(|s| i16::from(s) - 32);
        let hmask = load32(&a.hmask, 0);
        let mut sumi = _mm256_setzero_si256();
        for half in 0..2 {
            let bits = load32(&a.qs, 32 * half);
            for k in 0..4 {
                let sub = 8 * half + 2 * k;
                let clear =
                    _mm256_xor_si256(bit_of_bytes(hmask, 4 * half + k), _mm256_set1_epi8(1));
                let off = _mm256_slli_epi16::<2>(clear);
                let y = load_y(b, 128 * half + 32 * k);
                let lanes = chunk_lanes(
                    two_bits(bits, k),
                    Some(off),
                    y,
                    scales[sub],
                    scales[sub + 1],
                );
                sumi = _mm256_add_epi32(sumi, lanes);
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum_f32x8(acc)
}

/// The 6-bit scales and minimums of a Q4_K/Q5_K block, and the four i32 lanes of
/// sum(m * the sums of 32) ggml's AVX2 path forms (lane i: sub-blocks 2i and 2i + 1).
#[inline(always)]
fn scales_and_min_lanes(packed: &[u8; 12], bsums: &[i16; 16]) -> ([i16; 8], [i32; 4]) {
    let pairs: [(u8, u8); 8] = std::array::from_fn(|j| scale_min_k4(j, packed));
    let sum32 = |j: usize| i32::from(bsums[2 * j]) + i32::from(bsums[2 * j + 1]);
    let lanes = std::array::from_fn(|i| {
        i32::from(pairs[2 * i].1) * sum32(2 * i) + i32::from(pairs[2 * i + 1].1) * sum32(2 * i + 1)
    });
    (pairs.map(|p| i16::from(p.0)), lanes)
}

// w (nb) . x (nb) -> f32; ggml_vec_dot_q4_K_q8_K (AVX2 path).
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q4_k_avx2(w: &[BlockQ4_K], x: &[BlockQ8_K]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut acc_m = _mm_setzero_ps();
    for (a, b) in w.iter().zip(x) {
        let d = b.d * f16_to_f32(a.d);
        let dmin = -b.d * f16_to_f32(a.dmin);
        let (scales, min_lanes) = scales_and_min_lanes(&a.scales, &b.bsums);
        // SAFETY: min_lanes is 4 i32 = 16 bytes.
        let prod = unsafe { _mm_loadu_si128(min_lanes.as_ptr() as *const __m128i) };
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m);
        let mut sumi = _mm256_setzero_si256();
        for j in 0..4 {
            let bits = load32(&a.qs, 32 * j);
            for k in 0..2 {
                let s = scales[2 * j + k];
                let y = load_y(b, 64 * j + 32 * k);
                sumi = _mm256_add_epi32(sumi, chunk_lanes(nibbles(bits, k), None, y, s, s));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    let m2 = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    let m1 = _mm_add_ss(m2, _mm_movehdup_ps(m2));
    hsum_f32x8(acc) + _mm_cvtss_f32(m1)
}

// w (nb) . x (nb) -> f32; ggml_vec_dot_q5_K_q8_K (AVX2 path).
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q5_k_avx2(w: &[BlockQ5_K], x: &[BlockQ8_K]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let d = b.d * f16_to_f32(a.d);
        let dmin = -b.d * f16_to_f32(a.dmin);
        let (scales, min_lanes) = scales_and_min_lanes(&a.scales, &b.bsums);
        summs += dmin * min_lanes.iter().sum::<i32>() as f32;
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

// w (nb) . x (nb) -> f32; ggml_vec_dot_q6_K_q8_K (AVX2 path): (q - 32) as q . y - 32 . y.
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q6_k_avx2(w: &[BlockQ6_K], x: &[BlockQ8_K]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let m32 = _mm256_set1_epi8(32);
    for (a, b) in w.iter().zip(x) {
        let d = b.d * f16_to_f32(a.d);
        let mut sumi = _mm256_setzero_si256();
        for half in 0..2 {
            let low = [load32(&a.ql, 64 * half), load32(&a.ql, 64 * half + 32)];
            let high = load32(&a.qh, 32 * half);
            for k in 0..4 {
                let top = _mm256_slli_epi16::<4>(two_bits(high, k));
                let q = _mm256_or_si256(nibbles(low[k % 2], k / 2), top);
                let sub = 8 * half + 2 * k;
                let (s_lo, s_hi) = (a.scales[sub].into(), a.scales[sub + 1].into());
                let y = load_y(b, 128 * half + 32 * k);
                sumi = _mm256_add_epi32(sumi, chunk_lanes(q, Some(m32), y, s_lo, s_hi));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum_f32x8(acc)
}
