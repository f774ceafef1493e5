//! The Q4_1 layout of the prompt gemm (`super`): a pass unpacks each of its four rows' block
//! once (nibbles 0..16, as the matvec's `next_q4_1_group`) and multiplies it against every
//! token of the tile. Per row, token and block the arithmetic is the Q4_1 matvec's
//! (`neon::q4`): the exact i32 sum, then acc = fma(f32(sumi), d_w * d_x, acc) and
//! acc = fma(m_w, s_x, acc). So each output is the bits of the NEON Q4_1 dot, and of the
//! dotprod one (the same f32 steps on the same exact sums).

use super::q5::{next_x_q8_1_scales, RowsWithMins};
use super::{gemm_by_tiles, Layout};
use crate::kernels::arm::f16::f16x4_to_f32;
use crate::kernels::arm::neon::{next_q4_1_group, q4};
use crate::kernels::isa_glue::safe_entry;
use edge_formats::{BlockQ4_1, BlockQ8_1};
use std::arch::aarch64::*;

safe_entry! {
    pub(in crate::kernels::arm) fn gemm_q4_1(out: &mut [&mut [f32]], w: &[BlockQ4_1], row_len: usize, xs: &[&[BlockQ8_1]]) => gemm_q4_1_neon;
}

/// The next Q4_1 block (f16 d, f16 m, 16 bytes qs) of each of four rows: nibbles as (values
/// 0..16, 16..32), scales and minimums; each pointer moves on by a block.
///
/// # Safety
/// Each pointer is at a whole `BlockQ4_1`; the CPU has NEON.
#[inline(always)]
pub(in crate::kernels::arm) unsafe fn next_q4_1_rows(p: &mut [*const u8; 4]) -> RowsWithMins {
    // SAFETY: the caller's promise.
    let (q, d, m) = unsafe { next_q4_1_group(p) };
    RowsWithMins {
        q,
        d: f16x4_to_f32(d),
        m: f16x4_to_f32(m),
    }
}

/// Q4_1 against Q8_1: nibbles (0..15) times x (|x| <= 128) in i16 lanes (SMULL/SMLAL2: 4
/// products a lane, then ADDP twice: 16, at most 30720), SADDLP to i32.
struct Q4_1Layout;

impl Layout for Q4_1Layout {
    type Rows = RowsWithMins;
    type Scales = (float32x4_t, float32x4_t);

    #[inline(always)]
    unsafe fn next(&self, p: &mut [*const u8; 4]) -> RowsWithMins {
        // SAFETY: the caller's promise.
        unsafe { next_q4_1_rows(p) }
    }

    #[inline(always)]
    unsafe fn next_x_scales<const T: usize>(
        p: &mut [*const u8; T],
    ) -> [(float32x4_t, float32x4_t); 2] {
        // SAFETY: the caller's promise.
        unsafe { next_x_q8_1_scales(p) }
    }

    #[inline(always)]
    fn step<const L: u32>(
        acc: float32x4_t,
        w: &RowsWithMins,
        x: (int8x16_t, int8x16_t),
        (dx, sx): (float32x4_t, float32x4_t),
    ) -> float32x4_t {
        let mut acc = acc;
        smull_step!(acc, w, x, L, [
            "fmul   {p1:v}.4s, {dw:v}.4s, {dx:v}.s[{lane}]",
            "scvtf  {p0:v}.4s, {p0:v}.4s",
            "fmla   {acc:v}.4s, {p0:v}.4s, {p1:v}.4s",
            "fmla   {acc:v}.4s, {mw:v}.4s, {sx:v}.s[{lane}]"
        ], dw = in(vreg) w.d, mw = in(vreg) w.m, dx = in(vreg) dx, sx = in(vreg) sx,);
        acc
    }
}

#[target_feature(enable = "neon")]
fn gemm_q4_1_neon(out: &mut [&mut [f32]], w: &[BlockQ4_1], row_len: usize, xs: &[&[BlockQ8_1]]) {
    gemm_by_tiles(&Q4_1Layout, q4::Q4_1.matvec, out, w, row_len, xs)
}
