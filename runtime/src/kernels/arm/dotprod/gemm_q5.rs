//! The Q5_0 and Q5_1 prompt gemms of the dotprod table: the NEON gemm's passes (4 rows x a
//! tile of up to 8 tokens, `neon::gemm`) with each row block unpacked once per tile and its
//! four rows interleaved by 4-byte groups (group j of the 8: row r's values 4j..4j+4 in
//! 32-bit lane r), so that per token eight SDOTs by element (`sdot s.4s, w_j.16b,
//! x.4b[j % 4]`) leave each row's exact block sum in its lane, with no reduction. The f32
//! steps per row lane are the Q5 dot's (generic's: Q5_0 acc + (d_w * d_x) * f32(sumi), Q5_1
//! acc + ((d_w * d_x) * f32(sumi) + m_w * s_x), no FMA), so each output is the bits of the
//! dotprod (and NEON) Q5 dot.
//!
//! Per block of 4 rows x 8 tokens: Q5_0 185 instructions (23.1 per four rows and token; the
//! SDOT matvec's 4-row pass: 76; the NEON gemm: 32), Q5_1 219 (27.4; the matvec: 95).

use super::q5;
use crate::kernels::arm::neon::gemm::q5::{
    next_q5_0_rows, next_q5_1_rows, next_x_q8_1_scales, RowsWithMins,
};
use crate::kernels::arm::neon::gemm::{gemm_by_tiles, next_x_scales, Layout, Rows4};
use crate::kernels::isa_glue::safe_entry;
use edge_formats::blocks::{BlockQ5_0, BlockQ5_1};
use edge_formats::{BlockQ8_0, BlockQ8_1};
use std::arch::aarch64::*;

safe_entry! {
    pub(super) fn gemm_q5_0(out: &mut [&mut [f32]], w: &[BlockQ5_0], row_len: usize, xs: &[&[BlockQ8_0]]) => gemm_q5_0_sdot;
    pub(super) fn gemm_q5_1(out: &mut [&mut [f32]], w: &[BlockQ5_1], row_len: usize, xs: &[&[BlockQ8_1]]) => gemm_q5_1_sdot;
}

/// One block of four rows interleaved by 4-byte groups (see the module doc), and the rows'
/// scales (and for Q5_1 and Q4_1 their minimums: `m`, else unused).
#[derive(Clone, Copy)]
pub(super) struct Interleaved {
    pub(super) w: [int8x16_t; 8],
    pub(super) d: float32x4_t,
    pub(super) m: float32x4_t,
}

/// Four rows' 16 values (one half of their block) -> four vectors, vector j holding row r's
/// values 4j..4j+4 in 32-bit lane r (a 4x4 transpose of 32-bit elements: TRN1/TRN2 on .4s,
/// then on .2d).
#[inline(always)]
fn transpose4(a: [int8x16_t; 4]) -> [int8x16_t; 4] {
    // SAFETY: baseline NEON, enabled in every caller.
    unsafe {
        let s = |v: int8x16_t| vreinterpretq_s32_s8(v);
        let (t0, t1) = (vtrn1q_s32(s(a[0]), s(a[1])), vtrn2q_s32(s(a[0]), s(a[1])));
        let (t2, t3) = (vtrn1q_s32(s(a[2]), s(a[3])), vtrn2q_s32(s(a[2]), s(a[3])));
        let d = |v: int32x4_t| vreinterpretq_s64_s32(v);
        let b = |v: int64x2_t| vreinterpretq_s8_s64(v);
        [
            b(vtrn1q_s64(d(t0), d(t2))),
            b(vtrn1q_s64(d(t1), d(t3))),
            b(vtrn2q_s64(d(t0), d(t2))),
            b(vtrn2q_s64(d(t1), d(t3))),
        ]
    }
}

/// Four rows' values (0..16, 16..32 each) interleaved by 4-byte groups.
#[inline(always)]
pub(super) fn interleave(q: &[(int8x16_t, int8x16_t); 4]) -> [int8x16_t; 8] {
    let [l0, l1, l2, l3] = transpose4([q[0].0, q[1].0, q[2].0, q[3].0]);
    let [h0, h1, h2, h3] = transpose4([q[0].1, q[1].1, q[2].1, q[3].1]);
    [l0, l1, l2, l3, h0, h1, h2, h3]
}

/// acc (4 rows of one token) <- f(acc, exact sums of the rows' block `w` . the token's block
/// `x`), the f32 steps in `$float` (sums in `{s}`, converted to f32). One asm block without
/// `pure` (see `Layout::step`).
macro_rules! sdot_step {
    ($acc:ident, $w:ident, $x:ident, $L:ident, [$($float:literal),*], $($operands:tt)*) => {
        // SAFETY: register-only NEON and dotprod instructions (the gemm's target_feature
        // enables both). The temporaries are `out` operands, so they share no register with
        // the inputs.
        unsafe {
            std::arch::asm!(
                "movi   {s:v}.4s, #0",
                "sdot   {s:v}.4s, {w0:v}.16b, {xl:v}.4b[0]",
                "sdot   {s:v}.4s, {w1:v}.16b, {xl:v}.4b[1]",
                "sdot   {s:v}.4s, {w2:v}.16b, {xl:v}.4b[2]",
                "sdot   {s:v}.4s, {w3:v}.16b, {xl:v}.4b[3]",
                "sdot   {s:v}.4s, {w4:v}.16b, {xh:v}.4b[0]",
                "sdot   {s:v}.4s, {w5:v}.16b, {xh:v}.4b[1]",
                "sdot   {s:v}.4s, {w6:v}.16b, {xh:v}.4b[2]",
                "sdot   {s:v}.4s, {w7:v}.16b, {xh:v}.4b[3]",
                "scvtf  {s:v}.4s, {s:v}.4s",
                $($float,)*
                acc = inout(vreg) $acc,
                s = out(vreg) _,
                w0 = in(vreg) $w.w[0], w1 = in(vreg) $w.w[1],
                w2 = in(vreg) $w.w[2], w3 = in(vreg) $w.w[3],
                w4 = in(vreg) $w.w[4], w5 = in(vreg) $w.w[5],
                w6 = in(vreg) $w.w[6], w7 = in(vreg) $w.w[7],
                xl = in(vreg) $x.0, xh = in(vreg) $x.1,
                lane = const $L,
                $($operands)*
                options(nomem, nostack, preserves_flags)
            );
        }
    };
}
pub(super) use sdot_step;

/// Q5_0 against Q8_0: values minus 16 (signed i8) by SDOT.
struct Q5_0Layout;

/// Q5_1 against Q8_1: the values themselves (0..32: minus 16, plus 16 again), so the SDOT
/// sums are sum(q x) with no 16 * sum(x) to add back.
struct Q5_1Layout;

impl Layout for Q5_0Layout {
    type Rows = Interleaved;
    type Scales = float32x4_t;

    #[inline(always)]
    unsafe fn next(&self, p: &mut [*const u8; 4]) -> Interleaved {
        // SAFETY: the caller's promise.
        let Rows4 { q, d } = unsafe { next_q5_0_rows(p) };
        Interleaved {
            w: interleave(&q),
            d,
            m: d,
        }
    }

    #[inline(always)]
    unsafe fn next_x_scales<const T: usize>(p: &mut [*const u8; T]) -> [float32x4_t; 2] {
        // SAFETY: the caller's promise.
        unsafe { next_x_scales(p) }
    }

    #[inline(always)]
    fn step<const L: u32>(
        acc: float32x4_t,
        w: &Interleaved,
        x: (int8x16_t, int8x16_t),
        dx: float32x4_t,
    ) -> float32x4_t {
        let mut acc = acc;
        sdot_step!(acc, w, x, L, [
            "fmul   {p1:v}.4s, {dw:v}.4s, {dx:v}.s[{lane}]",
            "fmul   {s:v}.4s, {p1:v}.4s, {s:v}.4s",
            "fadd   {acc:v}.4s, {acc:v}.4s, {s:v}.4s"
        ], p1 = out(vreg) _, dw = in(vreg) w.d, dx = in(vreg) dx,);
        acc
    }
}

impl Layout for Q5_1Layout {
    type Rows = Interleaved;
    type Scales = (float32x4_t, float32x4_t);

    #[inline(always)]
    unsafe fn next(&self, p: &mut [*const u8; 4]) -> Interleaved {
        // SAFETY: the caller's promise.
        let RowsWithMins { q, d, m } = unsafe { next_q5_1_rows(p) };
        // SAFETY: baseline NEON, enabled in every caller.
        let sixteen = unsafe { vdupq_n_s8(16) };
        let mut w = interleave(&q);
        for v in &mut w {
            // SAFETY: as above. [-16, 15] + 16: no wrap.
            *v = unsafe { vaddq_s8(*v, sixteen) };
        }
        Interleaved { w, d, m }
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
        w: &Interleaved,
        x: (int8x16_t, int8x16_t),
        (dx, sx): (float32x4_t, float32x4_t),
    ) -> float32x4_t {
        let mut acc = acc;
        sdot_step!(acc, w, x, L, [
            "fmul   {p1:v}.4s, {dw:v}.4s, {dx:v}.s[{lane}]",
            "fmul   {p2:v}.4s, {mw:v}.4s, {sx:v}.s[{lane}]",
            "fmul   {s:v}.4s, {p1:v}.4s, {s:v}.4s",
            "fadd   {s:v}.4s, {s:v}.4s, {p2:v}.4s",
            "fadd   {acc:v}.4s, {acc:v}.4s, {s:v}.4s"
        ], p1 = out(vreg) _, p2 = out(vreg) _, dw = in(vreg) w.d, mw = in(vreg) w.m,
           dx = in(vreg) dx, sx = in(vreg) sx,);
        acc
    }
}

#[target_feature(enable = "neon,dotprod")]
fn gemm_q5_0_sdot(out: &mut [&mut [f32]], w: &[BlockQ5_0], row_len: usize, xs: &[&[BlockQ8_0]]) {
    gemm_by_tiles(&Q5_0Layout, q5::Q5_0.matvec, out, w, row_len, xs)
}

#[target_feature(enable = "neon,dotprod")]
fn gemm_q5_1_sdot(out: &mut [&mut [f32]], w: &[BlockQ5_1], row_len: usize, xs: &[&[BlockQ8_1]]) {
    gemm_by_tiles(&Q5_1Layout, q5::Q5_1.matvec, out, w, row_len, xs)
}
