//! SwiGLU (ggml_vec_swiglu_f32's arithmetic) on NEON: bit-identical to `generic::swiglu`.

use crate::kernels::generic;
use crate::kernels::isa_glue::safe_entry;
use std::arch::aarch64::*;

safe_entry! {
    pub(super) fn swiglu(gate: &mut [f32], up: &[f32]) => swiglu_neon;
}

/// `generic::expf_ggml` on 4 lanes, operation for operation (each `mul_add` one FMLA/FMLS).
#[inline]
#[target_feature(enable = "neon")]
fn expf_ggml_x4(x: float32x4_t) -> float32x4_t {
    use generic::expf_ggml_constants::*;
    let shift = vdupq_n_f32(SHIFT);
    let z = vfmaq_f32(shift, x, vdupq_n_f32(LOG2E));
    let n = vsubq_f32(z, shift);
    // (-n) * c + a, fused, is a - n * c, fused: negation is exact.
    let b = vfmsq_f32(vfmsq_f32(x, n, vdupq_n_f32(LN2_HI)), n, vdupq_n_f32(LN2_LO));
    let e = vshlq_n_u32::<23>(vreinterpretq_u32_f32(z));
    let k = vreinterpretq_f32_u32(vaddq_u32(e, vdupq_n_u32(1.0f32.to_bits())));
    let c = |i: usize| vdupq_n_f32(C[i]);
    let u = vmulq_f32(b, b);
    let j = vfmaq_f32(
        vmulq_f32(c(0), b),
        vfmaq_f32(vfmaq_f32(c(1), c(2), b), vfmaq_f32(c(3), c(4), b), u),
        u,
    );
    let scaled = vfmaq_f32(k, j, k);
    let big = vcagtq_f32(n, vdupq_n_f32(126.0));
    if vmaxvq_u32(big) == 0 {
        return scaled;
    }
    // |n| > 126: 2^n as s1 * s2 (s1 * s1 beyond 192), as in generic::expf_ggml.
    let g = vandq_u32(vclezq_f32(n), vdupq_n_u32(0x8200_0000));
    let s1 = vreinterpretq_f32_u32(vaddq_u32(g, vdupq_n_u32(0x7f00_0000)));
    let s2 = vreinterpretq_f32_u32(vsubq_u32(e, g));
    let huge = vcagtq_f32(n, vdupq_n_f32(192.0));
    let split = vmulq_f32(vfmaq_f32(s2, s2, j), s1);
    let mid = vbslq_f32(big, split, scaled);
    vbslq_f32(huge, vmulq_f32(s1, s1), mid)
}

// gate (n), up (n) -> gate (n); ggml_vec_swiglu_f32's arithmetic, tail as generic::swiglu.
#[target_feature(enable = "neon")]
fn swiglu_neon(gate: &mut [f32], up: &[f32]) {
    let n = gate.len().min(up.len());
    let simd = n - n % generic::SWIGLU_LANES;
    let one = vdupq_n_f32(1.0);
    for i in (0..simd).step_by(4) {
        // SAFETY: i + 4 <= simd <= n, the length of both slices' prefixes used here.
        unsafe {
            let g = vld1q_f32(gate.as_ptr().add(i));
            let u = vld1q_f32(up.as_ptr().add(i));
            let silu = vdivq_f32(g, vaddq_f32(one, expf_ggml_x4(vnegq_f32(g))));
            vst1q_f32(gate.as_mut_ptr().add(i), vmulq_f32(silu, u));
        }
    }
    generic::swiglu(&mut gate[simd..n], &up[simd..n]);
}
