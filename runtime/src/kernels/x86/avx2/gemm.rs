//! Batched products (prompt processing) for Q4_0 and Q8_0: w (rows, nb) @ xs[t] (nb) ->
//! out[t] (rows), tiled over rows and tokens so that each weight block is unpacked once and
//! reused for every token of the tile. Each output keeps the arithmetic of its `dot` (the
//! blocks in order, the same integer sums and the same f32 operations), so every output is
//! the bits of `dot_q4_0_q8_0_avx2` / `dot_q8_0_q8_0_avx2` (the contract of
//! `dispatch::GemmFn`).

use super::q4::{dot_q4_0_q8_0_avx2, q4_0_offset_sum};
use super::q8::dot_q8_0_q8_0_avx2;
use super::{f16_to_f32, hsum_f32x8, load_q8};
use crate::kernels::dispatch::GEMM_TOKENS;
use crate::kernels::generic::gemm_rows_or_dots;
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::x86::prefetch;
use edge_formats::{BlockQ4_0, BlockQ8_0};
use std::arch::x86_64::*;

/// Blocks of a Q4_0 row group unpacked at a time (the per-token constants of these blocks
/// stay on the stack).
const Q4_0_BLOCKS: usize = 16;

/// Rows and tokens of one Q8_0 tile: ROWS * TOKENS accumulators of 8 lanes (2 x 4 spills
/// registers: slower).
const Q8_0_ROWS: usize = 2;
const Q8_0_TOKENS: usize = 2;

/// 4 bytes of a q8 block as one i32 (elements 4m..4m+4), broadcast to the 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn broadcast_q8_quad(qs: &[i8; 32], m: usize) -> __m256i {
    debug_assert!(m < 8);
    // SAFETY: m < 8 (the callers' quad index), so bytes 4m..4m+4 lie inside the 32.
    _mm256_set1_epi32(unsafe { (qs.as_ptr() as *const i32).add(m).read_unaligned() })
}

/// Block b of 8 rows, transposed: lane j of `quads[m]` holds the 4 nibbles (as bytes) of
/// row j at elements 4m..4m+4, so that one broadcast quad of x meets all 8 rows; `d` holds
/// the 8 rows' scales.
struct Q4_0Tile {
    quads: [__m256i; 8],
    d: __m256,
}

// w8 (8 rows, nb) -> block b of each row, transposed (see `Q4_0Tile`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q4_0_tile(w8: &[BlockQ4_0], nb: usize, b: usize) -> Q4_0Tile {
    let raw = |j: usize| {
        // SAFETY: qs is 16 bytes.
        unsafe { _mm_loadu_si128(w8[j * nb + b].qs.as_ptr() as *const __m128i) }
    };
    // ra = rows 0 | 4, rb = 1 | 5, rc = 2 | 6, rd = 3 | 7 (low | high 128 bits): after the
    // two unpack rounds, lane j is row j.
    let ra = _mm256_set_m128i(raw(4), raw(0));
    let rb = _mm256_set_m128i(raw(5), raw(1));
    let rc = _mm256_set_m128i(raw(6), raw(2));
    let rd = _mm256_set_m128i(raw(7), raw(3));
    let ab_lo = _mm256_unpacklo_epi32(ra, rb);
    let ab_hi = _mm256_unpackhi_epi32(ra, rb);
    let cd_lo = _mm256_unpacklo_epi32(rc, rd);
    let cd_hi = _mm256_unpackhi_epi32(rc, rd);
    // byte quad m (m < 4) of every row: low nibbles are elements 4m.., high ones 16 + 4m..
    let packed = [
        _mm256_unpacklo_epi64(ab_lo, cd_lo),
        _mm256_unpackhi_epi64(ab_lo, cd_lo),
        _mm256_unpacklo_epi64(ab_hi, cd_hi),
        _mm256_unpackhi_epi64(ab_hi, cd_hi),
    ];
    let mask = _mm256_set1_epi8(0x0F);
    let quads = std::array::from_fn(|m| {
        if m < 4 {
            _mm256_and_si256(packed[m], mask)
        } else {
            _mm256_and_si256(_mm256_srli_epi16::<4>(packed[m - 4]), mask)
        }
    });
    let d_bits: [u16; 8] = std::array::from_fn(|j| w8[j * nb + b].d.to_bits());
    // SAFETY: d_bits is 8 u16 = 16 bytes.
    let d = _mm256_cvtph_ps(unsafe { _mm_loadu_si128(d_bits.as_ptr() as *const __m128i) });
    Q4_0Tile { quads, d }
}

/// Lane j: sum over the block of nibble(row j) * x, exactly (raw nibbles, no offset). Each
/// i16 lane adds 8 pairs of products, |.| <= 8 * 2 * 15 * 128 < 2^15: no saturation.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q4_0_tile_sums(tile: &Q4_0Tile, qs: &[i8; 32]) -> __m256i {
    let mut s16 = _mm256_setzero_si256();
    for (m, quad) in tile.quads.iter().enumerate() {
        s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(*quad, broadcast_q8_quad(qs, m)));
    }
    _mm256_madd_epi16(s16, _mm256_set1_epi16(1))
}

safe_entry! {
    pub(super) fn gemm_q4_0(out: &mut [&mut [f32]], w: &[BlockQ4_0], row_len: usize, xs: &[&[BlockQ8_0]]) => gemm_q4_0_avx2;
    pub(super) fn gemm_q8_0(out: &mut [&mut [f32]], w: &[BlockQ8_0], row_len: usize, xs: &[&[BlockQ8_0]]) => gemm_q8_0_avx2;
}

// w (rows, nb) @ xs[t] (nb) -> out[t] (rows). Rows in groups of 8 (lane j = row j, as
// `matvec_q4_0_avx2`), blocks in chunks of Q4_0_BLOCKS: per chunk the tokens' offsets and
// scales are computed once, and each group's block is unpacked once for all tokens. The
// running sums live in `out` between chunks. Leftover rows go through the dot.
#[target_feature(enable = "avx2,fma,f16c")]
fn gemm_q4_0_avx2(out: &mut [&mut [f32]], w: &[BlockQ4_0], nb: usize, xs: &[&[BlockQ8_0]]) {
    let Some(rows) = gemm_rows_or_dots(out, w, nb, xs, |w, x| dot_q4_0_q8_0_avx2(w, x)) else {
        return;
    };
    let n = out.len().min(xs.len());
    for (out, xs) in out[..n]
        .chunks_mut(GEMM_TOKENS)
        .zip(xs[..n].chunks(GEMM_TOKENS))
    {
        let groups = rows / 8;
        // the first group (the later ones are fetched while the one before computes)
        prefetch(
            w.as_ptr().cast(),
            (8 * nb).min(w.len()) * size_of::<BlockQ4_0>(),
        );
        for c0 in (0..nb).step_by(Q4_0_BLOCKS) {
            let cn = Q4_0_BLOCKS.min(nb - c0);
            // per token and block of the chunk: 8 * sum(x), and x's scale
            let mut offsets = [[0i32; Q4_0_BLOCKS]; GEMM_TOKENS];
            let mut dx = [[0f32; Q4_0_BLOCKS]; GEMM_TOKENS];
            for (t, x) in xs.iter().enumerate() {
                for (i, xb) in x[c0..c0 + cn].iter().enumerate() {
                    offsets[t][i] = q4_0_offset_sum(load_q8(&xb.qs));
                    dx[t][i] = f16_to_f32(xb.d);
                }
            }
            for g in 0..groups {
                let w8 = &w[g * 8 * nb..(g + 1) * 8 * nb];
                // The first pass over the blocks brings the next group's rows into cache
                // while this one computes (spread over its blocks); later passes find them.
                let next = w8.as_ptr_range().end.cast::<i8>();
                let per_block = if c0 == 0 {
                    size_of_val(w8).div_ceil(cn)
                } else {
                    0
                };
                let mut acc = [_mm256_setzero_ps(); GEMM_TOKENS];
                if c0 > 0 {
                    for (a, o) in acc.iter_mut().zip(out.iter()) {
                        // SAFETY: o has at least rows >= 8 (g + 1) values.
                        *a = unsafe { _mm256_loadu_ps(o.as_ptr().add(g * 8)) };
                    }
                }
                for i in 0..cn {
                    if per_block > 0 {
                        prefetch(next.wrapping_add(i * per_block), per_block);
                    }
                    let tile = q4_0_tile(w8, nb, c0 + i);
                    for (t, x) in xs.iter().enumerate() {
                        let sums = q4_0_tile_sums(&tile, &x[c0 + i].qs);
                        let isum = _mm256_sub_epi32(sums, _mm256_set1_epi32(offsets[t][i]));
                        let d = _mm256_mul_ps(tile.d, _mm256_set1_ps(dx[t][i]));
                        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc[t]);
                    }
                }
                for (a, o) in acc.iter().zip(out.iter_mut()) {
                    // SAFETY: as above.
                    unsafe { _mm256_storeu_ps(o.as_mut_ptr().add(g * 8), *a) };
                }
            }
        }
        for r in groups * 8..rows {
            let row = &w[r * nb..(r + 1) * nb];
            for (o, x) in out.iter_mut().zip(xs.iter()) {
                o[r] = dot_q4_0_q8_0_avx2(row, x);
            }
        }
    }
}

// w (rows, nb) @ xs[t] (nb) -> out[t] (rows), in tiles of Q8_0_ROWS x Q8_0_TOKENS (1 row
// or 1 token at the edges). Each output has its own 8-lane accumulator, updated block by
// block as in `dot_q8_0_q8_0_avx2`, and the same final horizontal sum.
#[target_feature(enable = "avx2,fma,f16c")]
fn gemm_q8_0_avx2(out: &mut [&mut [f32]], w: &[BlockQ8_0], nb: usize, xs: &[&[BlockQ8_0]]) {
    let Some(rows) = gemm_rows_or_dots(out, w, nb, xs, |w, x| dot_q8_0_q8_0_avx2(w, x)) else {
        return;
    };
    const R: usize = Q8_0_ROWS;
    const T: usize = Q8_0_TOKENS;
    let n = out.len().min(xs.len());
    let (r_full, t_full) = (rows - rows % R, n - n % T);
    // rows outer: a tile's weight rows stay in L1 while the tokens (a few KiB each, all of
    // them in L2) pass, so every weight is read from memory once per call
    for r in (0..r_full).step_by(R) {
        for t in (0..t_full).step_by(T) {
            q8_0_tile::<R, T>(out, w, nb, xs, r, t);
        }
        for t in t_full..n {
            q8_0_tile::<R, 1>(out, w, nb, xs, r, t);
        }
    }
    for r in r_full..rows {
        for t in (0..t_full).step_by(T) {
            q8_0_tile::<1, T>(out, w, nb, xs, r, t);
        }
        for t in t_full..n {
            q8_0_tile::<1, 1>(out, w, nb, xs, r, t);
        }
    }
}

// The R x T outputs at rows r.., tokens t.. (the caller keeps them inside out and w).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q8_0_tile<const R: usize, const T: usize>(
    out: &mut [&mut [f32]],
    w: &[BlockQ8_0],
    nb: usize,
    xs: &[&[BlockQ8_0]],
    r: usize,
    t: usize,
) {
    let mut acc = [[_mm256_setzero_ps(); T]; R];
    for b in 0..nb {
        let wb: [&BlockQ8_0; R] = std::array::from_fn(|i| &w[(r + i) * nb + b]);
        let wq: [__m256i; R] = std::array::from_fn(|i| load_q8(&wb[i].qs));
        let w_abs: [__m256i; R] = std::array::from_fn(|i| _mm256_sign_epi8(wq[i], wq[i]));
        let dw: [f32; R] = std::array::from_fn(|i| f16_to_f32(wb[i].d));
        for j in 0..T {
            let xb = &xs[t + j][b];
            let xq = load_q8(&xb.qs);
            let dx = f16_to_f32(xb.d);
            for i in 0..R {
                // ggml's mul_sum_i8_pairs_float: |w| times x with w's signs
                let sx = _mm256_sign_epi8(xq, wq[i]);
                let sums =
                    _mm256_madd_epi16(_mm256_maddubs_epi16(w_abs[i], sx), _mm256_set1_epi16(1));
                let d = _mm256_set1_ps(dw[i] * dx);
                acc[i][j] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sums), acc[i][j]);
            }
        }
    }
    for (i, acc_row) in acc.iter().enumerate() {
        for (j, a) in acc_row.iter().enumerate() {
            out[t + j][r + i] = hsum_f32x8(*a);
        }
    }
}
