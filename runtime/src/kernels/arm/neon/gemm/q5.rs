//! The Q5_0 and Q5_1 layouts of the prompt gemm (`super`): a pass unpacks each of its four
//! rows' block once (nibbles and fifth bits to values minus 16, as the matvec's
//! `q5_minus_16`) and multiplies it against every token of the tile. Per row, token and block
//! the arithmetic is the Q5 matvec's (`neon::q5`, which is generic's): the exact i32 sum, then
//! Q5_0 acc + (d_w * d_x) * f32(sumi), Q5_1 acc + ((d_w * d_x) * f32(sumi) + m_w * s_x), no
//! FMA. So each output is the bits of the Q5 dot of the NEON table, and of the dotprod table
//! (whose Q5 dot gives the same bits: both are generic's).
//!
//! Per block of 4 rows x 8 tokens: Q5_0 256 instructions (32 per four rows and token; the
//! matvec's 4-row pass: 81), Q5_1 333 (41.6; the matvec: 97).

use super::{gemm_by_tiles, next_x_scales, unrolled, Layout, Rows4};
use crate::kernels::arm::f16::f16x4_to_f32;
use crate::kernels::arm::neon::q5::{self, q5_minus_16_of};
use crate::kernels::arm::neon::{bytes16, first_f16, first_f16_pair, lane_f16, lane_f16_pair};
use crate::kernels::isa_glue::safe_entry;
use edge_formats::blocks::{BlockQ5_0, BlockQ5_1};
use edge_formats::{BlockQ8_0, BlockQ8_1};
use std::arch::aarch64::*;

safe_entry! {
    pub(in crate::kernels::arm) fn gemm_q5_0(out: &mut [&mut [f32]], w: &[BlockQ5_0], row_len: usize, xs: &[&[BlockQ8_0]]) => gemm_q5_0_neon;
    pub(in crate::kernels::arm) fn gemm_q5_1(out: &mut [&mut [f32]], w: &[BlockQ5_1], row_len: usize, xs: &[&[BlockQ8_1]]) => gemm_q5_1_neon;
}

/// 4 bytes at `*p` in every 32-bit lane (LD1R); *p moves on by 4.
///
/// # Safety
/// The pointer is at 4 readable bytes.
#[inline(always)]
unsafe fn dup_u32(p: &mut *const u8) -> uint32x4_t {
    let v: uint32x4_t;
    // SAFETY: the caller's pointer is at 4 readable bytes.
    unsafe {
        std::arch::asm!("ld1r {{{v:v}.4s}}, [{p}], #4", v = lateout(vreg) v, p = inout(reg) *p,
            options(readonly, nostack, preserves_flags));
    }
    v
}

/// The fifth bits and nibbles of the block at `*p` (past its scales), unpacked to values
/// minus 16; *p moves on by 20 bytes, to the next block.
///
/// # Safety
/// The pointer is at a Q5 block's qh and qs (20 readable bytes).
#[inline(always)]
unsafe fn q5_values(p: &mut *const u8) -> (int8x16_t, int8x16_t) {
    // SAFETY: the caller's promise: qh (4 bytes), then qs (16 bytes).
    let (qh, qs) = unsafe { (dup_u32(p), bytes16(p)) };
    q5_minus_16_of(qh, qs)
}

/// The next Q5_0 block (f16 d, 4 bytes qh, 16 bytes qs) of each of four rows as values minus
/// 16, and their scales; each pointer moves on by a block.
///
/// # Safety
/// Each pointer is at a whole `BlockQ5_0`; the CPU has NEON.
#[inline(always)]
pub(in crate::kernels::arm) unsafe fn next_q5_0_rows(p: &mut [*const u8; 4]) -> Rows4 {
    // SAFETY: each pointer is at a whole block: d, then qh and qs.
    unsafe {
        let d = first_f16(&mut p[0]);
        let q0 = q5_values(&mut p[0]);
        let d = lane_f16::<1>(&mut p[1], d);
        let q1 = q5_values(&mut p[1]);
        let d = lane_f16::<2>(&mut p[2], d);
        let q2 = q5_values(&mut p[2]);
        let d = lane_f16::<3>(&mut p[3], d);
        let q3 = q5_values(&mut p[3]);
        Rows4 {
            q: [q0, q1, q2, q3],
            d: f16x4_to_f32(d),
        }
    }
}

/// One block of four rows with minimums (Q5_1: values minus 16; Q4_1: nibbles), their scales
/// and minimums.
#[derive(Clone, Copy)]
pub(in crate::kernels::arm) struct RowsWithMins {
    pub(in crate::kernels::arm) q: [(int8x16_t, int8x16_t); 4],
    pub(in crate::kernels::arm) d: float32x4_t,
    pub(in crate::kernels::arm) m: float32x4_t,
}

/// The (d, m) or (d, s) f16 pairs of four blocks, one per 32-bit lane -> (d, m) as f32.
#[inline(always)]
fn split_pairs(pairs: uint32x4_t) -> (float32x4_t, float32x4_t) {
    // SAFETY: baseline NEON, enabled in every caller.
    unsafe {
        let v = vreinterpretq_u16_u32(pairs);
        (
            f16x4_to_f32(vget_low_u16(vuzp1q_u16(v, v))),
            f16x4_to_f32(vget_low_u16(vuzp2q_u16(v, v))),
        )
    }
}

/// The next Q5_1 block (f16 d, f16 m, 4 bytes qh, 16 bytes qs) of each of four rows; each
/// pointer moves on by a block.
///
/// # Safety
/// Each pointer is at a whole `BlockQ5_1`; the CPU has NEON.
#[inline(always)]
pub(in crate::kernels::arm) unsafe fn next_q5_1_rows(p: &mut [*const u8; 4]) -> RowsWithMins {
    // SAFETY: each pointer is at a whole block: d and m, then qh and qs.
    let (dm, q) = unsafe {
        let dm = first_f16_pair(&mut p[0]);
        let q0 = q5_values(&mut p[0]);
        let dm = lane_f16_pair::<1>(&mut p[1], dm);
        let q1 = q5_values(&mut p[1]);
        let dm = lane_f16_pair::<2>(&mut p[2], dm);
        let q2 = q5_values(&mut p[2]);
        let dm = lane_f16_pair::<3>(&mut p[3], dm);
        let q3 = q5_values(&mut p[3]);
        (dm, [q0, q1, q2, q3])
    };
    let (d, m) = split_pairs(dm);
    RowsWithMins { q, d, m }
}

/// The scales (d, s) of the next Q8_1 block of each of T tokens as f32 lanes (tokens 0..4,
/// 4..8; the others zero); each pointer moves on by 4 bytes, to the block's values.
///
/// # Safety
/// Each pointer is at a whole `BlockQ8_1`; T <= 8; the CPU has NEON.
#[inline(always)]
pub(in crate::kernels::arm) unsafe fn next_x_q8_1_scales<const T: usize>(
    p: &mut [*const u8; T],
) -> [(float32x4_t, float32x4_t); 2] {
    // SAFETY: baseline NEON, enabled in every caller.
    let mut ds = [unsafe { vdupq_n_u32(0) }; 2];
    unrolled::<T>(|t| {
        let ds = &mut ds[t / 4];
        // SAFETY: p[t] is at a whole block, whose first 4 bytes are its d and s.
        unsafe {
            *ds = match t % 4 {
                0 => first_f16_pair(&mut p[t]),
                1 => lane_f16_pair::<1>(&mut p[t], *ds),
                2 => lane_f16_pair::<2>(&mut p[t], *ds),
                _ => lane_f16_pair::<3>(&mut p[t], *ds),
            };
        }
    });
    [split_pairs(ds[0]), split_pairs(ds[1])]
}

/// Q5_0 against Q8_0: values minus 16 (|q - 16| <= 16) times x (|x| <= 127) in i16 lanes
/// (SMULL/SMLAL2: 4 products a lane, then ADDP twice: 16, at most 32512), SADDLP to i32.
struct Q5_0Layout;

/// Q5_1 against Q8_1: as Q5_0, plus 16 * sum(x) (x's sums in i16, the same ADDP tree: each
/// half at most 16 * 127, times 16 still in i16; SADALP adds them) for the exact sum(q x).
struct Q5_1Layout;

impl Layout for Q5_0Layout {
    type Rows = Rows4;
    type Scales = float32x4_t;

    #[inline(always)]
    unsafe fn next(&self, p: &mut [*const u8; 4]) -> Rows4 {
        // SAFETY: the caller's promise.
        unsafe { next_q5_0_rows(p) }
    }

    #[inline(always)]
    unsafe fn next_x_scales<const T: usize>(p: &mut [*const u8; T]) -> [float32x4_t; 2] {
        // SAFETY: the caller's promise.
        unsafe { next_x_scales(p) }
    }

    #[inline(always)]
    fn step<const L: u32>(
        acc: float32x4_t,
        w: &Rows4,
        x: (int8x16_t, int8x16_t),
        dx: float32x4_t,
    ) -> float32x4_t {
        let mut acc = acc;
        smull_step!(acc, w, x, L, [
            "fmul   {p1:v}.4s, {dw:v}.4s, {dx:v}.s[{lane}]",
            "scvtf  {p0:v}.4s, {p0:v}.4s",
            "fmul   {p0:v}.4s, {p1:v}.4s, {p0:v}.4s",
            "fadd   {acc:v}.4s, {acc:v}.4s, {p0:v}.4s"
        ], dw = in(vreg) w.d, dx = in(vreg) dx,);
        acc
    }
}

impl Layout for Q5_1Layout {
    type Rows = RowsWithMins;
    type Scales = (float32x4_t, float32x4_t);

    #[inline(always)]
    unsafe fn next(&self, p: &mut [*const u8; 4]) -> RowsWithMins {
        // SAFETY: the caller's promise.
        unsafe { next_q5_1_rows(p) }
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
            "saddlp {p1:v}.8h, {xl:v}.16b",
            "sadalp {p1:v}.8h, {xh:v}.16b",
            "addp   {p1:v}.8h, {p1:v}.8h, {p1:v}.8h",
            "addp   {p1:v}.8h, {p1:v}.8h, {p1:v}.8h",
            "shl    {p1:v}.8h, {p1:v}.8h, #4",
            "sadalp {p0:v}.4s, {p1:v}.8h",
            "fmul   {p1:v}.4s, {dw:v}.4s, {dx:v}.s[{lane}]",
            "scvtf  {p0:v}.4s, {p0:v}.4s",
            "fmul   {p2:v}.4s, {mw:v}.4s, {sx:v}.s[{lane}]",
            "fmul   {p0:v}.4s, {p1:v}.4s, {p0:v}.4s",
            "fadd   {p0:v}.4s, {p0:v}.4s, {p2:v}.4s",
            "fadd   {acc:v}.4s, {acc:v}.4s, {p0:v}.4s"
        ], dw = in(vreg) w.d, mw = in(vreg) w.m, dx = in(vreg) dx, sx = in(vreg) sx,);
        acc
    }
}

#[target_feature(enable = "neon")]
fn gemm_q5_0_neon(out: &mut [&mut [f32]], w: &[BlockQ5_0], row_len: usize, xs: &[&[BlockQ8_0]]) {
    gemm_by_tiles(&Q5_0Layout, q5::Q5_0.matvec, out, w, row_len, xs)
}

#[target_feature(enable = "neon")]
fn gemm_q5_1_neon(out: &mut [&mut [f32]], w: &[BlockQ5_1], row_len: usize, xs: &[&[BlockQ8_1]]) {
    gemm_by_tiles(&Q5_1Layout, q5::Q5_1.matvec, out, w, row_len, xs)
}
