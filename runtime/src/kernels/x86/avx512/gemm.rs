//! Batched Q4_0 products (prompt processing) with VNNI: w (rows, nb) @ xs[t] (nb) -> out[t]
//! (rows), sixteen rows at a time, each weight block transposed once (lane j = row j) and
//! reused for every token. Each output keeps the arithmetic of its dot (integer block sums,
//! then acc = fma(isum, d_w * d_x, acc) block after block), so every output is the bits of
//! `dot_q4_0_q8_0_avx512`, hence of the AVX2 dot (the contract of `dispatch::GemmFn`).

use super::super::avx2::{f16_to_f32, load_q8};
use super::q4::{dot_q4_0_q8_0_avx512, offset_sum};
use crate::kernels::dispatch::GEMM_TOKENS;
use crate::kernels::generic::gemm_rows_or_dots;
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::x86::prefetch;
use edge_formats::{BlockQ4_0, BlockQ8_0};
use std::arch::x86_64::*;

safe_entry! {
    pub(super) fn gemm_q4_0(out: &mut [&mut [f32]], w: &[BlockQ4_0], row_len: usize, xs: &[&[BlockQ8_0]]) => gemm_q4_0_avx512;
}

/// Rows of a tile (lane j = row j).
const ROWS: usize = 16;

/// Blocks of a row group transposed at a time (the per-token constants of these blocks stay
/// on the stack).
const BLOCKS: usize = 32;

/// Block b of 16 rows, transposed: lane j of `quads[m]` holds the 4 nibbles (as bytes) of
/// row j at elements 4m..4m+4, so that one broadcast quad of x meets all 16 rows; `d` holds
/// the rows' scales.
struct Tile {
    quads: [__m512i; 8],
    d: __m512,
}

// rows[j]: block b of row j -> the transposed tile.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn tile(rows: &[&BlockQ4_0; ROWS]) -> Tile {
    let raw = |j: usize| {
        // SAFETY: qs is 16 bytes.
        unsafe { _mm_loadu_si128(rows[j].qs.as_ptr() as *const __m128i) }
    };
    // Rows j, j + 4, j + 8, j + 12 in the four 128-bit lanes of v[j]: after the two unpack
    // rounds, lane k of 128-bit lane l is row 4 l + k.
    let mut v = [_mm512_setzero_si512(); 4];
    for (j, vj) in v.iter_mut().enumerate() {
        let x = _mm512_castsi128_si512(raw(j));
        let x = _mm512_inserti32x4::<1>(x, raw(j + 4));
        let x = _mm512_inserti32x4::<2>(x, raw(j + 8));
        *vj = _mm512_inserti32x4::<3>(x, raw(j + 12));
    }
    let ab_lo = _mm512_unpacklo_epi32(v[0], v[1]);
    let ab_hi = _mm512_unpackhi_epi32(v[0], v[1]);
    let cd_lo = _mm512_unpacklo_epi32(v[2], v[3]);
    let cd_hi = _mm512_unpackhi_epi32(v[2], v[3]);
    // byte quad m (m < 4) of every row: low nibbles are elements 4m.., high ones 16 + 4m..
    let packed = [
        _mm512_unpacklo_epi64(ab_lo, cd_lo),
        _mm512_unpackhi_epi64(ab_lo, cd_lo),
        _mm512_unpacklo_epi64(ab_hi, cd_hi),
        _mm512_unpackhi_epi64(ab_hi, cd_hi),
    ];
    let mask = _mm512_set1_epi8(0x0F);
    let mut quads = [_mm512_setzero_si512(); 8];
    for (m, p) in packed.iter().enumerate() {
        quads[m] = _mm512_and_si512(*p, mask);
        quads[m + 4] = _mm512_and_si512(_mm512_srli_epi16::<4>(*p), mask);
    }
    let mut d_bits = [0u16; ROWS];
    for (bits, row) in d_bits.iter_mut().zip(rows) {
        *bits = row.d.to_bits();
    }
    // SAFETY: d_bits is 16 u16 = 32 bytes.
    let d = _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(d_bits.as_ptr() as *const __m256i) });
    Tile { quads, d }
}

/// Lane j: `start` plus the sum over the block of nibble(row j) * x, exactly (raw nibbles),
/// in two chains of four products (half the latency of one).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn tile_sums(tile: &Tile, qs: &[i8; 32], start: __m512i) -> __m512i {
    let x4 = |m: usize| {
        debug_assert!(m < 8);
        // SAFETY: m < 8, so bytes 4m..4m+4 lie inside the 32.
        _mm512_set1_epi32(unsafe { (qs.as_ptr() as *const i32).add(m).read_unaligned() })
    };
    let mut lo = start;
    let mut hi = _mm512_setzero_si512();
    for m in 0..4 {
        lo = _mm512_dpbusd_epi32(lo, tile.quads[m], x4(m));
        hi = _mm512_dpbusd_epi32(hi, tile.quads[m + 4], x4(m + 4));
    }
    _mm512_add_epi32(lo, hi)
}

// w (rows, nb) @ xs[t] (nb) -> out[t] (rows). Rows in groups of 16, blocks in chunks of
// BLOCKS: per chunk the tokens' offsets and scales are computed once, and each group's block
// is transposed once for all tokens. The running sums live in `out` between chunks. Leftover
// rows, and calls with row_len 0 or a token shorter than a row, go through the dot.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn gemm_q4_0_avx512(out: &mut [&mut [f32]], w: &[BlockQ4_0], nb: usize, xs: &[&[BlockQ8_0]]) {
    let n = out.len().min(xs.len());
    let Some(rows) = gemm_rows_or_dots(out, w, nb, xs, |w, x| dot_q4_0_q8_0_avx512(w, x)) else {
        return;
    };
    for (out, xs) in out[..n]
        .chunks_mut(GEMM_TOKENS)
        .zip(xs[..n].chunks(GEMM_TOKENS))
    {
        let groups = rows / ROWS;
        // the first group (the later ones are fetched while the one before computes)
        prefetch(
            w.as_ptr().cast(),
            (ROWS * nb).min(w.len()) * size_of::<BlockQ4_0>(),
        );
        for c0 in (0..nb).step_by(BLOCKS) {
            let cn = BLOCKS.min(nb - c0);
            // per token and block of the chunk: 8 * sum(x), and x's scale
            let mut offsets = [[0i32; BLOCKS]; GEMM_TOKENS];
            let mut dx = [[0f32; BLOCKS]; GEMM_TOKENS];
            for ((x, o), d) in xs.iter().zip(&mut offsets).zip(&mut dx) {
                for ((xb, o), d) in x[c0..c0 + cn].iter().zip(o).zip(d) {
                    *o = offset_sum(load_q8(&xb.qs));
                    *d = f16_to_f32(xb.d);
                }
            }
            for g in 0..groups {
                let w16 = &w[g * ROWS * nb..(g + 1) * ROWS * nb];
                // The first pass over the blocks brings the next group's rows into cache
                // while this one computes (spread over its blocks); later passes find them.
                let next = w16.as_ptr_range().end.cast::<i8>();
                let group_bytes = size_of_val(w16);
                let per_block = if c0 == 0 { group_bytes.div_ceil(cn) } else { 0 };
                let mut acc = [_mm512_setzero_ps(); GEMM_TOKENS];
                if c0 > 0 {
                    for (a, o) in acc.iter_mut().zip(out.iter()) {
                        // SAFETY: o has at least rows >= 16 (g + 1) values.
                        *a = unsafe { _mm512_loadu_ps(o.as_ptr().add(g * ROWS)) };
                    }
                }
                for i in 0..cn {
                    let b = c0 + i;
                    if per_block > 0 {
                        prefetch(next.wrapping_add(i * per_block), per_block);
                    }
                    let blocks: [&BlockQ4_0; ROWS] = std::array::from_fn(|j| &w16[j * nb + b]);
                    let tile = tile(&blocks);
                    for (t, x) in xs.iter().enumerate() {
                        // the offset's share first: sum((n - 8) y) = -8 sum(y) + sum(n y)
                        let start = _mm512_set1_epi32(-offsets[t][i]);
                        let isum = tile_sums(&tile, &x[b].qs, start);
                        let d = _mm512_mul_ps(tile.d, _mm512_set1_ps(dx[t][i]));
                        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), d, acc[t]);
                    }
                }
                for (a, o) in acc.iter().zip(out.iter_mut()) {
                    // SAFETY: as above.
                    unsafe { _mm512_storeu_ps(o.as_mut_ptr().add(g * ROWS), *a) };
                }
            }
        }
        for r in groups * ROWS..rows {
            let row = &w[r * nb..(r + 1) * nb];
            for (o, x) in out.iter_mut().zip(xs.iter()) {
                o[r] = dot_q4_0_q8_0_avx512(row, x);
            }
        }
    }
}
