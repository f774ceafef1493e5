//! Batched Q4_1 products (prompt processing) with VNNI: w (rows, nb) @ xs[t] (nb) -> out[t]
//! (rows), in register tiles of PAIRS row pairs x TOKENS tokens, laid out as the Q8_0 gemm
//! (`gemm_q8`): one 512-bit accumulator holds the 8 f32 lanes of two outputs. Each output
//! keeps the arithmetic of ggml's AVX2 vec_dot_q4_1_q8_1 (the AVX2 table's dot): per block 8
//! exact i32 lane sums of nibble * y, acc = fma(d_w * d_x, lane_sum, acc), and beside it
//! summs = summs + m_w * s_x (a product, then a sum); at the end hsum_float_8(acc) + summs.
//! So every output is the bits of that dot (the contract of `dispatch::GemmFn`).
//!
//! VNNI multiplies unsigned by signed bytes: the nibbles are the unsigned side as they are.

use super::super::avx2::{f16_to_f32, hsum_f32x8, load_q8};
use crate::kernels::dispatch::GEMM_TOKENS;
use crate::kernels::generic::gemm_rows_or_dots;
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::x86::prefetch;
use edge_formats::{BlockQ4_1, BlockQ8_1};
use half::f16;
use std::arch::x86_64::*;

safe_entry! {
    pub(super) fn gemm_q4_1(out: &mut [&mut [f32]], w: &[BlockQ4_1], row_len: usize, xs: &[&[BlockQ8_1]]) => gemm_q4_1_avx512;
}

/// Row pairs of a tile (one 512-bit register of weights each).
const PAIRS: usize = 4;
/// Rows of a group.
const ROWS: usize = 2 * PAIRS;
/// Tokens of a tile.
const TOKENS: usize = 4;
/// Blocks of a row group prepared at a time (2 x 8 KiB + 1 KiB on the stack).
const CHUNK: usize = 32;

/// A row group's blocks c0.. prepared for the tiles: `wq[i][c]` holds the 32 nibbles (as
/// bytes, in element order) of rows 2i | 2i + 1 of block c0 + c, `dw[i][c]` their scales (8
/// lanes each), `mw[c]` the 8 rows' minimums (lane k = row k).
struct Prepared {
    wq: [[__m512i; CHUNK]; PAIRS],
    dw: [[__m512; CHUNK]; PAIRS],
    mw: [__m256; CHUNK],
}

/// The running sums of a tile: `acc[j][i]` the lanes of rows 2i | 2i + 1 for token j,
/// `summs[j]` lane k the sum of m_w * s_x of row k for token j.
#[derive(Clone, Copy)]
struct Sums {
    acc: [[__m512; PAIRS]; TOKENS],
    summs: [__m256; TOKENS],
}

// w (rows, nb) @ xs[t] (nb) -> out[t] (rows): row groups outer (a group's prepared blocks
// stay in L1 while the tokens pass), then block chunks, then token groups. Groups at the
// edges repeat the last row or token and write only the outputs that exist. Calls with
// row_len 0 or a token shorter than a row go through the dot, output by output.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn gemm_q4_1_avx512(out: &mut [&mut [f32]], w: &[BlockQ4_1], nb: usize, xs: &[&[BlockQ8_1]]) {
    let n = out.len().min(xs.len());
    let Some(rows) = gemm_rows_or_dots(out, w, nb, xs, |w, x| dot(w, x)) else {
        return;
    };
    if rows == 0 {
        return;
    }
    let mut prep = Prepared {
        wq: [[_mm512_setzero_si512(); CHUNK]; PAIRS],
        dw: [[_mm512_setzero_ps(); CHUNK]; PAIRS],
        mw: [_mm256_setzero_ps(); CHUNK],
    };
    let zero = Sums {
        acc: [[_mm512_setzero_ps(); PAIRS]; TOKENS],
        summs: [_mm256_setzero_ps(); TOKENS],
    };
    // the running sums of every token group of a row group between chunks
    let mut carry = [zero; GEMM_TOKENS / TOKENS];
    // the first row group (the later ones are fetched while the one before computes)
    prefetch(
        w.as_ptr().cast(),
        ROWS.min(rows) * nb * size_of::<BlockQ4_1>(),
    );
    for (out, xs) in out[..n]
        .chunks_mut(GEMM_TOKENS)
        .zip(xs[..n].chunks(GEMM_TOKENS))
    {
        let n = xs.len();
        for r0 in (0..rows).step_by(ROWS) {
            let w_rows: [&[BlockQ4_1]; ROWS] = std::array::from_fn(|k| {
                let r = (r0 + k).min(rows - 1);
                &w[r * nb..(r + 1) * nb]
            });
            let next = w.as_ptr().wrapping_add((r0 + ROWS) * nb);
            for c0 in (0..nb).step_by(CHUNK) {
                let cn = CHUNK.min(nb - c0);
                prepare(&mut prep, &w_rows, c0, cn);
                let groups = n.div_ceil(TOKENS);
                for (g, t0) in (0..n).step_by(TOKENS).enumerate() {
                    // token group g brings in rows g, g + groups, ... of the next row group
                    // (their blocks of this chunk)
                    for k in (g..ROWS).step_by(groups) {
                        let seg = next.wrapping_add(k * nb + c0).cast::<i8>();
                        prefetch(seg, cn * size_of::<BlockQ4_1>());
                    }
                    let mut x_rows: [&[BlockQ8_1]; TOKENS] = [&[]; TOKENS];
                    for (j, x) in x_rows.iter_mut().enumerate() {
                        *x = &xs[(t0 + j).min(n - 1)][c0..c0 + cn];
                    }
                    let start = if c0 > 0 { carry[g] } else { zero };
                    let sums = tile(&prep, &x_rows, start);
                    if c0 + cn < nb {
                        carry[g] = sums;
                    } else {
                        write(out, &sums, (r0, rows), (t0, n));
                    }
                }
            }
        }
    }
}

/// 16 bytes of nibbles -> 32 bytes: low nibbles (elements 0..16), then high (16..32).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn unpack_nibbles(qs: &[u8; 16]) -> __m256i {
    // SAFETY: qs has exactly 16 bytes.
    let lo = unsafe { _mm_loadu_si128(qs.as_ptr() as *const __m128i) };
    let hi = _mm_srli_epi16::<4>(lo);
    _mm256_and_si256(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(0x0F))
}

// Rows 2i | 2i + 1 of blocks c0..c0 + cn -> `prep` (see `Prepared`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn prepare(prep: &mut Prepared, w_rows: &[&[BlockQ4_1]; ROWS], c0: usize, cn: usize) {
    // lanes 0..8 take scale 2i, lanes 8..16 scale 2i + 1
    let spread: [__m512i; PAIRS] = std::array::from_fn(|i| {
        let (a, b) = (2 * i as i32, 2 * i as i32 + 1);
        _mm512_setr_epi32(a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b)
    });
    for c in 0..cn {
        let b = c0 + c;
        let scales = f16s_to_f32x8(std::array::from_fn::<_, ROWS, _>(|k| w_rows[k][b].d));
        let mins = f16s_to_f32x8(std::array::from_fn::<_, ROWS, _>(|k| w_rows[k][b].m));
        prep.mw[c] = mins;
        for i in 0..PAIRS {
            let lo = _mm512_castsi256_si512(unpack_nibbles(&w_rows[2 * i][b].qs));
            prep.wq[i][c] = _mm512_inserti64x4::<1>(lo, unpack_nibbles(&w_rows[2 * i + 1][b].qs));
            prep.dw[i][c] = _mm512_permutexvar_ps(spread[i], _mm512_castps256_ps512(scales));
        }
    }
}

// The sums of a tile after the prepared blocks, from `start`.
// Index loops: with iterators over the accumulators they lived on the stack (1.7x slower).
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn tile(prep: &Prepared, x_rows: &[&[BlockQ8_1]; TOKENS], start: Sums) -> Sums {
    let zero = _mm512_setzero_si512();
    let Sums { mut acc, mut summs } = start;
    let cn = x_rows[0].len().min(CHUNK);
    for c in 0..cn {
        let dx = f16s_to_f32x8(std::array::from_fn::<_, TOKENS, _>(|j| x_rows[j][c].d));
        let sx = f16s_to_f32x8(std::array::from_fn::<_, TOKENS, _>(|j| x_rows[j][c].s));
        for j in 0..TOKENS {
            let y = _mm512_broadcast_i64x4(load_q8(&x_rows[j][c].qs));
            let dx_j =
                _mm512_permutexvar_ps(_mm512_set1_epi32(j as i32), _mm512_castps256_ps512(dx));
            let sx_j = _mm256_permutevar8x32_ps(sx, _mm256_set1_epi32(j as i32));
            summs[j] = _mm256_add_ps(summs[j], _mm256_mul_ps(prep.mw[c], sx_j));
            for i in 0..PAIRS {
                let sums = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, prep.wq[i][c], y));
                acc[j][i] = _mm512_fmadd_ps(_mm512_mul_ps(prep.dw[i][c], dx_j), sums, acc[j][i]);
            }
        }
    }
    Sums { acc, summs }
}

// The outputs of a tile: rows r0..r0 + ROWS below `rows`, tokens t0..t0 + TOKENS below `n`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn write(out: &mut [&mut [f32]], sums: &Sums, (r0, rows): (usize, usize), (t0, n): (usize, usize)) {
    let tokens = sums.acc.iter().zip(&sums.summs);
    for ((acc_t, summs_t), o) in tokens.zip(out[t0..n.min(t0 + TOKENS)].iter_mut()) {
        let mut summs = [0f32; ROWS];
        // SAFETY: summs is 8 f32 = 32 bytes.
        unsafe { _mm256_storeu_ps(summs.as_mut_ptr(), *summs_t) };
        for (i, a) in acc_t.iter().enumerate() {
            let r = r0 + 2 * i;
            if r < rows {
                o[r] = hsum_f32x8(_mm512_castps512_ps256(*a)) + summs[2 * i];
            }
            if r + 1 < rows {
                o[r + 1] = hsum_f32x8(high_half(*a)) + summs[2 * i + 1];
            }
        }
    }
}

// w (nb) . x (nb) -> f32 with the arithmetic of the AVX2 dot (for the calls the tiles do not
// take).
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn dot(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        summs += f16_to_f32(a.m) * f16_to_f32(b.s);
        let d = _mm256_set1_ps(f16_to_f32(a.d) * f16_to_f32(b.d));
        let sums = _mm256_dpbusd_epi32(
            _mm256_setzero_si256(),
            unpack_nibbles(&a.qs),
            load_q8(&b.qs),
        );
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sums), acc);
    }
    hsum_f32x8(acc) + summs
}

/// Up to 8 f16 values as f32 lanes, in one conversion (each exact, as `f16_to_f32`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn f16s_to_f32x8<const N: usize>(h: [f16; N]) -> __m256 {
    let mut bits = [0u16; 8];
    for (b, h) in bits.iter_mut().zip(h) {
        *b = h.to_bits();
    }
    // SAFETY: bits is 8 u16 = 16 bytes.
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(bits.as_ptr() as *const __m128i) })
}

/// Lanes 8..16.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn high_half(v: __m512) -> __m256 {
    _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)))
}
