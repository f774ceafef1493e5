//! The K-quants Q2_K ... Q6_K: super-blocks of 256 values with 4- to 8-bit sub-block scales,
//! read against Q8_K activations (an f32 scale and the sum of every 16 values).
//!
//! ggml's generic dots (`ggml_vec_dot_q*_K_q8_K_generic`) reduce each super-block to eight
//! exact i32 lane sums (lane l: the elements e with e % 8 == l, times their sub-block
//! scale), scale the lanes into eight f32 running sums, and add those last; Q4_K and Q5_K
//! subtract their minimums from a separate running sum first. Q2_K scales one i32 sum per
//! super-block. These follow that f32 order; the integer sums are exact in any order.

use super::rows_by;
use crate::kernels::TypeKernels;
use edge_formats::blocks::q2_k::unpack_2bit;
use edge_formats::blocks::q3_k::unpack_q3_scales;
use edge_formats::blocks::q4_k::{scale_min_k4, unpack_4bit_k};
use edge_formats::blocks::q6_k::unpack_q6_k;
use edge_formats::blocks::QK_K;
use edge_formats::blocks::{BlockQ2_K, BlockQ3_K, BlockQ4_K, BlockQ5_K, BlockQ6_K, BlockQ8_K};

/// The generic Q2_K entries of the kernel table.
pub const Q2_K: TypeKernels<BlockQ2_K, BlockQ8_K> = TypeKernels::new(dot_q2_k_q8_k, matvec_q2_k);
/// The generic Q3_K entries of the kernel table.
pub const Q3_K: TypeKernels<BlockQ3_K, BlockQ8_K> = TypeKernels::new(dot_q3_k_q8_k, matvec_q3_k);
/// The generic Q4_K entries of the kernel table.
pub const Q4_K: TypeKernels<BlockQ4_K, BlockQ8_K> = TypeKernels::new(dot_q4_k_q8_k, matvec_q4_k);
/// The generic Q5_K entries of the kernel table.
pub const Q5_K: TypeKernels<BlockQ5_K, BlockQ8_K> = TypeKernels::new(dot_q5_k_q8_k, matvec_q5_k);
/// The generic Q6_K entries of the kernel table.
pub const Q6_K: TypeKernels<BlockQ6_K, BlockQ8_K> = TypeKernels::new(dot_q6_k_q8_k, matvec_q6_k);

/// Lanes of ggml's generic K-quant accumulation.
const LANES: usize = 8;

/// q (256, signed) . y (256) with `scale(e)` on element e, as ggml's eight i32 lanes.
#[inline(always)]
fn lane_sums(q: &[i8; QK_K], y: &[i8; QK_K], scale: impl Fn(usize) -> i32) -> [i32; LANES] {
    let mut lanes = [0i32; LANES];
    for (e, (&a, &b)) in q.iter().zip(y).enumerate() {
        lanes[e % LANES] += scale(e) * i32::from(a) * i32::from(b);
    }
    lanes
}

/// The eight f32 running sums: sums[l] += d * lanes[l].
#[inline(always)]
fn scale_lanes(sums: &mut [f32; LANES], d: f32, lanes: &[i32; LANES]) {
    for (s, &l) in sums.iter_mut().zip(lanes) {
        *s += d * l as f32;
    }
}

/// sumf + sums[0] + ... + sums[7], left to right.
#[inline(always)]
fn finish(sumf: f32, sums: &[f32; LANES]) -> f32 {
    sums.iter().fold(sumf, |acc, &s| acc + s)
}

/// sum_j bsums[j] * mins[j / 2]: what the sub-block minimums take from a Q4_K/Q5_K dot.
#[inline(always)]
fn min_sum(bsums: &[i16; QK_K / 16], mins: &[u8; 8]) -> i32 {
    bsums
        .iter()
        .enumerate()
        .map(|(j, &s)| i32::from(s) * i32::from(mins[j / 2]))
        .sum()
}

/// The eight 6-bit (scale, min) pairs of a Q4_K/Q5_K block.
#[inline(always)]
fn scales_mins(packed: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    let pairs: [(u8, u8); 8] = std::array::from_fn(|j| scale_min_k4(j, packed));
    (pairs.map(|p| p.0), pairs.map(|p| p.1))
}

/// w (nb) . x (nb) -> f32. ggml_vec_dot_q2_K_q8_K (generic): per super-block
/// sumf += (d_x d_w) * isum - (d_x dmin_w) * summs, isum = sum over the 16 sub-blocks of
/// sc * sum(q y), summs = sum of bsums * m.
pub fn dot_q2_k_q8_k(w: &[BlockQ2_K], x: &[BlockQ8_K]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let q = unpack_2bit(&a.qs);
        let summs: i32 = b
            .bsums
            .iter()
            .zip(&a.scales)
            .map(|(&s, &sc)| i32::from(s) * i32::from(sc >> 4))
            .sum();
        let mut isum = 0i32;
        for (j, (qs, ys)) in q.chunks_exact(16).zip(b.qs.chunks_exact(16)).enumerate() {
            let part: i32 = qs
                .iter()
                .zip(ys)
                .map(|(&v, &y)| i32::from(v) * i32::from(y))
                .sum();
            isum += i32::from(a.scales[j] & 0xf) * part;
        }
        let dall = b.d * a.d.to_f32();
        let dmin = b.d * a.dmin.to_f32();
        sumf += dall * isum as f32 - dmin * summs as f32;
    }
    sumf
}

/// w (nb) . x (nb) -> f32. ggml_vec_dot_q3_K_q8_K (generic): q - 4 where the high bit is
/// clear, scales sc - 32 per 16, eight lanes.
pub fn dot_q3_k_q8_k(w: &[BlockQ3_K], x: &[BlockQ8_K]) -> f32 {
    let mut sums = [0.0f32; LANES];
    for (a, b) in w.iter().zip(x) {
        let low = unpack_2bit(&a.qs);
        let q: [i8; QK_K] = std::array::from_fn(|e| {
            let high = (a.hmask[e % 32] >> (e / 32)) & 1;
            low[e] as i8 - if high != 0 { 0 } else { 4 }
        });
        let scales = unpack_q3_scales(&a.scales);
        let lanes = lane_sums(&q, &b.qs, |e| i32::from(scales[e / 16]) - 32);
        scale_lanes(&mut sums, a.d.to_f32() * b.d, &lanes);
    }
    finish(0.0, &sums)
}

/// w (nb) . x (nb) -> f32. ggml_vec_dot_q4_K_q8_K (generic): eight lanes of sc * q * y,
/// minus (dmin_w d_x) * sum(bsums * m) per super-block in a separate running sum.
pub fn dot_q4_k_q8_k(w: &[BlockQ4_K], x: &[BlockQ8_K]) -> f32 {
    let mut sums = [0.0f32; LANES];
    let mut sumf = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let q = unpack_4bit_k(&a.qs).map(|v| v as i8);
        let (scales, mins) = scales_mins(&a.scales);
        let summ = min_sum(&b.bsums, &mins);
        let lanes = lane_sums(&q, &b.qs, |e| i32::from(scales[e / 32]));
        scale_lanes(&mut sums, a.d.to_f32() * b.d, &lanes);
        sumf -= (a.dmin.to_f32() * b.d) * summ as f32;
    }
    finish(sumf, &sums)
}

/// w (nb) . x (nb) -> f32. ggml_vec_dot_q5_K_q8_K (generic): as Q4_K with the fifth bit.
pub fn dot_q5_k_q8_k(w: &[BlockQ5_K], x: &[BlockQ8_K]) -> f32 {
    let mut sums = [0.0f32; LANES];
    let mut sumf = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let low = unpack_4bit_k(&a.qs);
        let q: [i8; QK_K] =
            std::array::from_fn(|e| (low[e] | (((a.qh[e % 32] >> (e / 32)) & 1) << 4)) as i8);
        let (scales, mins) = scales_mins(&a.scales);
        let summ = min_sum(&b.bsums, &mins);
        let lanes = lane_sums(&q, &b.qs, |e| i32::from(scales[e / 32]));
        scale_lanes(&mut sums, a.d.to_f32() * b.d, &lanes);
        sumf -= (a.dmin.to_f32() * b.d) * summ as f32;
    }
    finish(sumf, &sums)
}

/// w (nb) . x (nb) -> f32. ggml_vec_dot_q6_K_q8_K (generic): (q - 32) with signed scales
/// per 16, eight lanes.
pub fn dot_q6_k_q8_k(w: &[BlockQ6_K], x: &[BlockQ8_K]) -> f32 {
    let mut sums = [0.0f32; LANES];
    for (a, b) in w.iter().zip(x) {
        let q = unpack_q6_k(&a.ql, &a.qh).map(|v| v as i8 - 32);
        let lanes = lane_sums(&q, &b.qs, |e| i32::from(a.scales[e / 16]));
        scale_lanes(&mut sums, a.d.to_f32() * b.d, &lanes);
    }
    finish(0.0, &sums)
}

// w (rows, nb) @ x (nb) -> out (rows).
pub fn matvec_q2_k(out: &mut [f32], w: &[BlockQ2_K], row_len: usize, x: &[BlockQ8_K]) {
    rows_by(out, w, row_len, x, dot_q2_k_q8_k)
}
pub fn matvec_q3_k(out: &mut [f32], w: &[BlockQ3_K], row_len: usize, x: &[BlockQ8_K]) {
    rows_by(out, w, row_len, x, dot_q3_k_q8_k)
}
pub fn matvec_q4_k(out: &mut [f32], w: &[BlockQ4_K], row_len: usize, x: &[BlockQ8_K]) {
    rows_by(out, w, row_len, x, dot_q4_k_q8_k)
}
pub fn matvec_q5_k(out: &mut [f32], w: &[BlockQ5_K], row_len: usize, x: &[BlockQ8_K]) {
    rows_by(out, w, row_len, x, dot_q5_k_q8_k)
}
pub fn matvec_q6_k(out: &mut [f32], w: &[BlockQ6_K], row_len: usize, x: &[BlockQ8_K]) {
    rows_by(out, w, row_len, x, dot_q6_k_q8_k)
}
