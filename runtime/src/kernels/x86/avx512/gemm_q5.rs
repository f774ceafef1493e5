//! Batched Q5_0 and Q5_1 products (prompt processing) with VNNI: w (rows, nb) @ xs[t] (nb) ->
//! out[t] (rows), in register tiles of PAIRS row pairs x TOKENS tokens. One 512-bit
//! accumulator holds the 8 f32 lanes of two outputs (row 2i | row 2i + 1, one token): each
//! output keeps the arithmetic of its AVX2 dot (per block 8 exact i32 lane sums of 4 products,
//! then acc = fma(d_w * d_x, lane_sum, acc) block after block, then ggml's hsum_float_8, plus
//! Q5_1's running sum of m_w * s_x), so every output is the bits of the AVX2 dot (the contract
//! of `dispatch::GemmFn`), as `q5.rs`'s matvecs are.
//!
//! A row group's blocks are decoded once per call, CHUNK blocks at a time (each row pair's
//! two blocks of values in [0, 31] in one register, their scales spread to 8 lanes each): the
//! tiles then read them from L1 as memory operands for every token.

use super::super::avx2::{hsum_f32x8, load_q8};
use super::q5::{dot_q5_0_q8_0, dot_q5_1_q8_1, q5_values_x2, Q5Block};
use crate::kernels::dispatch::GEMM_TOKENS;
use crate::kernels::generic::gemm_by;
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::x86::prefetch;
use edge_formats::blocks::{BlockQ5_0, BlockQ5_1};
use edge_formats::{BlockQ8_0, BlockQ8_1};
use half::f16;
use std::arch::x86_64::*;

safe_entry! {
    pub(super) fn gemm_q5_0(out: &mut [&mut [f32]], w: &[BlockQ5_0], row_len: usize, xs: &[&[BlockQ8_0]]) => gemm_q5_0_avx512;
    pub(super) fn gemm_q5_1(out: &mut [&mut [f32]], w: &[BlockQ5_1], row_len: usize, xs: &[&[BlockQ8_1]]) => gemm_q5_1_avx512;
}

/// Row pairs of a tile (one 512-bit register of weights each).
const PAIRS: usize = 4;
/// Rows of a group.
const ROWS: usize = 2 * PAIRS;
/// Tokens of a tile.
const TOKENS: usize = 4;
/// Blocks of a row group prepared at a time (about 18 KiB on the stack).
const CHUNK: usize = 32;

/// The two Q5 types as the gemm sees them: Q5_0 (an offset of 16, taken from the lane sums
/// exactly) or Q5_1 (a minimum, summed in f32 beside the lanes).
trait Q5Gemm {
    type W: Q5Block;
    type X;
    /// Whether the type has a minimum (Q5_1: out = hsum + sum of m_w * s_x).
    const MIN: bool;
    fn d_w(w: &Self::W) -> f16;
    /// The minimum (Q5_1), else unused.
    fn m_w(w: &Self::W) -> f16;
    fn d_x(x: &Self::X) -> f16;
    /// The activation block's sum term (Q8_1's s), else unused.
    fn s_x(x: &Self::X) -> f16;
    fn qs_x(x: &Self::X) -> &[i8; 32];
    /// The dot every output equals.
    fn dot(w: &[Self::W], x: &[Self::X]) -> f32;
}

struct Q5_0;
struct Q5_1;

impl Q5Gemm for Q5_0 {
    type W = BlockQ5_0;
    type X = BlockQ8_0;
    const MIN: bool = false;
    #[inline(always)]
    fn d_w(w: &BlockQ5_0) -> f16 {
        w.d
    }
    #[inline(always)]
    fn m_w(_: &BlockQ5_0) -> f16 {
        f16::ZERO
    }
    #[inline(always)]
    fn d_x(x: &BlockQ8_0) -> f16 {
        x.d
    }
    #[inline(always)]
    fn s_x(_: &BlockQ8_0) -> f16 {
        f16::ZERO
    }
    #[inline(always)]
    fn qs_x(x: &BlockQ8_0) -> &[i8; 32] {
        &x.qs
    }
    fn dot(w: &[BlockQ5_0], x: &[BlockQ8_0]) -> f32 {
        dot_q5_0_q8_0(w, x)
    }
}

impl Q5Gemm for Q5_1 {
    type W = BlockQ5_1;
    type X = BlockQ8_1;
    const MIN: bool = true;
    #[inline(always)]
    fn d_w(w: &BlockQ5_1) -> f16 {
        w.d
    }
    #[inline(always)]
    fn m_w(w: &BlockQ5_1) -> f16 {
        w.m
    }
    #[inline(always)]
    fn d_x(x: &BlockQ8_1) -> f16 {
        x.d
    }
    #[inline(always)]
    fn s_x(x: &BlockQ8_1) -> f16 {
        x.s
    }
    #[inline(always)]
    fn qs_x(x: &BlockQ8_1) -> &[i8; 32] {
        &x.qs
    }
    fn dot(w: &[BlockQ5_1], x: &[BlockQ8_1]) -> f32 {
        dot_q5_1_q8_1(w, x)
    }
}

/// A row group's blocks c0.. prepared for the tiles: `wq[i][c]` holds the values of rows
/// 2i | 2i + 1 of block c0 + c, `dw[i][c]` their scales (8 lanes each), `mw[c]` the 8 rows'
/// minima in lanes 0..8 and again in 8..16 (Q5_1).
struct Prepared {
    wq: [[__m512i; CHUNK]; PAIRS],
    dw: [[__m512; CHUNK]; PAIRS],
    mw: [__m512; CHUNK],
}

/// A tile's running sums: `acc[j][i]` the lanes of rows 2i | 2i + 1 for token j; `summs[h]`
/// Q5_1's sums of m_w * s_x, lane 8 k + r for row r and token 2h + k.
#[derive(Clone, Copy)]
struct Sums {
    acc: [[__m512; PAIRS]; TOKENS],
    summs: [__m512; TOKENS / 2],
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn gemm_q5_0_avx512(out: &mut [&mut [f32]], w: &[BlockQ5_0], nb: usize, xs: &[&[BlockQ8_0]]) {
    gemm_q5::<Q5_0>(out, w, nb, xs)
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn gemm_q5_1_avx512(out: &mut [&mut [f32]], w: &[BlockQ5_1], nb: usize, xs: &[&[BlockQ8_1]]) {
    gemm_q5::<Q5_1>(out, w, nb, xs)
}

// w (rows, nb) @ xs[t] (nb) -> out[t] (rows). Row groups outer (a group's prepared blocks stay
// in L1 while the tokens pass), then block chunks, then token groups. Groups at the edges
// repeat the last row or token and write only the outputs that exist. Calls with row_len 0
// or a token shorter than a row go through the dot, output by output.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn gemm_q5<K: Q5Gemm>(out: &mut [&mut [f32]], w: &[K::W], nb: usize, xs: &[&[K::X]]) {
    let n = out.len().min(xs.len());
    if nb == 0 || xs[..n].iter().any(|x| x.len() < nb) {
        gemm_by(out, w, nb, xs, K::dot);
        return;
    }
    let rows = out[..n].iter().map(|o| o.len()).min().unwrap_or(0);
    let rows = rows.min(w.len() / nb);
    if rows == 0 {
        return;
    }
    let mut prep = Prepared {
        wq: [[_mm512_setzero_si512(); CHUNK]; PAIRS],
        dw: [[_mm512_setzero_ps(); CHUNK]; PAIRS],
        mw: [_mm512_setzero_ps(); CHUNK],
    };
    // the running sums of every token group of a row group between chunks
    let zero = Sums {
        acc: [[_mm512_setzero_ps(); PAIRS]; TOKENS],
        summs: [_mm512_setzero_ps(); TOKENS / 2],
    };
    let mut carry = [zero; GEMM_TOKENS / TOKENS];
    // the first row group (the later ones are fetched while the one before computes)
    prefetch(w.as_ptr().cast(), ROWS.min(rows) * nb * size_of::<K::W>());
    for (out, xs) in out[..n]
        .chunks_mut(GEMM_TOKENS)
        .zip(xs[..n].chunks(GEMM_TOKENS))
    {
        let n = xs.len();
        for r0 in (0..rows).step_by(ROWS) {
            let w_rows: [&[K::W]; ROWS] = std::array::from_fn(|k| {
                let r = (r0 + k).min(rows - 1);
                &w[r * nb..(r + 1) * nb]
            });
            let next = w.as_ptr().wrapping_add((r0 + ROWS) * nb);
            for c0 in (0..nb).step_by(CHUNK) {
                let cn = CHUNK.min(nb - c0);
                prepare::<K>(&mut prep, &w_rows, c0, cn);
                let groups = n.div_ceil(TOKENS);
                for (g, t0) in (0..n).step_by(TOKENS).enumerate() {
                    // token group g brings in rows g, g + groups, ... of the next row group
                    // (their blocks of this chunk)
                    for k in (g..ROWS).step_by(groups) {
                        let seg = next.wrapping_add(k * nb + c0).cast::<i8>();
                        prefetch(seg, cn * size_of::<K::W>());
                    }
                    let x_rows: [&[K::X]; TOKENS] =
                        std::array::from_fn(|j| &xs[(t0 + j).min(n - 1)][c0..c0 + cn]);
                    let start = if c0 > 0 { carry[g] } else { zero };
                    let sums = tile::<K>(&prep, &x_rows, start);
                    if c0 + cn < nb {
                        carry[g] = sums;
                    } else {
                        write::<K>(out, &sums, (r0, rows), (t0, n));
                    }
                }
            }
        }
    }
}

// Rows 2i | 2i + 1 of blocks c0..c0 + cn -> `prep` (see `Prepared`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn prepare<K: Q5Gemm>(prep: &mut Prepared, w_rows: &[&[K::W]; ROWS], c0: usize, cn: usize) {
    // lanes 0..8 take scale 2i, lanes 8..16 scale 2i + 1
    let spread: [__m512i; PAIRS] = std::array::from_fn(|i| {
        let (a, b) = (2 * i as i32, 2 * i as i32 + 1);
        _mm512_setr_epi32(a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b)
    });
    let twice = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7);
    for c in 0..cn {
        let b = c0 + c;
        let scales = f16s_to_f32x8(std::array::from_fn::<_, ROWS, _>(|k| K::d_w(&w_rows[k][b])));
        for i in 0..PAIRS {
            prep.wq[i][c] = q5_values_x2(&w_rows[2 * i][b], &w_rows[2 * i + 1][b]);
            prep.dw[i][c] = _mm512_permutexvar_ps(spread[i], scales);
        }
        if K::MIN {
            let mins = f16s_to_f32x8(std::array::from_fn::<_, ROWS, _>(|k| K::m_w(&w_rows[k][b])));
            prep.mw[c] = _mm512_permutexvar_ps(twice, mins);
        }
    }
}

// The tile's sums after the prepared blocks, from `sums`.
// Index loops: with iterators over the accumulators they lived on the stack (as gemm_q8.rs).
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn tile<K: Q5Gemm>(prep: &Prepared, x_rows: &[&[K::X]; TOKENS], mut sums: Sums) -> Sums {
    let zero = _mm512_setzero_si512();
    let sixteen = _mm512_set1_epi8(16);
    // token 2h + k's scalar in lanes 8k..8k + 8
    let pair_of_tokens: [__m512i; TOKENS / 2] = std::array::from_fn(|h| {
        let (a, b) = (2 * h as i32, 2 * h as i32 + 1);
        _mm512_setr_epi32(a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b)
    });
    let cn = x_rows[0].len().min(CHUNK);
    for c in 0..cn {
        let dx = f16s_to_f32x8(std::array::from_fn::<_, TOKENS, _>(|j| {
            K::d_x(&x_rows[j][c])
        }));
        if K::MIN {
            let sx = f16s_to_f32x8(std::array::from_fn::<_, TOKENS, _>(|j| {
                K::s_x(&x_rows[j][c])
            }));
            for h in 0..TOKENS / 2 {
                let s = _mm512_permutexvar_ps(pair_of_tokens[h], sx);
                sums.summs[h] = _mm512_add_ps(sums.summs[h], _mm512_mul_ps(prep.mw[c], s));
            }
        }
        for j in 0..TOKENS {
            let y = _mm512_broadcast_i64x4(load_q8(K::qs_x(&x_rows[j][c])));
            // Q5_0: the lanes start at -16 times their 4 y (its offset, exactly in i32)
            let base = if K::MIN {
                zero
            } else {
                _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, sixteen, y))
            };
            let dx_j = _mm512_permutexvar_ps(_mm512_set1_epi32(j as i32), dx);
            for i in 0..PAIRS {
                let lanes = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(base, prep.wq[i][c], y));
                let d = _mm512_mul_ps(prep.dw[i][c], dx_j);
                sums.acc[j][i] = _mm512_fmadd_ps(d, lanes, sums.acc[j][i]);
            }
        }
    }
    sums
}

// The outputs of a tile: rows r0..r0 + ROWS below `rows`, tokens t0..t0 + TOKENS below `n`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn write<K: Q5Gemm>(
    out: &mut [&mut [f32]],
    sums: &Sums,
    (r0, rows): (usize, usize),
    (t0, n): (usize, usize),
) {
    let mut summs = [0f32; TOKENS * ROWS];
    if K::MIN {
        for (h, s) in sums.summs.iter().enumerate() {
            // SAFETY: summs has TOKENS * ROWS = 32 f32, h < 2.
            unsafe { _mm512_storeu_ps(summs.as_mut_ptr().add(16 * h), *s) };
        }
    }
    let out_t = out[t0..n.min(t0 + TOKENS)].iter_mut();
    for (j, (acc_t, o)) in sums.acc.iter().zip(out_t).enumerate() {
        for (i, a) in acc_t.iter().enumerate() {
            for (k, half) in [_mm512_castps512_ps256(*a), high_half(*a)]
                .into_iter()
                .enumerate()
            {
                let r = r0 + 2 * i + k;
                if r < rows {
                    o[r] = if K::MIN {
                        hsum_f32x8(half) + summs[ROWS * j + 2 * i + k]
                    } else {
                        hsum_f32x8(half)
                    };
                }
            }
        }
    }
}

/// Up to 8 f16 values as f32 lanes, in one conversion (each exact, as `f16_to_f32`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn f16s_to_f32x8<const N: usize>(h: [f16; N]) -> __m512 {
    let mut bits = [0u16; 8];
    for (b, h) in bits.iter_mut().zip(h) {
        *b = h.to_bits();
    }
    // SAFETY: bits is 8 u16 = 16 bytes.
    let v = _mm256_cvtph_ps(unsafe { _mm_loadu_si128(bits.as_ptr() as *const __m128i) });
    _mm512_castps256_ps512(v)
}

/// Lanes 8..16.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn high_half(v: __m512) -> __m256 {
    _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)))
}
