//! aarch64 kernels: `neon` (every aarch64 CPU; the Pi 4's Cortex-A72) and `dotprod`
//! (ARMv8.2 SDOT; the Pi 5's Cortex-A76), enabled at run time by
//! `is_aarch64_feature_detected!`.
//!
//! The Q4_0, Q4_1 and Q8_0 kernels run several rows per pass, reduce each block to its exact
//! i32 sum and add it to the row's f32 lane with one FMA: within f32 rounding of `generic`,
//! not bit-identical (ARM need not match llama.cpp's x86 arithmetic), but each row of a
//! matvec is the bits of that row's dot, whatever the row count and split. The K-quant and
//! Q5 dots scale exact integer sums in the generic order and are bit-identical to `generic`,
//! except dotprod's Q3_K..Q6_K, whose SDOT lanes group other elements (within f32 rounding,
//! see `dotprod::k_quants`). The quantizers are bit-identical to `generic`
//! (`vcvtnq_s32_f32` rounds half to even). Float dots use fma lanes and differ from generic
//! by f32 rounding only. `f16` converts f16 scales inline.
//!
//! Where the detected ISA is dotprod, the model repacks Q4_0 and Q8_0 matrices four rows at a
//! time at load (`kernels::repacked`, `model::repack`); `dotprod::repacked` multiplies them
//! with SDOT by element (no horizontal sums), each row still the bits of the dot above.

pub mod dotprod;
mod f16;
pub mod neon;
