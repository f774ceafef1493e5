//! Compute kernels. `generic` is the reference (DESIGN convention 4); per-ISA twins have the
//! same signatures and are chosen once at startup by `dispatch` (DESIGN convention 3).
//!
//! Layout: each weight type has its entries (`dot`, `matvec`, a `gemm` slot) in the
//! [`Kernels`] table, as a [`TypeKernels`]; per ISA (`generic`, `x86::avx2`, `arm::neon`,
//! `arm::dotprod`) the kernels live in one file per type family (`q4`, `q5`, `q8`, `k_quants`,
//! `float`) plus the activation quantizers and SwiGLU; a family an ISA has no file for runs
//! the generic kernels through `Kernels::scalar()`. `repacked` is the four-row Q4_0/Q8_0
//! layout the model makes at load for the dotprod kernels, with an entry in every table.
//! Adding a weight type: its block in `edge-formats`, its encoder in `edge-quantize`, its
//! generic kernel, its SIMD kernels, one line in each table ([`MatData`], [`Kernels`], each
//! ISA's `kernels()`).
//!
//! Rounding (DESIGN convention 6): the activation quantizers round half to even, as ggml's
//! SIMD path does (`_mm256_round_ps(_, _MM_ROUND_NEAREST)`, `vcvtnq_s32_f32`); the file
//! quantizers in `edge-quantize` round half away from zero.

mod activation;
#[cfg(target_arch = "aarch64")]
pub mod arm;
pub mod dispatch;
pub mod generic;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod isa_glue;
mod matrix;
pub mod repacked;
#[cfg(target_arch = "x86_64")]
pub mod x86;

pub use activation::{Activation, ActivationForm, ActivationForms, ActivationInput};
pub use dispatch::{
    AttentionF16Kernels, GemmTakes, Kernels, LlamaBatch, TypeKernels, LLAMA_UBATCH,
};
pub use matrix::{MatData, Matrix};
