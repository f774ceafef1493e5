//! Prompt gemms for the K-quants Q2_K ... Q6_K, shared by the NEON and dotprod tables like
//! their dots (`k_quants::k_quant_dots`): a pass takes one row and a group of tokens, unpacks
//! each sub-block of the row's super-block (its bits, scales and minimums) once and
//! accumulates it into every token's lanes with the table's own `$acc16` / `$acc32`. Per
//! token the lanes, their f32 scaling and the final sum are the dot's, step for step, so each
//! output is the bits of the table's dot (the `GemmFn` contract; the NEON and dotprod dots
//! differ, and so do their gemms).

use crate::kernels::dispatch::MatvecFn;
use crate::kernels::generic::gemm_rows_or_matvecs;

/// w (rows, row_len) @ xs[t] (row_len) -> out[t] (rows) for every token, rows =
/// min(w.len() / row_len, every out[t].len()): per row, passes of T tokens (`pass`), the
/// remainder one token at a time (`single`). A batch with an x shorter than row_len (a
/// shorter dot) runs `matvec` token by token.
#[inline(always)]
pub(in crate::kernels::arm) fn gemm_by_token_groups<W, X, const T: usize>(
    out: &mut [&mut [f32]],
    w: &[W],
    row_len: usize,
    xs: &[&[X]],
    matvec: MatvecFn<W, X>,
    pass: impl Fn(&[W], [&[X]; T]) -> [f32; T],
    single: impl Fn(&[W], [&[X]; 1]) -> [f32; 1],
) {
    let n_tokens = out.len().min(xs.len());
    let (out, xs) = (&mut out[..n_tokens], &xs[..n_tokens]);
    let Some(rows) = gemm_rows_or_matvecs(out, w, row_len, xs, matvec) else {
        return;
    };
    let whole = n_tokens - n_tokens % T;
    for (r, row) in w.chunks_exact(row_len).take(rows).enumerate() {
        for t0 in (0..whole).step_by(T) {
            let x: [&[X]; T] = std::array::from_fn(|i| &xs[t0 + i][..row_len]);
            for (o, v) in out[t0..t0 + T].iter_mut().zip(pass(row, x)) {
                o[r] = v;
            }
        }
        for t in whole..n_tokens {
            out[t][r] = single(row, [&xs[t][..row_len]])[0];
        }
    }
}

/// One K-quant gemm entry (`GemmFn`): `gemm_by_token_groups` over `$pass` with `$tokens`
/// tokens a pass, `$matvec` for a batch with a short token.
macro_rules! k_gemm_entry {
    ($features:literal, $gemm:ident, $pass:ident, $matvec:ident, $block:ident, $tokens:literal) => {
        #[target_feature(enable = $features)]
        fn $gemm(
            out: &mut [&mut [f32]],
            w: &[edge_formats::blocks::$block],
            row_len: usize,
            xs: &[&[edge_formats::blocks::BlockQ8_K]],
        ) {
            use $crate::kernels::arm::neon::k_gemm::gemm_by_token_groups;
            gemm_by_token_groups::<_, _, $tokens>(
                out,
                w,
                row_len,
                xs,
                $matvec,
                |row, x| $pass(row, x),
                |row, x| $pass(row, x),
            )
        }
    };
}
pub(in crate::kernels::arm) use k_gemm_entry;

/// The K-quant gemms (`GemmFn`) of a table whose dots `k_quant_dots` made with the same
/// `$acc16` / `$acc32`: each pass is the dot's loop with the tokens innermost, `$t*` tokens a
/// pass (each token holds its i32 lanes and, but for Q2_K, its f32 running sums: more tokens
/// share each unpacking, too many spill registers; chosen per table by instruction counts).
macro_rules! k_quant_gemms {
    ($features:literal, $acc16:ident, $acc32:ident,
     q2_k: $pass2:ident, $gemm2:ident, $matvec2:ident, $t2:literal,
     q3_k: $pass3:ident, $gemm3:ident, $matvec3:ident, $t3:literal,
     q4_k: $pass4:ident, $gemm4:ident, $matvec4:ident, $t4:literal,
     q5_k: $pass5:ident, $gemm5:ident, $matvec5:ident, $t5:literal,
     q6_k: $pass6:ident, $gemm6:ident, $matvec6:ident, $t6:literal) => {
        // Q2_K row (nb) . T tokens (nb) -> T f32: the Q2_K dot per token.
        #[inline]
        #[target_feature(enable = $features)]
        fn $pass2<const T: usize>(
            w: &[edge_formats::blocks::BlockQ2_K],
            xs: [&[edge_formats::blocks::BlockQ8_K]; T],
        ) -> [f32; T] {
            use std::arch::aarch64::*;
            use $crate::kernels::arm::neon::k_quants as kq;
            let mut sumf = [0.0f32; T];
            for (i, a) in w.iter().enumerate() {
                let b: [&edge_formats::blocks::BlockQ8_K; T] = std::array::from_fn(|t| &xs[t][i]);
                let mut lanes = [kq::Lanes::zero(); T];
                for half in 0..2 {
                    let bits = [
                        kq::load16(&a.qs, 32 * half),
                        kq::load16(&a.qs, 32 * half + 16),
                    ];
                    for k in 0..4 {
                        for (j, &v) in bits.iter().enumerate() {
                            let sub = 8 * half + 2 * k + j;
                            let q = vreinterpretq_s8_u8(kq::two_bits(v, k));
                            let scale = i16::from(a.scales[sub] & 0xF);
                            for (l, b) in lanes.iter_mut().zip(&b) {
                                *l = $acc16(*l, q, kq::load_y(b, 16 * sub), scale);
                            }
                        }
                    }
                }
                let (d, dmin) = (kq::f16_to_f32(a.d), kq::f16_to_f32(a.dmin));
                for t in 0..T {
                    let summs = kq::min_sum_q2_k(&a.scales, &b[t].bsums);
                    let (dall, dmin) = (b[t].d * d, b[t].d * dmin);
                    sumf[t] += dall * lanes[t].total() as f32 - dmin * summs as f32;
                }
            }
            sumf
        }

        // Q3_K row (nb) . T tokens (nb) -> T f32: the Q3_K dot per token.
        #[inline]
        #[target_feature(enable = $features)]
        fn $pass3<const T: usize>(
            w: &[edge_formats::blocks::BlockQ3_K],
            xs: [&[edge_formats::blocks::BlockQ8_K]; T],
        ) -> [f32; T] {
            use std::arch::aarch64::*;
            use $crate::kernels::arm::neon::k_quants as kq;
            let mut sums = [[vdupq_n_f32(0.0); 2]; T];
            for (j, a) in w.iter().enumerate() {
                let b: [&edge_formats::blocks::BlockQ8_K; T] = std::array::from_fn(|t| &xs[t][j]);
                let scales = edge_formats::blocks::q3_k::unpack_q3_scales(&a.scales);
                let high = [kq::load16(&a.hmask, 0), kq::load16(&a.hmask, 16)];
                let mut lanes = [kq::Lanes::zero(); T];
                for half in 0..2 {
                    let bits = [
                        kq::load16(&a.qs, 32 * half),
                        kq::load16(&a.qs, 32 * half + 16),
                    ];
                    for k in 0..4 {
                        for i in 0..2 {
                            let sub = 8 * half + 2 * k + i;
                            let four_if_clear =
                                vbicq_u8(vdupq_n_u8(4), kq::bit_set(high[i], 4 * half + k));
                            let q = vsubq_s8(
                                vreinterpretq_s8_u8(kq::two_bits(bits[i], k)),
                                vreinterpretq_s8_u8(four_if_clear),
                            );
                            let scale = i16::from(scales[sub]) - 32;
                            for (l, b) in lanes.iter_mut().zip(&b) {
                                *l = $acc16(*l, q, kq::load_y(b, 16 * sub), scale);
                            }
                        }
                    }
                }
                let d = kq::f16_to_f32(a.d);
                for t in 0..T {
                    kq::scale_lanes(&mut sums[t], d * b[t].d, lanes[t]);
                }
            }
            std::array::from_fn(|t| kq::finish(0.0, &sums[t]))
        }

        // Q4_K row (nb) . T tokens (nb) -> T f32: the Q4_K dot per token.
        #[inline]
        #[target_feature(enable = $features)]
        fn $pass4<const T: usize>(
            w: &[edge_formats::blocks::BlockQ4_K],
            xs: [&[edge_formats::blocks::BlockQ8_K]; T],
        ) -> [f32; T] {
            use std::arch::aarch64::*;
            use $crate::kernels::arm::neon::k_quants as kq;
            let mut sums = [[vdupq_n_f32(0.0); 2]; T];
            let mut sumf = [0.0f32; T];
            for (i, a) in w.iter().enumerate() {
                let b: [&edge_formats::blocks::BlockQ8_K; T] = std::array::from_fn(|t| &xs[t][i]);
                let (scales, mins) = kq::scales_mins_k4(&a.scales);
                let mut lanes = [kq::Lanes::zero(); T];
                for c in 0..4 {
                    let bits = [kq::load16(&a.qs, 32 * c), kq::load16(&a.qs, 32 * c + 16)];
                    for k in 0..2 {
                        let sub = 2 * c + k;
                        let q = bits.map(|v| vreinterpretq_s8_u8(kq::nibbles(v, k)));
                        for (l, b) in lanes.iter_mut().zip(&b) {
                            let y = [kq::load_y(b, 32 * sub), kq::load_y(b, 32 * sub + 16)];
                            *l = $acc32(*l, q, y, i16::from(scales[sub]));
                        }
                    }
                }
                let (d, dmin) = (kq::f16_to_f32(a.d), kq::f16_to_f32(a.dmin));
                for t in 0..T {
                    let summ = kq::min_sum_k4(&b[t].bsums, &mins);
                    kq::scale_lanes(&mut sums[t], d * b[t].d, lanes[t]);
                    sumf[t] -= (dmin * b[t].d) * summ as f32;
                }
            }
            std::array::from_fn(|t| kq::finish(sumf[t], &sums[t]))
        }

        // Q5_K row (nb) . T tokens (nb) -> T f32: the Q5_K dot per token (Q4_K's pass with
        // the fifth bit).
        #[inline]
        #[target_feature(enable = $features)]
        fn $pass5<const T: usize>(
            w: &[edge_formats::blocks::BlockQ5_K],
            xs: [&[edge_formats::blocks::BlockQ8_K]; T],
        ) -> [f32; T] {
            use std::arch::aarch64::*;
            use $crate::kernels::arm::neon::k_quants as kq;
            let mut sums = [[vdupq_n_f32(0.0); 2]; T];
            let mut sumf = [0.0f32; T];
            for (i, a) in w.iter().enumerate() {
                let b: [&edge_formats::blocks::BlockQ8_K; T] = std::array::from_fn(|t| &xs[t][i]);
                let (scales, mins) = kq::scales_mins_k4(&a.scales);
                let high = [kq::load16(&a.qh, 0), kq::load16(&a.qh, 16)];
                let mut lanes = [kq::Lanes::zero(); T];
                for c in 0..4 {
                    let bits = [kq::load16(&a.qs, 32 * c), kq::load16(&a.qs, 32 * c + 16)];
                    for k in 0..2 {
                        let sub = 2 * c + k;
                        let q: [int8x16_t; 2] = std::array::from_fn(|h| {
                            let fifth = vandq_u8(kq::bit_set(high[h], sub), vdupq_n_u8(0x10));
                            vreinterpretq_s8_u8(vorrq_u8(kq::nibbles(bits[h], k), fifth))
                        });
                        for (l, b) in lanes.iter_mut().zip(&b) {
                            let y = [kq::load_y(b, 32 * sub), kq::load_y(b, 32 * sub + 16)];
                            *l = $acc32(*l, q, y, i16::from(scales[sub]));
                        }
                    }
                }
                let (d, dmin) = (kq::f16_to_f32(a.d), kq::f16_to_f32(a.dmin));
                for t in 0..T {
                    let summ = kq::min_sum_k4(&b[t].bsums, &mins);
                    kq::scale_lanes(&mut sums[t], d * b[t].d, lanes[t]);
                    sumf[t] -= (dmin * b[t].d) * summ as f32;
                }
            }
            std::array::from_fn(|t| kq::finish(sumf[t], &sums[t]))
        }

        // Q6_K row (nb) . T tokens (nb) -> T f32: the Q6_K dot per token.
        #[inline]
        #[target_feature(enable = $features)]
        fn $pass6<const T: usize>(
            w: &[edge_formats::blocks::BlockQ6_K],
            xs: [&[edge_formats::blocks::BlockQ8_K]; T],
        ) -> [f32; T] {
            use std::arch::aarch64::*;
            use $crate::kernels::arm::neon::k_quants as kq;
            let mut sums = [[vdupq_n_f32(0.0); 2]; T];
            let m32 = vdupq_n_s8(32);
            for (j, a) in w.iter().enumerate() {
                let b: [&edge_formats::blocks::BlockQ8_K; T] = std::array::from_fn(|t| &xs[t][j]);
                let mut lanes = [kq::Lanes::zero(); T];
                for half in 0..2 {
                    let low: [uint8x16_t; 4] =
                        std::array::from_fn(|i| kq::load16(&a.ql, 64 * half + 16 * i));
                    let high = [
                        kq::load16(&a.qh, 32 * half),
                        kq::load16(&a.qh, 32 * half + 16),
                    ];
                    for k in 0..4 {
                        for i in 0..2 {
                            let sub = 8 * half + 2 * k + i;
                            let top = vshlq_n_u8::<4>(kq::two_bits(high[i], k));
                            let q6 = vorrq_u8(kq::nibbles(low[2 * (k % 2) + i], k / 2), top);
                            let q = vsubq_s8(vreinterpretq_s8_u8(q6), m32);
                            let scale = i16::from(a.scales[sub]);
                            for (l, b) in lanes.iter_mut().zip(&b) {
                                *l = $acc16(*l, q, kq::load_y(b, 16 * sub), scale);
                            }
                        }
                    }
                }
                let d = kq::f16_to_f32(a.d);
                for t in 0..T {
                    kq::scale_lanes(&mut sums[t], d * b[t].d, lanes[t]);
                }
            }
            std::array::from_fn(|t| kq::finish(0.0, &sums[t]))
        }

        $crate::kernels::arm::neon::k_gemm::k_gemm_entry!(
            $features, $gemm2, $pass2, $matvec2, BlockQ2_K, $t2
        );
        $crate::kernels::arm::neon::k_gemm::k_gemm_entry!(
            $features, $gemm3, $pass3, $matvec3, BlockQ3_K, $t3
        );
        $crate::kernels::arm::neon::k_gemm::k_gemm_entry!(
            $features, $gemm4, $pass4, $matvec4, BlockQ4_K, $t4
        );
        $crate::kernels::arm::neon::k_gemm::k_gemm_entry!(
            $features, $gemm5, $pass5, $matvec5, BlockQ5_K, $t5
        );
        $crate::kernels::arm::neon::k_gemm::k_gemm_entry!(
            $features, $gemm6, $pass6, $matvec6, BlockQ6_K, $t6
        );
    };
}
pub(in crate::kernels::arm) use k_quant_gemms;
