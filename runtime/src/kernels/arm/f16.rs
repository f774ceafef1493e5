//! f16 -> f32 conversions for the aarch64 kernels, one instruction each and inline.
//!
//! `half::f16::to_f32` is an out-of-line call with a run-time feature check on aarch64, and
//! Rust's f16 NEON intrinsics (`vcvt_f32_f16`) are still unstable, so these are the FCVT /
//! FCVTL instructions in `asm!`. FCVT (half to single) is plain ARMv8.0 floating point and
//! FCVTL is baseline NEON: every aarch64 CPU has both. The conversion is exact (every f16 is
//! an f32), so the results equal `half`'s to the bit, NaN payloads aside.
//!
//! Use: gather the raw bits of several blocks' scales into a vector (`f16::to_bits`, or a
//! pointer cast: `half::f16` is `repr(transparent)` over u16) and convert four at a time with
//! [`f16x4_to_f32`]; convert a lone scale with [`f16_to_f32`].

use half::f16;
use std::arch::aarch64::*;

/// One f16 -> f32 (FCVT Sd, Hn).
#[inline]
#[target_feature(enable = "neon")]
pub(crate) fn f16_to_f32(h: f16) -> f32 {
    let bits = vdup_n_u16(h.to_bits());
    let out: f32;
    // SAFETY: one register-only instruction of the ARMv8.0 base (FCVT half to single).
    unsafe {
        std::arch::asm!(
            "fcvt {out:s}, {h:h}",
            out = lateout(vreg) out,
            h = in(vreg) bits,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    out
}

/// Four f16 (as their bits, lanes 0..4) -> four f32 (FCVTL Vd.4S, Vn.4H).
#[inline]
#[target_feature(enable = "neon")]
pub(crate) fn f16x4_to_f32(h: uint16x4_t) -> float32x4_t {
    let out: float32x4_t;
    // SAFETY: one register-only NEON instruction (FCVTL), baseline on aarch64.
    unsafe {
        std::arch::asm!(
            "fcvtl {out:v}.4s, {h:v}.4h",
            out = lateout(vreg) out,
            h = in(vreg) h,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    out
}
