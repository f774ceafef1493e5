//! The K-quants Q2_K ... Q6_K against Q8_K activations (ggml_vec_dot_q*_K_q8_K, NEON path).
//!
//! A super-block is unpacked 16 values at a time into signed i8 weights (the offsets of
//! Q3_K and Q6_K folded in) and multiplied with the activation into eight exact i32 lanes
//! ([`Lanes`]), each sub-block's products times its scale. The NEON accumulation widens
//! 8-byte halves (`vmull_s8`), so lane l holds the elements e with e % 8 == l: the lanes of
//! the generic kernels, scaled into eight f32 running sums in the generic order. The NEON
//! dots are therefore bit-identical to `generic`. The dotprod table runs the same code with
//! SDOT accumulation (`dotprod::k_quants`), whose lanes group other elements: bit-identical
//! for Q2_K (one integer sum per super-block), otherwise within f32 accumulation rounding.

use crate::kernels::isa_glue::{row_loop, safe_entry};
use crate::kernels::TypeKernels;
use edge_formats::blocks::{BlockQ2_K, BlockQ3_K, BlockQ4_K, BlockQ5_K, BlockQ6_K, BlockQ8_K};
use std::arch::aarch64::*;

/// The NEON Q2_K entries.
pub(super) const Q2_K: TypeKernels<BlockQ2_K, BlockQ8_K> =
    TypeKernels::new(dot_q2_k_q8_k, matvec_q2_k).with_gemm(gemm_q2_k);
/// The NEON Q3_K entries.
pub(super) const Q3_K: TypeKernels<BlockQ3_K, BlockQ8_K> =
    TypeKernels::new(dot_q3_k_q8_k, matvec_q3_k).with_gemm(gemm_q3_k);
/// The NEON Q4_K entries.
pub(super) const Q4_K: TypeKernels<BlockQ4_K, BlockQ8_K> =
    TypeKernels::new(dot_q4_k_q8_k, matvec_q4_k).with_gemm(gemm_q4_k);
/// The NEON Q5_K entries.
pub(super) const Q5_K: TypeKernels<BlockQ5_K, BlockQ8_K> =
    TypeKernels::new(dot_q5_k_q8_k, matvec_q5_k).with_gemm(gemm_q5_k);
/// The NEON Q6_K entries.
pub(super) const Q6_K: TypeKernels<BlockQ6_K, BlockQ8_K> =
    TypeKernels::new(dot_q6_k_q8_k, matvec_q6_k).with_gemm(gemm_q6_k);

safe_entry! {
    fn dot_q2_k_q8_k(w: &[BlockQ2_K], x: &[BlockQ8_K]) -> f32 => dot_q2_k_neon;
    fn dot_q3_k_q8_k(w: &[BlockQ3_K], x: &[BlockQ8_K]) -> f32 => dot_q3_k_neon;
    fn dot_q4_k_q8_k(w: &[BlockQ4_K], x: &[BlockQ8_K]) -> f32 => dot_q4_k_neon;
    fn dot_q5_k_q8_k(w: &[BlockQ5_K], x: &[BlockQ8_K]) -> f32 => dot_q5_k_neon;
    fn dot_q6_k_q8_k(w: &[BlockQ6_K], x: &[BlockQ8_K]) -> f32 => dot_q6_k_neon;
    fn gemm_q2_k(out: &mut [&mut [f32]], w: &[BlockQ2_K], row_len: usize, xs: &[&[BlockQ8_K]]) => gemm_q2_k_neon;
    fn gemm_q3_k(out: &mut [&mut [f32]], w: &[BlockQ3_K], row_len: usize, xs: &[&[BlockQ8_K]]) => gemm_q3_k_neon;
    fn gemm_q4_k(out: &mut [&mut [f32]], w: &[BlockQ4_K], row_len: usize, xs: &[&[BlockQ8_K]]) => gemm_q4_k_neon;
    fn gemm_q5_k(out: &mut [&mut [f32]], w: &[BlockQ5_K], row_len: usize, xs: &[&[BlockQ8_K]]) => gemm_q5_k_neon;
    fn gemm_q6_k(out: &mut [&mut [f32]], w: &[BlockQ6_K], row_len: usize, xs: &[&[BlockQ8_K]]) => gemm_q6_k_neon;
    fn matvec_q2_k(out: &mut [f32], w: &[BlockQ2_K], row_len: usize, x: &[BlockQ8_K]) => matvec_q2_k_neon;
    fn matvec_q3_k(out: &mut [f32], w: &[BlockQ3_K], row_len: usize, x: &[BlockQ8_K]) => matvec_q3_k_neon;
    fn matvec_q4_k(out: &mut [f32], w: &[BlockQ4_K], row_len: usize, x: &[BlockQ8_K]) => matvec_q4_k_neon;
    fn matvec_q5_k(out: &mut [f32], w: &[BlockQ5_K], row_len: usize, x: &[BlockQ8_K]) => matvec_q5_k_neon;
    fn matvec_q6_k(out: &mut [f32], w: &[BlockQ6_K], row_len: usize, x: &[BlockQ8_K]) => matvec_q6_k_neon;
}

row_loop!(
    matvec_q2_k_neon,
    BlockQ2_K,
    BlockQ8_K,
    dot_q2_k_neon,
    "neon"
);
row_loop!(
    matvec_q3_k_neon,
    BlockQ3_K,
    BlockQ8_K,
    dot_q3_k_neon,
    "neon"
);
row_loop!(
    matvec_q4_k_neon,
    BlockQ4_K,
    BlockQ8_K,
    dot_q4_k_neon,
    "neon"
);
row_loop!(
    matvec_q5_k_neon,
    BlockQ5_K,
    BlockQ8_K,
    dot_q5_k_neon,
    "neon"
);
row_loop!(
    matvec_q6_k_neon,
    BlockQ6_K,
    BlockQ8_K,
    dot_q6_k_neon,
    "neon"
);

/// Eight exact i32 lanes of one super-block's scaled products (lanes 0..4, lanes 4..8).
#[derive(Clone, Copy)]
pub(in crate::kernels::arm) struct Lanes(pub int32x4_t, pub int32x4_t);

impl Lanes {
    #[inline]
    #[target_feature(enable = "neon")]
    pub(in crate::kernels::arm) fn zero() -> Lanes {
        Lanes(vdupq_n_s32(0), vdupq_n_s32(0))
    }

    /// The exact sum of the eight lanes.
    #[inline]
    #[target_feature(enable = "neon")]
    pub(in crate::kernels::arm) fn total(self) -> i32 {
        vaddvq_s32(vaddq_s32(self.0, self.1))
    }
}

/// acc + scale * (q . y) over 16 values, lane l gaining the elements e % 8 == l.
/// |q| <= 32, |y| <= 127, |scale| <= 128: each i16 pair sum fits.
#[inline]
#[target_feature(enable = "neon")]
fn mul_acc16(acc: Lanes, q: int8x16_t, y: int8x16_t, scale: i16) -> Lanes {
    let p = vmlal_high_s8(vmull_s8(vget_low_s8(q), vget_low_s8(y)), q, y);
    Lanes(
        vmlal_n_s16(acc.0, vget_low_s16(p), scale),
        vmlal_high_n_s16(acc.1, p, scale),
    )
}

/// acc + scale * (q . y) over 32 values (one scale), lanes as [`mul_acc16`].
/// 0 <= q <= 31, |y| <= 127: four products per i16 lane fit.
#[inline]
#[target_feature(enable = "neon")]
fn mul_acc32(acc: Lanes, q: [int8x16_t; 2], y: [int8x16_t; 2], scale: i16) -> Lanes {
    let p = vmlal_high_s8(vmull_s8(vget_low_s8(q[0]), vget_low_s8(y[0])), q[0], y[0]);
    let p = vmlal_high_s8(
        vmlal_s8(p, vget_low_s8(q[1]), vget_low_s8(y[1])),
        q[1],
        y[1],
    );
    Lanes(
        vmlal_n_s16(acc.0, vget_low_s16(p), scale),
        vmlal_high_n_s16(acc.1, p, scale),
    )
}

pub(in crate::kernels::arm) use crate::kernels::arm::f16::f16_to_f32;

/// Bytes at..at + 16 of `bytes` (a fixed part of a block: the range is always inside).
#[inline]
#[target_feature(enable = "neon")]
pub(in crate::kernels::arm) fn load16(bytes: &[u8], at: usize) -> uint8x16_t {
    let chunk = &bytes[at..at + 16];
    // SAFETY: chunk has exactly 16 bytes.
    unsafe { vld1q_u8(chunk.as_ptr()) }
}

/// Activation values at..at + 16 of a Q8_K block.
#[inline]
#[target_feature(enable = "neon")]
pub(in crate::kernels::arm) fn load_y(b: &BlockQ8_K, at: usize) -> int8x16_t {
    vreinterpretq_s8_u8(load16(bytemuck::cast_slice(&b.qs), at))
}

/// Bits 2k..2k+2 of each byte.
#[inline]
#[target_feature(enable = "neon")]
pub(in crate::kernels::arm) fn two_bits(v: uint8x16_t, k: usize) -> uint8x16_t {
    let shifted = match k {
        0 => v,
        1 => vshrq_n_u8::<2>(v),
        2 => vshrq_n_u8::<4>(v),
        _ => vshrq_n_u8::<6>(v),
    };
    vandq_u8(shifted, vdupq_n_u8(3))
}

/// Low (k = 0) or high (k = 1) nibble of each byte.
#[inline]
#[target_feature(enable = "neon")]
pub(in crate::kernels::arm) fn nibbles(v: uint8x16_t, k: usize) -> uint8x16_t {
    if k == 0 {
        vandq_u8(v, vdupq_n_u8(0x0F))
    } else {
        vshrq_n_u8::<4>(v)
    }
}

/// 0xFF where bit `b` (0..8) of the byte is set, else 0.
#[inline]
#[target_feature(enable = "neon")]
pub(in crate::kernels::arm) fn bit_set(v: uint8x16_t, b: usize) -> uint8x16_t {
    vtstq_u8(v, vdupq_n_u8(1 << b))
}

/// The eight f32 running sums: sums[l] += d * lanes[l] (multiply, then add: the generic
/// kernels' two roundings).
#[inline]
#[target_feature(enable = "neon")]
pub(in crate::kernels::arm) fn scale_lanes(sums: &mut [float32x4_t; 2], d: f32, lanes: Lanes) {
    sums[0] = vaddq_f32(sums[0], vmulq_n_f32(vcvtq_f32_s32(lanes.0), d));
    sums[1] = vaddq_f32(sums[1], vmulq_n_f32(vcvtq_f32_s32(lanes.1), d));
}

/// sumf + sums[0] + ... + sums[7], left to right (generic `finish`).
#[inline]
#[target_feature(enable = "neon")]
pub(in crate::kernels::arm) fn finish(sumf: f32, sums: &[float32x4_t; 2]) -> f32 {
    let mut lanes = [0.0f32; 8];
    // SAFETY: lanes has 8 f32: 0..4 and 4..8.
    unsafe {
        vst1q_f32(lanes.as_mut_ptr(), sums[0]);
        vst1q_f32(lanes.as_mut_ptr().add(4), sums[1]);
    }
    lanes.iter().fold(sumf, |acc, &s| acc + s)
}

/// sum_j bsums[j] * (scales[j] >> 4): what Q2_K's 4-bit minimums take from a super-block.
#[inline]
#[target_feature(enable = "neon")]
pub(in crate::kernels::arm) fn min_sum_q2_k(scales: &[u8; 16], bsums: &[i16; 16]) -> i32 {
    // SAFETY: scales has 16 bytes, bsums 16 i16 (0..8 and 8..16).
    let (m, s0, s1) = unsafe {
        (
            vshrq_n_u8::<4>(vld1q_u8(scales.as_ptr())),
            vld1q_s16(bsums.as_ptr()),
            vld1q_s16(bsums.as_ptr().add(8)),
        )
    };
    let m0 = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(m)));
    let m1 = vreinterpretq_s16_u16(vmovl_high_u8(m));
    let p = vmlal_high_s16(vmull_s16(vget_low_s16(m0), vget_low_s16(s0)), m0, s0);
    let p = vmlal_high_s16(vmlal_s16(p, vget_low_s16(m1), vget_low_s16(s1)), m1, s1);
    vaddvq_s32(p)
}

/// The eight 6-bit scales and minimums of a Q4_K/Q5_K block (`scale_min_k4` for all j at
/// once, four bytes per u32): j < 4 in the low 6 bits of bytes 0..4 (scales) and 4..8
/// (minimums); j >= 4 in the nibbles of bytes 8..12 with their top two bits in the top two
/// bits of bytes 0..4 and 4..8.
#[inline(always)]
pub(in crate::kernels::arm) fn scales_mins_k4(packed: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    let word =
        |i: usize| u32::from_le_bytes([packed[i], packed[i + 1], packed[i + 2], packed[i + 3]]);
    let (a, b, c) = (word(0), word(4), word(8));
    let (low6, low4, low2) = (0x3F3F_3F3Fu32, 0x0F0F_0F0Fu32, 0x0303_0303u32);
    let scales_hi = (c & low4) | (((a >> 6) & low2) << 4);
    let mins_hi = ((c >> 4) & low4) | (((b >> 6) & low2) << 4);
    let join = |lo: u32, hi: u32| {
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&lo.to_le_bytes());
        out[4..].copy_from_slice(&hi.to_le_bytes());
        out
    };
    (join(a & low6, scales_hi), join(b & low6, mins_hi))
}

/// sum_j bsums[j] * mins[j / 2]: what the Q4_K/Q5_K minimums take from a super-block.
#[inline]
#[target_feature(enable = "neon")]
pub(in crate::kernels::arm) fn min_sum_k4(bsums: &[i16; 16], mins: &[u8; 8]) -> i32 {
    // SAFETY: bsums has 16 i16 (0..8 and 8..16), mins 8 bytes.
    let (s0, s1, m) = unsafe {
        (
            vld1q_s16(bsums.as_ptr()),
            vld1q_s16(bsums.as_ptr().add(8)),
            vld1_u8(mins.as_ptr()),
        )
    };
    // The sums of 32 (pairs of sums of 16, |.| <= 32 * 127: fits i16), one per minimum.
    let sums32 = vpaddq_s16(s0, s1);
    let m = vreinterpretq_s16_u16(vmovl_u8(m));
    let p = vmlal_high_s16(vmull_s16(vget_low_s16(sums32), vget_low_s16(m)), sums32, m);
    vaddvq_s32(p)
}

/// The K-quant dots, w (nb) . x (nb) -> f32, with `$acc16` / `$acc32` accumulating a
/// sub-block of 16 / 32 values into [`Lanes`]. Shared by the NEON and dotprod tables, which
/// differ in those two.
macro_rules! k_quant_dots {
    ($features:literal, $acc16:ident, $acc32:ident,
     $q2:ident, $q3:ident, $q4:ident, $q5:ident, $q6:ident) => {
        // ggml_vec_dot_q2_K_q8_K: per super-block sumf += dall * isum - dmin * summs.
        #[target_feature(enable = $features)]
        fn $q2(
            w: &[edge_formats::blocks::BlockQ2_K],
            x: &[edge_formats::blocks::BlockQ8_K],
        ) -> f32 {
            use std::arch::aarch64::*;
            use $crate::kernels::arm::neon::k_quants as kq;
            let mut sumf = 0.0f32;
            for (a, b) in w.iter().zip(x) {
                let summs = kq::min_sum_q2_k(&a.scales, &b.bsums);
                let mut lanes = kq::Lanes::zero();
                for half in 0..2 {
                    let bits = [
                        kq::load16(&a.qs, 32 * half),
                        kq::load16(&a.qs, 32 * half + 16),
                    ];
                    for k in 0..4 {
                        for (i, &v) in bits.iter().enumerate() {
                            let sub = 8 * half + 2 * k + i;
                            let q = vreinterpretq_s8_u8(kq::two_bits(v, k));
                            let y = kq::load_y(b, 16 * sub);
                            lanes = $acc16(lanes, q, y, i16::from(a.scales[sub] & 0xF));
                        }
                    }
                }
                let dall = b.d * kq::f16_to_f32(a.d);
                let dmin = b.d * kq::f16_to_f32(a.dmin);
                sumf += dall * lanes.total() as f32 - dmin * summs as f32;
            }
            sumf
        }

        // ggml_vec_dot_q3_K_q8_K: q - 4 where the high bit is clear, scales sc - 32 per 16.
        #[target_feature(enable = $features)]
        fn $q3(
            w: &[edge_formats::blocks::BlockQ3_K],
            x: &[edge_formats::blocks::BlockQ8_K],
        ) -> f32 {
            use std::arch::aarch64::*;
            use $crate::kernels::arm::neon::k_quants as kq;
            let mut sums = [vdupq_n_f32(0.0); 2];
            for (a, b) in w.iter().zip(x) {
                let scales = edge_formats::blocks::q3_k::unpack_q3_scales(&a.scales);
                let high = [kq::load16(&a.hmask, 0), kq::load16(&a.hmask, 16)];
                let mut lanes = kq::Lanes::zero();
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
                            lanes = $acc16(lanes, q, kq::load_y(b, 16 * sub), scale);
                        }
                    }
                }
                kq::scale_lanes(&mut sums, kq::f16_to_f32(a.d) * b.d, lanes);
            }
            kq::finish(0.0, &sums)
        }

        // ggml_vec_dot_q4_K_q8_K: scale per 32, minus (dmin_w d_x) * sum(bsums * m) in a
        // separate running sum.
        #[target_feature(enable = $features)]
        fn $q4(
            w: &[edge_formats::blocks::BlockQ4_K],
            x: &[edge_formats::blocks::BlockQ8_K],
        ) -> f32 {
            use std::arch::aarch64::*;
            use $crate::kernels::arm::neon::k_quants as kq;
            let mut sums = [vdupq_n_f32(0.0); 2];
            let mut sumf = 0.0f32;
            for (a, b) in w.iter().zip(x) {
                let (scales, mins) = kq::scales_mins_k4(&a.scales);
                let summ = kq::min_sum_k4(&b.bsums, &mins);
                let mut lanes = kq::Lanes::zero();
                for c in 0..4 {
                    let bits = [kq::load16(&a.qs, 32 * c), kq::load16(&a.qs, 32 * c + 16)];
                    for k in 0..2 {
                        let sub = 2 * c + k;
                        let q = bits.map(|v| vreinterpretq_s8_u8(kq::nibbles(v, k)));
                        let y = [kq::load_y(b, 32 * sub), kq::load_y(b, 32 * sub + 16)];
                        lanes = $acc32(lanes, q, y, i16::from(scales[sub]));
                    }
                }
                kq::scale_lanes(&mut sums, kq::f16_to_f32(a.d) * b.d, lanes);
                sumf -= (kq::f16_to_f32(a.dmin) * b.d) * summ as f32;
            }
            kq::finish(sumf, &sums)
        }

        // ggml_vec_dot_q5_K_q8_K: Q4_K with the fifth bit.
        #[target_feature(enable = $features)]
        fn $q5(
            w: &[edge_formats::blocks::BlockQ5_K],
            x: &[edge_formats::blocks::BlockQ8_K],
        ) -> f32 {
            use std::arch::aarch64::*;
            use $crate::kernels::arm::neon::k_quants as kq;
            let mut sums = [vdupq_n_f32(0.0); 2];
            let mut sumf = 0.0f32;
            for (a, b) in w.iter().zip(x) {
                let (scales, mins) = kq::scales_mins_k4(&a.scales);
                let summ = kq::min_sum_k4(&b.bsums, &mins);
                let high = [kq::load16(&a.qh, 0), kq::load16(&a.qh, 16)];
                let mut lanes = kq::Lanes::zero();
                for c in 0..4 {
                    let bits = [kq::load16(&a.qs, 32 * c), kq::load16(&a.qs, 32 * c + 16)];
                    for k in 0..2 {
                        let sub = 2 * c + k;
                        let q: [int8x16_t; 2] = std::array::from_fn(|i| {
                            let fifth = vandq_u8(kq::bit_set(high[i], sub), vdupq_n_u8(0x10));
                            vreinterpretq_s8_u8(vorrq_u8(kq::nibbles(bits[i], k), fifth))
                        });
                        let y = [kq::load_y(b, 32 * sub), kq::load_y(b, 32 * sub + 16)];
                        lanes = $acc32(lanes, q, y, i16::from(scales[sub]));
                    }
                }
                kq::scale_lanes(&mut sums, kq::f16_to_f32(a.d) * b.d, lanes);
                sumf -= (kq::f16_to_f32(a.dmin) * b.d) * summ as f32;
            }
            kq::finish(sumf, &sums)
        }

        // ggml_vec_dot_q6_K_q8_K: (q - 32) with signed scales per 16.
        #[target_feature(enable = $features)]
        fn $q6(
            w: &[edge_formats::blocks::BlockQ6_K],
            x: &[edge_formats::blocks::BlockQ8_K],
        ) -> f32 {
            use std::arch::aarch64::*;
            use $crate::kernels::arm::neon::k_quants as kq;
            let mut sums = [vdupq_n_f32(0.0); 2];
            let m32 = vdupq_n_s8(32);
            for (a, b) in w.iter().zip(x) {
                let mut lanes = kq::Lanes::zero();
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
                            lanes = $acc16(lanes, q, kq::load_y(b, 16 * sub), scale);
                        }
                    }
                }
                kq::scale_lanes(&mut sums, kq::f16_to_f32(a.d) * b.d, lanes);
            }
            kq::finish(0.0, &sums)
        }
    };
}
pub(in crate::kernels::arm) use k_quant_dots;

k_quant_dots!(
    "neon",
    mul_acc16,
    mul_acc32,
    dot_q2_k_neon,
    dot_q3_k_neon,
    dot_q4_k_neon,
    dot_q5_k_neon,
    dot_q6_k_neon
);

// Tokens a pass (SmolLM2 under qemu as a Cortex-A72, M instructions per prompt token, every K
// gemm at 4 -> these): pure-q2_k 39.6 -> 38.8, pure-q3_k 41.7 -> 39.9, q5_k_m 46.4 -> 46.1,
// q4_k_m 39.1 -> 38.8 (Q6_K at 8). Q5_K at 8 instead: no better.
crate::kernels::arm::neon::k_gemm::k_quant_gemms!(
    "neon", mul_acc16, mul_acc32,
    q2_k: pass_q2_k_neon, gemm_q2_k_neon, matvec_q2_k_neon, 8,
    q3_k: pass_q3_k_neon, gemm_q3_k_neon, matvec_q3_k_neon, 8,
    q4_k: pass_q4_k_neon, gemm_q4_k_neon, matvec_q4_k_neon, 4,
    q5_k: pass_q5_k_neon, gemm_q5_k_neon, matvec_q5_k_neon, 4,
    q6_k: pass_q6_k_neon, gemm_q6_k_neon, matvec_q6_k_neon, 8
);
