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

use super::super::avx2::k_quants::{
    gemm_q4_k as avx2_gemm_q4_k, gemm_q5_k as avx2_gemm_q5_k, gemm_q6_k as avx2_gemm_q6_k,
};
use super::k_quants::scales_and_mins;
use crate::kernels::dispatch::GEMM_TOKENS;
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::x86::prefetch;
use edge_formats::blocks::{BlockQ4_K, BlockQ5_K, BlockQ6_K, BlockQ8_K};
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
    if nb == 0 || xs[..n].iter().any(|x| x.len() < nb) {
        K::fallback(out, w, nb, xs);
        return;
    }
    let rows = out[..n].iter().map(|o| o.len()).min().unwrap_or(0);
    let rows = rows.min(w.len() / nb);
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

// ---------------------------------------------------------------------------------------------
// Q4_K: nibbles of qs[32 j + l] are elements 64 j + l (low, sub-block 2 j) and 64 j + 32 + l
// (high, sub-block 2 j + 1).

struct Q4K;

/// A row group's Q4_K super-blocks: `quads[c][j][k][m]`, lane r: row r's values 64 j + 32 k +
/// 4 m .. + 4 (sub-block 2 j + k); `sc[c][s]` the rows' scales of sub-block s; `mins[c][j]`
/// the i16 pair (m_2j, m_2j+1); `d`, `dmin` the rows' super-block scales.
struct Q4KPrep {
    quads: [[[[__m512i; 8]; 2]; 4]; CHUNK],
    sc: [[__m512i; 8]; CHUNK],
    mins: [[__m512i; 4]; CHUNK],
    d: [__m512; CHUNK],
    dmin: [__m512; CHUNK],
}

impl KGemm for Q4K {
    type W = BlockQ4_K;
    type Prep = Q4KPrep;
    const MINS: bool = true;

    #[inline(always)]
    fn new_prep() -> Q4KPrep {
        // SAFETY: all-zero bits are valid vectors.
        unsafe { std::mem::zeroed() }
    }

    #[inline(always)]
    fn prepare(prep: &mut Q4KPrep, rows: &[&[BlockQ4_K]; ROWS], c0: usize, cn: usize) {
        // SAFETY: only reached from gemm_q4_k_avx512, whose features these need.
        unsafe { prepare_nibbles(prep, rows, c0, cn) }
    }

    #[inline(always)]
    fn tile(prep: &Q4KPrep, x_rows: &[&[BlockQ8_K]; TOKENS], sums: Sums) -> Sums {
        // SAFETY: as above.
        unsafe { tile_q4_k(prep, x_rows, sums) }
    }

    fn fallback(out: &mut [&mut [f32]], w: &[BlockQ4_K], nb: usize, xs: &[&[BlockQ8_K]]) {
        avx2_gemm_q4_k(out, w, nb, xs)
    }
}

/// What Q4_K and Q5_K share: scales, minimums and nibbles packed alike; Q5_K adds a fifth bit.
trait NibbleBlock {
    fn d(&self) -> u16;
    fn dmin(&self) -> u16;
    fn scales(&self) -> &[u8; 12];
    fn qs(&self) -> &[u8; 128];
    /// Q5_K's fifth bits: bit 2 j + k of byte l is value 64 j + 32 k + l's.
    fn qh(&self) -> Option<&[u8; 32]>;
}

impl NibbleBlock for BlockQ4_K {
    fn d(&self) -> u16 {
        self.d.to_bits()
    }
    fn dmin(&self) -> u16 {
        self.dmin.to_bits()
    }
    fn scales(&self) -> &[u8; 12] {
        &self.scales
    }
    fn qs(&self) -> &[u8; 128] {
        &self.qs
    }
    fn qh(&self) -> Option<&[u8; 32]> {
        None
    }
}

impl NibbleBlock for BlockQ5_K {
    fn d(&self) -> u16 {
        self.d.to_bits()
    }
    fn dmin(&self) -> u16 {
        self.dmin.to_bits()
    }
    fn scales(&self) -> &[u8; 12] {
        &self.scales
    }
    fn qs(&self) -> &[u8; 128] {
        &self.qs
    }
    fn qh(&self) -> Option<&[u8; 32]> {
        Some(&self.qh)
    }
}

// Super-blocks c0..c0 + cn of the 16 rows -> `prep` (see `Q4KPrep`; Q5_K's values with their
// fifth bit).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn prepare_nibbles<B: NibbleBlock>(prep: &mut Q4KPrep, rows: &[&[B]; ROWS], c0: usize, cn: usize) {
    let low4 = _mm512_set1_epi8(0x0F);
    for c in 0..cn {
        let blocks: [&B; ROWS] = std::array::from_fn(|r| &rows[r][c0 + c]);
        for half in 0..2 {
            // register w: bytes 64 half + 4 w .. of each row, i.e. chunk j = 2 half + w / 8,
            // l = 4 (w % 8)
            let t = transpose(&std::array::from_fn(|r| load64(blocks[r].qs(), 64 * half)));
            for (w, v) in t.iter().enumerate() {
                let (j, m) = (2 * half + w / 8, w % 8);
                prep.quads[c][j][0][m] = _mm512_and_si512(*v, low4);
                prep.quads[c][j][1][m] = _mm512_and_si512(_mm512_srli_epi16::<4>(*v), low4);
            }
        }
        if let Some(qh0) = blocks[0].qh() {
            // lane r of register m: bytes 4 m .. 4 m + 4 of row r's qh (m < 8)
            let qh = transpose(&std::array::from_fn(|r| {
                let qh = blocks[r].qh().unwrap_or(qh0);
                // SAFETY: qh has exactly 32 bytes.
                _mm512_zextsi256_si512(unsafe { _mm256_loadu_si256(qh.as_ptr().cast()) })
            }));
            let sixteen = _mm512_set1_epi8(16);
            for j in 0..4 {
                for k in 0..2 {
                    let bit = _mm512_set1_epi8(1 << (2 * j + k));
                    for (m, qh_m) in qh.iter().take(8).enumerate() {
                        let q = prep.quads[c][j][k][m];
                        let fifth = _mm512_test_epi8_mask(*qh_m, bit);
                        prep.quads[c][j][k][m] = _mm512_mask_add_epi8(q, fifth, q, sixteen);
                    }
                }
            }
        }
        let packed: [(u64, u64); ROWS] =
            std::array::from_fn(|r| scales_and_mins(blocks[r].scales()));
        let byte = |v: u64, s: usize| ((v >> (8 * s)) & 0xFF) as i32;
        for s in 0..8 {
            prep.sc[c][s] = i32x16(std::array::from_fn(|r| byte(packed[r].0, s)));
        }
        for j in 0..4 {
            prep.mins[c][j] = i32x16(std::array::from_fn(|r| {
                i16_pair(byte(packed[r].1, 2 * j), byte(packed[r].1, 2 * j + 1))
            }));
        }
        prep.d[c] = f16x16(std::array::from_fn(|r| blocks[r].d()));
        prep.dmin[c] = f16x16(std::array::from_fn(|r| blocks[r].dmin()));
    }
}

/// Token t, pair j: the sums of 32 of sub-blocks 2 j and 2 j + 1 as an i16 pair.
#[inline(always)]
fn bsum_pairs(x: &BlockQ8_K) -> [i32; 4] {
    let b = &x.bsums;
    let sum32 = |s: usize| i32::from(b[2 * s]) + i32::from(b[2 * s + 1]);
    std::array::from_fn(|j| i16_pair(sum32(2 * j), sum32(2 * j + 1)))
}

/// Per token, sub-blocks 2 j (low nibbles) and 2 j + 1 (high) of a prepared super-block:
/// sc_2j * q . y + sc_2j+1 * q . y, lane r = row r, exactly.
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn pair_isums(
    quads: &[[__m512i; 8]; 2],
    sc: [__m512i; 2],
    xb: &[&BlockQ8_K; TOKENS],
    j: usize,
) -> [__m512i; TOKENS] {
    let zero = _mm512_setzero_si512();
    let mut lo = [zero; TOKENS];
    let mut hi = [zero; TOKENS];
    for m in 0..8 {
        let (q_lo, q_hi) = (quads[0][m], quads[1][m]);
        for t in 0..TOKENS {
            lo[t] = _mm512_dpbusd_epi32(lo[t], q_lo, quad_of(xb[t], 64 * j + 4 * m));
            hi[t] = _mm512_dpbusd_epi32(hi[t], q_hi, quad_of(xb[t], 64 * j + 32 + 4 * m));
        }
    }
    std::array::from_fn(|t| {
        _mm512_add_epi32(
            _mm512_mullo_epi32(lo[t], sc[0]),
            _mm512_mullo_epi32(hi[t], sc[1]),
        )
    })
}

// Index loops: with iterators over the accumulators they lived on the stack (as gemm_q8.rs).
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn tile_q4_k(prep: &Q4KPrep, x_rows: &[&[BlockQ8_K]; TOKENS], mut sums: Sums) -> Sums {
    let zero = _mm512_setzero_si512();
    let cn = x_rows[0].len().min(CHUNK);
    for c in 0..cn {
        let xb: [&BlockQ8_K; TOKENS] = std::array::from_fn(|t| &x_rows[t][c]);
        let bs: [[i32; 4]; TOKENS] = std::array::from_fn(|t| bsum_pairs(xb[t]));
        let dx: [__m512; TOKENS] = std::array::from_fn(|t| _mm512_set1_ps(xb[t].d));
        for j in 0..4 {
            let sc = [prep.sc[c][2 * j], prep.sc[c][2 * j + 1]];
            let isum = pair_isums(&prep.quads[c][j], sc, &xb, j);
            for t in 0..TOKENS {
                let imin = _mm512_dpwssd_epi32(zero, prep.mins[c][j], _mm512_set1_epi32(bs[t][j]));
                let d = _mm512_mul_ps(prep.d[c], dx[t]);
                let dmin = _mm512_mul_ps(prep.dmin[c], dx[t]);
                sums.acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), d, sums.acc[t]);
                sums.acc_m[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(imin), dmin, sums.acc_m[t]);
            }
        }
    }
    sums
}

// ---------------------------------------------------------------------------------------------
// Q5_K: Q4_K's packing plus a fifth bit, in the tiled matmul's f32 steps: per super-block
// res = d_w * s1, res = fma(-dmin_w, s2, res), acc = fma(res, d_x, acc).

struct Q5K;

impl KGemm for Q5K {
    type W = BlockQ5_K;
    type Prep = Q4KPrep;
    const MINS: bool = false;

    #[inline(always)]
    fn new_prep() -> Q4KPrep {
        // SAFETY: all-zero bits are valid vectors.
        unsafe { std::mem::zeroed() }
    }

    #[inline(always)]
    fn prepare(prep: &mut Q4KPrep, rows: &[&[BlockQ5_K]; ROWS], c0: usize, cn: usize) {
        // SAFETY: only reached from gemm_q5_k_avx512, whose features these need.
        unsafe { prepare_nibbles(prep, rows, c0, cn) }
    }

    #[inline(always)]
    fn tile(prep: &Q4KPrep, x_rows: &[&[BlockQ8_K]; TOKENS], sums: Sums) -> Sums {
        // SAFETY: as above.
        unsafe { tile_q5_k(prep, x_rows, sums) }
    }

    fn fallback(out: &mut [&mut [f32]], w: &[BlockQ5_K], nb: usize, xs: &[&[BlockQ8_K]]) {
        avx2_gemm_q5_k(out, w, nb, xs)
    }
}

// Index loops: with iterators over the accumulators they lived on the stack (as gemm_q8.rs).
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn tile_q5_k(prep: &Q4KPrep, x_rows: &[&[BlockQ8_K]; TOKENS], mut sums: Sums) -> Sums {
    let zero = _mm512_setzero_si512();
    let cn = x_rows[0].len().min(CHUNK);
    for c in 0..cn {
        let xb: [&BlockQ8_K; TOKENS] = std::array::from_fn(|t| &x_rows[t][c]);
        // s2 = sum of m * (the sums of 32), s1 = sum of sc * q . y, exactly
        let mut s2 = [zero; TOKENS];
        let mut s1 = [zero; TOKENS];
        for t in 0..TOKENS {
            for (j, pair) in bsum_pairs(xb[t]).into_iter().enumerate() {
                s2[t] = _mm512_dpwssd_epi32(s2[t], prep.mins[c][j], _mm512_set1_epi32(pair));
            }
        }
        for j in 0..4 {
            let sc = [prep.sc[c][2 * j], prep.sc[c][2 * j + 1]];
            let isum = pair_isums(&prep.quads[c][j], sc, &xb, j);
            for t in 0..TOKENS {
                s1[t] = _mm512_add_epi32(s1[t], isum[t]);
            }
        }
        for t in 0..TOKENS {
            let res = _mm512_mul_ps(prep.d[c], _mm512_cvtepi32_ps(s1[t]));
            // fma(-dmin_w, s2, res): the negation is exact
            let res = _mm512_fnmadd_ps(prep.dmin[c], _mm512_cvtepi32_ps(s2[t]), res);
            sums.acc[t] = _mm512_fmadd_ps(res, _mm512_set1_ps(xb[t].d), sums.acc[t]);
        }
    }
    sums
}

// ---------------------------------------------------------------------------------------------
// Q6_K: values in [0, 63] (the offset of 32 through bsums), sub-blocks of 16 with i8 scales.

struct Q6K;

/// A row group's Q6_K super-blocks: `quads[c][g][w]`, lane r: row r's values 64 g + 4 w
/// to 64 g + 4 w + 4 (sub-block 4 g + w / 4); `sc[c][s]` the rows' scales of sub-block s; `sc_pairs[c][p]`
/// the i16 pair (sc_2p, sc_2p+1); `d` the rows' super-block scales.
struct Q6KPrep {
    quads: [[[__m512i; 16]; 4]; CHUNK],
    sc: [[__m512i; 16]; CHUNK],
    sc_pairs: [[__m512i; 8]; CHUNK],
    d: [__m512; CHUNK],
}

impl KGemm for Q6K {
    type W = BlockQ6_K;
    type Prep = Q6KPrep;
    const MINS: bool = false;

    #[inline(always)]
    fn new_prep() -> Q6KPrep {
        // SAFETY: all-zero bits are valid vectors.
        unsafe { std::mem::zeroed() }
    }

    #[inline(always)]
    fn prepare(prep: &mut Q6KPrep, rows: &[&[BlockQ6_K]; ROWS], c0: usize, cn: usize) {
        // SAFETY: only reached from gemm_q6_k_avx512, whose features these need.
        unsafe { prepare_q6_k(prep, rows, c0, cn) }
    }

    #[inline(always)]
    fn tile(prep: &Q6KPrep, x_rows: &[&[BlockQ8_K]; TOKENS], sums: Sums) -> Sums {
        // SAFETY: as above.
        unsafe { tile_q6_k(prep, x_rows, sums) }
    }

    fn fallback(out: &mut [&mut [f32]], w: &[BlockQ6_K], nb: usize, xs: &[&[BlockQ8_K]]) {
        avx2_gemm_q6_k(out, w, nb, xs)
    }
}

/// A Q6_K block's 256 values in [0, 63] as bytes, in element order, 64 per register.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q6_k_values(a: &BlockQ6_K) -> [__m512i; 4] {
    let (low4, top2) = (_mm512_set1_epi8(0x0F), _mm512_set1_epi8(0x30));
    let mut v = [_mm512_setzero_si512(); 4];
    for h in 0..2 {
        let ql = load64(&a.ql, 64 * h);
        let qh = &a.qh[32 * h..32 * h + 32];
        // SAFETY: qh has exactly 32 bytes.
        let qh = _mm512_broadcast_i64x4(unsafe { _mm256_loadu_si256(qh.as_ptr().cast()) });
        // elements 128 h + 0..64: low nibbles, bits 0-1 (then 2-3) of qh as bits 4-5
        let hi01 = _mm512_and_si512(
            _mm512_sllv_epi64(qh, _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2)),
            top2,
        );
        v[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, low4), hi01);
        // elements 128 h + 64..128: high nibbles, bits 4-5 (then 6-7) of qh as bits 4-5
        let hi23 = _mm512_and_si512(
            _mm512_srlv_epi64(qh, _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2)),
            top2,
        );
        v[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16::<4>(ql), low4), hi23);
    }
    v
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn prepare_q6_k(prep: &mut Q6KPrep, rows: &[&[BlockQ6_K]; ROWS], c0: usize, cn: usize) {
    for c in 0..cn {
        let blocks: [&BlockQ6_K; ROWS] = std::array::from_fn(|r| &rows[r][c0 + c]);
        let values: [[__m512i; 4]; ROWS] = std::array::from_fn(|r| q6_k_values(blocks[r]));
        for (g, quads) in prep.quads[c].iter_mut().enumerate() {
            *quads = transpose(&std::array::from_fn(|r| values[r][g]));
        }
        let scale = |r: usize, s: usize| i32::from(blocks[r].scales[s]);
        for s in 0..16 {
            prep.sc[c][s] = i32x16(std::array::from_fn(|r| scale(r, s)));
        }
        for p in 0..8 {
            prep.sc_pairs[c][p] = i32x16(std::array::from_fn(|r| {
                i16_pair(scale(r, 2 * p), scale(r, 2 * p + 1))
            }));
        }
        prep.d[c] = f16x16(std::array::from_fn(|r| blocks[r].d.to_bits()));
    }
}

// Index loops: with iterators over the accumulators they lived on the stack (as gemm_q8.rs).
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn tile_q6_k(prep: &Q6KPrep, x_rows: &[&[BlockQ8_K]; TOKENS], mut sums: Sums) -> Sums {
    let zero = _mm512_setzero_si512();
    let cn = x_rows[0].len().min(CHUNK);
    for c in 0..cn {
        let xb: [&BlockQ8_K; TOKENS] = std::array::from_fn(|t| &x_rows[t][c]);
        // 32 * sum of sc * bsums (the offset of 32, exactly), then sum of sc * q . y
        let mut off = [zero; TOKENS];
        for p in 0..8 {
            for t in 0..TOKENS {
                let b = &xb[t].bsums;
                let pair = _mm512_set1_epi32(i16_pair(b[2 * p].into(), b[2 * p + 1].into()));
                off[t] = _mm512_dpwssd_epi32(off[t], prep.sc_pairs[c][p], pair);
            }
        }
        let mut isum = [zero; TOKENS];
        for s in 0..16 {
            let (g, w0) = (s / 4, 4 * (s % 4));
            let mut sub = [zero; TOKENS];
            for k in 0..4 {
                let q = prep.quads[c][g][w0 + k];
                for t in 0..TOKENS {
                    sub[t] = _mm512_dpbusd_epi32(sub[t], q, quad_of(xb[t], 64 * g + 4 * (w0 + k)));
                }
            }
            for t in 0..TOKENS {
                isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(sub[t], prep.sc[c][s]));
            }
        }
        for t in 0..TOKENS {
            let s1 = _mm512_sub_epi32(isum[t], _mm512_slli_epi32::<5>(off[t]));
            let res = _mm512_mul_ps(prep.d[c], _mm512_cvtepi32_ps(s1));
            sums.acc[t] = _mm512_fmadd_ps(res, _mm512_set1_ps(xb[t].d), sums.acc[t]);
        }
    }
    sums
}
