//! The Q6_K gemm: values in [0, 63] (the offset of 32 through bsums), sub-blocks of 16 with
//! i8 scales.

use super::super::super::avx2::k_quants::gemm_q6_k as avx2_gemm_q6_k;
use super::{
    f16x16, i16_pair, i32x16, load64, quad_of, transpose, KGemm, Sums, CHUNK, ROWS, TOKENS,
};
use edge_formats::blocks::{BlockQ6_K, BlockQ8_K};
use std::arch::x86_64::*;

pub(super) struct Q6K;

/// A row group's Q6_K super-blocks: `quads[c][g][w]`, lane r: row r's values 64 g + 4 w
/// to 64 g + 4 w + 4 (sub-block 4 g + w / 4); `sc[c][s]` the rows' scales of sub-block s;
/// `sc_pairs[c][p]` the i16 pair (sc_2p, sc_2p+1); `d` the rows' super-block scales.
pub(super) struct Q6KPrep {
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
