//! Q4_0 and Q4_1 weights against Q8_0 and Q8_1 activations.

use super::{f16_to_f32, hsum_f32x8, hsum_i32x8, load_q8, mul_sum_u8_i8_f32, mul_sum_u8_i8_i32};
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::x86::{prefetch, PREFETCH_AHEAD};
use crate::kernels::{generic, TypeKernels};
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};
use std::arch::x86_64::*;

/// The AVX2 Q4_0 entries (the matvec runs eight rows at a time).
pub(super) const Q4_0: TypeKernels<BlockQ4_0, BlockQ8_0> =
    TypeKernels::new(dot_q4_0_q8_0, matvec_q4_0).with_gemm(super::gemm::gemm_q4_0);
/// The AVX2 Q4_1 entries.
pub(super) const Q4_1: TypeKernels<BlockQ4_1, BlockQ8_1> =
    TypeKernels::new(dot_q4_1_q8_1, matvec_q4_1);

safe_entry! {
    fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 => dot_q4_0_q8_0_avx2;
    fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 => dot_q4_1_q8_1_avx2;
    fn matvec_q4_0(out: &mut [f32], w: &[BlockQ4_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q4_0_avx2;
    fn matvec_q4_1(out: &mut [f32], w: &[BlockQ4_1], row_len: usize, x: &[BlockQ8_1]) => matvec_q4_1_avx2;
}

// w (rows, nb) @ x (nb) -> out (rows): row after row, each the bits of the dot, prefetching
// PREFETCH_AHEAD bytes ahead (one stream, but still about 4% less CPU time per decode run:
// SmolLM2 Q4_1, 1 thread, a shared machine).
#[target_feature(enable = "avx2,fma,f16c")]
fn matvec_q4_1_avx2(out: &mut [f32], w: &[BlockQ4_1], nb: usize, x: &[BlockQ8_1]) {
    generic::rows_by(out, w, nb, x, |row, x| dot_q4_1_by(row, x, PREFETCH_AHEAD))
}

/// 16 bytes of nibbles -> 32 bytes: low nibbles (elements 0..16), then high (16..32).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn unpack_nibbles(qs: &[u8; QK / 2]) -> __m256i {
    // SAFETY: qs has exactly 16 bytes.
    let lo = unsafe { _mm_loadu_si128(qs.as_ptr() as *const __m128i) };
    let hi = _mm_srli_epi16::<4>(lo);
    _mm256_and_si256(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(0x0F))
}

/// 8 * (sum of the 32 i8 of a q8 block): what the Q4_0 offset of 8 takes from a dot with the
/// raw nibbles, sum((n - 8) y) = sum(n y) - 8 sum(y), exactly in integers.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q4_0_offset_sum(qy: __m256i) -> i32 {
    8 * hsum_i32x8(mul_sum_u8_i8_i32(_mm256_set1_epi8(1), qy))
}

/// Lane j of the result is the sum of the 8 lanes of v[j].
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_i32x8_8(v: &[__m256i; 8]) -> __m256i {
    let s01 = _mm256_hadd_epi32(v[0], v[1]);
    let s23 = _mm256_hadd_epi32(v[2], v[3]);
    let s45 = _mm256_hadd_epi32(v[4], v[5]);
    let s67 = _mm256_hadd_epi32(v[6], v[7]);
    // halves of rows 0-3 and of rows 4-7, low 128 bits then high
    let s0123 = _mm256_hadd_epi32(s01, s23);
    let s4567 = _mm256_hadd_epi32(s45, s67);
    _mm256_add_epi32(
        _mm256_permute2x128_si256::<0x20>(s0123, s4567),
        _mm256_permute2x128_si256::<0x31>(s0123, s4567),
    )
}

// w (nb) . x (nb) -> f32. ggml's AVX2 builds repack Q4_0 matrices and multiply them with
// ggml_gemv/gemm_q4_0_8x8_q8_0, which add whole blocks in order:
// acc = fma(sum_i(w_i * x_i), d_w * d_x, acc). This follows that order, not vec_dot's lanes.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot_q4_0_q8_0_avx2(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
    let mut acc = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let qy = load_q8(&b.qs);
        let isum = hsum_i32x8(mul_sum_u8_i8_i32(unpack_nibbles(&a.qs), qy)) - q4_0_offset_sum(qy);
        acc = (isum as f32).mul_add(f16_to_f32(a.d) * f16_to_f32(b.d), acc);
    }
    acc
}

/// Blocks of x whose offsets and scales `matvec_q4_0_avx2` computes at a time.
const MATVEC_BLOCKS: usize = 64;

// w (rows, nb) @ x (nb) -> out (rows): eight rows at a time (lane j = row j), each row with
// exactly the arithmetic of `dot_q4_0_q8_0_avx2`; leftover rows through that dot.
#[target_feature(enable = "avx2,fma,f16c")]
fn matvec_q4_0_avx2(out: &mut [f32], w: &[BlockQ4_0], nb: usize, x: &[BlockQ8_0]) {
    if nb == 0 {
        out.fill(0.0);
        return;
    }
    let rows = out.len().min(w.len() / nb);
    let x = &x[..nb.min(x.len())];
    let (groups, rest) = out[..rows].split_at_mut(rows - rows % 8);
    // Blocks in chunks: x's offsets and scales once per chunk for every row group, the
    // running sums in `out` between chunks.
    for c0 in (0..x.len()).step_by(MATVEC_BLOCKS) {
        let xc = &x[c0..x.len().min(c0 + MATVEC_BLOCKS)];
        let mut offsets = [0i32; MATVEC_BLOCKS];
        let mut dx = [0f32; MATVEC_BLOCKS];
        for ((o, d), xb) in offsets.iter_mut().zip(dx.iter_mut()).zip(xc) {
            *o = q4_0_offset_sum(load_q8(&xb.qs));
            *d = f16_to_f32(xb.d);
        }
        for (g, out8) in groups.chunks_exact_mut(8).enumerate() {
            let w8 = &w[g * 8 * nb..(g + 1) * 8 * nb];
            let ahead = w8.as_ptr().cast::<i8>().wrapping_add(PREFETCH_AHEAD);
            let mut acc = if c0 == 0 {
                _mm256_setzero_ps()
            } else {
                // SAFETY: out8 has exactly 8 f32.
                unsafe { _mm256_loadu_ps(out8.as_ptr()) }
            };
            for (i, xb) in xc.iter().enumerate() {
                // The bytes PREFETCH_AHEAD on, at the rate the group reads (a prefetch never
                // faults, wherever it points).
                let step = 8 * std::mem::size_of::<BlockQ4_0>();
                prefetch(ahead.wrapping_add((c0 + i) * step), step);
                let qy = load_q8(&xb.qs);
                let row_block = |j: usize| &w8[j * nb + c0 + i];
                let sums: [__m256i; 8] = std::array::from_fn(|j| {
                    mul_sum_u8_i8_i32(unpack_nibbles(&row_block(j).qs), qy)
                });
                let offset = _mm256_set1_epi32(offsets[i]);
                let isum = _mm256_cvtepi32_ps(_mm256_sub_epi32(hsum_i32x8_8(&sums), offset));
                let dw_bits: [u16; 8] = std::array::from_fn(|j| row_block(j).d.to_bits());
                // SAFETY: dw_bits is 8 u16 = 16 bytes.
                let dw =
                    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(dw_bits.as_ptr() as *const __m128i) });
                let d = _mm256_mul_ps(dw, _mm256_set1_ps(dx[i]));
                acc = _mm256_fmadd_ps(isum, d, acc);
            }
            // SAFETY: out8 has exactly 8 f32.
            unsafe { _mm256_storeu_ps(out8.as_mut_ptr(), acc) };
        }
    }
    if x.is_empty() {
        groups.fill(0.0);
    }
    let first = rows - rest.len();
    for (r, o) in rest.iter_mut().enumerate() {
        let row = first + r;
        *o = dot_q4_0_q8_0_avx2(&w[row * nb..(row + 1) * nb], x);
    }
}

// w (nb) . x (nb) -> f32; ggml_vec_dot_q4_1_q8_1 (AVX2 path): lanes + sum of m * s.
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q4_1_q8_1_avx2(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
    dot_q4_1_by(w, x, 0)
}

// w (nb) . x (nb) -> f32, prefetching `ahead` bytes past each block when ahead != 0 (a
// prefetch never faults, wherever it points).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q4_1_by(w: &[BlockQ4_1], x: &[BlockQ8_1], ahead: usize) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        if ahead != 0 {
            prefetch((a as *const BlockQ4_1).cast::<i8>().wrapping_add(ahead), 1);
        }
        summs += f16_to_f32(a.m) * f16_to_f32(b.s);
        let d = _mm256_set1_ps(f16_to_f32(a.d) * f16_to_f32(b.d));
        let q = mul_sum_u8_i8_f32(unpack_nibbles(&a.qs), load_q8(&b.qs));
        acc = _mm256_fmadd_ps(d, q, acc);
    }
    hsum_f32x8(acc) + summs
}
