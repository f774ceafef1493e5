//! The Q4_1 prompt gemm of the dotprod table: the NEON gemm's passes (4 rows x a tile of up
//! to 8 tokens, `neon::gemm`) over the rows' nibbles (0..16) interleaved by 4-byte groups as
//! in `gemm_q5`, so that eight SDOTs by element per token leave each row's exact block sum
//! in its lane. The f32 steps per row lane are the Q4_1 dot's (`neon::q4`, which the dotprod
//! dot shares): acc = fma(f32(sumi), d_w * d_x, acc), then acc = fma(m_w, s_x, acc). So each
//! output is the bits of the dotprod (and NEON) Q4_1 dot.

use super::gemm_q5::{interleave, sdot_step, Interleaved};
use super::q4;
use crate::kernels::arm::neon::gemm::q4_1::next_q4_1_rows;
use crate::kernels::arm::neon::gemm::q5::{next_x_q8_1_scales, RowsWithMins};
use crate::kernels::arm::neon::gemm::{gemm_by_tiles, Layout};
use crate::kernels::isa_glue::safe_entry;
use edge_formats::{BlockQ4_1, BlockQ8_1};
use std::arch::aarch64::*;

safe_entry! {
    pub(super) fn gemm_q4_1(out: &mut [&mut [f32]], w: &[BlockQ4_1], row_len: usize, xs: &[&[BlockQ8_1]]) => gemm_q4_1_sdot;
}

/// Q4_1 against Q8_1: the nibbles (0..15) by SDOT.
struct Q4_1Layout;

impl Layout for Q4_1Layout {
    type Rows = Interleaved;
    type Scales = (float32x4_t, float32x4_t);

    #[inline(always)]
    unsafe fn next(&self, p: &mut [*const u8; 4]) -> Interleaved {
        // SAFETY: the caller's promise.
        let RowsWithMins { q, d, m } = unsafe { next_q4_1_rows(p) };
        Interleaved {
            w: interleave(&q),
            d,
            m,
        }
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
            "fmla   {acc:v}.4s, {s:v}.4s, {p1:v}.4s",
            "fmla   {acc:v}.4s, {mw:v}.4s, {sx:v}.s[{lane}]"
        ], p1 = out(vreg) _, dw = in(vreg) w.d, mw = in(vreg) w.m,
           dx = in(vreg) dx, sx = in(vreg) sx,);
        acc
    }
}

#[target_feature(enable = "neon,dotprod")]
fn gemm_q4_1_sdot(out: &mut [&mut [f32]], w: &[BlockQ4_1], row_len: usize, xs: &[&[BlockQ8_1]]) {
    gemm_by_tiles(&Q4_1Layout, q4::Q4_1.matvec, out, w, row_len, xs)
}
