//! aarch64 kernels: `neon` (every aarch64 CPU; the Pi 4's Cortex-A72) and `dotprod`
//! (ARMv8.2 SDOT; the Pi 5's Cortex-A76), enabled at run time by
//! `is_aarch64_feature_detected!`.
//!
//! The quantized dot products reduce each block to its exact i32 sum and then scale in f32
//! in the generic kernel's order, so they are bit-identical to `generic`; the quantizers are
//! bit-identical too (`vcvtnq_s32_f32` rounds half to even). Float dots use fma lanes and
//! differ from generic by f32 rounding only.

pub mod dotprod;
pub mod neon;

use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1};

/// The f32 scaling of per-block integer sums, in the generic kernels' exact order.
#[inline(always)]
pub(crate) fn scale_q4_0(sumf: f32, sumi: i32, a: &BlockQ4_0, b: &BlockQ8_0) -> f32 {
    sumf + sumi as f32 * a.d.to_f32() * b.d.to_f32()
}
#[inline(always)]
pub(crate) fn scale_q4_1(sumf: f32, sumi: i32, a: &BlockQ4_1, b: &BlockQ8_1) -> f32 {
    sumf + ((a.d.to_f32() * b.d.to_f32()) * sumi as f32 + a.m.to_f32() * b.s.to_f32())
}
#[inline(always)]
pub(crate) fn scale_q8_0(sumf: f32, sumi: i32, a: &BlockQ8_0, b: &BlockQ8_0) -> f32 {
    sumf + sumi as f32 * (a.d.to_f32() * b.d.to_f32())
}
