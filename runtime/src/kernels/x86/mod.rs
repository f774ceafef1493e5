//! x86-64 kernels, compiled for every x86-64 build and enabled at run time by
//! `is_x86_feature_detected!` (no reliance on `-C target-cpu`).

pub mod avx2;
pub mod avx512;
