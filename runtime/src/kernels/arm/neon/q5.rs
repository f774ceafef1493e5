//! Q5_0 and Q5_1 weights against Q8_0 and Q8_1 activations (ggml_vec_dot_q5_0_q8_0,
//! _q5_1_q8_1): several rows per pass like `q4` (see `neon/mod.rs`), each block of each row
//! reduced to its exact i32 sum, then scaled in the generic order per row lane (no FMA):
//! bit-identical to `generic`.

use super::sum_rows_i16;
use crate::kernels::isa_glue::safe_entry;
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

/// A Q5 block's 32 values minus 16, in [-16, 15], as two i8x16 (elements 0..16: the low
/// nibbles of `qs`, 16..32: the high ones): the nibble, with 0xF0 in its high four bits (as
/// i8: less 16) where the fifth bit (bit j of the little-endian `qh`) is clear.
#[inline]
#[target_feature(enable = "neon")]
pub(in crate::kernels::arm) fn q5_minus_16(
    qh: &[u8; 4],
    qs: &[u8; QK / 2],
) -> (int8x16_t, int8x16_t) {
    // SAFETY: qs has exactly 16 bytes, qh 4 (LD1R and LDR need no alignment).
    let (v, qh) = unsafe {
        (
            vld1q_u8(qs.as_ptr()),
            vld1q_dup_u32(qh.as_ptr() as *const u32),
        )
    };
    q5_minus_16_of(qh, v)
}

/// `q5_minus_16` from registers: `qh` (the 4 bytes of fifth bits in every 32-bit lane, LD1R)
/// and `v` (the 16 bytes of nibbles).
#[inline(always)]
pub(in crate::kernels::arm) fn q5_minus_16_of(
    qh: uint32x4_t,
    v: uint8x16_t,
) -> (int8x16_t, int8x16_t) {
    // SAFETY: baseline NEON (every caller enables it); the constants have 16 bytes each.
    unsafe {
        // The clear bits, so that one CMTST per half gives the mask where 0xF0 goes.
        let clear = vmvnq_u8(vreinterpretq_u8_u32(qh));
        const SPREAD: [[u8; 16]; 2] = [
            [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1],
            [2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3],
        ];
        const BIT: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
        let (spread, bit) = (
            [vld1q_u8(SPREAD[0].as_ptr()), vld1q_u8(SPREAD[1].as_ptr())],
            vld1q_u8(BIT.as_ptr()),
        );
        // Byte j of the 32 takes byte j / 8 of the clear bits, then tests bit j % 8.
        let minus16 = |i: usize| vtstq_u8(vqtbl1q_u8(clear, spread[i]), bit);
        // high four bits from the mask, low four from the nibble (BIF and SRI)
        let low = vbslq_u8(vdupq_n_u8(0xF0), minus16(0), v);
        let high = vsriq_n_u8::<4>(minus16(1), v);
        (vreinterpretq_s8_u8(low), vreinterpretq_s8_u8(high))
    }
}

/// Groups of 4 rows per pass in the Q5 matvecs: one, not `PASS_GROUPS`' two. With two groups
/// LLVM keeps the eight row pointers on the stack and checks and recomputes each one per block
/// (SmolLM2 Q4_K_M under qemu, M instructions per token, A72 / A76: 114.0 / 113.1 with two
/// groups, 103.7 / 96.3 with one).
pub(in crate::kernels::arm) const Q5_PASS_GROUPS: usize = 1;

/// A Q8 block's 32 values as two i8x16.
#[inline]
#[target_feature(enable = "neon")]
pub(in crate::kernels::arm) fn load_q8(qs: &[i8; QK]) -> (int8x16_t, int8x16_t) {
    // SAFETY: qs has 32 bytes: 0..16 and 16..32.
    unsafe { (vld1q_s8(qs.as_ptr()), vld1q_s8(qs.as_ptr().add(16))) }
}

/// 16 * sum(x) of a block of x, broadcast: what Q5_1's values take back from the sums of
/// (q - 16) * x, sum(q x) = sum((q - 16) x) + 16 sum(x), exactly.
#[inline]
#[target_feature(enable = "neon")]
pub(in crate::kernels::arm) fn q5_1_offset(x: (int8x16_t, int8x16_t)) -> int32x4_t {
    vdupq_n_s32(16 * vaddlvq_s16(vpadalq_s8(vpaddlq_s8(x.0), x.1)))
}

/// Four rows' values minus 16 . x's block -> the rows' exact i32 sums. In i16: |(q - 16) x|
/// <= 16 * 127, so the 16 products each lane of `sum_rows_i16` adds fit.
#[inline]
#[target_feature(enable = "neon")]
fn group_sums(w: [(int8x16_t, int8x16_t); 4], x: (int8x16_t, int8x16_t)) -> int32x4_t {
    vpaddlq_s16(sum_rows_i16(super::map4(w, |q| products_i16_asm(q, x))))
}

/// `products_i16` (super) as one asm block: SMULL, SMLAL2, SMLAL, SMLAL2. LLVM otherwise
/// takes the high halves of these computed values apart with EXT, two more per row.
#[inline]
#[target_feature(enable = "neon")]
fn products_i16_asm(a: (int8x16_t, int8x16_t), b: (int8x16_t, int8x16_t)) -> int16x8_t {
    let p: int16x8_t;
    // SAFETY: register-only NEON instructions; p is written first, so it takes its own
    // register (`out`, not `lateout`).
    unsafe {
        std::arch::asm!(
            "smull {p:v}.8h, {a0:v}.8b, {b0:v}.8b",
            "smlal2 {p:v}.8h, {a0:v}.16b, {b0:v}.16b",
            "smlal {p:v}.8h, {a1:v}.8b, {b1:v}.8b",
            "smlal2 {p:v}.8h, {a1:v}.16b, {b1:v}.16b",
            p = out(vreg) p, a0 = in(vreg) a.0, b0 = in(vreg) b.0,
            a1 = in(vreg) a.1, b1 = in(vreg) b.1,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    p
}

/// The f16 fields `field` of four blocks as f32 lanes.
#[inline]
#[target_feature(enable = "neon")]
pub(in crate::kernels::arm) fn f16x4<B>(
    blocks: &[&B; 4],
    field: impl Fn(&B) -> half::f16,
) -> float32x4_t {
    let bits: [u16; 4] = std::array::from_fn(|r| field(blocks[r]).to_bits());
    // SAFETY: bits has 4 u16.
    crate::kernels::arm::f16::f16x4_to_f32(unsafe { vld1_u16(bits.as_ptr()) })
}

/// The Q5_0 and Q5_1 kernels (dot: w (nb) . x (nb) -> f32; matvec: w (rows, row_len) @
/// x (row_len) -> out (rows)) over multi-row passes; `$sums` reduces four rows' values minus
/// 16 against x's block to their exact i32 sums (per ISA). Per row lane, in generic's order:
/// Q5_0 sumf += (d_w * d_x) * sumi; Q5_1 sumf += (d_w * d_x) * sumi + m_w * s_x.
macro_rules! q5_kernels {
    (
        $features:literal, $sums:ident,
        q5_0: $pass0:ident, $dot0:ident, $matvec0:ident,
        q5_1: $pass1:ident, $dot1:ident, $matvec1:ident
    ) => {
        // w (4G rows, nb) @ x (nb) -> one f32x4 per group of 4 rows.
        #[target_feature(enable = $features)]
        fn $pass0<const G: usize>(
            rows: $crate::kernels::arm::neon::Rows<edge_formats::blocks::BlockQ5_0, G>,
            x: &[edge_formats::BlockQ8_0],
        ) -> [std::arch::aarch64::float32x4_t; G] {
            use std::arch::aarch64::*;
            use $crate::kernels::arm::neon::k_quants::f16_to_f32;
            use $crate::kernels::arm::neon::q5::{f16x4, load_q8, q5_minus_16};
            use $crate::kernels::arm::neon::{map4, pass_len};
            let n = pass_len(&rows, x);
            let mut acc = [vdupq_n_f32(0.0); G];
            for (b, xb) in x[..n].iter().enumerate() {
                let xq = load_q8(&xb.qs);
                let dx = f16_to_f32(xb.d);
                for (a, group) in acc.iter_mut().zip(&rows) {
                    // SAFETY: b < n <= every row's length (`pass_len`).
                    let blocks = map4(*group, |row| unsafe { row.get_unchecked(b) });
                    let q = map4(blocks, |w| q5_minus_16(&w.qh, &w.qs));
                    let d = vmulq_n_f32(f16x4(&blocks, |w| w.d), dx);
                    *a = vaddq_f32(*a, vmulq_f32(d, vcvtq_f32_s32($sums(q, xq))));
                }
            }
            acc
        }

        // w (4G rows, nb) @ x (nb) -> one f32x4 per group of 4 rows.
        #[target_feature(enable = $features)]
        fn $pass1<const G: usize>(
            rows: $crate::kernels::arm::neon::Rows<edge_formats::blocks::BlockQ5_1, G>,
            x: &[edge_formats::BlockQ8_1],
        ) -> [std::arch::aarch64::float32x4_t; G] {
            use std::arch::aarch64::*;
            use $crate::kernels::arm::neon::k_quants::f16_to_f32;
            use $crate::kernels::arm::neon::q5::{f16x4, load_q8, q5_1_offset, q5_minus_16};
            use $crate::kernels::arm::neon::{map4, pass_len};
            let n = pass_len(&rows, x);
            let mut acc = [vdupq_n_f32(0.0); G];
            for (b, xb) in x[..n].iter().enumerate() {
                let xq = load_q8(&xb.qs);
                let offset = q5_1_offset(xq);
                let (dx, sx) = (f16_to_f32(xb.d), f16_to_f32(xb.s));
                for (a, group) in acc.iter_mut().zip(&rows) {
                    // SAFETY: b < n <= every row's length (`pass_len`).
                    let blocks = map4(*group, |row| unsafe { row.get_unchecked(b) });
                    let q = map4(blocks, |w| q5_minus_16(&w.qh, &w.qs));
                    let sumi = vaddq_s32($sums(q, xq), offset);
                    let d = vmulq_n_f32(f16x4(&blocks, |w| w.d), dx);
                    let ms = vmulq_n_f32(f16x4(&blocks, |w| w.m), sx);
                    *a = vaddq_f32(*a, vaddq_f32(vmulq_f32(d, vcvtq_f32_s32(sumi)), ms));
                }
            }
            acc
        }

        #[target_feature(enable = $features)]
        fn $dot0(w: &[edge_formats::blocks::BlockQ5_0], x: &[edge_formats::BlockQ8_0]) -> f32 {
            $crate::kernels::arm::neon::dot_by_pass(w, x, |rows, x| $pass0::<1>(rows, x))
        }

        #[target_feature(enable = $features)]
        fn $dot1(w: &[edge_formats::blocks::BlockQ5_1], x: &[edge_formats::BlockQ8_1]) -> f32 {
            $crate::kernels::arm::neon::dot_by_pass(w, x, |rows, x| $pass1::<1>(rows, x))
        }

        #[target_feature(enable = $features)]
        fn $matvec0(
            out: &mut [f32],
            w: &[edge_formats::blocks::BlockQ5_0],
            row_len: usize,
            x: &[edge_formats::BlockQ8_0],
        ) {
            use $crate::kernels::arm::neon::{matvec_by_passes, q5::Q5_PASS_GROUPS};
            matvec_by_passes(out, w, row_len, x, |rows, x| {
                $pass0::<Q5_PASS_GROUPS>(rows, x)
            })
        }

        #[target_feature(enable = $features)]
        fn $matvec1(
            out: &mut [f32],
            w: &[edge_formats::blocks::BlockQ5_1],
            row_len: usize,
            x: &[edge_formats::BlockQ8_1],
        ) {
            use $crate::kernels::arm::neon::{matvec_by_passes, q5::Q5_PASS_GROUPS};
            matvec_by_passes(out, w, row_len, x, |rows, x| {
                $pass1::<Q5_PASS_GROUPS>(rows, x)
            })
        }
    };
}
pub(in crate::kernels::arm) use q5_kernels;

q5_kernels!(
    "neon", group_sums,
    q5_0: pass_q5_0_neon, dot_q5_0_q8_0_neon, matvec_q5_0_neon,
    q5_1: pass_q5_1_neon, dot_q5_1_q8_1_neon, matvec_q5_1_neon
);
