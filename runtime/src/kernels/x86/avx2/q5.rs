//! Q5_0 and Q5_1 weights against Q8_0 and Q8_1 activations: the dots, an eight-row matvec
//! and a gemm, every output the bits of its row's dot.

use super::{f16_to_f32, hsum_f32x8, load_q8, mul_sum_u8_i8_i32};
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::x86::{prefetch, PREFETCH_AHEAD};
use crate::kernels::TypeKernels;
use edge_formats::blocks::{BlockQ5_0, BlockQ5_1};
use edge_formats::{BlockQ8_0, BlockQ8_1, QK};
use std::arch::x86_64::*;

/// The AVX2 Q5_0 entries (the matvec runs eight rows at a time).
pub(super) const Q5_0: TypeKernels<BlockQ5_0, BlockQ8_0> =
    TypeKernels::new(dot_q5_0_q8_0, matvec_q5_0).with_gemm(gemm_q5_0);
/// The AVX2 Q5_1 entries (the matvec runs eight rows at a time).
pub(super) const Q5_1: TypeKernels<BlockQ5_1, BlockQ8_1> =
    TypeKernels::new(dot_q5_1_q8_1, matvec_q5_1).with_gemm(gemm_q5_1);

safe_entry! {
    fn dot_q5_0_q8_0(w: &[BlockQ5_0], x: &[BlockQ8_0]) -> f32 => dot_q5_0_q8_0_avx2;
    fn dot_q5_1_q8_1(w: &[BlockQ5_1], x: &[BlockQ8_1]) -> f32 => dot_q5_1_q8_1_avx2;
    fn matvec_q5_0(out: &mut [f32], w: &[BlockQ5_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q5_0_avx2;
    fn matvec_q5_1(out: &mut [f32], w: &[BlockQ5_1], row_len: usize, x: &[BlockQ8_1]) => matvec_q5_1_avx2;
    fn gemm_q5_0(out: &mut [&mut [f32]], w: &[BlockQ5_0], row_len: usize, xs: &[&[BlockQ8_0]]) => gemm_q5_0_avx2;
    fn gemm_q5_1(out: &mut [&mut [f32]], w: &[BlockQ5_1], row_len: usize, xs: &[&[BlockQ8_1]]) => gemm_q5_1_avx2;
}

/// The low four bits of the 32 values, in element order (low nibbles, then high).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn low_nibbles(qs: &[u8; QK / 2]) -> __m256i {
    // SAFETY: qs has exactly 16 bytes.
    let both =
        unsafe { _mm256_broadcastsi128_si256(_mm_loadu_si128(qs.as_ptr() as *const __m128i)) };
    // the high half shifted by 4: its low nibbles are the bytes' high nibbles
    let shifted = _mm256_srlv_epi64(both, _mm256_setr_epi64x(0, 0, 4, 4));
    _mm256_and_si256(shifted, _mm256_set1_epi8(0x0F))
}

/// Byte j is 0xFF where bit j of the little-endian `qh` is set, else 0.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn bytes_of_bits(qh: [u8; 4]) -> __m256i {
    let bits = _mm256_set1_epi32(i32::from_le_bytes(qh));
    // Byte j takes byte j / 8 of qh (each 128-bit half holds all four).
    let spread = _mm256_shuffle_epi8(
        bits,
        _mm256_setr_epi8(
            0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, //
            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
        ),
    );
    let bit_of_byte = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
    _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit_of_byte), bit_of_byte)
}

/// A Q5 block's 32 values as bytes in [0, 31], in element order.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q5_values(qh: [u8; 4], qs: &[u8; QK / 2]) -> __m256i {
    let fifth = _mm256_and_si256(bytes_of_bits(qh), _mm256_set1_epi8(0x10));
    _mm256_or_si256(low_nibbles(qs), fifth)
}

/// Lane i: 16 * (y_4i + ... + y_4i+3), what the Q5_0 offset of 16 takes from the lane sums
/// of the raw values: sum((q - 16) y) = sum(q y) - 16 sum(y), exactly in integers.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q5_0_offsets(qy: __m256i) -> __m256i {
    mul_sum_u8_i8_i32(_mm256_set1_epi8(16), qy)
}

/// Lane i: sum of (q - 16) y over elements 4i..4i+4, as f32: the lanes of ggml's
/// mul_sum_i8_pairs_float on q - 16, to the bit (the integer sums are exact either way).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q5_0_lanes(q: __m256i, qy: __m256i, offsets: __m256i) -> __m256 {
    _mm256_cvtepi32_ps(_mm256_sub_epi32(mul_sum_u8_i8_i32(q, qy), offsets))
}

/// Lane i: sum of q y over elements 4i..4i+4 (q in [0, 31]), as f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q5_1_lanes(q: __m256i, qy: __m256i) -> __m256 {
    _mm256_cvtepi32_ps(mul_sum_u8_i8_i32(q, qy))
}

// w (nb) . x (nb) -> f32; ggml_vec_dot_q5_0_q8_0 (AVX2 path): lanes of 4 products (q - 16) y,
// acc = fma(d_w * d_x, lanes, acc), then a horizontal sum.
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q5_0_q8_0_avx2(w: &[BlockQ5_0], x: &[BlockQ8_0]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (a, b) in w.iter().zip(x) {
        let d = _mm256_set1_ps(f16_to_f32(a.d) * f16_to_f32(b.d));
        let qy = load_q8(&b.qs);
        let lanes = q5_0_lanes(q5_values(a.qh, &a.qs), qy, q5_0_offsets(qy));
        acc = _mm256_fmadd_ps(d, lanes, acc);
    }
    hsum_f32x8(acc)
}

// w (nb) . x (nb) -> f32; ggml_vec_dot_q5_1_q8_1 (AVX2 path): q in [0, 31],
// acc = fma(lanes, d_w * d_x, acc); the horizontal sum plus the sum of m * s.
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q5_1_q8_1_avx2(w: &[BlockQ5_1], x: &[BlockQ8_1]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        summs += f16_to_f32(a.m) * f16_to_f32(b.s);
        let lanes = q5_1_lanes(q5_values(a.qh, &a.qs), load_q8(&b.qs));
        let d = _mm256_set1_ps(f16_to_f32(a.d) * f16_to_f32(b.d));
        acc = _mm256_fmadd_ps(lanes, d, acc);
    }
    hsum_f32x8(acc) + summs
}

/// Prefetches the bytes `PREFETCH_AHEAD` past `base`, at the rate an 8-row group reads them
/// (step `i`, 8 blocks of `block_bytes` per step).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn prefetch_step(base: *const i8, i: usize, block_bytes: usize) {
    prefetch(
        base.wrapping_add(PREFETCH_AHEAD + i * 8 * block_bytes),
        8 * block_bytes,
    );
}

/// Eight f16 values as f32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16x8(bits: [u16; 8]) -> __m256 {
    // SAFETY: bits is 8 u16 = 16 bytes.
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(bits.as_ptr() as *const __m128i) })
}

/// The 8 lanes of v as an array.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn lanes_of(v: __m256) -> [f32; 8] {
    let mut a = [0f32; 8];
    // SAFETY: a has 8 f32.
    unsafe { _mm256_storeu_ps(a.as_mut_ptr(), v) };
    a
}

// w (rows, nb) @ x (nb) -> out (rows): eight rows side by side, each with its own 8-lane
// accumulator updated exactly as in `dot_q5_0_q8_0_avx2` (x's offsets and the 8 scales
// computed once per block for the group); leftover rows through that dot.
#[target_feature(enable = "avx2,fma,f16c")]
fn matvec_q5_0_avx2(out: &mut [f32], w: &[BlockQ5_0], nb: usize, x: &[BlockQ8_0]) {
    if nb == 0 {
        out.fill(0.0);
        return;
    }
    let rows = out.len().min(w.len() / nb);
    let x = &x[..nb.min(x.len())];
    let (groups, rest) = out[..rows].split_at_mut(rows - rows % 8);
    for (g, out8) in groups.chunks_exact_mut(8).enumerate() {
        let w8: [&[BlockQ5_0]; 8] = std::array::from_fn(|j| &w[(g * 8 + j) * nb..][..x.len()]);
        let ahead = w[g * 8 * nb..].as_ptr().cast::<i8>();
        let mut acc = [_mm256_setzero_ps(); 8];
        for (i, xb) in x.iter().enumerate() {
            prefetch_step(ahead, i, std::mem::size_of::<BlockQ5_0>());
            let qy = load_q8(&xb.qs);
            let offsets = q5_0_offsets(qy);
            let dw = f16x8(std::array::from_fn(|j| w8[j][i].d.to_bits()));
            let d = lanes_of(_mm256_mul_ps(dw, _mm256_set1_ps(f16_to_f32(xb.d))));
            for (j, a) in acc.iter_mut().enumerate() {
                let b = &w8[j][i];
                let lanes = q5_0_lanes(q5_values(b.qh, &b.qs), qy, offsets);
                *a = _mm256_fmadd_ps(_mm256_broadcast_ss(&d[j]), lanes, *a);
            }
        }
        for (o, a) in out8.iter_mut().zip(acc) {
            *o = hsum_f32x8(a);
        }
    }
    let first = rows - rest.len();
    for (r, o) in rest.iter_mut().enumerate() {
        let row = first + r;
        *o = dot_q5_0_q8_0_avx2(&w[row * nb..(row + 1) * nb], x);
    }
}

// w (rows, nb) @ x (nb) -> out (rows): eight rows side by side, as `matvec_q5_0_avx2`, with
// the arithmetic of `dot_q5_1_q8_1_avx2` (the 8 rows' sums of m * s in one vector).
#[target_feature(enable = "avx2,fma,f16c")]
fn matvec_q5_1_avx2(out: &mut [f32], w: &[BlockQ5_1], nb: usize, x: &[BlockQ8_1]) {
    if nb == 0 {
        out.fill(0.0);
        return;
    }
    let rows = out.len().min(w.len() / nb);
    let x = &x[..nb.min(x.len())];
    let (groups, rest) = out[..rows].split_at_mut(rows - rows % 8);
    for (g, out8) in groups.chunks_exact_mut(8).enumerate() {
        let w8: [&[BlockQ5_1]; 8] = std::array::from_fn(|j| &w[(g * 8 + j) * nb..][..x.len()]);
        let ahead = w[g * 8 * nb..].as_ptr().cast::<i8>();
        let mut acc = [_mm256_setzero_ps(); 8];
        let mut summs = _mm256_setzero_ps();
        for (i, xb) in x.iter().enumerate() {
            prefetch_step(ahead, i, std::mem::size_of::<BlockQ5_1>());
            let qy = load_q8(&xb.qs);
            let dw = f16x8(std::array::from_fn(|j| w8[j][i].d.to_bits()));
            let mw = f16x8(std::array::from_fn(|j| w8[j][i].m.to_bits()));
            summs = _mm256_add_ps(summs, _mm256_mul_ps(mw, _mm256_set1_ps(f16_to_f32(xb.s))));
            let d = lanes_of(_mm256_mul_ps(dw, _mm256_set1_ps(f16_to_f32(xb.d))));
            for (j, a) in acc.iter_mut().enumerate() {
                let b = &w8[j][i];
                let lanes = q5_1_lanes(q5_values(b.qh, &b.qs), qy);
                *a = _mm256_fmadd_ps(lanes, _mm256_broadcast_ss(&d[j]), *a);
            }
        }
        for ((o, a), s) in out8.iter_mut().zip(acc).zip(lanes_of(summs)) {
            *o = hsum_f32x8(a) + s;
        }
    }
    let first = rows - rest.len();
    for (r, o) in rest.iter_mut().enumerate() {
        let row = first + r;
        *o = dot_q5_1_q8_1_avx2(&w[row * nb..(row + 1) * nb], x);
    }
}

/// Rows and tokens of one gemm tile: ROWS * TOKENS accumulators of 8 lanes.
const GEMM_ROWS: usize = 2;
const GEMM_TOKENS_PER_TILE: usize = 4;

/// A gemm over tiles of GEMM_ROWS x GEMM_TOKENS_PER_TILE (1 row or 1 token at the edges),
/// each tile computed by `$tile::<R, T>(out, w, nb, xs, row, token)`.
macro_rules! tiled_gemm {
    ($name:ident, $w:ty, $x:ty, $dot:ident, $tile:ident) => {
        // w (rows, nb) @ xs[t] (nb) -> out[t] (rows), each output the bits of `$dot`.
        #[target_feature(enable = "avx2,fma,f16c")]
        fn $name(out: &mut [&mut [f32]], w: &[$w], nb: usize, xs: &[&[$x]]) {
            let Some(rows) =
                crate::kernels::generic::gemm_rows_or_dots(out, w, nb, xs, |w, x| $dot(w, x))
            else {
                return;
            };
            const R: usize = GEMM_ROWS;
            const T: usize = GEMM_TOKENS_PER_TILE;
            let n = out.len().min(xs.len());
            let (r_full, t_full) = (rows - rows % R, n - n % T);
            // tokens outer: a tile's activations stay in L1 while the rows stream past
            for t in (0..t_full).step_by(T) {
                for r in (0..r_full).step_by(R) {
                    $tile::<R, T>(out, w, nb, xs, r, t);
                }
                for r in r_full..rows {
                    $tile::<1, T>(out, w, nb, xs, r, t);
                }
            }
            for t in t_full..n {
                for r in (0..r_full).step_by(R) {
                    $tile::<R, 1>(out, w, nb, xs, r, t);
                }
                for r in r_full..rows {
                    $tile::<1, 1>(out, w, nb, xs, r, t);
                }
            }
        }
    };
}

tiled_gemm!(
    gemm_q5_0_avx2,
    BlockQ5_0,
    BlockQ8_0,
    dot_q5_0_q8_0_avx2,
    q5_0_tile
);
tiled_gemm!(
    gemm_q5_1_avx2,
    BlockQ5_1,
    BlockQ8_1,
    dot_q5_1_q8_1_avx2,
    q5_1_tile
);

// The R x T outputs at rows r.., tokens t.. (the caller keeps them inside out and w), each
// with the arithmetic of `dot_q5_0_q8_0_avx2`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q5_0_tile<const R: usize, const T: usize>(
    out: &mut [&mut [f32]],
    w: &[BlockQ5_0],
    nb: usize,
    xs: &[&[BlockQ8_0]],
    r: usize,
    t: usize,
) {
    let mut acc = [[_mm256_setzero_ps(); T]; R];
    for b in 0..nb {
        let wb: [&BlockQ5_0; R] = std::array::from_fn(|i| &w[(r + i) * nb + b]);
        let q: [__m256i; R] = std::array::from_fn(|i| q5_values(wb[i].qh, &wb[i].qs));
        let dw: [f32; R] = std::array::from_fn(|i| f16_to_f32(wb[i].d));
        for j in 0..T {
            let xb = &xs[t + j][b];
            let qy = load_q8(&xb.qs);
            let offsets = q5_0_offsets(qy);
            let dx = f16_to_f32(xb.d);
            for i in 0..R {
                let d = _mm256_set1_ps(dw[i] * dx);
                acc[i][j] = _mm256_fmadd_ps(d, q5_0_lanes(q[i], qy, offsets), acc[i][j]);
            }
        }
    }
    for (i, acc_row) in acc.iter().enumerate() {
        for (j, a) in acc_row.iter().enumerate() {
            out[t + j][r + i] = hsum_f32x8(*a);
        }
    }
}

// As `q5_0_tile`, with the arithmetic of `dot_q5_1_q8_1_avx2`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q5_1_tile<const R: usize, const T: usize>(
    out: &mut [&mut [f32]],
    w: &[BlockQ5_1],
    nb: usize,
    xs: &[&[BlockQ8_1]],
    r: usize,
    t: usize,
) {
    let mut acc = [[_mm256_setzero_ps(); T]; R];
    let mut summs = [[0f32; T]; R];
    for b in 0..nb {
        let wb: [&BlockQ5_1; R] = std::array::from_fn(|i| &w[(r + i) * nb + b]);
        let q: [__m256i; R] = std::array::from_fn(|i| q5_values(wb[i].qh, &wb[i].qs));
        let dw: [f32; R] = std::array::from_fn(|i| f16_to_f32(wb[i].d));
        let mw: [f32; R] = std::array::from_fn(|i| f16_to_f32(wb[i].m));
        for j in 0..T {
            let xb = &xs[t + j][b];
            let qy = load_q8(&xb.qs);
            let (dx, sx) = (f16_to_f32(xb.d), f16_to_f32(xb.s));
            for i in 0..R {
                summs[i][j] += mw[i] * sx;
                let d = _mm256_set1_ps(dw[i] * dx);
                acc[i][j] = _mm256_fmadd_ps(q5_1_lanes(q[i], qy), d, acc[i][j]);
            }
        }
    }
    for (i, (acc_row, summs_row)) in acc.iter().zip(&summs).enumerate() {
        for (j, (a, s)) in acc_row.iter().zip(summs_row).enumerate() {
            out[t + j][r + i] = hsum_f32x8(*a) + s;
        }
    }
}
