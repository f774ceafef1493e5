//! Prompt gemms over the repacked Q4_0 and Q8_0 layouts (`kernels::repacked`) with SDOT by
//! element: a pass takes two groups of four rows and a tile of up to four tokens, loads (and
//! for Q4_0 unpacks) each weight block once and multiplies it against every token's block of
//! the tile. Per row, token and block the arithmetic is the repacked matvec's
//! (`dotprod::repacked`): the same exact i32 block sum, then
//! acc = fma(f32(sumi), d_w * d_x, acc), block after block. So each output is the bits of its
//! token's matvec; only the tiling over rows and tokens differs (the `GemmFn` contract).
//!
//! Per block of 8 rows x 4 tokens: Q4_0 129 instructions (16.1 per four rows and token;
//! the matvec's 32-row pass: 23.6), Q8_0 115 (14.4; the matvec: 16.6). The floor is the 12
//! of a step (8 SDOT, MOVI, FMUL, SCVTF, FMLA); the rest is loads and Q4_0's unpacking.

use super::repacked::{matvec_q4_0x4, matvec_q8_0x4};
use crate::kernels::arm::f16::f16x4_to_f32;
use crate::kernels::arm::neon::{bytes32, first_f16, lane_f16};
use crate::kernels::dispatch::MatvecFn;
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::repacked::{BlockQ4_0x4, BlockQ8_0x4, ROWS};
use edge_formats::BlockQ8_0;
use std::arch::aarch64::*;

safe_entry! {
    pub(super) fn gemm_q4_0x4(out: &mut [&mut [f32]], w: &[BlockQ4_0x4], row_len: usize, xs: &[&[BlockQ8_0]]) => gemm_q4_0x4_sdot;
    pub(super) fn gemm_q8_0x4(out: &mut [&mut [f32]], w: &[BlockQ8_0x4], row_len: usize, xs: &[&[BlockQ8_0]]) => gemm_q8_0x4_sdot;
}

/// Groups of four rows per pass (8 rows); the last group of a matrix may run alone. With 4
/// tokens: 8 accumulators, 8 registers of x, 8 of one group's weights and the scales fit the
/// 32 vector registers; a third group would spill.
const PASS_GROUPS: usize = 2;

/// Tokens per tile (one f32 lane of `dx` each); the last tile of a batch may be shorter.
const TILE_TOKENS: usize = 4;

/// f(0), .., f(N - 1), written out (N <= 4): LLVM does not unroll the tile loops on its own
/// (their asm looks costly to it), and the lane indices must be constants.
#[inline(always)]
fn unrolled<const N: usize>(mut f: impl FnMut(usize)) {
    const { assert!(N <= 4) };
    if N > 0 {
        f(0);
    }
    if N > 1 {
        f(1);
    }
    if N > 2 {
        f(2);
    }
    if N > 3 {
        f(3);
    }
}

/// One block of four repacked rows, ready for SDOT by element: `lo[c]` multiplies lane c of
/// x's values 0..16 (values 4c..4c+4), `hi[c]` lane c of its values 16..32; `d`: the rows'
/// scales. Q4_0 values are (n - 8) * 16, Q8_0 values themselves.
#[derive(Clone, Copy)]
struct Block4 {
    lo: [int8x16_t; 4],
    hi: [int8x16_t; 4],
    d: float32x4_t,
}

/// The next repacked Q4_0 block at `*p`, its nibbles split as (n - 8) * 16 (SHL #4 for the
/// low ones, AND 0xF0 for the high ones: the bytes are pre-flipped); *p moves on by a block.
///
/// # Safety
/// `*p` is at a whole `BlockQ4_0x4` (72 bytes); the CPU has NEON.
#[inline(always)]
unsafe fn next_q4_0x4(p: &mut *const u8, high: uint8x16_t) -> Block4 {
    let (q0, q1, q2, q3, d): (uint8x16_t, uint8x16_t, uint8x16_t, uint8x16_t, uint16x4_t);
    // SAFETY: the caller's pointer is at 72 readable bytes (64 of quants, 4 f16 scales); the
    // four-register LD1 needs consecutive registers, hence v16..v19.
    unsafe {
        std::arch::asm!(
            "ld1 {{v16.16b, v17.16b, v18.16b, v19.16b}}, [{p}], #64",
            "ldr {d:d}, [{p}], #8",
            p = inout(reg) *p,
            d = lateout(vreg) d,
            out("v16") q0, out("v17") q1, out("v18") q2, out("v19") q3,
            options(readonly, nostack, preserves_flags)
        );
    }
    let lo = |q| vreinterpretq_s8_u8(vshlq_n_u8::<4>(q));
    let hi = |q| vreinterpretq_s8_u8(vandq_u8(q, high));
    Block4 {
        lo: [lo(q0), lo(q1), lo(q2), lo(q3)],
        hi: [hi(q0), hi(q1), hi(q2), hi(q3)],
        d: f16x4_to_f32(d),
    }
}

/// The next repacked Q8_0 block at `*p`; *p moves on by a block.
///
/// # Safety
/// `*p` is at a whole `BlockQ8_0x4` (136 bytes); the CPU has NEON.
#[inline(always)]
unsafe fn next_q8_0x4(p: &mut *const u8) -> Block4 {
    let (l0, l1, l2, l3, h0, h1, h2, h3, d): (
        int8x16_t,
        int8x16_t,
        int8x16_t,
        int8x16_t,
        int8x16_t,
        int8x16_t,
        int8x16_t,
        int8x16_t,
        uint16x4_t,
    );
    // SAFETY: the caller's pointer is at 136 readable bytes (128 of quants, 4 f16 scales);
    // the four-register LD1 needs consecutive registers, hence v16..v23.
    unsafe {
        std::arch::asm!(
            "ld1 {{v16.16b, v17.16b, v18.16b, v19.16b}}, [{p}], #64",
            "ld1 {{v20.16b, v21.16b, v22.16b, v23.16b}}, [{p}], #64",
            "ldr {d:d}, [{p}], #8",
            p = inout(reg) *p,
            d = lateout(vreg) d,
            out("v16") l0, out("v17") l1, out("v18") l2, out("v19") l3,
            out("v20") h0, out("v21") h1, out("v22") h2, out("v23") h3,
            options(readonly, nostack, preserves_flags)
        );
    }
    Block4 {
        lo: [l0, l1, l2, l3],
        hi: [h0, h1, h2, h3],
        d: f16x4_to_f32(d),
    }
}

/// The next Q8_0 block of each of T tokens' activations: their values, and their scales as
/// the f32 lanes 0..T (the others zero); each pointer moves on by a block.
///
/// # Safety
/// Each pointer is at a whole `BlockQ8_0` (34 bytes: d, then qs); T <= 4; the CPU has NEON.
#[inline(always)]
unsafe fn next_x_tile<const T: usize>(
    p: &mut [*const u8; T],
) -> ([(int8x16_t, int8x16_t); T], float32x4_t) {
    let mut q = [(vdupq_n_s8(0), vdupq_n_s8(0)); T];
    let mut d = vdup_n_u16(0);
    unrolled::<T>(|t| {
        // SAFETY: p[t] is at a whole block: its d, then its 32 values.
        unsafe {
            d = match t {
                0 => first_f16(&mut p[t]),
                1 => lane_f16::<1>(&mut p[t], d),
                2 => lane_f16::<2>(&mut p[t], d),
                _ => lane_f16::<3>(&mut p[t], d),
            };
            q[t] = bytes32(&mut p[t]);
        }
    });
    (q, f16x4_to_f32(d))
}

/// acc (4 rows of one token) + four rows' block `w` . the token's block `x` whose scale is
/// lane L of `dx`: MOVI and 8 SDOT by element give the exact i32 sums (no horizontal sum),
/// then acc = fma(f32(sums), d_w * d_x, acc) (FMUL by element, SCVTF, FMLA), the matvec's
/// instructions. `times_16`: the sums are 16 times the exact ones (Q4_0, see [`Block4`]),
/// and SCVTF #4 divides them back exactly.
///
/// One asm block without `pure`, so that LLVM keeps the steps in order: it otherwise
/// hoists the next group's loads above them and sinks the multiply-adds below, which
/// spills the accumulators.
///
/// # Safety
/// The CPU has dotprod.
#[inline(always)]
unsafe fn step<const L: u32>(
    times_16: bool,
    acc: float32x4_t,
    w: &Block4,
    x: (int8x16_t, int8x16_t),
    dx: float32x4_t,
) -> float32x4_t {
    let mut acc = acc;
    macro_rules! step_asm {
        ($scvtf:literal) => {
            // SAFETY: register-only instructions; the caller's CPU has dotprod. `s` and `d`
            // are `out` operands, so they share no register with the inputs.
            unsafe {
                std::arch::asm!(
                    "movi {s:v}.2d, #0",
                    "sdot {s:v}.4s, {l0:v}.16b, {xl:v}.4b[0]",
                    "sdot {s:v}.4s, {h0:v}.16b, {xh:v}.4b[0]",
                    "sdot {s:v}.4s, {l1:v}.16b, {xl:v}.4b[1]",
                    "sdot {s:v}.4s, {h1:v}.16b, {xh:v}.4b[1]",
                    "sdot {s:v}.4s, {l2:v}.16b, {xl:v}.4b[2]",
                    "sdot {s:v}.4s, {h2:v}.16b, {xh:v}.4b[2]",
                    "sdot {s:v}.4s, {l3:v}.16b, {xl:v}.4b[3]",
                    "sdot {s:v}.4s, {h3:v}.16b, {xh:v}.4b[3]",
                    "fmul {d:v}.4s, {dw:v}.4s, {dx:v}.s[{lane}]",
                    $scvtf,
                    "fmla {acc:v}.4s, {s:v}.4s, {d:v}.4s",
                    acc = inout(vreg) acc,
                    s = out(vreg) _,
                    d = out(vreg) _,
                    l0 = in(vreg) w.lo[0], l1 = in(vreg) w.lo[1],
                    l2 = in(vreg) w.lo[2], l3 = in(vreg) w.lo[3],
                    h0 = in(vreg) w.hi[0], h1 = in(vreg) w.hi[1],
                    h2 = in(vreg) w.hi[2], h3 = in(vreg) w.hi[3],
                    xl = in(vreg) x.0, xh = in(vreg) x.1,
                    dw = in(vreg) w.d, dx = in(vreg) dx,
                    lane = const L,
                    options(nomem, nostack, preserves_flags)
                );
            }
        };
    }
    if times_16 {
        step_asm!("scvtf {s:v}.4s, {s:v}.4s, #4");
    } else {
        step_asm!("scvtf {s:v}.4s, {s:v}.4s");
    }
    acc
}

/// How a weight type enters the shared pass: its block loader, and whether its block sums are
/// 16 times the exact ones (see [`step`]).
trait Layout {
    /// The `times_16` of [`step`].
    const TIMES_16: bool;
    /// # Safety
    /// As `next_q4_0x4` / `next_q8_0x4`.
    unsafe fn next(&self, p: &mut *const u8) -> Block4;
}

/// Q4_0: the sums are 16 * sumi.
struct Q4Layout(uint8x16_t);
/// Q8_0: the sums are sumi.
struct Q8Layout;

impl Layout for Q4Layout {
    const TIMES_16: bool = true;
    #[inline(always)]
    unsafe fn next(&self, p: &mut *const u8) -> Block4 {
        // SAFETY: the caller's promise.
        unsafe { next_q4_0x4(p, self.0) }
    }
}

impl Layout for Q8Layout {
    const TIMES_16: bool = false;
    #[inline(always)]
    unsafe fn next(&self, p: &mut *const u8) -> Block4 {
        // SAFETY: the caller's promise.
        unsafe { next_q8_0x4(p) }
    }
}

/// G groups (cursors at their first block) x T tokens (cursors at their first block), n
/// blocks -> per group and token one f32x4 (the group's 4 rows).
///
/// # Safety
/// Each cursor is at n whole blocks; the CPU has NEON and dotprod.
#[inline(always)]
unsafe fn pass<L: Layout, const G: usize, const T: usize>(
    layout: &L,
    mut w: [*const u8; G],
    mut x: [*const u8; T],
    n: usize,
) -> [[float32x4_t; T]; G] {
    // SAFETY: NEON is enabled in every caller.
    let mut acc = [[unsafe { vdupq_n_f32(0.0) }; T]; G];
    for _ in 0..n {
        // SAFETY: fewer than n calls: every x cursor is at a whole block.
        let (xq, dx) = unsafe { next_x_tile(&mut x) };
        unrolled::<G>(|g| {
            // SAFETY: fewer than n calls: the group's cursor is at a whole block.
            let b = unsafe { layout.next(&mut w[g]) };
            unrolled::<T>(|t| {
                let a = acc[g][t];
                // SAFETY: the CPU has dotprod (the caller's promise).
                acc[g][t] = unsafe {
                    match t {
                        0 => step::<0>(L::TIMES_16, a, &b, xq[t], dx),
                        1 => step::<1>(L::TIMES_16, a, &b, xq[t], dx),
                        2 => step::<2>(L::TIMES_16, a, &b, xq[t], dx),
                        _ => step::<3>(L::TIMES_16, a, &b, xq[t], dx),
                    }
                };
            });
        });
    }
    acc
}

/// One product: w (groups * 4 rows, row_len) @ xs[t] (row_len) -> out[t] (rows).
struct Product<'a, 'o, W> {
    out: &'a mut [&'o mut [f32]],
    rows: usize,
    w: &'a [W],
    row_len: usize,
    xs: &'a [&'a [BlockQ8_0]],
}

/// Groups first..first+G x tokens t0..t0+T of the product -> its outputs (rows < p.rows).
///
/// # Safety
/// Groups first..first+G are whole groups of `p.w` (row_len blocks each); tokens
/// t0..t0+T are in `p.xs` and `p.out`, and each of their x has at least row_len blocks; the
/// CPU has NEON and dotprod.
#[inline(always)]
unsafe fn tile<W, const G: usize, const T: usize>(
    layout: &impl Layout,
    p: &mut Product<'_, '_, W>,
    first: usize,
    t0: usize,
) {
    let mut wc = [std::ptr::null::<u8>(); G];
    for (g, c) in wc.iter_mut().enumerate() {
        // SAFETY: group first + g is whole: blocks (first+g)*row_len.. are in w.
        *c = unsafe { p.w.as_ptr().add((first + g) * p.row_len) } as *const u8;
    }
    let mut xc = [std::ptr::null::<u8>(); T];
    for (c, x) in xc.iter_mut().zip(&p.xs[t0..]) {
        *c = x.as_ptr() as *const u8;
    }
    // SAFETY: every cursor is at row_len whole blocks (the caller's promise).
    let acc = unsafe { pass::<_, G, T>(layout, wc, xc, p.row_len) };
    for (g, acc) in acc.iter().enumerate() {
        let at = ROWS * (first + g);
        let end = (at + ROWS).min(p.rows);
        for (o, a) in p.out[t0..].iter_mut().zip(acc) {
            let mut lanes = [0.0f32; ROWS];
            // SAFETY: lanes has 4 f32; NEON is enabled in every caller.
            unsafe { vst1q_f32(lanes.as_mut_ptr(), *a) };
            o[at..end].copy_from_slice(&lanes[..end - at]);
        }
    }
}

/// w (groups * 4 rows, row_len) @ xs[t] (row_len) -> out[t] (rows) for every token, rows =
/// min(4 * groups, every out[t].len()): passes of PASS_GROUPS groups (the last group alone)
/// over tiles of TILE_TOKENS tokens. A batch with an x shorter than row_len (a shorter dot)
/// runs `matvec` token by token.
#[inline(always)]
fn gemm_by_tiles<W>(
    layout: &impl Layout,
    matvec: MatvecFn<W, BlockQ8_0>,
    out: &mut [&mut [f32]],
    w: &[W],
    row_len: usize,
    xs: &[&[BlockQ8_0]],
) {
    let n_tokens = out.len().min(xs.len());
    let (out, xs) = (&mut out[..n_tokens], &xs[..n_tokens]);
    if row_len == 0 || xs.iter().any(|x| x.len() < row_len) {
        for (o, x) in out.iter_mut().zip(xs) {
            matvec(o, w, row_len, x);
        }
        return;
    }
    let outs_len = out.iter().map(|o| o.len()).min().unwrap_or(0);
    let rows = outs_len.min(ROWS * (w.len() / row_len));
    let groups = rows.div_ceil(ROWS);
    let mut p = Product {
        out,
        rows,
        w,
        row_len,
        xs,
    };
    let mut first = 0;
    while first < groups {
        let g = if first + PASS_GROUPS <= groups {
            PASS_GROUPS
        } else {
            1
        };
        for t0 in (0..n_tokens).step_by(TILE_TOKENS) {
            let p = &mut p;
            // SAFETY: groups first..first+g < groups <= w.len() / row_len are whole, tokens
            // t0..t0+TILE_TOKENS.min(n_tokens - t0) are in xs and out, every x has row_len
            // blocks (checked above), and the CPU has NEON and dotprod (the kernels'
            // target_feature).
            unsafe {
                match (g, (n_tokens - t0).min(TILE_TOKENS)) {
                    (PASS_GROUPS, 4) => tile::<W, PASS_GROUPS, 4>(layout, p, first, t0),
                    (PASS_GROUPS, 3) => tile::<W, PASS_GROUPS, 3>(layout, p, first, t0),
                    (PASS_GROUPS, 2) => tile::<W, PASS_GROUPS, 2>(layout, p, first, t0),
                    (PASS_GROUPS, _) => tile::<W, PASS_GROUPS, 1>(layout, p, first, t0),
                    (_, 4) => tile::<W, 1, 4>(layout, p, first, t0),
                    (_, 3) => tile::<W, 1, 3>(layout, p, first, t0),
                    (_, 2) => tile::<W, 1, 2>(layout, p, first, t0),
                    (_, _) => tile::<W, 1, 1>(layout, p, first, t0),
                }
            }
        }
        first += g;
    }
}

#[target_feature(enable = "neon,dotprod")]
fn gemm_q4_0x4_sdot(
    out: &mut [&mut [f32]],
    w: &[BlockQ4_0x4],
    row_len: usize,
    xs: &[&[BlockQ8_0]],
) {
    let layout = Q4Layout(vdupq_n_u8(0xF0));
    gemm_by_tiles(&layout, matvec_q4_0x4, out, w, row_len, xs)
}

#[target_feature(enable = "neon,dotprod")]
fn gemm_q8_0x4_sdot(
    out: &mut [&mut [f32]],
    w: &[BlockQ8_0x4],
    row_len: usize,
    xs: &[&[BlockQ8_0]],
) {
    gemm_by_tiles(&Q8Layout, matvec_q8_0x4, out, w, row_len, xs)
}
