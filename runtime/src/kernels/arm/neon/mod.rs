//! NEON kernels (aarch64 baseline), the twins of `generic`, one file per type family; see
//! `arm/mod.rs` for how they agree with it. The helpers the families (and `dotprod`) share
//! are here.

mod activation;
mod attention;
mod float;
pub(super) mod gemm;
pub(super) mod k_gemm;
pub(super) mod k_quants;
pub(super) mod q4;
pub(super) mod q5;
pub(super) mod q8;
mod repacked;
mod swiglu;

use super::f16::f16x4_to_f32;
use crate::kernels::Kernels;
use std::arch::aarch64::*;

/// The NEON table, or None when this CPU lacks NEON.
pub fn kernels() -> Option<Kernels> {
    if !std::arch::is_aarch64_feature_detected!("neon") {
        return None;
    }
    Some(Kernels {
        quantize_q8_0: activation::quantize_q8_0,
        quantize_q8_1: activation::quantize_q8_1,
        q4_0: q4::Q4_0.with_gemm(gemm::gemm_q4_0),
        q4_1: q4::Q4_1.with_gemm(gemm::gemm_q4_1),
        q5_0: q5::Q5_0.with_gemm(gemm::gemm_q5_0),
        q5_1: q5::Q5_1.with_gemm(gemm::gemm_q5_1),
        q8_0: q8::Q8_0.with_gemm(gemm::gemm_q8_0),
        q2_k: k_quants::Q2_K,
        q3_k: k_quants::Q3_K,
        q4_k: k_quants::Q4_K,
        q5_k: k_quants::Q5_K,
        q6_k: k_quants::Q6_K,
        f32: float::F32,
        f16: float::F16,
        bf16: float::BF16,
        q4_0x4: repacked::matvec_q4_0x4,
        q8_0x4: repacked::matvec_q8_0x4,
        swiglu: swiglu::swiglu,
        attention_f16: attention::ATTENTION_F16,
        ..Kernels::scalar().named("neon")
    })
}

/// A Q4 block's 16 bytes -> its 32 raw nibbles (0..16) as two i8x16: elements 0..16 and
/// 16..32.
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn split_nibbles(v: uint8x16_t) -> (int8x16_t, int8x16_t) {
    let lo = vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F)));
    let hi = vreinterpretq_s8_u8(vshrq_n_u8::<4>(v));
    (lo, hi)
}

// The multi-row kernels. A pass runs G groups of 4 rows over every block of x, keeping one
// f32 lane per row across blocks: per block it reduces each row's products to an exact i32
// and adds f32(sumi) * (d_w * d_x) to the row's lane (FMLA). Each lane's arithmetic is the
// same whichever group and pass it runs in, so `dot` (a pass with the row in every lane)
// gives the bits of that row in `matvec`.

/// Groups of 4 rows per pass in `matvec` (8 rows: the A72 and A76 have 32 vector registers).
pub(super) const PASS_GROUPS: usize = 2;

/// G groups of 4 rows of blocks, one pass of a multi-row kernel.
pub(super) type Rows<'a, W, const G: usize> = [[&'a [W]; 4]; G];

/// The blocks a pass reads: the shortest of its rows and x (a dot of unequal lengths reads
/// the shorter, as `generic` does).
#[inline(always)]
pub(super) fn pass_len<W, X, const G: usize>(rows: &Rows<W, G>, x: &[X]) -> usize {
    rows.iter().flatten().fold(x.len(), |n, r| n.min(r.len()))
}

/// `a.map(f)` for four elements, always inlined: LLVM may leave `array::map` and its closure
/// as calls in the multi-row kernels (it did in the Q5 passes once the crate grew).
#[inline(always)]
pub(in crate::kernels::arm) fn map4<T, U>(a: [T; 4], mut f: impl FnMut(T) -> U) -> [U; 4] {
    let [a, b, c, d] = a;
    [f(a), f(b), f(c), f(d)]
}

/// Pointers to the first block of each row of a pass, for the `next_*_group` loaders.
#[inline(always)]
pub(super) fn row_cursors<W, const G: usize>(rows: &Rows<W, G>) -> [[*const u8; 4]; G] {
    // Loops rather than `map`, which LLVM leaves as calls in the multi-row kernels.
    let mut cursors = [[std::ptr::null(); 4]; G];
    for (c, group) in cursors.iter_mut().zip(rows) {
        for (p, row) in c.iter_mut().zip(group) {
            *p = row.as_ptr() as *const u8;
        }
    }
    cursors
}

// The loaders read the next block of each of four rows with post-indexed loads (the scale
// into lane r of a vector, then the payload), so each pointer moves past its block with no
// address arithmetic; they are in asm because LLVM indexes the rows from one counter, which
// costs an add per row and block. Each `# Safety`: every pointer is at a whole block of the
// named layout (a pass calls a loader fewer than `pass_len` times from `row_cursors`).

/// An f16 at `*p` into lane 0 (the others zeroed); *p moves on by 2 bytes.
#[inline(always)]
pub(in crate::kernels::arm) unsafe fn first_f16(p: &mut *const u8) -> uint16x4_t {
    let v: uint16x4_t;
    // SAFETY: the caller's pointer is at 2 readable bytes.
    unsafe {
        std::arch::asm!("ldr {v:h}, [{p}], #2", v = lateout(vreg) v, p = inout(reg) *p,
            options(readonly, nostack, preserves_flags));
    }
    v
}

/// An f16 at `*p` into lane L of `v`; *p moves on by 2 bytes.
#[inline(always)]
pub(in crate::kernels::arm) unsafe fn lane_f16<const L: u32>(
    p: &mut *const u8,
    mut v: uint16x4_t,
) -> uint16x4_t {
    // SAFETY: the caller's pointer is at 2 readable bytes.
    unsafe {
        std::arch::asm!("ld1 {{{v:v}.h}}[{l}], [{p}], #2", v = inout(vreg) v, p = inout(reg) *p,
            l = const L, options(readonly, nostack, preserves_flags));
    }
    v
}

/// Two f16 (32 bits) at `*p` into lane 0 (the others zeroed); *p moves on by 4 bytes.
#[inline(always)]
pub(in crate::kernels::arm) unsafe fn first_f16_pair(p: &mut *const u8) -> uint32x4_t {
    let v: uint32x4_t;
    // SAFETY: the caller's pointer is at 4 readable bytes.
    unsafe {
        std::arch::asm!("ldr {v:s}, [{p}], #4", v = lateout(vreg) v, p = inout(reg) *p,
            options(readonly, nostack, preserves_flags));
    }
    v
}

/// Two f16 (32 bits) at `*p` into lane L of `v`; *p moves on by 4 bytes.
#[inline(always)]
pub(in crate::kernels::arm) unsafe fn lane_f16_pair<const L: u32>(
    p: &mut *const u8,
    mut v: uint32x4_t,
) -> uint32x4_t {
    // SAFETY: the caller's pointer is at 4 readable bytes.
    unsafe {
        std::arch::asm!("ld1 {{{v:v}.s}}[{l}], [{p}], #4", v = inout(vreg) v, p = inout(reg) *p,
            l = const L, options(readonly, nostack, preserves_flags));
    }
    v
}

/// 16 bytes at `*p`; *p moves on by 16.
#[inline(always)]
unsafe fn bytes16(p: &mut *const u8) -> uint8x16_t {
    let q: uint8x16_t;
    // SAFETY: the caller's pointer is at 16 readable bytes.
    unsafe {
        std::arch::asm!("ldr {q:q}, [{p}], #16", q = lateout(vreg) q, p = inout(reg) *p,
            options(readonly, nostack, preserves_flags));
    }
    q
}

/// 32 i8 at `*p`; *p moves on by 32.
#[inline(always)]
pub(in crate::kernels::arm) unsafe fn bytes32(p: &mut *const u8) -> (int8x16_t, int8x16_t) {
    let (a, b): (int8x16_t, int8x16_t);
    // SAFETY: the caller's pointer is at 32 readable bytes.
    unsafe {
        std::arch::asm!("ldp {a:q}, {b:q}, [{p}], #32", a = lateout(vreg) a, b = lateout(vreg) b,
            p = inout(reg) *p, options(readonly, nostack, preserves_flags));
    }
    (a, b)
}

/// The next block of a Q8_0 activation (f16 d, 32 i8): its values and d.
///
/// # Safety
/// See the loaders' note above.
#[inline(always)]
pub(super) unsafe fn next_x_q8_0(p: &mut *const u8) -> ((int8x16_t, int8x16_t), f32) {
    // SAFETY: the pointer is at a whole 34-byte block: d, then qs; NEON is enabled in every
    // caller (the kernels' target_feature).
    unsafe {
        let d = first_f16(p);
        let q = bytes32(p);
        (q, vgetq_lane_f32::<0>(f16x4_to_f32(d)))
    }
}

/// The next block of a Q8_1 activation (f16 d, f16 s, 32 i8): its values, d and s.
///
/// # Safety
/// See the loaders' note above.
#[inline(always)]
pub(super) unsafe fn next_x_q8_1(p: &mut *const u8) -> ((int8x16_t, int8x16_t), f32, f32) {
    // SAFETY: the pointer is at a whole 36-byte block: d, s, then qs; NEON is enabled in
    // every caller (the kernels' target_feature).
    unsafe {
        let ds = f16x4_to_f32(vreinterpret_u16_u32(vget_low_u32(first_f16_pair(p))));
        let q = bytes32(p);
        (q, vgetq_lane_f32::<0>(ds), vgetq_lane_f32::<1>(ds))
    }
}

/// The next Q8_0 block (f16 d, 32 i8) of four rows: their values, and the bits of their d.
///
/// # Safety
/// See the loaders' note above.
#[inline(always)]
pub(super) unsafe fn next_q8_0_group(
    p: &mut [*const u8; 4],
) -> ([(int8x16_t, int8x16_t); 4], uint16x4_t) {
    // SAFETY: each pointer is at a whole 34-byte block: d, then qs.
    unsafe {
        let d = first_f16(&mut p[0]);
        let q0 = bytes32(&mut p[0]);
        let d = lane_f16::<1>(&mut p[1], d);
        let q1 = bytes32(&mut p[1]);
        let d = lane_f16::<2>(&mut p[2], d);
        let q2 = bytes32(&mut p[2]);
        let d = lane_f16::<3>(&mut p[3], d);
        let q3 = bytes32(&mut p[3]);
        ([q0, q1, q2, q3], d)
    }
}

/// The next Q4_0 block (f16 d, 16 bytes of nibbles) of four rows: their raw nibbles (as
/// `unpack_nibbles`), and the bits of their d.
///
/// # Safety
/// See the loaders' note above.
#[inline(always)]
pub(super) unsafe fn next_q4_0_group(
    p: &mut [*const u8; 4],
) -> ([(int8x16_t, int8x16_t); 4], uint16x4_t) {
    // SAFETY: each pointer is at a whole 18-byte block: d, then qs.
    let (d, q) = unsafe {
        let d = first_f16(&mut p[0]);
        let q0 = bytes16(&mut p[0]);
        let d = lane_f16::<1>(&mut p[1], d);
        let q1 = bytes16(&mut p[1]);
        let d = lane_f16::<2>(&mut p[2], d);
        let q2 = bytes16(&mut p[2]);
        let d = lane_f16::<3>(&mut p[3], d);
        let q3 = bytes16(&mut p[3]);
        (d, [q0, q1, q2, q3])
    };
    // SAFETY: NEON is enabled in every caller (the kernels' target_feature).
    (q.map(|v| unsafe { split_nibbles(v) }), d)
}

/// The next Q4_1 block (f16 d, f16 m, 16 bytes of nibbles) of four rows: their nibbles, and
/// the bits of their d and of their m.
///
/// # Safety
/// See the loaders' note above.
#[inline(always)]
pub(super) unsafe fn next_q4_1_group(
    p: &mut [*const u8; 4],
) -> ([(int8x16_t, int8x16_t); 4], uint16x4_t, uint16x4_t) {
    // SAFETY: each pointer is at a whole 20-byte block: d, m, then qs.
    let (dm, q) = unsafe {
        let dm = first_f16_pair(&mut p[0]);
        let q0 = bytes16(&mut p[0]);
        let dm = lane_f16_pair::<1>(&mut p[1], dm);
        let q1 = bytes16(&mut p[1]);
        let dm = lane_f16_pair::<2>(&mut p[2], dm);
        let q2 = bytes16(&mut p[2]);
        let dm = lane_f16_pair::<3>(&mut p[3], dm);
        let q3 = bytes16(&mut p[3]);
        (vreinterpretq_u16_u32(dm), [q0, q1, q2, q3])
    };
    // SAFETY: NEON is enabled in every caller (the kernels' target_feature).
    unsafe {
        let (d, m) = (vuzp1q_u16(dm, dm), vuzp2q_u16(dm, dm));
        (
            q.map(|v| split_nibbles(v)),
            vget_low_u16(d),
            vget_low_u16(m),
        )
    }
}

/// w (rows, row_len) @ x (row_len) -> out (rows), 4*G rows per pass of `pass`; the last pass
/// repeats the last row in the lanes it has no row for.
#[inline(always)]
pub(super) fn matvec_by_passes<W, X, const G: usize>(
    out: &mut [f32],
    w: &[W],
    row_len: usize,
    x: &[X],
    pass: impl Fn(Rows<W, G>, &[X]) -> [float32x4_t; G],
) {
    if row_len == 0 {
        out.fill(0.0);
        return;
    }
    let rows = out.len().min(w.len() / row_len);
    let Some(last) = rows.checked_sub(1) else {
        return;
    };
    // Rows cut without bounds checks (a pass's setup would otherwise cost as much as a few of
    // its blocks); every row has row_len blocks, so passes read no row shorter than another.
    // One call site of `pass`, so that it is inlined here.
    // (Wrapping arithmetic: none of it can overflow, and it spares the overflow checks.)
    let row = |r: usize| {
        debug_assert!(r < rows);
        // SAFETY: r < rows <= w.len() / row_len, so blocks r*row_len..(r+1)*row_len are in w.
        unsafe { std::slice::from_raw_parts(w.as_ptr().add(r.wrapping_mul(row_len)), row_len) }
    };
    for first in (0..rows).step_by(4 * G) {
        let mut group: Rows<W, G> = [[&[]; 4]; G];
        for (g, rows_g) in group.iter_mut().enumerate() {
            for (i, r) in rows_g.iter_mut().enumerate() {
                *r = row(last.min(first.wrapping_add(4 * g + i)));
            }
        }
        let acc = pass(group, x);
        if first.wrapping_add(4 * G) <= rows {
            for (g, a) in acc.into_iter().enumerate() {
                // SAFETY: first + 4G <= rows <= out.len(): first+4g..first+4g+4 are in out.
                unsafe { vst1q_f32(out.as_mut_ptr().add(first + 4 * g), a) };
            }
        } else {
            let mut lanes = [[0.0f32; 4]; G];
            for (l, a) in lanes.iter_mut().zip(acc) {
                // SAFETY: l has 4 f32.
                unsafe { vst1q_f32(l.as_mut_ptr(), a) };
            }
            for (o, v) in out[first..rows].iter_mut().zip(lanes.iter().flatten()) {
                *o = *v;
            }
        }
    }
}

/// w (nb) . x (nb) -> f32: lane 0 of a one-group pass with `w` in every lane.
#[inline(always)]
pub(super) fn dot_by_pass<W, X>(
    w: &[W],
    x: &[X],
    pass: impl Fn(Rows<W, 1>, &[X]) -> [float32x4_t; 1],
) -> f32 {
    let lanes = pass([[w; 4]], x)[0];
    // SAFETY: NEON is enabled in every caller (the kernels' target_feature).
    unsafe { vgetq_lane_f32::<0>(lanes) }
}

/// Four rows' i32x4 partial sums -> their four totals (ADDP tree).
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn sum_rows_i32(p: [int32x4_t; 4]) -> int32x4_t {
    vpaddq_s32(vpaddq_s32(p[0], p[1]), vpaddq_s32(p[2], p[3]))
}

/// Four rows' i16x8 partial sums (each lane at most 1/8 of i16's range) -> i16x8 with each
/// row's total split over lanes 2r and 2r+1 (ADDP tree).
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn sum_rows_i16(p: [int16x8_t; 4]) -> int16x8_t {
    addp_i16(vpaddq_s16(p[0], p[1]), vpaddq_s16(p[2], p[3]))
}

/// ADDP on i16x8 as one instruction: LLVM rewrites a second level of `vpaddq_s16` into
/// UZP1, UZP2 and ADD.
#[inline]
#[target_feature(enable = "neon")]
fn addp_i16(a: int16x8_t, b: int16x8_t) -> int16x8_t {
    let out: int16x8_t;
    // SAFETY: one register-only NEON instruction.
    unsafe {
        std::arch::asm!("addp {o:v}.8h, {a:v}.8h, {b:v}.8h", o = lateout(vreg) out,
            a = in(vreg) a, b = in(vreg) b, options(pure, nomem, nostack, preserves_flags));
    }
    out
}

/// acc + f32(sumi) * (d_w * d_x), per lane (one fused multiply-add).
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn scale_add(
    acc: float32x4_t,
    sumi: int32x4_t,
    dw: float32x4_t,
    dx: f32,
) -> float32x4_t {
    vfmaq_f32(acc, vcvtq_f32_s32(sumi), vmulq_n_f32(dw, dx))
}

/// Sum over 32 lanes of a0*b0 + a1*b1 as i16x8, each lane the sum of 4 products: exact when
/// |a*b| <= 4095 (Q4 raw nibbles times Q8: at most 15 * 127).
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn products_i16(a: (int8x16_t, int8x16_t), b: (int8x16_t, int8x16_t)) -> int16x8_t {
    let p = vmull_s8(vget_low_s8(a.0), vget_low_s8(b.0));
    let p = vmlal_high_s8(p, a.0, b.0);
    let p = vmlal_s8(p, vget_low_s8(a.1), vget_low_s8(b.1));
    vmlal_high_s8(p, a.1, b.1)
}

/// Sum over 32 lanes of a0*b0 + a1*b1 as i32x4 partial sums (|a|, |b| <= 128: products in
/// pairs fit i16).
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn products_i32(a: (int8x16_t, int8x16_t), b: (int8x16_t, int8x16_t)) -> int32x4_t {
    let lo = vmlal_s8(
        vmull_s8(vget_low_s8(a.0), vget_low_s8(b.0)),
        vget_low_s8(a.1),
        vget_low_s8(b.1),
    );
    let hi = vmlal_high_s8(vmull_high_s8(a.0, b.0), a.1, b.1);
    vpadalq_s16(vpaddlq_s16(lo), hi)
}
