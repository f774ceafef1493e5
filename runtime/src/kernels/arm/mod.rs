//! aarch64 kernels: `neon` (every aarch64 CPU; the Pi 4's Cortex-A72) and `dotprod`
//! (ARMv8.2 SDOT; the Pi 5's Cortex-A76), enabled at run time by
//! `is_aarch64_feature_detected!`.
//!
//! The quantized dot products reduce each block to its exact i32 sum and then scale in f32
//! in the generic kernel's order, so they are bit-identical to `generic` (except dotprod's
//! Q3_K..Q6_K, whose SDOT lanes are not generic's: within f32 rounding, see
//! `dotprod::k_quants`); the quantizers are
//! bit-identical too (`vcvtnq_s32_f32` rounds half to even). Float dots use fma lanes and
//! differ from generic by f32 rounding only.

pub mod dotprod;
pub mod neon;
