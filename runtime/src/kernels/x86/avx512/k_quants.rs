//! Q4_K and Q6_K weights against Q8_K activations, each row the bits of the AVX2 dot.
//!
//! Q4_K: the AVX2 arithmetic (llama.cpp's repacked gemv order: two running f32 sums per row,
//! one fma each per super-block) with VNNI, sixteen rows per pass (lane r = row r).
//!
//! The per-super-block integer sums isum = sum of sc * q . y and imin = sum of m * bsums are
//! exact in i32 whatever the instruction order, so each row is the bits of the AVX2 dot.

use super::super::avx2::{f16_to_f32, hsum_f32x8};
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::x86::prefetch;
use edge_formats::blocks::{BlockQ4_K, BlockQ6_K, BlockQ8_K};
use std::arch::x86_64::*;

safe_entry! {
    pub(super) fn dot_q4_k_q8_k(w: &[BlockQ4_K], x: &[BlockQ8_K]) -> f32 => dot_q4_k_avx512;
    pub(super) fn matvec_q4_k(out: &mut [f32], w: &[BlockQ4_K], row_len: usize, x: &[BlockQ8_K]) => matvec_q4_k_avx512;
    pub(super) fn dot_q6_k_q8_k(w: &[BlockQ6_K], x: &[BlockQ8_K]) -> f32 => dot_q6_k_avx512;
    pub(super) fn matvec_q6_k(out: &mut [f32], w: &[BlockQ6_K], row_len: usize, x: &[BlockQ8_K]) => matvec_q6_k_avx512;
}

/// Rows per pass of the matvec.
const ROWS: usize = 16;

/// How far ahead of the row group it reads each matvec here prefetches, in bytes (as the Q4_0
/// matvec's 16-row group; for Q4_K and Q6_K from DRAM 8 KiB was slower, 32 KiB the same).
const PREFETCH_AHEAD: usize = 16384;

/// A Q4_K block's 6-bit sub-block scales and minimums (`scale_min_k4` for j = 0..8), as the
/// bytes of two little-endian u64: bytes 0..4 are the low 6 bits of packed bytes 0..4 (scales)
/// and 4..8 (minimums); bytes 4..8 take their low 4 bits from the nibbles of packed bytes
/// 8..12 and their top 2 from the top bits of bytes 0..4 (scales) and 4..8 (minimums).
#[inline(always)]
pub(super) fn scales_and_mins(packed: &[u8; 12]) -> (u64, u64) {
    let word = |i: usize| {
        u32::from_le_bytes([
            packed[4 * i],
            packed[4 * i + 1],
            packed[4 * i + 2],
            packed[4 * i + 3],
        ])
    };
    let (a, b, c) = (word(0), word(1), word(2));
    let low6 = 0x3F3F_3F3F;
    let (nibble, top2) = (0x0F0F_0F0F, 0x3030_3030);
    let scales_hi = (c & nibble) | ((a >> 2) & top2);
    let mins_hi = ((c >> 4) & nibble) | ((b >> 2) & top2);
    (
        u64::from(a & low6) | u64::from(scales_hi) << 32,
        u64::from(b & low6) | u64::from(mins_hi) << 32,
    )
}

/// A Q8_K block's values as four 64-byte registers (elements 64 j .. 64 j + 64 in register j).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) fn load_y(b: &BlockQ8_K) -> [__m512i; 4] {
    // SAFETY: qs has 256 bytes; register j reads bytes 64 j .. 64 j + 64.
    std::array::from_fn(|j| unsafe { _mm512_loadu_si512(b.qs.as_ptr().add(64 * j).cast()) })
}

/// Lane j (j < 8): bsums[2 j] + bsums[2 j + 1], the sums of the 32 values of sub-block j.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) fn sub_block_sums(b: &BlockQ8_K) -> __m256i {
    // SAFETY: bsums is 16 i16 = 32 bytes.
    let bsums = unsafe { _mm256_loadu_si256(b.bsums.as_ptr().cast()) };
    _mm256_madd_epi16(bsums, _mm256_set1_epi16(1))
}

/// Permutation indices that spread scale 2 j over lanes 0..8 and scale 2 j + 1 over 8..16.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) fn scale_spreads() -> [__m512i; 4] {
    std::array::from_fn(|j| {
        _mm512_inserti64x4::<1>(
            _mm512_castsi256_si512(_mm256_set1_epi32(2 * j as i32)),
            _mm256_set1_epi32(2 * j as i32 + 1),
        )
    })
}

/// Chunk J of a block (its 32 bytes of nibbles at `qs` + 32 J) against x's register J: 16
/// i32 lanes, sub-block 2 J's 8 lane sums (low nibbles) times its scale, then sub-block
/// 2 J + 1's (high nibbles) times its scale.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn chunk_lanes<const J: usize>(
    qs: &[u8; 128],
    y: __m512i,
    spread: __m512i,
    scales: __m512i,
) -> __m512i {
    // SAFETY: qs has 128 bytes; this reads bytes 32 J .. 32 J + 32 (J < 4).
    let raw = unsafe { _mm256_loadu_si256(qs.as_ptr().add(32 * J).cast()) };
    // low nibbles (sub-block 2 J) in the low half, high nibbles (2 J + 1) in the high
    let both = _mm512_broadcast_i64x4(raw);
    let shifted = _mm512_srlv_epi64(both, _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4));
    let q = _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F));
    let lanes = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, y);
    _mm512_mullo_epi32(lanes, _mm512_permutexvar_epi32(spread, scales))
}

/// (isum, imin) of one block: sum of sc * q . y and sum of m * (the sums of 32), exactly.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn block_sums(
    a: &BlockQ4_K,
    y: &[__m512i; 4],
    sub_sums: __m256i,
    spreads: &[__m512i; 4],
) -> (i32, i32) {
    let (scales, mins) = scales_and_mins(&a.scales);
    let scales = _mm512_cvtepu8_epi32(_mm_cvtsi64_si128(scales as i64));
    let s01 = _mm512_add_epi32(
        chunk_lanes::<0>(&a.qs, y[0], spreads[0], scales),
        chunk_lanes::<1>(&a.qs, y[1], spreads[1], scales),
    );
    let s23 = _mm512_add_epi32(
        chunk_lanes::<2>(&a.qs, y[2], spreads[2], scales),
        chunk_lanes::<3>(&a.qs, y[3], spreads[3], scales),
    );
    let sumi = _mm512_add_epi32(s01, s23);
    let sumi = _mm256_add_epi32(
        _mm512_castsi512_si256(sumi),
        _mm512_extracti64x4_epi64::<1>(sumi),
    );
    let imin = _mm256_mullo_epi32(
        _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(mins as i64)),
        sub_sums,
    );
    // both horizontal sums at once: [isum, imin, isum, imin] after two pairwise adds
    let pairs = _mm256_hadd_epi32(sumi, imin);
    let pairs = _mm256_hadd_epi32(pairs, pairs);
    let both = _mm_add_epi32(
        _mm256_castsi256_si128(pairs),
        _mm256_extracti128_si256::<1>(pairs),
    );
    (_mm_cvtsi128_si32(both), _mm_extract_epi32::<1>(both))
}

// w (nb) . x (nb) -> f32; ggml's repacked q4_K_8x8 gemv, one row of the eight (the AVX2 dot):
// acc = fma(isum, d_w d_x, acc), acc_m = fma(imin, dmin_w d_x, acc_m), then acc - acc_m.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn dot_q4_k_avx512(w: &[BlockQ4_K], x: &[BlockQ8_K]) -> f32 {
    let spreads = scale_spreads();
    let (mut acc, mut acc_m) = (0.0f32, 0.0f32);
    for (a, b) in w.iter().zip(x) {
        let (isum, imin) = block_sums(a, &load_y(b), sub_block_sums(b), &spreads);
        acc = (isum as f32).mul_add(f16_to_f32(a.d) * b.d, acc);
        acc_m = (imin as f32).mul_add(f16_to_f32(a.dmin) * b.d, acc_m);
    }
    acc - acc_m
}

/// Sixteen f16 values as f32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn f16x16(bits: [u16; ROWS]) -> __m512 {
    // SAFETY: bits is 16 u16 = 32 bytes.
    _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(bits.as_ptr() as *const __m256i) })
}

/// Sixteen i32 as f32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn i32x16_as_f32(v: [i32; ROWS]) -> __m512 {
    // SAFETY: v is 16 i32 = 64 bytes.
    _mm512_cvtepi32_ps(unsafe { _mm512_loadu_si512(v.as_ptr().cast()) })
}

// w (rows, nb) @ x (nb) -> out (rows): sixteen rows at a time (lane r = row r), each row with
// exactly the arithmetic of `dot_q4_k_avx512`; leftover rows through that dot.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn matvec_q4_k_avx512(out: &mut [f32], w: &[BlockQ4_K], nb: usize, x: &[BlockQ8_K]) {
    if nb == 0 {
        out.fill(0.0);
        return;
    }
    let rows = out.len().min(w.len() / nb);
    let x = &x[..nb.min(x.len())];
    let (groups, rest) = out[..rows].split_at_mut(rows - rows % ROWS);
    let spreads = scale_spreads();
    let step = ROWS * std::mem::size_of::<BlockQ4_K>();
    for (g, out16) in groups.chunks_exact_mut(ROWS).enumerate() {
        let w16 = &w[g * ROWS * nb..(g + 1) * ROWS * nb];
        let ahead = w16.as_ptr().cast::<i8>().wrapping_add(PREFETCH_AHEAD);
        // Block 0 of each row (raw pointers: the release profile checks overflow, and index
        // arithmetic per block and row would cost more than the dot).
        let blocks: [*const BlockQ4_K; ROWS] = std::array::from_fn(|r| w16[r * nb..].as_ptr());
        let (mut acc, mut acc_m) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        for (i, xb) in x.iter().enumerate() {
            // SAFETY: each row has nb blocks and i < x.len() <= nb: block i of row r is in w16.
            let row_block = |r: usize| unsafe { &*blocks[r].add(i) };
            let y = load_y(xb);
            let sub_sums = sub_block_sums(xb);
            let (mut isum, mut imin) = ([0i32; ROWS], [0i32; ROWS]);
            let block_bytes = std::mem::size_of::<BlockQ4_K>();
            for r in 0..ROWS {
                // The bytes PREFETCH_AHEAD on, at the rate the group reads, a block's worth
                // per row between the rows' sums (a prefetch never faults, wherever it points).
                prefetch(ahead.wrapping_add(i * step + r * block_bytes), block_bytes);
                (isum[r], imin[r]) = block_sums(row_block(r), &y, sub_sums, &spreads);
            }
            let dx = _mm512_set1_ps(xb.d);
            let d = _mm512_mul_ps(
                f16x16(std::array::from_fn(|r| row_block(r).d.to_bits())),
                dx,
            );
            let dmin = _mm512_mul_ps(
                f16x16(std::array::from_fn(|r| row_block(r).dmin.to_bits())),
                dx,
            );
            acc = _mm512_fmadd_ps(i32x16_as_f32(isum), d, acc);
            acc_m = _mm512_fmadd_ps(i32x16_as_f32(imin), dmin, acc_m);
        }
        // SAFETY: out16 has exactly 16 f32.
        unsafe { _mm512_storeu_ps(out16.as_mut_ptr(), _mm512_sub_ps(acc, acc_m)) };
    }
    let first = rows - rest.len();
    for (r, o) in rest.iter_mut().enumerate() {
        let row = first + r;
        *o = dot_q4_k_avx512(&w[row * nb..(row + 1) * nb], x);
    }
}

// ---------------------------------------------------------------------------------------------
// Q6_K: ggml_vec_dot_q6_K_q8_K's AVX2 order (eight exact i32 lanes per super-block, lane i the
// elements e with (e % 32) / 4 == i times their scale, less 32 * (bsums * scales) of
// sub-blocks 2 i and 2 i + 1; acc = fma(d_x d_w, lanes, acc); one hsum_float_8 at the end).
// Here 64 elements (two chunks of 32) per register, so lane i of each half is that chunk's
// lane i, and the two halves add up to the AVX2 lanes exactly.

/// Permutation indices of the 16 i16 scales for half `h`, chunks 2 kp and 2 kp + 1: 128-bit
/// lane l takes scale 8 h + 4 kp + l (sub-blocks of 16 elements in element order).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q6_k_scale_spreads() -> [__m512i; 4] {
    std::array::from_fn(|hk| {
        let first = 4 * hk as i16;
        _mm512_inserti64x4::<1>(
            _mm512_castsi256_si512(_mm256_set_m128i(
                _mm_set1_epi16(first + 1),
                _mm_set1_epi16(first),
            )),
            _mm256_set_m128i(_mm_set1_epi16(first + 3), _mm_set1_epi16(first + 2)),
        )
    })
}

/// The eight exact i32 lanes of one Q6_K block against x (`y`: its four 64-byte registers;
/// `bsums`: its 16 sums of 16), as the AVX2 path forms them.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q6_k_lanes(a: &BlockQ6_K, y: &[__m512i; 4], bsums: __m256i, spreads: &[__m512i; 4]) -> __m256i {
    // SAFETY: scales is 16 i8 = 16 bytes.
    let scales = _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(a.scales.as_ptr().cast()) });
    let scales512 = _mm512_castsi256_si512(scales);
    let (low4, top2) = (_mm512_set1_epi8(0x0F), _mm512_set1_epi8(0x30));
    let mut sumi = _mm512_setzero_si512();
    for h in 0..2 {
        // SAFETY: ql has 128 bytes and qh 64: these read ql[64 h..64 h + 64] and
        // qh[32 h..32 h + 32].
        let (ql, qh) = unsafe {
            (
                _mm512_loadu_si512(a.ql.as_ptr().add(64 * h).cast()),
                _mm512_broadcast_i64x4(_mm256_loadu_si256(a.qh.as_ptr().add(32 * h).cast())),
            )
        };
        // chunks 0, 1 of the half: low nibbles, bits 0-1 and 2-3 of qh as bits 4-5
        let hi01 = _mm512_and_si512(
            _mm512_sllv_epi64(qh, _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2)),
            top2,
        );
        let q01 = _mm512_or_si512(_mm512_and_si512(ql, low4), hi01);
        // chunks 2, 3: high nibbles, bits 4-5 and 6-7 of qh as bits 4-5
        let hi23 = _mm512_and_si512(
            _mm512_srlv_epi64(qh, _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2)),
            top2,
        );
        let q23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16::<4>(ql), low4), hi23);
        for (kp, q) in [q01, q23].into_iter().enumerate() {
            let p16 = _mm512_maddubs_epi16(q, y[2 * h + kp]);
            let sc = _mm512_permutexvar_epi16(spreads[2 * h + kp], scales512);
            sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(p16, sc));
        }
    }
    let sumi = _mm256_add_epi32(
        _mm512_castsi512_si256(sumi),
        _mm512_extracti64x4_epi64::<1>(sumi),
    );
    let offsets = _mm256_slli_epi32::<5>(_mm256_madd_epi16(bsums, scales));
    _mm256_sub_epi32(sumi, offsets)
}

/// A Q8_K block's 16 sums of 16 as i16 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn load_bsums(b: &BlockQ8_K) -> __m256i {
    // SAFETY: bsums is 16 i16 = 32 bytes.
    unsafe { _mm256_loadu_si256(b.bsums.as_ptr().cast()) }
}

// w (nb) . x (nb) -> f32; the AVX2 Q6_K dot.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn dot_q6_k_avx512(w: &[BlockQ6_K], x: &[BlockQ8_K]) -> f32 {
    let spreads = q6_k_scale_spreads();
    let mut acc = _mm256_setzero_ps();
    for (a, b) in w.iter().zip(x) {
        let d = b.d * f16_to_f32(a.d);
        let lanes = q6_k_lanes(a, &load_y(b), load_bsums(b), &spreads);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(lanes), acc);
    }
    hsum_f32x8(acc)
}

/// Rows per pass of the Q6_K matvec (two per 512-bit accumulator).
const Q6_K_ROWS: usize = 8;

// w (rows, nb) @ x (nb) -> out (rows): eight rows at a time, two per register (each row its
// own 8 lanes), each row with exactly the arithmetic of `dot_q6_k_avx512`; leftover rows
// through that dot.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn matvec_q6_k_avx512(out: &mut [f32], w: &[BlockQ6_K], nb: usize, x: &[BlockQ8_K]) {
    const R: usize = Q6_K_ROWS;
    if nb == 0 {
        out.fill(0.0);
        return;
    }
    let rows = out.len().min(w.len() / nb);
    let x = &x[..nb.min(x.len())];
    let (groups, rest) = out[..rows].split_at_mut(rows - rows % R);
    let spreads = q6_k_scale_spreads();
    let step = R * std::mem::size_of::<BlockQ6_K>();
    for (g, out_g) in groups.chunks_exact_mut(R).enumerate() {
        let w_g = &w[g * R * nb..(g + 1) * R * nb];
        let ahead = w_g.as_ptr().cast::<i8>().wrapping_add(PREFETCH_AHEAD);
        // Block 0 of each row (raw pointers, as in the Q4_K matvec).
        let blocks: [*const BlockQ6_K; R] = std::array::from_fn(|r| w_g[r * nb..].as_ptr());
        let mut acc = [_mm512_setzero_ps(); R / 2];
        for (i, xb) in x.iter().enumerate() {
            // SAFETY: each row has nb blocks and i < x.len() <= nb: block i of row r is in w_g.
            let row_block = |r: usize| unsafe { &*blocks[r].add(i) };
            let y = load_y(xb);
            let bsums = load_bsums(xb);
            for (p, a) in acc.iter_mut().enumerate() {
                // The bytes PREFETCH_AHEAD on, at the rate the group reads, two blocks' worth
                // per row pair (spread out: a burst of a whole step's lines stalled the loads).
                let pair_bytes = 2 * std::mem::size_of::<BlockQ6_K>();
                prefetch(ahead.wrapping_add(i * step + p * pair_bytes), pair_bytes);
                let (r0, r1) = (row_block(2 * p), row_block(2 * p + 1));
                let lanes = _mm512_inserti64x4::<1>(
                    _mm512_castsi256_si512(q6_k_lanes(r0, &y, bsums, &spreads)),
                    q6_k_lanes(r1, &y, bsums, &spreads),
                );
                let d = halves(
                    _mm256_set1_ps(xb.d * f16_to_f32(r0.d)),
                    _mm256_set1_ps(xb.d * f16_to_f32(r1.d)),
                );
                *a = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(lanes), *a);
            }
        }
        for (o, a) in out_g.chunks_exact_mut(2).zip(acc) {
            let high = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(a)));
            o.copy_from_slice(&[hsum_f32x8(_mm512_castps512_ps256(a)), hsum_f32x8(high)]);
        }
    }
    let first = rows - rest.len();
    for (r, o) in rest.iter_mut().enumerate() {
        let row = first + r;
        *o = dot_q6_k_avx512(&w[row * nb..(row + 1) * nb], x);
    }
}

/// `lo` in the low 8 lanes, `hi` in the high 8 (AVX-512 F only: no DQ insertf32x8).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn halves(lo: __m256, hi: __m256) -> __m512 {
    _mm512_castpd_ps(_mm512_insertf64x4::<1>(
        _mm512_castpd256_pd512(_mm256_castps_pd(lo)),
        _mm256_castps_pd(hi),
    ))
}
