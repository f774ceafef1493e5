//! Batched Q5_0 and Q5_1 products (prompt processing) with VNNI: w (rows, nb) @ xs[t] (nb) ->
//! out[t] (rows), 16 rows (lane r = row r) x TOKENS tokens per tile. Each output keeps the
//! arithmetic of its AVX2 dot: per block 8 exact i32 lane sums of 4 products (lane i: elements
//! 4 i .. 4 i + 4), acc_i = fma(d_w * d_x, lane_i, acc_i) block after block, then ggml's
//! hsum_float_8 over the 8 accumulators (plus Q5_1's running sum of m_w * s_x). Here each
//! output lane i is its own register lane-wise, so every output is the bits of the AVX2 dot
//! (the contract of `dispatch::GemmFn`), as `q5.rs`'s matvecs are.
//!
//! A row group's blocks are decoded and transposed once per call, CHUNK blocks at a time
//! (lane r of quad register i: row r's values 4 i .. 4 i + 4, bytes in [0, 31]); each quad then
//! meets one broadcast quad of x per token, so a VNNI lane sums exactly the 4 products of the
//! AVX2 dot's lane i of that row.

use super::super::avx2::{f16_to_f32, load_q8};
use super::gemm_k::transpose;
use super::q5::{dot_q5_0_q8_0, dot_q5_1_q8_1, q5_values_x2, Q5Block};
use crate::kernels::dispatch::GEMM_TOKENS;
use crate::kernels::generic::gemm_rows_or_dots;
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

/// Rows of a group (lane r = row r).
const ROWS: usize = 16;
/// Tokens of a tile (8 accumulators each).
const TOKENS: usize = 3;
/// Blocks of a row group prepared at a time (20 KiB on the stack).
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

/// A row group's blocks c0.. prepared for the tiles: lane r of `quads[c][i]` holds row r's
/// values 4 i .. 4 i + 4 of block c0 + c (bytes in [0, 31]), `d[c]` and `m[c]` the rows'
/// scales and minima (Q5_1).
struct Prepared {
    quads: [[__m512i; 8]; CHUNK],
    d: [__m512; CHUNK],
    m: [__m512; CHUNK],
}

/// A tile's running sums, lane r = row r: `acc[t][i]` the AVX2 dot's f32 lane i for token t,
/// `summs[t]` Q5_1's sum of m_w * s_x.
#[derive(Clone, Copy)]
struct Sums {
    acc: [[__m512; 8]; TOKENS],
    summs: [__m512; TOKENS],
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
// in L1 while the tokens pass), then block chunks, then token tiles. Groups at the edges
// repeat the last row or token and write only the outputs that exist. Calls with row_len 0
// or a token shorter than a row go through the dot, output by output.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn gemm_q5<K: Q5Gemm>(out: &mut [&mut [f32]], w: &[K::W], nb: usize, xs: &[&[K::X]]) {
    let n = out.len().min(xs.len());
    let Some(rows) = gemm_rows_or_dots(out, w, nb, xs, K::dot) else {
        return;
    };
    if rows == 0 {
        return;
    }
    // SAFETY: all-zero bits are valid vectors.
    let mut prep: Prepared = unsafe { std::mem::zeroed() };
    let zero = Sums {
        acc: [[_mm512_setzero_ps(); 8]; TOKENS],
        summs: [_mm512_setzero_ps(); TOKENS],
    };
    // the running sums of every token tile of a row group between chunks
    let mut carry = [zero; GEMM_TOKENS.div_ceil(TOKENS)];
    // the first row group (the later ones are fetched while the one before computes)
    prefetch(w.as_ptr().cast(), ROWS.min(rows) * nb * size_of::<K::W>());
    // per token and block, what the tiles take from x besides its values (in memory, so that
    // the tiles broadcast them with a load rather than a shuffle)
    let mut x_terms: Vec<XTerms> = Vec::new();
    for (out, xs) in out[..n]
        .chunks_mut(GEMM_TOKENS)
        .zip(xs[..n].chunks(GEMM_TOKENS))
    {
        let n = xs.len();
        x_terms.clear();
        for x in xs {
            for b in &x[..nb] {
                x_terms.push(x_terms_of::<K>(b));
            }
        }
        for r0 in (0..rows).step_by(ROWS) {
            let w_rows: [&[K::W]; ROWS] = std::array::from_fn(|k| {
                let r = (r0 + k).min(rows - 1);
                &w[r * nb..(r + 1) * nb]
            });
            let next = w.as_ptr().wrapping_add((r0 + ROWS) * nb);
            for c0 in (0..nb).step_by(CHUNK) {
                let cn = CHUNK.min(nb - c0);
                prepare::<K>(&mut prep, &w_rows, c0, cn);
                let tiles = n.div_ceil(TOKENS);
                for (g, t0) in (0..n).step_by(TOKENS).enumerate() {
                    // token tile g brings in rows g, g + tiles, ... of the next row group
                    // (their blocks of this chunk)
                    for k in (g..ROWS).step_by(tiles) {
                        let seg = next.wrapping_add(k * nb + c0).cast::<i8>();
                        prefetch(seg, cn * size_of::<K::W>());
                    }
                    // (loops, not from_fn: its closures stayed out of line here)
                    let mut x_rows: [&[K::X]; TOKENS] = [&[]; TOKENS];
                    let mut terms: [&[XTerms]; TOKENS] = [&[]; TOKENS];
                    for j in 0..TOKENS {
                        let at = (t0 + j).min(n - 1);
                        x_rows[j] = &xs[at][c0..c0 + cn];
                        terms[j] = &x_terms[at * nb + c0..at * nb + c0 + cn];
                    }
                    let start = if c0 > 0 { carry[g] } else { zero };
                    let sums = tile::<K>(&prep, &x_rows, &terms, start);
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

// Rows 0..16 of blocks c0..c0 + cn -> `prep` (see `Prepared`), two blocks per transpose.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn prepare<K: Q5Gemm>(prep: &mut Prepared, w_rows: &[&[K::W]; ROWS], c0: usize, cn: usize) {
    for c in (0..cn).step_by(2) {
        // blocks c and c + 1 of each row (c again past the chunk's end)
        let c1 = (c + 1).min(cn - 1);
        let t = transpose(&std::array::from_fn(|r| {
            q5_values_x2(&w_rows[r][c0 + c], &w_rows[r][c0 + c1])
        }));
        prep.quads[c].copy_from_slice(&t[..8]);
        if c + 1 < cn {
            prep.quads[c + 1].copy_from_slice(&t[8..]);
        }
    }
    for c in 0..cn {
        prep.d[c] = f16x16(std::array::from_fn(|r| K::d_w(&w_rows[r][c0 + c])));
        if K::MIN {
            prep.m[c] = f16x16(std::array::from_fn(|r| K::m_w(&w_rows[r][c0 + c])));
        }
    }
}

/// What a tile takes from an activation block besides its values: Q5_0's lane starts (lane i:
/// -16 (y_4i + ... + y_4i+3), its offset of 16, exactly), the scale d_x and Q8_1's s_x.
struct XTerms {
    starts: [i32; 8],
    d: f32,
    s: f32,
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn x_terms_of<K: Q5Gemm>(x: &K::X) -> XTerms {
    let mut starts = [0i32; 8];
    if !K::MIN {
        let y = load_q8(K::qs_x(x));
        let zero = _mm256_setzero_si256();
        let neg = _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, _mm256_set1_epi8(16), y));
        // SAFETY: starts is 8 i32 = 32 bytes.
        unsafe { _mm256_storeu_si256(starts.as_mut_ptr().cast(), neg) };
    }
    XTerms {
        starts,
        d: f16_to_f32(K::d_x(x)),
        s: f16_to_f32(K::s_x(x)),
    }
}

// The tile's sums after the prepared blocks, from `sums` (`terms`: the tokens' blocks'
// `XTerms`).
// Index loops: with iterators over the accumulators they lived on the stack (as gemm_q8.rs).
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn tile<K: Q5Gemm>(
    prep: &Prepared,
    x_rows: &[&[K::X]; TOKENS],
    terms: &[&[XTerms]; TOKENS],
    mut sums: Sums,
) -> Sums {
    let zero = _mm512_setzero_si512();
    let cn = x_rows[0].len().min(CHUNK);
    for c in 0..cn {
        let xb: [&K::X; TOKENS] = std::array::from_fn(|t| &x_rows[t][c]);
        let mut d = [_mm512_setzero_ps(); TOKENS];
        for t in 0..TOKENS {
            if K::MIN {
                let s = _mm512_set1_ps(terms[t][c].s);
                sums.summs[t] = _mm512_add_ps(sums.summs[t], _mm512_mul_ps(prep.m[c], s));
            }
            d[t] = _mm512_mul_ps(prep.d[c], _mm512_set1_ps(terms[t][c].d));
        }
        for i in 0..8 {
            let q = prep.quads[c][i];
            for t in 0..TOKENS {
                let init = if K::MIN {
                    zero
                } else {
                    _mm512_set1_epi32(terms[t][c].starts[i])
                };
                let qs = K::qs_x(xb[t]);
                // SAFETY: i < 8, so bytes 4 i .. 4 i + 4 lie inside the 32.
                let y4 = unsafe { qs.as_ptr().cast::<i32>().add(i).read_unaligned() };
                let lanes = _mm512_dpbusd_epi32(init, q, _mm512_set1_epi32(y4));
                sums.acc[t][i] = _mm512_fmadd_ps(d[t], _mm512_cvtepi32_ps(lanes), sums.acc[t][i]);
            }
        }
    }
    sums
}

// The outputs of a tile: rows r0..r0 + ROWS below `rows`, tokens t0..t0 + TOKENS below `n`;
// each ggml's hsum_float_8 of its 8 lanes, lane-wise: ((l0 + l4) + (l2 + l6)) + ((l1 + l5) +
// (l3 + l7)), plus Q5_1's sum of m * s.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn write<K: Q5Gemm>(
    out: &mut [&mut [f32]],
    sums: &Sums,
    (r0, rows): (usize, usize),
    (t0, n): (usize, usize),
) {
    let live = (rows - r0).min(ROWS);
    for (t, o) in out[t0..n.min(t0 + TOKENS)].iter_mut().enumerate() {
        let a = &sums.acc[t];
        let s4: [__m512; 4] = std::array::from_fn(|k| _mm512_add_ps(a[4 + k], a[k]));
        let s2 = [_mm512_add_ps(s4[0], s4[2]), _mm512_add_ps(s4[1], s4[3])];
        let mut v = _mm512_add_ps(s2[0], s2[1]);
        if K::MIN {
            v = _mm512_add_ps(v, sums.summs[t]);
        }
        let mut lanes = [0f32; ROWS];
        // SAFETY: lanes has 16 f32.
        unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), v) };
        o[r0..r0 + live].copy_from_slice(&lanes[..live]);
    }
}

/// Sixteen f16 values as f32 lanes (each exact, as `f16_to_f32`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn f16x16(h: [f16; ROWS]) -> __m512 {
    let bits = h.map(|h| h.to_bits());
    // SAFETY: bits is 16 u16 = 32 bytes.
    _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(bits.as_ptr() as *const __m256i) })
}
