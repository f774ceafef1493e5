//! Batched Q8_0 products (prompt processing) with VNNI: w (rows, nb) @ xs[t] (nb) -> out[t]
//! (rows), in register tiles of PAIRS row pairs x TOKENS tokens. One 512-bit accumulator holds
//! the 8 f32 lanes of two outputs (row 2i | row 2i + 1, one token): each output keeps the
//! arithmetic of `dot_q8_0_q8_0_avx2` (per block 8 exact i32 lane sums of 4 products, then
//! acc = fma(d_w * d_x, lane_sum, acc) block after block, then ggml's hsum_float_8), so every
//! output is the bits of the AVX2 dot (the contract of `dispatch::GemmFn`).
//!
//! A row group's blocks are prepared once per call, CHUNK blocks at a time, for every token
//! (each row pair's two blocks in one register, their scales spread to 8 lanes each, the
//! correction of the u8 bias): the tiles then read them from L1 as memory operands.

use super::super::avx2::{hsum_f32x8, load_q8};
use super::q8::dot_q8_0_q8_0;
use crate::kernels::dispatch::GEMM_TOKENS;
use crate::kernels::generic::gemm_rows_or_dots;
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::x86::prefetch;
use edge_formats::BlockQ8_0;
use half::f16;
use std::arch::x86_64::*;

safe_entry! {
    pub(super) fn gemm_q8_0(out: &mut [&mut [f32]], w: &[BlockQ8_0], row_len: usize, xs: &[&[BlockQ8_0]]) => gemm_q8_0_avx512;
}

/// Row pairs of a tile (one 512-bit register of weights each).
const PAIRS: usize = 4;
/// Rows of a group.
const ROWS: usize = 2 * PAIRS;
/// Tokens of a tile.
const TOKENS: usize = 4;
/// Blocks of a row group prepared at a time (3 x 8 KiB on the stack).
const CHUNK: usize = 32;

/// A row group's blocks c0.. prepared for the tiles: `wq[i][c]` holds rows 2i | 2i + 1 of
/// block c0 + c, `dw[i][c]` their scales (8 lanes each), `neg[i][c]` -128 times the sum of
/// each lane's 4 weights (VNNI multiplies unsigned by signed bytes: the tiles take
/// (y + 128) w, and `neg` removes what the 128 adds, lane by lane and exactly).
struct Prepared {
    wq: [[__m512i; CHUNK]; PAIRS],
    dw: [[__m512; CHUNK]; PAIRS],
    neg: [[__m512i; CHUNK]; PAIRS],
}

// w (rows, nb) @ xs[t] (nb) -> out[t] (rows). Row groups outer (a group's prepared blocks stay
// in L1 while the tokens pass), then block chunks, then token groups. Groups at the edges
// repeat the last row or token and write only the outputs that exist. Calls with row_len 0
// or a token shorter than a row go through the dot, output by output.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn gemm_q8_0_avx512(out: &mut [&mut [f32]], w: &[BlockQ8_0], nb: usize, xs: &[&[BlockQ8_0]]) {
    let n = out.len().min(xs.len());
    let Some(rows) = gemm_rows_or_dots(out, w, nb, xs, dot_q8_0_q8_0) else {
        return;
    };
    if rows == 0 {
        return;
    }
    let mut prep = Prepared {
        wq: [[_mm512_setzero_si512(); CHUNK]; PAIRS],
        dw: [[_mm512_setzero_ps(); CHUNK]; PAIRS],
        neg: [[_mm512_setzero_si512(); CHUNK]; PAIRS],
    };
    // the running sums of every token group of a row group between chunks
    let mut carry = [[[_mm512_setzero_ps(); PAIRS]; TOKENS]; GEMM_TOKENS / TOKENS];
    // the first row group (the later ones are fetched while the one before computes)
    prefetch(
        w.as_ptr().cast(),
        ROWS.min(rows) * nb * size_of::<BlockQ8_0>(),
    );
    for (out, xs) in out[..n]
        .chunks_mut(GEMM_TOKENS)
        .zip(xs[..n].chunks(GEMM_TOKENS))
    {
        let n = xs.len();
        for r0 in (0..rows).step_by(ROWS) {
            let w_rows: [&[BlockQ8_0]; ROWS] = std::array::from_fn(|k| {
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
                        prefetch(seg, cn * size_of::<BlockQ8_0>());
                    }
                    let mut x_rows: [&[BlockQ8_0]; TOKENS] = [&[]; TOKENS];
                    for (j, x) in x_rows.iter_mut().enumerate() {
                        *x = &xs[(t0 + j).min(n - 1)][c0..c0 + cn];
                    }
                    let carry = &mut carry[g];
                    let acc = tile(&prep, &x_rows, (c0 > 0).then_some(&*carry));
                    if c0 + cn < nb {
                        *carry = acc;
                    } else {
                        write(out, &acc, (r0, rows), (t0, n));
                    }
                }
            }
        }
    }
}

// Rows 2i | 2i + 1 of blocks c0..c0 + cn -> `prep` (see `Prepared`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn prepare(prep: &mut Prepared, w_rows: &[&[BlockQ8_0]; ROWS], c0: usize, cn: usize) {
    let bias = _mm512_set1_epi8(-128);
    let zero = _mm512_setzero_si512();
    // lanes 0..8 take scale 2i, lanes 8..16 scale 2i + 1
    let spread: [__m512i; PAIRS] = std::array::from_fn(|i| {
        let (a, b) = (2 * i as i32, 2 * i as i32 + 1);
        _mm512_setr_epi32(a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b)
    });
    for c in 0..cn {
        let b = c0 + c;
        let scales = f16s_to_f32x8(std::array::from_fn::<_, ROWS, _>(|k| w_rows[k][b].d));
        for i in 0..PAIRS {
            let lo = _mm512_castsi256_si512(load_q8(&w_rows[2 * i][b].qs));
            let pair = _mm512_inserti64x4::<1>(lo, load_q8(&w_rows[2 * i + 1][b].qs));
            prep.wq[i][c] = pair;
            prep.neg[i][c] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, bias, pair));
            prep.dw[i][c] = _mm512_permutexvar_ps(spread[i], scales);
        }
    }
}

// The PAIRS x TOKENS accumulators after the prepared blocks, from `carry` (or zero).
// Index loops: with iterators over the accumulators they lived on the stack (1.7x slower).
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn tile(
    prep: &Prepared,
    x_rows: &[&[BlockQ8_0]; TOKENS],
    carry: Option<&[[__m512; PAIRS]; TOKENS]>,
) -> [[__m512; PAIRS]; TOKENS] {
    let bias = _mm512_set1_epi8(-128);
    let mut acc = [[_mm512_setzero_ps(); PAIRS]; TOKENS];
    if let Some(carry) = carry {
        acc = *carry;
    }
    let cn = x_rows[0].len().min(CHUNK);
    for c in 0..cn {
        let dx = f16s_to_f32x8(std::array::from_fn::<_, TOKENS, _>(|j| x_rows[j][c].d));
        for j in 0..TOKENS {
            // y + 128, as u8
            let y = _mm512_xor_si512(_mm512_broadcast_i64x4(load_q8(&x_rows[j][c].qs)), bias);
            let dx_j = _mm512_permutexvar_ps(_mm512_set1_epi32(j as i32), dx);
            for i in 0..PAIRS {
                let sums = _mm512_dpbusd_epi32(prep.neg[i][c], y, prep.wq[i][c]);
                let sums = _mm512_cvtepi32_ps(sums);
                acc[j][i] = _mm512_fmadd_ps(_mm512_mul_ps(prep.dw[i][c], dx_j), sums, acc[j][i]);
            }
        }
    }
    acc
}

// The outputs of a tile: rows r0..r0 + ROWS below `rows`, tokens t0..t0 + TOKENS below `n`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn write(
    out: &mut [&mut [f32]],
    acc: &[[__m512; PAIRS]; TOKENS],
    (r0, rows): (usize, usize),
    (t0, n): (usize, usize),
) {
    for (acc_t, o) in acc.iter().zip(out[t0..n.min(t0 + TOKENS)].iter_mut()) {
        for (i, a) in acc_t.iter().enumerate() {
            let r = r0 + 2 * i;
            if r < rows {
                o[r] = hsum_f32x8(_mm512_castps512_ps256(*a));
            }
            if r + 1 < rows {
                o[r + 1] = hsum_f32x8(high_half(*a));
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
