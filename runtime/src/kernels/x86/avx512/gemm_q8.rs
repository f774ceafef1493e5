//! Batched Q8_0 products (prompt processing) with VNNI: w (rows, nb) @ xs[t] (nb) -> out[t]
//! (rows), in register tiles of PAIRS row pairs x TOKENS tokens. One 512-bit accumulator holds
//! the 8 f32 lanes of two outputs (row 2i | row 2i + 1, one token): each output keeps the
//! arithmetic of `dot_q8_0_q8_0_avx2` (per block 8 exact i32 lane sums of 4 products, then
//! acc = fma(d_w * d_x, lane_sum, acc) block after block, then ggml's hsum_float_8), so every
//! output is the bits of the AVX2 dot (the contract of `dispatch::GemmFn`).

use super::super::avx2::{hsum_f32x8, load_q8};
use super::q8::dot_q8_0_q8_0;
use crate::kernels::generic::gemm_by;
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::x86::prefetch;
use edge_formats::BlockQ8_0;
use std::arch::x86_64::*;

safe_entry! {
    pub(super) fn gemm_q8_0(out: &mut [&mut [f32]], w: &[BlockQ8_0], row_len: usize, xs: &[&[BlockQ8_0]]) => gemm_q8_0_avx512;
}

/// Row pairs of a tile (one 512-bit register of weights each).
const PAIRS: usize = 4;
/// Tokens of a tile.
const TOKENS: usize = 4;

// w (rows, nb) @ xs[t] (nb) -> out[t] (rows). Row groups outer (a tile's 2 * PAIRS weight
// rows stay in L1 while the tokens pass), token groups inner. Tiles at the edges repeat the
// last row or token and write only the outputs that exist. Calls with row_len 0 or a token
// shorter than a row go through the dot, output by output.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn gemm_q8_0_avx512(out: &mut [&mut [f32]], w: &[BlockQ8_0], nb: usize, xs: &[&[BlockQ8_0]]) {
    let n = out.len().min(xs.len());
    if nb == 0 || xs[..n].iter().any(|x| x.len() < nb) {
        gemm_by(out, w, nb, xs, dot_q8_0_q8_0);
        return;
    }
    let rows = out[..n].iter().map(|o| o.len()).min().unwrap_or(0);
    let rows = rows.min(w.len() / nb);
    if rows == 0 || n == 0 {
        return;
    }
    let group_bytes = 2 * PAIRS * nb * size_of::<BlockQ8_0>();
    // the first row group (the later ones are fetched while the one before computes)
    prefetch(w.as_ptr().cast(), group_bytes);
    for r in (0..rows).step_by(2 * PAIRS) {
        // the first token group brings the next row group into cache, a block's share at a
        // time
        let next = w.as_ptr().wrapping_add((r + 2 * PAIRS) * nb).cast::<i8>();
        tile(out, w, nb, xs, (r, rows), (0, n), next);
        for t in (TOKENS..n).step_by(TOKENS) {
            tile(out, w, nb, xs, (r, rows), (t, n), std::ptr::null());
        }
    }
}

// The outputs of rows r0..r0 + 2 PAIRS (below `rows`) and tokens t0..t0 + TOKENS (below `n`):
// rows and tokens past the end repeat the last one, and their outputs are not written. When
// `ahead` is not null, the 2 PAIRS rows of blocks there are prefetched (a block of each per
// block step).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn tile(
    out: &mut [&mut [f32]],
    w: &[BlockQ8_0],
    nb: usize,
    xs: &[&[BlockQ8_0]],
    (r0, rows): (usize, usize),
    (t0, n): (usize, usize),
    ahead: *const i8,
) {
    let step = 2 * PAIRS * size_of::<BlockQ8_0>();
    let row_of = |k: usize| (r0 + k).min(rows - 1);
    let w_rows: [&[BlockQ8_0]; 2 * PAIRS] =
        std::array::from_fn(|k| &w[row_of(k) * nb..(row_of(k) + 1) * nb]);
    let x_rows: [&[BlockQ8_0]; TOKENS] = std::array::from_fn(|j| &xs[(t0 + j).min(n - 1)][..nb]);
    let bias = _mm512_set1_epi8(-128);
    let zero = _mm512_setzero_si512();
    let mut acc = [[_mm512_setzero_ps(); TOKENS]; PAIRS];
    for b in 0..nb {
        if !ahead.is_null() {
            prefetch(ahead.wrapping_add(b * step), step);
        }
        // rows 2i | 2i + 1 of block b, biased to u8 (w + 128), and their scales (8 lanes each)
        let wq: [__m512i; PAIRS] = std::array::from_fn(|i| {
            let lo = _mm512_castsi256_si512(load_q8(&w_rows[2 * i][b].qs));
            _mm512_xor_si512(
                _mm512_inserti64x4::<1>(lo, load_q8(&w_rows[2 * i + 1][b].qs)),
                bias,
            )
        });
        // the rows' scales (8 lanes each) and the tokens' scales, one conversion each
        let dw_all = f16s_to_f32::<{ 2 * PAIRS }>(std::array::from_fn(|k| w_rows[k][b].d));
        let dw: [__m512; PAIRS] = std::array::from_fn(|i| {
            let lo = _mm512_castps256_ps512(_mm256_set1_ps(dw_all[2 * i]));
            let hi = _mm256_castps_pd(_mm256_set1_ps(dw_all[2 * i + 1]));
            _mm512_castpd_ps(_mm512_insertf64x4::<1>(_mm512_castps_pd(lo), hi))
        });
        let dx_all = f16s_to_f32::<TOKENS>(std::array::from_fn(|j| x_rows[j][b].d));
        for (j, x) in x_rows.iter().enumerate() {
            let y = _mm512_broadcast_i64x4(load_q8(&x[b].qs));
            // -128 times each lane's 4 y: what the bias adds to (w + 128) y
            let neg = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, bias, y));
            let dx = _mm512_set1_ps(dx_all[j]);
            for i in 0..PAIRS {
                let sums = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(neg, wq[i], y));
                acc[i][j] = _mm512_fmadd_ps(_mm512_mul_ps(dw[i], dx), sums, acc[i][j]);
            }
        }
    }
    for (i, acc_pair) in acc.iter().enumerate() {
        for (j, a) in acc_pair.iter().enumerate() {
            let (t, r) = (t0 + j, r0 + 2 * i);
            if t >= n {
                continue;
            }
            if r < rows {
                out[t][r] = hsum_f32x8(_mm512_castps512_ps256(*a));
            }
            if r + 1 < rows {
                out[t][r + 1] = hsum_f32x8(high_half(*a));
            }
        }
    }
}

/// N <= 8 f16 values as f32, in one conversion (the f32 of each is exact, as `f16_to_f32`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn f16s_to_f32<const N: usize>(h: [half::f16; N]) -> [f32; N] {
    let mut bits = [0u16; 8];
    for (b, h) in bits.iter_mut().zip(h) {
        *b = h.to_bits();
    }
    let mut f = [0f32; 8];
    // SAFETY: bits is 8 u16 = 16 bytes; f is 8 f32 = 32 bytes.
    unsafe {
        let v = _mm256_cvtph_ps(_mm_loadu_si128(bits.as_ptr() as *const __m128i));
        _mm256_storeu_ps(f.as_mut_ptr(), v);
    }
    std::array::from_fn(|i| f[i])
}

/// Lanes 8..16.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn high_half(v: __m512) -> __m256 {
    _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)))
}
