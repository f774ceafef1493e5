//! The repacked Q4_0 and Q8_0 layouts (`kernels::repacked`) with SDOT by element: one
//! activation register's lane c holds x's values 4c..4c+4, and one SDOT multiplies them with
//! the same four values of the four rows of a repacked block at once, so a block of four rows
//! costs 8 SDOTs (Q4_0: plus 4 SHL and 4 AND to split the pre-flipped nibbles into signed
//! values times 16; Q8_0: none) and no horizontal sum. Per block and row the i32 sum is exact
//! and is added to the row's f32 lane as `neon::scale_add` does, so each row is the bits of
//! the dotprod (and NEON) dot of the row as the file stores it.

use crate::kernels::arm::neon::next_x_q8_0;
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::repacked::{BlockQ4_0x4, BlockQ8_0x4, ROWS};
use edge_formats::BlockQ8_0;
use std::arch::aarch64::*;

safe_entry! {
    pub(super) fn matvec_q4_0x4(out: &mut [f32], w: &[BlockQ4_0x4], row_len: usize, x: &[BlockQ8_0]) => matvec_q4_0x4_sdot;
    pub(super) fn matvec_q8_0x4(out: &mut [f32], w: &[BlockQ8_0x4], row_len: usize, x: &[BlockQ8_0]) => matvec_q8_0x4_sdot;
}

/// Groups of four rows per pass (32 rows: the accumulators, x and the temporaries fit the 32
/// vector registers); what is left of a matrix runs in passes of 4 groups, then of 1.
const PASS_GROUPS: usize = 8;

/// acc (4 rows) + the next repacked Q4_0 block at `*p` . x's block (values xl, xh; scale dx);
/// *p moves on by one block. Per row: fma(f32(sumi), d_w * d_x, acc), sumi exact: the
/// flipped nibbles give (n - 8) * 16 and SCVTF #4 divides the sum by 16 exactly.
///
/// # Safety
/// `*p` is at a whole `BlockQ4_0x4`; the CPU has NEON and dotprod.
#[inline(always)]
unsafe fn step_q4_0x4(
    p: &mut *const u8,
    x: (int8x16_t, int8x16_t),
    dx: f32,
    high: uint8x16_t,
    acc: float32x4_t,
) -> float32x4_t {
    let mut acc = acc;
    // SAFETY: the caller's pointer is at 72 readable bytes (64 of quants, 4 f16 scales);
    // v16..v20 are declared clobbered.
    unsafe {
        std::arch::asm!(
            "ld1 {{v16.16b, v17.16b, v18.16b, v19.16b}}, [{p}], #64",
            "ldr {d:d}, [{p}], #8",
            "movi {s:v}.2d, #0",
            "shl v20.16b, v16.16b, #4",
            "and v16.16b, v16.16b, {m:v}.16b",
            "sdot {s:v}.4s, v20.16b, {xl:v}.4b[0]",
            "sdot {s:v}.4s, v16.16b, {xh:v}.4b[0]",
            "shl v20.16b, v17.16b, #4",
            "and v17.16b, v17.16b, {m:v}.16b",
            "sdot {s:v}.4s, v20.16b, {xl:v}.4b[1]",
            "sdot {s:v}.4s, v17.16b, {xh:v}.4b[1]",
            "shl v20.16b, v18.16b, #4",
            "and v18.16b, v18.16b, {m:v}.16b",
            "sdot {s:v}.4s, v20.16b, {xl:v}.4b[2]",
            "sdot {s:v}.4s, v18.16b, {xh:v}.4b[2]",
            "shl v20.16b, v19.16b, #4",
            "and v19.16b, v19.16b, {m:v}.16b",
            "sdot {s:v}.4s, v20.16b, {xl:v}.4b[3]",
            "sdot {s:v}.4s, v19.16b, {xh:v}.4b[3]",
            "fcvtl {d:v}.4s, {d:v}.4h",
            "fmul {d:v}.4s, {d:v}.4s, {dx:v}.s[0]",
            "scvtf {s:v}.4s, {s:v}.4s, #4",
            "fmla {acc:v}.4s, {s:v}.4s, {d:v}.4s",
            p = inout(reg) *p,
            acc = inout(vreg) acc,
            xl = in(vreg) x.0,
            xh = in(vreg) x.1,
            dx = in(vreg) dx,
            m = in(vreg) high,
            d = out(vreg) _,
            s = out(vreg) _,
            out("v16") _, out("v17") _, out("v18") _, out("v19") _, out("v20") _,
            options(readonly, nostack, preserves_flags)
        );
    }
    acc
}

/// acc (4 rows) + the next repacked Q8_0 block at `*p` . x's block (values xl, xh; scale
/// dx); *p moves on by one block. Per row: fma(f32(sumi), d_w * d_x, acc), sumi exact.
///
/// # Safety
/// `*p` is at a whole `BlockQ8_0x4`; the CPU has NEON and dotprod.
#[inline(always)]
unsafe fn step_q8_0x4(
    p: &mut *const u8,
    x: (int8x16_t, int8x16_t),
    dx: f32,
    acc: float32x4_t,
) -> float32x4_t {
    let mut acc = acc;
    // SAFETY: the caller's pointer is at 136 readable bytes (128 of quants, 4 f16 scales);
    // v16..v23 are declared clobbered.
    unsafe {
        std::arch::asm!(
            "ld1 {{v16.16b, v17.16b, v18.16b, v19.16b}}, [{p}], #64",
            "ld1 {{v20.16b, v21.16b, v22.16b, v23.16b}}, [{p}], #64",
            "ldr {d:d}, [{p}], #8",
            "movi {s:v}.2d, #0",
            "sdot {s:v}.4s, v16.16b, {xl:v}.4b[0]",
            "sdot {s:v}.4s, v17.16b, {xl:v}.4b[1]",
            "sdot {s:v}.4s, v18.16b, {xl:v}.4b[2]",
            "sdot {s:v}.4s, v19.16b, {xl:v}.4b[3]",
            "sdot {s:v}.4s, v20.16b, {xh:v}.4b[0]",
            "sdot {s:v}.4s, v21.16b, {xh:v}.4b[1]",
            "sdot {s:v}.4s, v22.16b, {xh:v}.4b[2]",
            "sdot {s:v}.4s, v23.16b, {xh:v}.4b[3]",
            "fcvtl {d:v}.4s, {d:v}.4h",
            "fmul {d:v}.4s, {d:v}.4s, {dx:v}.s[0]",
            "scvtf {s:v}.4s, {s:v}.4s",
            "fmla {acc:v}.4s, {s:v}.4s, {d:v}.4s",
            p = inout(reg) *p,
            acc = inout(vreg) acc,
            xl = in(vreg) x.0,
            xh = in(vreg) x.1,
            dx = in(vreg) dx,
            d = out(vreg) _,
            s = out(vreg) _,
            out("v16") _, out("v17") _, out("v18") _, out("v19") _,
            out("v20") _, out("v21") _, out("v22") _, out("v23") _,
            options(readonly, nostack, preserves_flags)
        );
    }
    acc
}

/// The repacked matvec: w (groups * 4 rows, row_len) @ x (row_len) -> out (rows), passes of
/// G groups (then of 1) calling `step` once per group and block.
#[inline(always)]
fn matvec_by_groups<W>(
    out: &mut [f32],
    w: &[W],
    row_len: usize,
    x: &[BlockQ8_0],
    step: impl Fn(&mut *const u8, (int8x16_t, int8x16_t), f32, float32x4_t) -> float32x4_t,
) {
    if row_len == 0 {
        out.fill(0.0);
        return;
    }
    let groups = out.len().div_ceil(ROWS).min(w.len() / row_len);
    let n = row_len.min(x.len());
    let mut first = 0;
    while first < groups {
        if first + PASS_GROUPS <= groups {
            let acc = pass::<W, PASS_GROUPS>(w, row_len, first, x, n, &step);
            store(out, first, &acc);
            first += PASS_GROUPS;
        } else if first + 4 <= groups {
            let acc = pass::<W, 4>(w, row_len, first, x, n, &step);
            store(out, first, &acc);
            first += 4;
        } else {
            let acc = pass::<W, 1>(w, row_len, first, x, n, &step);
            store(out, first, &acc);
            first += 1;
        }
    }
}

/// Groups first..first+G over the first n blocks -> one f32x4 (4 rows) per group.
#[inline(always)]
fn pass<W, const G: usize>(
    w: &[W],
    row_len: usize,
    first: usize,
    x: &[BlockQ8_0],
    n: usize,
    step: &impl Fn(&mut *const u8, (int8x16_t, int8x16_t), f32, float32x4_t) -> float32x4_t,
) -> [float32x4_t; G] {
    let mut cursors = [std::ptr::null::<u8>(); G];
    for (g, c) in cursors.iter_mut().enumerate() {
        *c = w[(first + g) * row_len..].as_ptr() as *const u8;
    }
    // SAFETY: NEON is enabled in every caller (the kernels' target_feature).
    let mut acc = [unsafe { vdupq_n_f32(0.0) }; G];
    let mut xp = x.as_ptr() as *const u8;
    for _ in 0..n {
        // SAFETY: fewer than n <= x.len() calls: xp is at a whole block of x.
        let (xq, dx) = unsafe { next_x_q8_0(&mut xp) };
        for (a, c) in acc.iter_mut().zip(&mut cursors) {
            *a = step(c, xq, dx, *a);
        }
    }
    acc
}

/// Writes groups first.. of `acc` to out (rows 4 * first..), as far as out goes.
#[inline(always)]
fn store<const G: usize>(out: &mut [f32], first: usize, acc: &[float32x4_t; G]) {
    for (g, a) in acc.iter().enumerate() {
        let mut lanes = [0.0f32; ROWS];
        // SAFETY: lanes has 4 f32; NEON is enabled in every caller.
        unsafe { vst1q_f32(lanes.as_mut_ptr(), *a) };
        let at = ROWS * (first + g);
        let end = (at + ROWS).min(out.len());
        if let Some(o) = out.get_mut(at..end) {
            o.copy_from_slice(&lanes[..end - at]);
        }
    }
}

#[target_feature(enable = "neon,dotprod")]
fn matvec_q4_0x4_sdot(out: &mut [f32], w: &[BlockQ4_0x4], row_len: usize, x: &[BlockQ8_0]) {
    let high = vdupq_n_u8(0xF0);
    matvec_by_groups(out, w, row_len, x, |p, xq, dx, acc| {
        // SAFETY: `pass` calls a group's step fewer than n <= row_len times from the group's
        // first block: the cursor is at a whole block; dotprod is this function's feature.
        unsafe { step_q4_0x4(p, xq, dx, high, acc) }
    })
}

#[target_feature(enable = "neon,dotprod")]
fn matvec_q8_0x4_sdot(out: &mut [f32], w: &[BlockQ8_0x4], row_len: usize, x: &[BlockQ8_0]) {
    matvec_by_groups(out, w, row_len, x, |p, xq, dx, acc| {
        // SAFETY: as in `matvec_q4_0x4_sdot`.
        unsafe { step_q8_0x4(p, xq, dx, acc) }
    })
}
