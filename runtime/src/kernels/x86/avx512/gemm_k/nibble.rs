//! The Q4_K and Q5_K gemms: nibbles of qs[32 j + l] are values 64 j + l (low, sub-block 2 j)
//! and 64 j + 32 + l (high, sub-block 2 j + 1), scales and minimums packed alike; Q5_K adds
//! a fifth bit per value.

use super::super::super::avx2::k_quants::{
    gemm_q4_k as avx2_gemm_q4_k, gemm_q5_k as avx2_gemm_q5_k,
};
use super::super::k_quants::scales_and_mins;
use super::{
    f16x16, i16_pair, i32x16, load64, quad_of, transpose, KGemm, Sums, CHUNK, ROWS, TOKENS,
};
use edge_formats::blocks::{BlockQ4_K, BlockQ5_K, BlockQ8_K};
use std::arch::x86_64::*;

pub(super) struct Q4K;

/// A row group's Q4_K super-blocks: `quads[c][j][k][m]`, lane r: row r's values 64 j + 32 k +
/// 4 m .. + 4 (sub-block 2 j + k); `sc[c][s]` the rows' scales of sub-block s; `mins[c][j]`
/// the i16 pair (m_2j, m_2j+1); `d`, `dmin` the rows' super-block scales.
pub(super) struct Q4KPrep {
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

pub(super) struct Q5K;

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
