//! The f16-attention loops on NEON: 4 lanes per step, FCVTN rounding to nearest even (the
//! default FPCR mode, subnormals kept) exactly as `half::f16::from_f32` does (generic), so
//! every result is generic's bits.

use crate::kernels::arm::f16::{f16_to_f32, f16x4_to_f32};
use crate::kernels::isa_glue::safe_entry;
use crate::kernels::{generic, AttentionF16Kernels};
use half::f16;
use std::arch::aarch64::*;

/// The NEON f16-attention entries.
pub(super) const ATTENTION_F16: AttentionF16Kernels = AttentionF16Kernels {
    mad: mad_f16,
    scale: scale_f16,
    round: round_f16,
    attend: attend_f16,
    attend_tiled: generic::attend_f16_tiled,
};

/// Keys in order, each for every query: the generic online-softmax step with the NEON f16
/// dot and loops, so a batch gives the bits of one query at a time.
// keys (n, hd), values (n, hd), queries[i] (hd) -> max[i], sum[i], accs[i] (hd)
fn attend_f16(
    keys: &[f16],
    values: &[f16],
    queries: &[&[f32]],
    scale: f32,
    max: &mut [f32],
    sum: &mut [f32],
    accs: &mut [&mut [f32]],
) {
    let loops = generic::OnlineSoftmaxLoops {
        dot: super::float::F16.dot,
        scale: scale_f16,
        mad: mad_f16,
    };
    generic::attend_f16_by(loops, keys, values, queries, scale, max, sum, accs);
}

safe_entry! {
    fn mad_f16(acc: &mut [f32], v: &[f16], w: f32) => mad_f16_neon;
    fn scale_f16(acc: &mut [f32], s: f32) => scale_f16_neon;
    fn round_f16(x: &mut [f32]) => round_f16_neon;
}

/// 4 lanes -> nearest f16 (ties to even) -> f32 (FCVTN, FCVTL: baseline NEON, in asm as
/// Rust's f16 NEON intrinsics are unstable).
#[inline]
#[target_feature(enable = "neon")]
fn round_f16x4(v: float32x4_t) -> float32x4_t {
    let out: float32x4_t;
    // SAFETY: two register-only NEON instructions, baseline on aarch64.
    unsafe {
        std::arch::asm!(
            "fcvtn {h:v}.4h, {v:v}.4s",
            "fcvtl {o:v}.4s, {h:v}.4h",
            v = in(vreg) v,
            h = out(vreg) _,
            o = lateout(vreg) out,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    out
}

/// One f32 -> nearest f16 (ties to even) -> f32, for the tails (FCVT both ways).
#[inline]
#[target_feature(enable = "neon")]
fn round_f16x1(x: f32) -> f32 {
    let out: f32;
    // SAFETY: two register-only instructions of the ARMv8.0 base (FCVT).
    unsafe {
        std::arch::asm!(
            "fcvt {h:h}, {x:s}",
            "fcvt {o:s}, {h:h}",
            x = in(vreg) x,
            h = out(vreg) _,
            o = lateout(vreg) out,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    out
}

/// acc[i..i + 4] = f(i, acc[i..i + 4]) for every whole 4 lanes; returns how many elements
/// that covered (the caller does the n % 4 tail).
#[inline(always)]
fn map_f32x4(acc: &mut [f32], mut f: impl FnMut(usize, float32x4_t) -> float32x4_t) -> usize {
    let n4 = acc.len() / 4 * 4;
    let p = acc.as_mut_ptr();
    let mut i = 0;
    while i < n4 {
        // SAFETY: i + 4 <= n4 <= acc.len().
        unsafe { vst1q_f32(p.add(i), f(i, vld1q_f32(p.add(i)))) };
        i += 4;
    }
    n4
}

// acc (n), v (n) -> acc (n): acc_i = f16(fma(v_i, w, acc_i)).
#[target_feature(enable = "neon")]
fn mad_f16_neon(acc: &mut [f32], v: &[f16], w: f32) {
    let n = acc.len().min(v.len());
    let (acc, v) = (&mut acc[..n], &v[..n]);
    let vp = v.as_ptr() as *const u16;
    let done = map_f32x4(acc, |i, a| {
        // SAFETY: map_f32x4 passes i + 4 <= n = v.len(); f16 is repr(transparent) over u16.
        let x = f16x4_to_f32(unsafe { vld1_u16(vp.add(i)) });
        round_f16x4(vfmaq_n_f32(a, x, w))
    });
    for (a, x) in acc[done..].iter_mut().zip(&v[done..]) {
        *a = round_f16x1(f16_to_f32(*x).mul_add(w, *a));
    }
}

// acc (n) -> acc (n): acc_i = f16(acc_i * s).
#[target_feature(enable = "neon")]
fn scale_f16_neon(acc: &mut [f32], s: f32) {
    let done = map_f32x4(acc, |_, a| round_f16x4(vmulq_n_f32(a, s)));
    for a in &mut acc[done..] {
        *a = round_f16x1(*a * s);
    }
}

// x (n) -> x (n): x_i = f16(x_i).
#[target_feature(enable = "neon")]
fn round_f16_neon(x: &mut [f32]) {
    let done = map_f32x4(x, |_, a| round_f16x4(a));
    for e in &mut x[done..] {
        *e = round_f16x1(*e);
    }
}
