//! Q5_0 and Q5_1 weights against Q8_0 and Q8_1 activations (ggml_vec_dot_q5_0_q8_0,
//! _q5_1_q8_1, NEON path): each block's 32 five-bit values as i8, reduced to the block's
//! exact i32 sum, then scaled in the generic order: bit-identical to `generic`.

use crate::kernels::isa_glue::{row_loop, safe_entry};
use crate::kernels::TypeKernels;
use edge_formats::blocks::{BlockQ5_0, BlockQ5_1};
use edge_formats::{BlockQ8_0, BlockQ8_1, QK};
use std::arch::aarch64::*;

/// The NEON Q5_0 entries.
pub(super) const Q5_0: TypeKernels<BlockQ5_0, BlockQ8_0> =
    TypeKernels::new(dot_q5_0_q8_0, matvec_q5_0);
/// The NEON Q5_1 entries.
pub(super) const Q5_1: TypeKernels<BlockQ5_1, BlockQ8_1> =
    TypeKernels::new(dot_q5_1_q8_1, matvec_q5_1);

safe_entry! {
    fn dot_q5_0_q8_0(w: &[BlockQ5_0], x: &[BlockQ8_0]) -> f32 => dot_q5_0_q8_0_neon;
    fn dot_q5_1_q8_1(w: &[BlockQ5_1], x: &[BlockQ8_1]) -> f32 => dot_q5_1_q8_1_neon;
    fn matvec_q5_0(out: &mut [f32], w: &[BlockQ5_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q5_0_neon;
    fn matvec_q5_1(out: &mut [f32], w: &[BlockQ5_1], row_len: usize, x: &[BlockQ8_1]) => matvec_q5_1_neon;
}

row_loop!(
    matvec_q5_0_neon,
    BlockQ5_0,
    BlockQ8_0,
    dot_q5_0_q8_0_neon,
    "neon"
);
row_loop!(
    matvec_q5_1_neon,
    BlockQ5_1,
    BlockQ8_1,
    dot_q5_1_q8_1_neon,
    "neon"
);

/// A Q5 block's low four bits (elements 0..16 and 16..32: the nibbles of `qs`) and its fifth
/// bits as masks (0xFF where bit j of the little-endian `qh` is set, for element j).
#[inline]
#[target_feature(enable = "neon")]
pub(in crate::kernels::arm) fn unpack_q5(
    qh: [u8; 4],
    qs: &[u8; QK / 2],
) -> ([uint8x16_t; 2], [uint8x16_t; 2]) {
    // SAFETY: qs has exactly 16 bytes.
    let v = unsafe { vld1q_u8(qs.as_ptr()) };
    let low = [vandq_u8(v, vdupq_n_u8(0x0F)), vshrq_n_u8::<4>(v)];
    // Byte j of the 32 takes byte j / 8 of qh, then tests bit j % 8.
    let qh = vreinterpretq_u8_u32(vdupq_n_u32(u32::from_le_bytes(qh)));
    const SPREAD: [[u8; 16]; 2] = [
        [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1],
        [2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3],
    ];
    const BIT: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
    // SAFETY: each constant has 16 bytes.
    let (spread, bit) = unsafe {
        (
            [vld1q_u8(SPREAD[0].as_ptr()), vld1q_u8(SPREAD[1].as_ptr())],
            vld1q_u8(BIT.as_ptr()),
        )
    };
    let fifth = spread.map(|s| vtstq_u8(vqtbl1q_u8(qh, s), bit));
    (low, fifth)
}

/// A Q8 block's 32 values as two i8x16.
#[inline]
#[target_feature(enable = "neon")]
pub(in crate::kernels::arm) fn load_q8(qs: &[i8; QK]) -> [int8x16_t; 2] {
    // SAFETY: qs has 32 bytes: 0..16 and 16..32.
    unsafe { [vld1q_s8(qs.as_ptr()), vld1q_s8(qs.as_ptr().add(16))] }
}

/// Exact sum of q . y over 32 values (|q| <= 31, |y| <= 127: each i16 pair sum fits).
#[inline]
#[target_feature(enable = "neon")]
fn sum_products32(q: [int8x16_t; 2], y: [int8x16_t; 2]) -> i32 {
    let p0 = vmlal_high_s8(vmull_s8(vget_low_s8(q[0]), vget_low_s8(y[0])), q[0], y[0]);
    let p1 = vmlal_high_s8(vmull_s8(vget_low_s8(q[1]), vget_low_s8(y[1])), q[1], y[1]);
    vaddvq_s32(vpadalq_s16(vpaddlq_s16(p0), p1))
}

/// The Q5 dots, w (nb) . x (nb) -> f32, with `$sum_products` reducing a block to its exact
/// i32 sum. Shared by the NEON and dotprod tables, which differ in `$sum_products`.
macro_rules! q5_dots {
    ($features:literal, $sum_products:ident, $q5_0:ident, $q5_1:ident) => {
        // Per block sumf += (d_w * d_x) * sumi, sumi = sum (q - 16) * y.
        #[target_feature(enable = $features)]
        fn $q5_0(w: &[edge_formats::blocks::BlockQ5_0], x: &[edge_formats::BlockQ8_0]) -> f32 {
            use std::arch::aarch64::*;
            use $crate::kernels::arm::neon::{k_quants::f16_to_f32, q5};
            let sixteen = vdupq_n_u8(16);
            let mut sumf = 0.0f32;
            for (a, b) in w.iter().zip(x) {
                // q - 16 = low - (16 where the fifth bit is clear).
                let (low, fifth) = q5::unpack_q5(a.qh, &a.qs);
                let q: [int8x16_t; 2] = std::array::from_fn(|i| {
                    vreinterpretq_s8_u8(vsubq_u8(low[i], vbicq_u8(sixteen, fifth[i])))
                });
                let sumi = $sum_products(q, q5::load_q8(&b.qs));
                sumf += (f16_to_f32(a.d) * f16_to_f32(b.d)) * sumi as f32;
            }
            sumf
        }

        // Per block sumf += (d_w * d_x) * sumi + m_w * s_x, sumi = sum q * y.
        #[target_feature(enable = $features)]
        fn $q5_1(w: &[edge_formats::blocks::BlockQ5_1], x: &[edge_formats::BlockQ8_1]) -> f32 {
            use std::arch::aarch64::*;
            use $crate::kernels::arm::neon::{k_quants::f16_to_f32, q5};
            let mut sumf = 0.0f32;
            for (a, b) in w.iter().zip(x) {
                let (low, fifth) = q5::unpack_q5(a.qh, &a.qs);
                let q: [int8x16_t; 2] = std::array::from_fn(|i| {
                    vreinterpretq_s8_u8(vorrq_u8(low[i], vandq_u8(fifth[i], vdupq_n_u8(16))))
                });
                let sumi = $sum_products(q, q5::load_q8(&b.qs));
                sumf += (f16_to_f32(a.d) * f16_to_f32(b.d)) * sumi as f32
                    + f16_to_f32(a.m) * f16_to_f32(b.s);
            }
            sumf
        }
    };
}
pub(in crate::kernels::arm) use q5_dots;

q5_dots!(
    "neon",
    sum_products32,
    dot_q5_0_q8_0_neon,
    dot_q5_1_q8_1_neon
);
