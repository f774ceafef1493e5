//! f32, f16 and bf16 weights against the f32 activation.

use crate::kernels::isa_glue::{row_loop, safe_entry};
use crate::kernels::{generic, TypeKernels};
use half::{bf16, f16};
use std::arch::aarch64::*;

/// The NEON f32 entries.
pub(super) const F32: TypeKernels<f32, f32> = TypeKernels::new(dot_f32, matvec_f32);
/// The NEON bf16 entries.
pub(super) const BF16: TypeKernels<bf16, f32> = TypeKernels::new(dot_bf16_f32, matvec_bf16);
/// The NEON f16 entries (FCVTL widens four weights at a time, exactly).
pub(super) const F16: TypeKernels<f16, f32> = TypeKernels::new(dot_f16_f32, matvec_f16);

safe_entry! {
    fn dot_f32(w: &[f32], x: &[f32]) -> f32 => dot_f32_neon;
    fn dot_bf16_f32(w: &[bf16], x: &[f32]) -> f32 => dot_bf16_f32_neon;
    fn dot_f16_f32(w: &[f16], x: &[f32]) -> f32 => dot_f16_f32_neon;
    fn matvec_f32(out: &mut [f32], w: &[f32], row_len: usize, x: &[f32]) => matvec_f32_neon;
    fn matvec_bf16(out: &mut [f32], w: &[bf16], row_len: usize, x: &[f32]) => matvec_bf16_neon;
    fn matvec_f16(out: &mut [f32], w: &[f16], row_len: usize, x: &[f32]) => matvec_f16_neon;
}

row_loop!(matvec_f32_neon, f32, f32, dot_f32_neon, "neon");
row_loop!(matvec_bf16_neon, bf16, f32, dot_bf16_f32_neon, "neon");
row_loop!(matvec_f16_neon, f16, f32, dot_f16_f32_neon, "neon");

/// The float dots: 4 accumulators of 4 lanes over chunks of 16, one over chunks of 4, a
/// scalar tail.
macro_rules! float_dot {
    ($name:ident, $wty:ty, |$w:ident, $i:ident| $load:expr, $widen:expr) => {
        #[target_feature(enable = "neon")]
        fn $name($w: &[$wty], x: &[f32]) -> f32 {
            let n = $w.len().min(x.len());
            let (wp, xp) = (&$w[..n], &x[..n]);
            // SAFETY: callers pass i + 4 <= n = xp.len().
            let load_x = |i: usize| unsafe { vld1q_f32(xp.as_ptr().add(i)) };
            let load_w = |$i: usize| {
                let $w = wp;
                // SAFETY: callers pass i + 4 <= n = wp.len().
                unsafe { $load }
            };
            let mut acc = [vdupq_n_f32(0.0); 4];
            let mut i = 0;
            while i + 16 <= n {
                for (j, a) in acc.iter_mut().enumerate() {
                    *a = vfmaq_f32(*a, load_w(i + 4 * j), load_x(i + 4 * j));
                }
                i += 16;
            }
            while i + 4 <= n {
                acc[0] = vfmaq_f32(acc[0], load_w(i), load_x(i));
                i += 4;
            }
            let mut sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
            let widen = $widen;
            for (a, b) in wp[i..].iter().zip(&xp[i..]) {
                sum += widen(*a) * b;
            }
            sum
        }
    };
}

float_dot!(
    dot_f32_neon,
    f32,
    |w, i| vld1q_f32(w.as_ptr().add(i)),
    |v: f32| v
);
float_dot!(
    dot_bf16_f32_neon,
    bf16,
    |w, i| vreinterpretq_f32_u32(vshll_n_u16::<16>(vld1_u16(w.as_ptr().add(i) as *const u16))),
    generic::bf16_to_f32
);
float_dot!(
    dot_f16_f32_neon,
    f16,
    |w, i| super::f16x4_to_f32(vld1_u16(w.as_ptr().add(i) as *const u16)),
    f16::to_f32
);
