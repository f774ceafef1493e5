//! Q4_0 weights against Q8_0 activations: the AVX2 arithmetic with VNNI, sixteen rows per
//! pass.

use super::super::avx2::{f16_to_f32, hsum_i32x8, load_q8};
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::x86::prefetch;
use edge_formats::{BlockQ4_0, BlockQ8_0, QK};
use std::arch::x86_64::*;

safe_entry! {
    pub(super) fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 => dot_q4_0_q8_0_avx512;
    pub(super) fn matvec_q4_0(out: &mut [f32], w: &[BlockQ4_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q4_0_avx512;
}

/// Rows per pass of the matvec (lane j of a 16-lane accumulator = row j).
const ROWS: usize = 16;

/// How far ahead of the 16-row group it reads the matvec prefetches, in bytes: twice
/// [`super::super::PREFETCH_AHEAD`], as the group is twice the AVX2 one's (8, 16 and 32 KiB
/// measured alike, 4 KiB and none worse).
const PREFETCH_AHEAD: usize = 16384;

/// Blocks of x whose offsets and scales the matvec computes at a time.
const MATVEC_BLOCKS: usize = 64;

/// sum_i n_i y_i - 8 sum_i y_i over one block (n the raw nibbles): the exact integer
/// sum((n - 8) y) of the AVX2 dot.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn block_sum(qs: &[u8; QK / 2], qy: __m256i) -> i32 {
    // SAFETY: qs has exactly 16 bytes.
    let lo = unsafe { _mm_loadu_si128(qs.as_ptr() as *const __m128i) };
    let hi = _mm_srli_epi16::<4>(lo);
    let nibbles = _mm256_and_si256(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(0x0F));
    let zero = _mm256_setzero_si256();
    let s = _mm256_dpbusd_epi32(zero, nibbles, qy);
    let offset = _mm256_dpbusd_epi32(zero, _mm256_set1_epi8(8), qy);
    hsum_i32x8(_mm256_sub_epi32(s, offset))
}

/// 8 * (sum of the 32 i8 of a q8 block).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) fn offset_sum(qy: __m256i) -> i32 {
    hsum_i32x8(_mm256_dpbusd_epi32(
        _mm256_setzero_si256(),
        _mm256_set1_epi8(8),
        qy,
    ))
}

// w (nb) . x (nb) -> f32: the AVX2 Q4_0 dot (ggml's repacked gemv order: acc =
// fma(block_sum, d_w * d_x, acc), block after block).
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) fn dot_q4_0_q8_0_avx512(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
    let mut acc = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let isum = block_sum(&a.qs, load_q8(&b.qs));
        acc = (isum as f32).mul_add(f16_to_f32(a.d) * f16_to_f32(b.d), acc);
    }
    acc
}

/// Four 16-byte nibble blocks in the four 128-bit lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn load_4x16(q: [&[u8; QK / 2]; 4]) -> __m512i {
    // SAFETY: each q[i] has exactly 16 bytes.
    unsafe {
        let v = _mm512_castsi128_si512(_mm_loadu_si128(q[0].as_ptr() as *const __m128i));
        let v = _mm512_inserti32x4::<1>(v, _mm_loadu_si128(q[1].as_ptr() as *const __m128i));
        let v = _mm512_inserti32x4::<2>(v, _mm_loadu_si128(q[2].as_ptr() as *const __m128i));
        _mm512_inserti32x4::<3>(v, _mm_loadu_si128(q[3].as_ptr() as *const __m128i))
    }
}

/// v[e] holds in 128-bit lane l four partial sums of row e + 4 l; lane 4 l + e of the result
/// is that row's total, so lane r = row r.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn hsum_4x4(v: [__m512i; 4]) -> __m512i {
    // [a0+a2, b0+b2, a1+a3, b1+b3] per 128-bit lane, a = v[0], b = v[1]
    let s01 = _mm512_add_epi32(
        _mm512_unpacklo_epi32(v[0], v[1]),
        _mm512_unpackhi_epi32(v[0], v[1]),
    );
    let s23 = _mm512_add_epi32(
        _mm512_unpacklo_epi32(v[2], v[3]),
        _mm512_unpackhi_epi32(v[2], v[3]),
    );
    _mm512_add_epi32(
        _mm512_unpacklo_epi64(s01, s23),
        _mm512_unpackhi_epi64(s01, s23),
    )
}

/// Rows e, e + 4, e + 8, e + 12 of a 16-row group (`row_block(r)`: its current block) times
/// x's block (`ylo`, `yhi`: its first and last 16 bytes in every 128-bit lane): in 128-bit
/// lane l, four partial sums sum(n y) of row e + 4 l (n the raw nibbles).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn group_sums<'a>(
    row_block: &impl Fn(usize) -> &'a BlockQ4_0,
    e: usize,
    ylo: __m512i,
    yhi: __m512i,
) -> __m512i {
    let raw = load_4x16([
        &row_block(e).qs,
        &row_block(e + 4).qs,
        &row_block(e + 8).qs,
        &row_block(e + 12).qs,
    ]);
    let mask = _mm512_set1_epi8(0x0F);
    let lo = _mm512_and_si512(raw, mask);
    let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(raw), mask);
    let zero = _mm512_setzero_si512();
    _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, lo, ylo), hi, yhi)
}

// w (rows, nb) @ x (nb) -> out (rows): sixteen rows at a time (lane j = row j), each row with
// exactly the arithmetic of `dot_q4_0_q8_0_avx512` (integer block sums, then the same f32
// steps); leftover rows through that dot.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn matvec_q4_0_avx512(out: &mut [f32], w: &[BlockQ4_0], nb: usize, x: &[BlockQ8_0]) {
    if nb == 0 {
        out.fill(0.0);
        return;
    }
    let rows = out.len().min(w.len() / nb);
    let x = &x[..nb.min(x.len())];
    let (groups, rest) = out[..rows].split_at_mut(rows - rows % ROWS);
    // Blocks in chunks: x's offsets and scales once per chunk for every row group, the
    // running sums in `out` between chunks.
    for c0 in (0..x.len()).step_by(MATVEC_BLOCKS) {
        let xc = &x[c0..x.len().min(c0 + MATVEC_BLOCKS)];
        let mut offsets = [0i32; MATVEC_BLOCKS];
        let mut dx = [0f32; MATVEC_BLOCKS];
        for ((o, d), xb) in offsets.iter_mut().zip(dx.iter_mut()).zip(xc) {
            *o = offset_sum(load_q8(&xb.qs));
            *d = f16_to_f32(xb.d);
        }
        for (g, out16) in groups.chunks_exact_mut(ROWS).enumerate() {
            let w16 = &w[g * ROWS * nb..(g + 1) * ROWS * nb];
            let ahead = w16.as_ptr().cast::<i8>().wrapping_add(PREFETCH_AHEAD);
            let mut acc = if c0 == 0 {
                _mm512_setzero_ps()
            } else {
                // SAFETY: out16 has exactly 16 f32.
                unsafe { _mm512_loadu_ps(out16.as_ptr()) }
            };
            // Block c0 of each row (raw pointers: the release profile checks overflow, and
            // index arithmetic per block and row would cost more than the dot).
            let mut blocks: [*const BlockQ4_0; ROWS] = [std::ptr::null(); ROWS];
            for (r, p) in blocks.iter_mut().enumerate() {
                *p = w16[r * nb + c0..].as_ptr();
            }
            for (i, xb) in xc.iter().enumerate() {
                // The bytes PREFETCH_AHEAD on, at the rate the group reads (288 bytes a
                // block; a prefetch never faults, wherever it points).
                let step = ROWS * std::mem::size_of::<BlockQ4_0>();
                prefetch(ahead.wrapping_add((c0 + i) * step), step);
                // SAFETY: each row has nb blocks and i < xc.len() <= nb - c0: block c0 + i of
                // row r is in w16.
                let row_block = |r: usize| unsafe { &*blocks[r].add(i) };
                // SAFETY: qs is 32 bytes; each load reads 16 of them.
                let (ylo, yhi) = unsafe {
                    let q = xb.qs.as_ptr();
                    (
                        _mm512_broadcast_i32x4(_mm_loadu_si128(q as *const __m128i)),
                        _mm512_broadcast_i32x4(_mm_loadu_si128(q.add(16) as *const __m128i)),
                    )
                };
                let sums = [
                    group_sums(&row_block, 0, ylo, yhi),
                    group_sums(&row_block, 1, ylo, yhi),
                    group_sums(&row_block, 2, ylo, yhi),
                    group_sums(&row_block, 3, ylo, yhi),
                ];
                let isum = _mm512_cvtepi32_ps(_mm512_sub_epi32(
                    hsum_4x4(sums),
                    _mm512_set1_epi32(offsets[i]),
                ));
                let mut dw_bits = [0u16; ROWS];
                for (r, bits) in dw_bits.iter_mut().enumerate() {
                    *bits = row_block(r).d.to_bits();
                }
                // SAFETY: dw_bits is 16 u16 = 32 bytes.
                let dw = _mm512_cvtph_ps(unsafe {
                    _mm256_loadu_si256(dw_bits.as_ptr() as *const __m256i)
                });
                let d = _mm512_mul_ps(dw, _mm512_set1_ps(dx[i]));
                acc = _mm512_fmadd_ps(isum, d, acc);
            }
            // SAFETY: out16 has exactly 16 f32.
            unsafe { _mm512_storeu_ps(out16.as_mut_ptr(), acc) };
        }
    }
    if x.is_empty() {
        groups.fill(0.0);
    }
    let first = rows - rest.len();
    for (r, o) in rest.iter_mut().enumerate() {
        let row = first + r;
        *o = dot_q4_0_q8_0_avx512(&w[row * nb..(row + 1) * nb], x);
    }
}
