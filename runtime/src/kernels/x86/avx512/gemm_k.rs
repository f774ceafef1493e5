//! Batched Q4_K, Q5_K and Q6_K products (prompt processing) with VNNI in llama.cpp's batch
//! arithmetic (`avx2/k_quants.rs`, "Prompt batches"): every output is the bits of the AVX2
//! batch gemm's, not of the dot (the exception in `dispatch::GemmFn`'s contract).
//!
//! Lane r = row r of a 16-row group: a group's super-blocks are transposed once per call (lane
//! r of quad register w holds row r's values 4w..4w + 4 as bytes) and each quad meets one
//! broadcast quad of x per token, so a VNNI lane sums a sub-block's q . y of its row exactly.
//! The integer sums per row (sc * q . y, m * bsums, Q6_K's 32 * sc * bsums) are exact in i32
//! whatever the instruction order; the f32 steps per row are the AVX2 batch dot's, lane-wise:
//! - Q4_K (ggml_gemm_q4_K_8x8_q8_K): per pair j of sub-blocks, acc = fma(isum_j, d_w d_x, acc)
//!   and acc_m = fma(imin_j, dmin_w d_x, acc_m); the output is acc - acc_m.
//! - Q5_K (the tiled matmul): per super-block, res = d_w * s1, res = fma(-dmin_w, s2, res),
//!   acc = fma(res, d_x, acc).
//! - Q6_K (the tiled matmul): per super-block, acc = fma(d_w * s1, d_x, acc).

mod nibble;
mod q6_k;

use crate::kernels::dispatch::GEMM_TOKENS;
use crate::kernels::generic::gemm_rows;
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::x86::prefetch;
use edge_formats::blocks::{BlockQ4_K, BlockQ5_K, BlockQ6_K, BlockQ8_K};
use nibble::{Q4K, Q5K};
use q6_k::Q6K;
use std::arch::x86_64::*;

safe_entry! {
    pub(super) fn gemm_q4_k(out: &mut [&mut [f32]], w: &[BlockQ4_K], row_len: usize, xs: &[&[BlockQ8_K]]) => gemm_q4_k_avx512;
    pub(super) fn gemm_q5_k(out: &mut [&mut [f32]], w: &[BlockQ5_K], row_len: usize, xs: &[&[BlockQ8_K]]) => gemm_q5_k_avx512;
    pub(super) fn gemm_q6_k(out: &mut [&mut [f32]], w: &[BlockQ6_K], row_len: usize, xs: &[&[BlockQ8_K]]) => gemm_q6_k_avx512;
}

/// Rows of a group (lane r = row r).
const ROWS: usize = 16;
/// Tokens of a tile.
const TOKENS: usize = 4;
/// Super-blocks of a row group prepared at a time (about 20 KiB on the stack).
const CHUNK: usize = 4;

/// A token tile's running f32 sums, lane r = row r: `acc[t]` and (Q4_K) `acc_m[t]`.
#[derive(Clone, Copy)]
struct Sums {
    acc: [__m512; TOKENS],
    acc_m: [__m512; TOKENS],
}

/// One K type as the shared driver sees it.
trait KGemm {
    type W;
    /// A row group's super-blocks c0.. prepared for the tiles.
    type Prep;
    fn new_prep() -> Self::Prep;
    /// Prepares super-blocks c0..c0 + cn of the 16 rows.
    fn prepare(prep: &mut Self::Prep, rows: &[&[Self::W]; ROWS], c0: usize, cn: usize);
    /// The sums after the prepared super-blocks against `x_rows` (their blocks c0..).
    fn tile(prep: &Self::Prep, x_rows: &[&[BlockQ8_K]; TOKENS], sums: Sums) -> Sums;
    /// Whether an output is acc - acc_m (Q4_K) rather than acc.
    const MINS: bool;
    /// The AVX2 batch gemm (row_len 0, a token shorter than a row).
    fn fallback(out: &mut [&mut [f32]], w: &[Self::W], nb: usize, xs: &[&[BlockQ8_K]]);
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn gemm_q4_k_avx512(out: &mut [&mut [f32]], w: &[BlockQ4_K], nb: usize, xs: &[&[BlockQ8_K]]) {
    gemm_k::<Q4K>(out, w, nb, xs)
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn gemm_q5_k_avx512(out: &mut [&mut [f32]], w: &[BlockQ5_K], nb: usize, xs: &[&[BlockQ8_K]]) {
    gemm_k::<Q5K>(out, w, nb, xs)
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn gemm_q6_k_avx512(out: &mut [&mut [f32]], w: &[BlockQ6_K], nb: usize, xs: &[&[BlockQ8_K]]) {
    gemm_k::<Q6K>(out, w, nb, xs)
}

// w (rows, nb) @ xs[t] (nb) -> out[t] (rows). Row groups outer (a group's prepared blocks stay
// in L1 while the tokens pass), then super-block chunks, then token tiles. Groups at the
// edges repeat the last row or token and write only the outputs that exist.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn gemm_k<K: KGemm>(out: &mut [&mut [f32]], w: &[K::W], nb: usize, xs: &[&[BlockQ8_K]]) {
    let n = out.len().min(xs.len());
    let Some(rows) = gemm_rows(out, w, nb, xs, K::fallback) else {
        return;
    };
    if rows == 0 {
        return;
    }
    let mut prep = K::new_prep();
    let zero = Sums {
        acc: [_mm512_setzero_ps(); TOKENS],
        acc_m: [_mm512_setzero_ps(); TOKENS],
    };
    // the running sums of every token tile of a row group between chunks
    let mut carry = [zero; GEMM_TOKENS / TOKENS];
    let block_bytes = size_of::<K::W>();
    // the first row group (the later ones are fetched while the one before computes)
    prefetch(w.as_ptr().cast(), ROWS.min(rows) * nb * block_bytes);
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
                K::prepare(&mut prep, &w_rows, c0, cn);
                let tiles = n.div_ceil(TOKENS);
                for (g, t0) in (0..n).step_by(TOKENS).enumerate() {
                    // token tile g brings in rows g, g + tiles, ... of the next row group
                    // (their blocks of this chunk)
                    for k in (g..ROWS).step_by(tiles) {
                        let seg = next.wrapping_add(k * nb + c0).cast::<i8>();
                        prefetch(seg, cn * block_bytes);
                    }
                    // (a loop, not from_fn: its closures stayed out of line here)
                    let mut x_rows: [&[BlockQ8_K]; TOKENS] = [&[]; TOKENS];
                    for (j, x) in x_rows.iter_mut().enumerate() {
                        *x = &xs[(t0 + j).min(n - 1)][c0..c0 + cn];
                    }
                    let start = if c0 > 0 { carry[g] } else { zero };
                    let sums = K::tile(&prep, &x_rows, start);
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

// The outputs of a tile: rows r0..r0 + ROWS below `rows`, tokens t0..t0 + TOKENS below `n`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn write<K: KGemm>(
    out: &mut [&mut [f32]],
    sums: &Sums,
    (r0, rows): (usize, usize),
    (t0, n): (usize, usize),
) {
    let live = (rows - r0).min(ROWS);
    for (t, o) in out[t0..n.min(t0 + TOKENS)].iter_mut().enumerate() {
        let mut lanes = [0f32; ROWS];
        let v = if K::MINS {
            _mm512_sub_ps(sums.acc[t], sums.acc_m[t])
        } else {
            sums.acc[t]
        };
        // SAFETY: lanes has 16 f32.
        unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), v) };
        o[r0..r0 + live].copy_from_slice(&lanes[..live]);
    }
}

/// 16 rows of 16 words -> 16 registers of 16 rows: lane r of the result's register w is
/// word w of `rows[r]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) fn transpose(rows: &[__m512i; 16]) -> [__m512i; 16] {
    // 128-bit lane l of t[2i] holds words 4l, 4l + 1 of rows 2i, 2i + 1 interleaved; of
    // t[2i + 1] words 4l + 2, 4l + 3
    let t: [__m512i; 16] = std::array::from_fn(|k| {
        let (a, b) = (rows[k & !1], rows[k | 1]);
        if k % 2 == 0 {
            _mm512_unpacklo_epi32(a, b)
        } else {
            _mm512_unpackhi_epi32(a, b)
        }
    });
    // 128-bit lane l of u[4i + k]: word 4l + k of rows 4i..4i + 4
    let u: [__m512i; 16] = std::array::from_fn(|q| {
        let (i, k) = (q / 4, q % 4);
        let (a, b) = (t[4 * i + k / 2], t[4 * i + 2 + k / 2]);
        if k % 2 == 0 {
            _mm512_unpacklo_epi64(a, b)
        } else {
            _mm512_unpackhi_epi64(a, b)
        }
    });
    // word 4l + k: 128-bit lane l of u[k], u[4 + k], u[8 + k], u[12 + k]
    let mut out = [_mm512_setzero_si512(); 16];
    for k in 0..4 {
        let x0 = _mm512_shuffle_i32x4::<0x44>(u[k], u[4 + k]);
        let x1 = _mm512_shuffle_i32x4::<0xEE>(u[k], u[4 + k]);
        let y0 = _mm512_shuffle_i32x4::<0x44>(u[8 + k], u[12 + k]);
        let y1 = _mm512_shuffle_i32x4::<0xEE>(u[8 + k], u[12 + k]);
        out[k] = _mm512_shuffle_i32x4::<0x88>(x0, y0);
        out[4 + k] = _mm512_shuffle_i32x4::<0xDD>(x0, y0);
        out[8 + k] = _mm512_shuffle_i32x4::<0x88>(x1, y1);
        out[12 + k] = _mm512_shuffle_i32x4::<0xDD>(x1, y1);
    }
    out
}

/// Bytes at..at + 64 of `bytes` as a register.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn load64(bytes: &[u8], at: usize) -> __m512i {
    let chunk = &bytes[at..at + 64];
    // SAFETY: chunk has exactly 64 bytes.
    unsafe { _mm512_loadu_si512(chunk.as_ptr().cast()) }
}

/// The 4 activation values at..at + 4 of a Q8_K block, broadcast to every lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn quad_of(x: &BlockQ8_K, at: usize) -> __m512i {
    let q = &x.qs[at..at + 4];
    _mm512_set1_epi32(i32::from_le_bytes([
        q[0] as u8, q[1] as u8, q[2] as u8, q[3] as u8,
    ]))
}

/// Sixteen f16 values as f32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn f16x16(bits: [u16; ROWS]) -> __m512 {
    // SAFETY: bits is 16 u16 = 32 bytes.
    _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(bits.as_ptr() as *const __m256i) })
}

/// Sixteen i32 as a register.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn i32x16(v: [i32; ROWS]) -> __m512i {
    // SAFETY: v is 16 i32 = 64 bytes.
    unsafe { _mm512_loadu_si512(v.as_ptr().cast()) }
}

/// Two i16 as the halves of an i32 lane (`lo` in the low 16 bits), as VPDPWSSD pairs them.
#[inline(always)]
fn i16_pair(lo: i32, hi: i32) -> i32 {
    (lo & 0xFFFF) | (hi << 16)
}
