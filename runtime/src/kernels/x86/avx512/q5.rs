//! Q5_0 and Q5_1 weights against Q8_0 and Q8_1 activations: the AVX2 arithmetic with VNNI and
//! mask registers, two rows per 512-bit register (each row its own 8 f32 lanes, as in the
//! AVX2 dot), eight rows per pass.
//!
//! The fifth bit comes from `qh` as a mask register (bit j = byte j). A VNNI lane sums the
//! same 4 products q y as the AVX2 `maddubs` + `madd` (q in [0, 31]: no i16 saturation), and
//! Q5_0's offset is exact in i32: sum((q - 16) y) = sum(q y) - 16 sum(y).

use super::super::avx2::{f16_to_f32, hsum_f32x8, load_q8};
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::x86::prefetch;
use edge_formats::blocks::{BlockQ5_0, BlockQ5_1};
use edge_formats::{BlockQ8_0, BlockQ8_1, QK};
use std::arch::x86_64::*;

safe_entry! {
    pub(super) fn dot_q5_0_q8_0(w: &[BlockQ5_0], x: &[BlockQ8_0]) -> f32 => dot_q5_0_q8_0_avx512;
    pub(super) fn dot_q5_1_q8_1(w: &[BlockQ5_1], x: &[BlockQ8_1]) -> f32 => dot_q5_1_q8_1_avx512;
    pub(super) fn matvec_q5_0(out: &mut [f32], w: &[BlockQ5_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q5_0_avx512;
    pub(super) fn matvec_q5_1(out: &mut [f32], w: &[BlockQ5_1], row_len: usize, x: &[BlockQ8_1]) => matvec_q5_1_avx512;
}

/// Rows per pass of the matvecs (two per 512-bit accumulator; with 16, the row pointers
/// spilled to the stack).
const ROWS: usize = 8;

/// Accumulators per pass: register p holds rows 2 p (low 8 lanes) and 2 p + 1 (high 8).
const PAIRS: usize = ROWS / 2;

/// How far ahead of the 8-row group it reads the matvecs prefetch, in bytes (the AVX2 8-row
/// figure; 16 and 32 KiB measured alike from DRAM).
const PREFETCH_AHEAD: usize = crate::kernels::x86::PREFETCH_AHEAD;

/// What a Q5 block is to the kernels here: its fifth bits and its low nibbles.
pub(super) trait Q5Block {
    fn qh(&self) -> u32;
    fn qs(&self) -> &[u8; QK / 2];
}

impl Q5Block for BlockQ5_0 {
    #[inline(always)]
    fn qh(&self) -> u32 {
        u32::from_le_bytes(self.qh)
    }
    #[inline(always)]
    fn qs(&self) -> &[u8; QK / 2] {
        &self.qs
    }
}

impl Q5Block for BlockQ5_1 {
    #[inline(always)]
    fn qh(&self) -> u32 {
        u32::from_le_bytes(self.qh)
    }
    #[inline(always)]
    fn qs(&self) -> &[u8; QK / 2] {
        &self.qs
    }
}

/// One block's 32 values as bytes in [0, 31], in element order (low nibbles, then high).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q5_values(b: &impl Q5Block) -> __m256i {
    // SAFETY: qs has exactly 16 bytes.
    let both =
        unsafe { _mm256_broadcastsi128_si256(_mm_loadu_si128(b.qs().as_ptr() as *const __m128i)) };
    let shifted = _mm256_srlv_epi64(both, _mm256_setr_epi64x(0, 0, 4, 4));
    let low = _mm256_and_si256(shifted, _mm256_set1_epi8(0x0F));
    // +16 where the fifth bit is set (low < 16: the same as or-ing it in)
    _mm256_mask_add_epi8(low, b.qh(), low, _mm256_set1_epi8(16))
}

/// Two blocks' values as `q5_values` gives them: `a`'s in the low 256 bits, `b`'s in the high.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) fn q5_values_x2(a: &impl Q5Block, b: &impl Q5Block) -> __m512i {
    // SAFETY: each qs has exactly 16 bytes.
    let both = unsafe {
        let lo = _mm512_broadcast_i32x4(_mm_loadu_si128(a.qs().as_ptr() as *const __m128i));
        _mm512_mask_broadcast_i32x4(
            lo,
            0xFF00,
            _mm_loadu_si128(b.qs().as_ptr() as *const __m128i),
        )
    };
    let shifted = _mm512_srlv_epi64(both, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
    let low = _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F));
    let fifth = u64::from(a.qh()) | u64::from(b.qh()) << 32;
    _mm512_mask_add_epi8(low, fifth, low, _mm512_set1_epi8(16))
}

/// Lane i: -16 (y_4i + ... + y_4i+3), where Q5_0's lane sums start (its offset of 16).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q5_0_start(qy: __m256i) -> __m256i {
    let zero = _mm256_setzero_si256();
    _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, _mm256_set1_epi8(16), qy))
}

// w (nb) . x (nb) -> f32; the AVX2 Q5_0 dot (ggml_vec_dot_q5_0_q8_0's AVX2 path): lanes of 4
// products (q - 16) y, acc = fma(d_w * d_x, lanes, acc), then hsum_float_8.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn dot_q5_0_q8_0_avx512(w: &[BlockQ5_0], x: &[BlockQ8_0]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (a, b) in w.iter().zip(x) {
        let d = _mm256_set1_ps(f16_to_f32(a.d) * f16_to_f32(b.d));
        let qy = load_q8(&b.qs);
        let lanes = _mm256_dpbusd_epi32(q5_0_start(qy), q5_values(a), qy);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(lanes), acc);
    }
    hsum_f32x8(acc)
}

// w (nb) . x (nb) -> f32; the AVX2 Q5_1 dot (ggml_vec_dot_q5_1_q8_1's AVX2 path): q in
// [0, 31], acc = fma(lanes, d_w * d_x, acc); hsum_float_8 plus the running sum of m * s.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn dot_q5_1_q8_1_avx512(w: &[BlockQ5_1], x: &[BlockQ8_1]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        summs += f16_to_f32(a.m) * f16_to_f32(b.s);
        let qy = load_q8(&b.qs);
        let lanes = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q5_values(a), qy);
        let d = _mm256_set1_ps(f16_to_f32(a.d) * f16_to_f32(b.d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), d, acc);
    }
    hsum_f32x8(acc) + summs
}

/// Eight f16 values as f32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn f16x8(bits: [u16; ROWS]) -> __m256 {
    // SAFETY: bits is 8 u16 = 16 bytes.
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(bits.as_ptr() as *const __m128i) })
}

/// Permutation indices that spread lane 2 p of a vector over the low 8 lanes and lane 2 p + 1
/// over the high 8: a pair's scales, laid out as its accumulator.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn pair_spreads() -> [__m512i; PAIRS] {
    std::array::from_fn(|p| {
        let (a, b) = (2 * p as i32, 2 * p as i32 + 1);
        _mm512_inserti64x4::<1>(
            _mm512_castsi256_si512(_mm256_set1_epi32(a)),
            _mm256_set1_epi32(b),
        )
    })
}

/// The two rows of an accumulator pair: hsum_float_8 of its low 8 lanes and of its high 8.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn pair_sums(acc: __m512) -> [f32; 2] {
    let high = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(acc)));
    [hsum_f32x8(_mm512_castps512_ps256(acc)), hsum_f32x8(high)]
}

/// Block 0 of each row of the 8-row group at `group` (rows of `nb` blocks; raw pointers:
/// the release profile checks overflow, and index arithmetic per block and row would cost
/// more than the dot).
#[inline(always)]
fn group_rows<B>(group: &[B], nb: usize) -> [*const B; ROWS] {
    std::array::from_fn(|r| group[r * nb..].as_ptr())
}

/// Prefetches the bytes at `ahead`, the `i`th step of an 8-row group of `B` blocks (a
/// prefetch never faults, wherever it points).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn prefetch_step<B>(ahead: *const i8, i: usize) {
    let bytes = ROWS * std::mem::size_of::<B>();
    prefetch(ahead.wrapping_add(i * bytes), bytes);
}

// w (rows, nb) @ x (nb) -> out (rows): eight rows at a time, two per register, each row's
// 8 lanes updated exactly as in `dot_q5_0_q8_0_avx512`; leftover rows through that dot.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn matvec_q5_0_avx512(out: &mut [f32], w: &[BlockQ5_0], nb: usize, x: &[BlockQ8_0]) {
    if nb == 0 {
        out.fill(0.0);
        return;
    }
    let rows = out.len().min(w.len() / nb);
    let x = &x[..nb.min(x.len())];
    let (groups, rest) = out[..rows].split_at_mut(rows - rows % ROWS);
    let spreads = pair_spreads();
    for (g, out_g) in groups.chunks_exact_mut(ROWS).enumerate() {
        let w_g = &w[g * ROWS * nb..(g + 1) * ROWS * nb];
        let ahead = w_g.as_ptr().cast::<i8>().wrapping_add(PREFETCH_AHEAD);
        let blocks = group_rows(w_g, nb);
        let mut acc = [_mm512_setzero_ps(); PAIRS];
        for (i, xb) in x.iter().enumerate() {
            prefetch_step::<BlockQ5_0>(ahead, i);
            // SAFETY: each row has nb blocks and i < x.len() <= nb: block i of row r is in w_g.
            let row_block = |r: usize| unsafe { &*blocks[r].add(i) };
            let qy256 = load_q8(&xb.qs);
            let qy = _mm512_broadcast_i64x4(qy256);
            let start = _mm512_broadcast_i64x4(q5_0_start(qy256));
            let dw = f16x8(std::array::from_fn(|r| row_block(r).d.to_bits()));
            let d = _mm512_castps256_ps512(_mm256_mul_ps(dw, _mm256_set1_ps(f16_to_f32(xb.d))));
            for (p, a) in acc.iter_mut().enumerate() {
                let q = q5_values_x2(row_block(2 * p), row_block(2 * p + 1));
                let lanes = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(start, q, qy));
                let dp = _mm512_permutexvar_ps(spreads[p], d);
                *a = _mm512_fmadd_ps(dp, lanes, *a);
            }
        }
        for (o, a) in out_g.chunks_exact_mut(2).zip(acc) {
            o.copy_from_slice(&pair_sums(a));
        }
    }
    let first = rows - rest.len();
    for (r, o) in rest.iter_mut().enumerate() {
        let row = first + r;
        *o = dot_q5_0_q8_0_avx512(&w[row * nb..(row + 1) * nb], x);
    }
}

// w (rows, nb) @ x (nb) -> out (rows): as `matvec_q5_0_avx512`, with the arithmetic of
// `dot_q5_1_q8_1_avx512` (the 8 rows' sums of m * s in one vector).
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn matvec_q5_1_avx512(out: &mut [f32], w: &[BlockQ5_1], nb: usize, x: &[BlockQ8_1]) {
    if nb == 0 {
        out.fill(0.0);
        return;
    }
    let rows = out.len().min(w.len() / nb);
    let x = &x[..nb.min(x.len())];
    let (groups, rest) = out[..rows].split_at_mut(rows - rows % ROWS);
    let spreads = pair_spreads();
    for (g, out_g) in groups.chunks_exact_mut(ROWS).enumerate() {
        let w_g = &w[g * ROWS * nb..(g + 1) * ROWS * nb];
        let ahead = w_g.as_ptr().cast::<i8>().wrapping_add(PREFETCH_AHEAD);
        let mut summs = _mm256_setzero_ps();
        let blocks = group_rows(w_g, nb);
        let mut acc = [_mm512_setzero_ps(); PAIRS];
        for (i, xb) in x.iter().enumerate() {
            prefetch_step::<BlockQ5_1>(ahead, i);
            // SAFETY: each row has nb blocks and i < x.len() <= nb: block i of row r is in w_g.
            let row_block = |r: usize| unsafe { &*blocks[r].add(i) };
            let qy = _mm512_broadcast_i64x4(load_q8(&xb.qs));
            let dw = f16x8(std::array::from_fn(|r| row_block(r).d.to_bits()));
            let mw = f16x8(std::array::from_fn(|r| row_block(r).m.to_bits()));
            summs = _mm256_add_ps(summs, _mm256_mul_ps(mw, _mm256_set1_ps(f16_to_f32(xb.s))));
            let d = _mm512_castps256_ps512(_mm256_mul_ps(dw, _mm256_set1_ps(f16_to_f32(xb.d))));
            let zero = _mm512_setzero_si512();
            for (p, a) in acc.iter_mut().enumerate() {
                let q = q5_values_x2(row_block(2 * p), row_block(2 * p + 1));
                let lanes = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, q, qy));
                let dp = _mm512_permutexvar_ps(spreads[p], d);
                *a = _mm512_fmadd_ps(lanes, dp, *a);
            }
        }
        let mut m = [0f32; ROWS];
        // SAFETY: m has 8 f32.
        unsafe { _mm256_storeu_ps(m.as_mut_ptr(), summs) };
        for ((o, a), s) in out_g.chunks_exact_mut(2).zip(acc).zip(m.chunks_exact(2)) {
            let [s0, s1] = pair_sums(a);
            o.copy_from_slice(&[s0 + s[0], s1 + s[1]]);
        }
    }
    let first = rows - rest.len();
    for (r, o) in rest.iter_mut().enumerate() {
        let row = first + r;
        *o = dot_q5_1_q8_1_avx512(&w[row * nb..(row + 1) * nb], x);
    }
}
