//! Prompt gemms of the NEON table for Q4_0 and Q8_0 in the file's layout (a model keeps it
//! where dotprod is missing, e.g. the Pi 4's Cortex-A72): a pass takes four rows and a tile
//! of up to eight tokens, loads (and for Q4_0 unpacks) the rows' block once and multiplies it
//! against every token's block. Per row, token and block the arithmetic is the NEON matvec's:
//! an exact i32 block sum (here from signed nibbles, there from raw ones minus 8 * sum(x):
//! the same integer), then acc = fma(f32(sumi), d_w * d_x, acc) (`scale_add`), block after
//! block. So each output is the bits of the NEON dot (and matvec) of its row and token; only
//! the tiling over rows and tokens differs (the `GemmFn` contract). The Q4_1 and Q5 gemms
//! (`q4_1`, `q5`, and the dotprod table's) are other [`Layout`]s of the same passes.
//!
//! Per block of 4 rows x 8 tokens: Q4_0 229 instructions (28.6 per four rows and token; the
//! matvec's 8-row pass: 47), Q8_0 269 (33.6; the matvec: 41.5).

/// One file-layout step (`Layout::step`) of Q4_0, Q4_1, Q5_0 and Q5_1: the integer part they
/// share, the four rows' products with x in i16 lanes (SMULL/SMLAL2 over both halves of x into
/// p0..p3), ADDP twice and SADDLP, leaving each row's exact block sum as an i32 lane of p0;
/// then the layout's own f32 lines (`[$float]`) with their extra operands. Temporaries p0..p3.
macro_rules! smull_step {
    ($acc:ident, $w:ident, $x:ident, $L:ident, [$($float:literal),*], $($operands:tt)*) => {
        // SAFETY: register-only baseline NEON instructions. The temporaries are `out`
        // operands, so they share no register with the inputs.
        unsafe {
            std::arch::asm!(
                "smull  {p0:v}.8h, {a0:v}.8b,  {xl:v}.8b",
                "smlal2 {p0:v}.8h, {a0:v}.16b, {xl:v}.16b",
                "smlal  {p0:v}.8h, {b0:v}.8b,  {xh:v}.8b",
                "smlal2 {p0:v}.8h, {b0:v}.16b, {xh:v}.16b",
                "smull  {p1:v}.8h, {a1:v}.8b,  {xl:v}.8b",
                "smlal2 {p1:v}.8h, {a1:v}.16b, {xl:v}.16b",
                "smlal  {p1:v}.8h, {b1:v}.8b,  {xh:v}.8b",
                "smlal2 {p1:v}.8h, {b1:v}.16b, {xh:v}.16b",
                "smull  {p2:v}.8h, {a2:v}.8b,  {xl:v}.8b",
                "smlal2 {p2:v}.8h, {a2:v}.16b, {xl:v}.16b",
                "smlal  {p2:v}.8h, {b2:v}.8b,  {xh:v}.8b",
                "smlal2 {p2:v}.8h, {b2:v}.16b, {xh:v}.16b",
                "smull  {p3:v}.8h, {a3:v}.8b,  {xl:v}.8b",
                "smlal2 {p3:v}.8h, {a3:v}.16b, {xl:v}.16b",
                "smlal  {p3:v}.8h, {b3:v}.8b,  {xh:v}.8b",
                "smlal2 {p3:v}.8h, {b3:v}.16b, {xh:v}.16b",
                "addp   {p0:v}.8h, {p0:v}.8h, {p1:v}.8h",
                "addp   {p2:v}.8h, {p2:v}.8h, {p3:v}.8h",
                "addp   {p0:v}.8h, {p0:v}.8h, {p2:v}.8h",
                "saddlp {p0:v}.4s, {p0:v}.8h",
                $($float,)*
                acc = inout(vreg) $acc,
                p0 = out(vreg) _, p1 = out(vreg) _, p2 = out(vreg) _, p3 = out(vreg) _,
                a0 = in(vreg) $w.q[0].0, b0 = in(vreg) $w.q[0].1,
                a1 = in(vreg) $w.q[1].0, b1 = in(vreg) $w.q[1].1,
                a2 = in(vreg) $w.q[2].0, b2 = in(vreg) $w.q[2].1,
                a3 = in(vreg) $w.q[3].0, b3 = in(vreg) $w.q[3].1,
                xl = in(vreg) $x.0, xh = in(vreg) $x.1,
                $($operands)*
                lane = const $L,
                options(nomem, nostack, preserves_flags)
            );
        }
    };
}

pub(in crate::kernels::arm) mod q4_1;
pub(in crate::kernels::arm) mod q5;

pub(in crate::kernels::arm) use q4_1::gemm_q4_1;
pub(in crate::kernels::arm) use q5::{gemm_q5_0, gemm_q5_1};

use super::{bytes32, first_f16, lane_f16, map4, next_q8_0_group, q4, q8};
use crate::kernels::arm::f16::f16x4_to_f32;
use crate::kernels::dispatch::MatvecFn;
use crate::kernels::generic::gemm_rows_or_matvecs;
use crate::kernels::isa_glue::safe_entry;
use edge_formats::{BlockQ4_0, BlockQ8_0};
use std::arch::aarch64::*;

safe_entry! {
    pub(super) fn gemm_q4_0(out: &mut [&mut [f32]], w: &[BlockQ4_0], row_len: usize, xs: &[&[BlockQ8_0]]) => gemm_q4_0_neon;
    pub(super) fn gemm_q8_0(out: &mut [&mut [f32]], w: &[BlockQ8_0], row_len: usize, xs: &[&[BlockQ8_0]]) => gemm_q8_0_neon;
}

/// Tokens per tile (two f32x4 of activation scales); the last tile of a batch may be
/// shorter. Eight: unpacking four Q4_0 rows' block costs as much as one token's products.
const TILE_TOKENS: usize = 8;

/// f(0), .., f(N - 1), written out (N <= 8): the lane indices must be constants, and LLVM
/// does not unroll the tile loops on its own.
#[inline(always)]
pub(in crate::kernels::arm) fn unrolled<const N: usize>(mut f: impl FnMut(usize)) {
    const { assert!(N <= 8) };
    macro_rules! each {
        ($($t:literal)*) => {$(
            if $t < N {
                f($t);
            }
        )*};
    }
    each!(0 1 2 3 4 5 6 7);
}

/// One block of four rows: each row's values as (0..16, 16..32) signed i8, and their scales.
#[derive(Clone, Copy)]
pub(in crate::kernels::arm) struct Rows4 {
    pub(in crate::kernels::arm) q: [(int8x16_t, int8x16_t); 4],
    pub(in crate::kernels::arm) d: float32x4_t,
}

/// The next Q4_0 block of each of four rows as signed values n - 8 (EOR 0x88, then SSHR #4
/// for the high nibbles and SHL #4, SSHR #4 for the low ones); each pointer moves on by a
/// block.
///
/// # Safety
/// Each pointer is at a whole `BlockQ4_0` (18 bytes: d, then qs); the CPU has NEON.
#[inline(always)]
unsafe fn next_q4_0_rows(p: &mut [*const u8; 4], flip: int8x16_t) -> Rows4 {
    // SAFETY: each pointer is at a whole block: its d, then its 16 bytes of nibbles.
    let (d, raw) = unsafe {
        let d = first_f16(&mut p[0]);
        let q0 = bytes16_i8(&mut p[0]);
        let d = lane_f16::<1>(&mut p[1], d);
        let q1 = bytes16_i8(&mut p[1]);
        let d = lane_f16::<2>(&mut p[2], d);
        let q2 = bytes16_i8(&mut p[2]);
        let d = lane_f16::<3>(&mut p[3], d);
        let q3 = bytes16_i8(&mut p[3]);
        (d, [q0, q1, q2, q3])
    };
    let signed = |q: int8x16_t| {
        let v = veorq_s8(q, flip);
        (vshrq_n_s8::<4>(vshlq_n_s8::<4>(v)), vshrq_n_s8::<4>(v))
    };
    Rows4 {
        q: map4(raw, signed),
        d: f16x4_to_f32(d),
    }
}

/// 16 bytes at `*p` as i8; *p moves on by 16.
///
/// # Safety
/// The pointer is at 16 readable bytes; the CPU has NEON.
#[inline(always)]
unsafe fn bytes16_i8(p: &mut *const u8) -> int8x16_t {
    // SAFETY: the caller's promise.
    unsafe { vreinterpretq_s8_u8(super::bytes16(p)) }
}

/// The next Q8_0 block of each of four rows; each pointer moves on by a block.
///
/// # Safety
/// Each pointer is at a whole `BlockQ8_0`; the CPU has NEON.
#[inline(always)]
unsafe fn next_q8_0_rows(p: &mut [*const u8; 4]) -> Rows4 {
    // SAFETY: the caller's promise.
    let (q, d) = unsafe { next_q8_0_group(p) };
    Rows4 {
        q,
        d: f16x4_to_f32(d),
    }
}

/// The scales of the next Q8_0 block of each of T tokens as f32 lanes (tokens 0..4, 4..8;
/// the others zero); each pointer moves on by 2 bytes, to the block's values.
///
/// # Safety
/// Each pointer is at a whole `BlockQ8_0`; T <= 8; the CPU has NEON.
#[inline(always)]
pub(in crate::kernels::arm) unsafe fn next_x_scales<const T: usize>(
    p: &mut [*const u8; T],
) -> [float32x4_t; 2] {
    let mut d = [vdup_n_u16(0); 2];
    unrolled::<T>(|t| {
        let d = &mut d[t / 4];
        // SAFETY: p[t] is at a whole block, whose first 2 bytes are its scale.
        unsafe {
            *d = match t % 4 {
                0 => first_f16(&mut p[t]),
                1 => lane_f16::<1>(&mut p[t], *d),
                2 => lane_f16::<2>(&mut p[t], *d),
                _ => lane_f16::<3>(&mut p[t], *d),
            };
        }
    });
    [f16x4_to_f32(d[0]), f16x4_to_f32(d[1])]
}

/// How a weight type enters the shared pass: its block loader, its activation's scale
/// loader, and its step.
pub(in crate::kernels::arm) trait Layout {
    /// One block of four rows, unpacked.
    type Rows;
    /// The scales of one activation block of four tokens (f32 lanes).
    type Scales: Copy;

    /// # Safety
    /// As `next_q4_0_rows` / `next_q8_0_rows`.
    unsafe fn next(&self, p: &mut [*const u8; 4]) -> Self::Rows;

    /// The scales of the next activation block of each of T tokens (tokens 0..4, 4..8);
    /// each pointer moves on to the block's values.
    ///
    /// # Safety
    /// As `next_x_scales`.
    unsafe fn next_x_scales<const T: usize>(p: &mut [*const u8; T]) -> [Self::Scales; 2];

    /// acc (4 rows of one token) + the rows' block `w` . the token's block `x`, whose scales
    /// are lane L of `s`: the exact i32 sums, then the dot's f32 steps per row lane. One asm
    /// block without `pure`, so that LLVM keeps the steps in order (it otherwise moves loads
    /// and multiply-adds across them and spills).
    fn step<const L: u32>(
        acc: float32x4_t,
        w: &Self::Rows,
        x: (int8x16_t, int8x16_t),
        s: Self::Scales,
    ) -> float32x4_t;
}

/// Q4_0: the products of signed nibbles (|n - 8| <= 8) and x (|x| <= 128) in i16 lanes
/// (SMULL/SMLAL2: 4 products a lane, then ADDP twice: 16, at most 16384), SADDLP to i32.
struct Q4Layout(int8x16_t);

/// Q8_0: products in i16 pairs (SMULL/SMLAL: at most 2 * 128 * 127), SADDLP/SADALP to i32
/// partial sums, an ADDP tree to each row's sum.
struct Q8Layout;

impl Layout for Q4Layout {
    type Rows = Rows4;
    type Scales = float32x4_t;

    #[inline(always)]
    unsafe fn next(&self, p: &mut [*const u8; 4]) -> Rows4 {
        // SAFETY: the caller's promise.
        unsafe { next_q4_0_rows(p, self.0) }
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
            "fmla   {acc:v}.4s, {p0:v}.4s, {p1:v}.4s"
        ], dw = in(vreg) w.d, dx = in(vreg) dx,);
        acc
    }
}

impl Layout for Q8Layout {
    type Rows = Rows4;
    type Scales = float32x4_t;

    #[inline(always)]
    unsafe fn next(&self, p: &mut [*const u8; 4]) -> Rows4 {
        // SAFETY: the caller's promise.
        unsafe { next_q8_0_rows(p) }
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
        // SAFETY: register-only baseline NEON instructions. The temporaries are `out`
        // operands, so they share no register with the inputs.
        unsafe {
            std::arch::asm!(
                "smull  {l:v}.8h, {a0:v}.8b,  {xl:v}.8b",
                "smlal  {l:v}.8h, {b0:v}.8b,  {xh:v}.8b",
                "smull2 {h:v}.8h, {a0:v}.16b, {xl:v}.16b",
                "smlal2 {h:v}.8h, {b0:v}.16b, {xh:v}.16b",
                "saddlp {p0:v}.4s, {l:v}.8h",
                "sadalp {p0:v}.4s, {h:v}.8h",
                "smull  {l:v}.8h, {a1:v}.8b,  {xl:v}.8b",
                "smlal  {l:v}.8h, {b1:v}.8b,  {xh:v}.8b",
                "smull2 {h:v}.8h, {a1:v}.16b, {xl:v}.16b",
                "smlal2 {h:v}.8h, {b1:v}.16b, {xh:v}.16b",
                "saddlp {p1:v}.4s, {l:v}.8h",
                "sadalp {p1:v}.4s, {h:v}.8h",
                "smull  {l:v}.8h, {a2:v}.8b,  {xl:v}.8b",
                "smlal  {l:v}.8h, {b2:v}.8b,  {xh:v}.8b",
                "smull2 {h:v}.8h, {a2:v}.16b, {xl:v}.16b",
                "smlal2 {h:v}.8h, {b2:v}.16b, {xh:v}.16b",
                "saddlp {p2:v}.4s, {l:v}.8h",
                "sadalp {p2:v}.4s, {h:v}.8h",
                "smull  {l:v}.8h, {a3:v}.8b,  {xl:v}.8b",
                "smlal  {l:v}.8h, {b3:v}.8b,  {xh:v}.8b",
                "smull2 {h:v}.8h, {a3:v}.16b, {xl:v}.16b",
                "smlal2 {h:v}.8h, {b3:v}.16b, {xh:v}.16b",
                "saddlp {p3:v}.4s, {l:v}.8h",
                "sadalp {p3:v}.4s, {h:v}.8h",
                "addp   {p0:v}.4s, {p0:v}.4s, {p1:v}.4s",
                "addp   {p2:v}.4s, {p2:v}.4s, {p3:v}.4s",
                "addp   {p0:v}.4s, {p0:v}.4s, {p2:v}.4s",
                "fmul   {p1:v}.4s, {dw:v}.4s, {dx:v}.s[{lane}]",
                "scvtf  {p0:v}.4s, {p0:v}.4s",
                "fmla   {acc:v}.4s, {p0:v}.4s, {p1:v}.4s",
                acc = inout(vreg) acc,
                l = out(vreg) _, h = out(vreg) _,
                p0 = out(vreg) _, p1 = out(vreg) _, p2 = out(vreg) _, p3 = out(vreg) _,
                a0 = in(vreg) w.q[0].0, b0 = in(vreg) w.q[0].1,
                a1 = in(vreg) w.q[1].0, b1 = in(vreg) w.q[1].1,
                a2 = in(vreg) w.q[2].0, b2 = in(vreg) w.q[2].1,
                a3 = in(vreg) w.q[3].0, b3 = in(vreg) w.q[3].1,
                xl = in(vreg) x.0, xh = in(vreg) x.1,
                dw = in(vreg) w.d, dx = in(vreg) dx,
                lane = const L,
                options(nomem, nostack, preserves_flags)
            );
        }
        acc
    }
}

/// Four rows (cursors at their first block) x T tokens (cursors at their first block), n
/// blocks -> per token one f32x4 (the 4 rows).
///
/// # Safety
/// Each cursor is at n whole blocks; the CPU has NEON.
#[inline(always)]
unsafe fn pass<L: Layout, const T: usize>(
    layout: &L,
    mut w: [*const u8; 4],
    mut x: [*const u8; T],
    n: usize,
) -> [float32x4_t; T] {
    // SAFETY: NEON is enabled in every caller.
    let mut acc = [unsafe { vdupq_n_f32(0.0) }; T];
    for _ in 0..n {
        // SAFETY: fewer than n calls: every cursor is at a whole block.
        let (dx, b) = unsafe { (L::next_x_scales(&mut x), layout.next(&mut w)) };
        unrolled::<T>(|t| {
            // SAFETY: x[t] is past the scale of a whole block: at its 32 values.
            let xq = unsafe { bytes32(&mut x[t]) };
            let (a, dx) = (acc[t], dx[t / 4]);
            acc[t] = match t % 4 {
                0 => L::step::<0>(a, &b, xq, dx),
                1 => L::step::<1>(a, &b, xq, dx),
                2 => L::step::<2>(a, &b, xq, dx),
                _ => L::step::<3>(a, &b, xq, dx),
            };
        });
    }
    acc
}

/// One product: w (rows, row_len) @ xs[t] (row_len) -> out[t] (rows).
struct Product<'a, 'o, W, X> {
    out: &'a mut [&'o mut [f32]],
    rows: usize,
    w: &'a [W],
    row_len: usize,
    xs: &'a [&'a [X]],
}

/// Rows r0..r0+4 (clamped to the last row) x tokens t0..t0+T -> their outputs (rows <
/// p.rows).
///
/// # Safety
/// r0 < p.rows <= p.w.len() / p.row_len; tokens t0..t0+T are in `p.xs` and `p.out`, and
/// each of their x has at least row_len blocks; the CPU has NEON.
#[inline(always)]
unsafe fn tile<W, X, const T: usize>(
    layout: &impl Layout,
    p: &mut Product<'_, '_, W, X>,
    r0: usize,
    t0: usize,
) {
    let mut wc = [std::ptr::null::<u8>(); 4];
    for (i, c) in wc.iter_mut().enumerate() {
        let r = (r0 + i).min(p.rows - 1);
        // SAFETY: r < rows <= w.len() / row_len: blocks r*row_len.. are in w.
        *c = unsafe { p.w.as_ptr().add(r * p.row_len) } as *const u8;
    }
    let mut xc = [std::ptr::null::<u8>(); T];
    for (c, x) in xc.iter_mut().zip(&p.xs[t0..]) {
        *c = x.as_ptr() as *const u8;
    }
    // SAFETY: every cursor is at row_len whole blocks (the caller's promise).
    let acc = unsafe { pass::<_, T>(layout, wc, xc, p.row_len) };
    let end = (r0 + 4).min(p.rows);
    for (o, a) in p.out[t0..].iter_mut().zip(acc) {
        let mut lanes = [0.0f32; 4];
        // SAFETY: lanes has 4 f32; NEON is enabled in every caller.
        unsafe { vst1q_f32(lanes.as_mut_ptr(), a) };
        o[r0..end].copy_from_slice(&lanes[..end - r0]);
    }
}

/// w (rows, row_len) @ xs[t] (row_len) -> out[t] (rows) for every token, rows =
/// min(w.len() / row_len, every out[t].len()): passes of 4 rows over tiles of TILE_TOKENS
/// tokens. A batch with an x shorter than row_len (a shorter dot) runs `matvec` token by
/// token.
#[inline(always)]
pub(in crate::kernels::arm) fn gemm_by_tiles<W, X>(
    layout: &impl Layout,
    matvec: MatvecFn<W, X>,
    out: &mut [&mut [f32]],
    w: &[W],
    row_len: usize,
    xs: &[&[X]],
) {
    let n_tokens = out.len().min(xs.len());
    let (out, xs) = (&mut out[..n_tokens], &xs[..n_tokens]);
    let Some(rows) = gemm_rows_or_matvecs(out, w, row_len, xs, matvec) else {
        return;
    };
    let mut p = Product {
        out,
        rows,
        w,
        row_len,
        xs,
    };
    for r0 in (0..rows).step_by(4) {
        for t0 in (0..n_tokens).step_by(TILE_TOKENS) {
            let p = &mut p;
            // SAFETY: r0 < rows <= w.len() / row_len, tokens t0..t0 + TILE_TOKENS.min(
            // n_tokens - t0) are in xs and out, every x has row_len blocks (checked above),
            // and the CPU has NEON (the kernels' target_feature).
            unsafe {
                match (n_tokens - t0).min(TILE_TOKENS) {
                    8 => tile::<W, X, 8>(layout, p, r0, t0),
                    7 => tile::<W, X, 7>(layout, p, r0, t0),
                    6 => tile::<W, X, 6>(layout, p, r0, t0),
                    5 => tile::<W, X, 5>(layout, p, r0, t0),
                    4 => tile::<W, X, 4>(layout, p, r0, t0),
                    3 => tile::<W, X, 3>(layout, p, r0, t0),
                    2 => tile::<W, X, 2>(layout, p, r0, t0),
                    _ => tile::<W, X, 1>(layout, p, r0, t0),
                }
            }
        }
    }
}

#[target_feature(enable = "neon")]
fn gemm_q4_0_neon(out: &mut [&mut [f32]], w: &[BlockQ4_0], row_len: usize, xs: &[&[BlockQ8_0]]) {
    let layout = Q4Layout(vdupq_n_s8(0x88u8 as i8));
    gemm_by_tiles(&layout, q4::Q4_0.matvec, out, w, row_len, xs)
}

#[target_feature(enable = "neon")]
fn gemm_q8_0_neon(out: &mut [&mut [f32]], w: &[BlockQ8_0], row_len: usize, xs: &[&[BlockQ8_0]]) {
    gemm_by_tiles(&Q8Layout, q8::Q8_0.matvec, out, w, row_len, xs)
}
