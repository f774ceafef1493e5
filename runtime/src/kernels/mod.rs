//! Compute kernels. `generic` is the reference (DESIGN convention 4); per-ISA twins have the
//! same signatures and are chosen once at startup by `dispatch`.

pub mod generic;

use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1};
use half::{bf16, f16};

/// The storage of a weight matrix (rows, k): row r is elements [r*k, (r+1)*k) (in blocks of
/// 32 for the quantized types). Borrowed from the GGUF mapping.
#[derive(Clone, Copy, Debug)]
pub enum MatData<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
    BF16(&'a [bf16]),
    Q8_0(&'a [BlockQ8_0]),
    Q4_0(&'a [BlockQ4_0]),
    Q4_1(&'a [BlockQ4_1]),
}

/// A weight matrix (rows, k) in ggml order: `k` is the row length (`ne[0]`).
#[derive(Clone, Copy, Debug)]
pub struct Matrix<'a> {
    pub data: MatData<'a>,
    pub rows: usize,
    pub k: usize,
}

/// The activation vector x (k) in every form a matrix type may need, quantized once per
/// vector and reused by all matrices that read it. Allocated once for the largest k.
#[derive(Clone, Debug)]
pub struct Activation {
    pub f32: Vec<f32>,
    pub q8_0: Vec<BlockQ8_0>,
    pub q8_1: Vec<BlockQ8_1>,
}
