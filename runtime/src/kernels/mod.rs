//! Compute kernels. `generic` is the reference (DESIGN convention 4); per-ISA twins have the
//! same signatures and are chosen once at startup by `dispatch` (DESIGN convention 3).
//!
//! Rounding (DESIGN convention 6): the activation quantizers round half to even, as ggml's
//! SIMD path does (`_mm256_round_ps(_, _MM_ROUND_NEAREST)`, `vcvtnq_s32_f32`); the file
//! quantizers in `edge-quantize` round half away from zero.

#[cfg(target_arch = "aarch64")]
pub mod arm;
pub mod dispatch;
pub mod generic;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod isa_glue;
#[cfg(target_arch = "x86_64")]
pub mod x86;

pub use dispatch::Kernels;

use crate::{Error, Result};
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, GgmlType, QK};
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

impl MatData<'_> {
    /// The ggml type of the storage.
    pub fn ggml_type(&self) -> GgmlType {
        match self {
            MatData::F32(_) => GgmlType::F32,
            MatData::F16(_) => GgmlType::F16,
            MatData::BF16(_) => GgmlType::BF16,
            MatData::Q8_0(_) => GgmlType::Q8_0,
            MatData::Q4_0(_) => GgmlType::Q4_0,
            MatData::Q4_1(_) => GgmlType::Q4_1,
        }
    }
}

/// A weight matrix (rows, k) in ggml order: `k` is the row length (`ne[0]`).
#[derive(Clone, Copy, Debug)]
pub struct Matrix<'a> {
    pub data: MatData<'a>,
    pub rows: usize,
    pub k: usize,
}

/// Casts `bytes` to a slice of `T` of exactly `len` elements, or says what is wrong.
fn cast_exact<T: bytemuck::Pod>(ty: GgmlType, bytes: &[u8], len: usize) -> Result<&[T]> {
    let need = len.checked_mul(std::mem::size_of::<T>());
    if need != Some(bytes.len()) {
        return Err(Error::Model(format!(
            "{ty} matrix: {} bytes of data, expected {} ({len} elements or blocks)",
            bytes.len(),
            need.map_or_else(|| "an overflowing size".to_string(), |n| n.to_string()),
        )));
    }
    bytemuck::try_cast_slice(bytes).map_err(|e| {
        Error::Model(format!(
            "{ty} matrix: data at address {:p} cannot be viewed as {}-byte elements: {e}",
            bytes.as_ptr(),
            std::mem::size_of::<T>()
        ))
    })
}

impl<'a> Matrix<'a> {
    /// A view of `bytes` as a (rows, k) matrix of type `ty`. Checks that k is a whole number
    /// of blocks, that the length is exactly rows * row_bytes(k) and the alignment. The
    /// error names the type and shape; callers add the tensor name.
    pub fn from_bytes(ty: GgmlType, bytes: &'a [u8], rows: usize, k: usize) -> Result<Self> {
        let bs = ty.block_size();
        if !k.is_multiple_of(bs) {
            return Err(Error::Model(format!(
                "{ty} matrix ({rows}, {k}): row length {k} is not a multiple of the block size {bs}"
            )));
        }
        let n = rows
            .checked_mul(k / bs)
            .ok_or_else(|| Error::Model(format!("{ty} matrix ({rows}, {k}): size overflows")))?;
        let data = match ty {
            GgmlType::F32 => MatData::F32(cast_exact(ty, bytes, n)?),
            GgmlType::F16 => MatData::F16(cast_exact(ty, bytes, n)?),
            GgmlType::BF16 => MatData::BF16(cast_exact(ty, bytes, n)?),
            GgmlType::Q8_0 => MatData::Q8_0(cast_exact(ty, bytes, n)?),
            GgmlType::Q4_0 => MatData::Q4_0(cast_exact(ty, bytes, n)?),
            GgmlType::Q4_1 => MatData::Q4_1(cast_exact(ty, bytes, n)?),
            GgmlType::Q8_1 => {
                return Err(Error::Model(format!(
                    "{ty} matrix ({rows}, {k}): Q8_1 is an activation type, not a weight type"
                )))
            }
        };
        Ok(Matrix { data, rows, k })
    }

    /// The sub-view of rows [start, end) (clamped to the matrix; an empty range gives 0 rows).
    pub fn rows(&self, start: usize, end: usize) -> Matrix<'a> {
        let end = end.min(self.rows);
        let start = start.min(end);
        let per_row = self.k / self.data.ggml_type().block_size();
        let (a, b) = (start * per_row, end * per_row);
        fn cut<T>(s: &[T], a: usize, b: usize) -> &[T] {
            s.get(a..b).unwrap_or(&[])
        }
        let data = match self.data {
            MatData::F32(s) => MatData::F32(cut(s, a, b)),
            MatData::F16(s) => MatData::F16(cut(s, a, b)),
            MatData::BF16(s) => MatData::BF16(cut(s, a, b)),
            MatData::Q8_0(s) => MatData::Q8_0(cut(s, a, b)),
            MatData::Q4_0(s) => MatData::Q4_0(cut(s, a, b)),
            MatData::Q4_1(s) => MatData::Q4_1(cut(s, a, b)),
        };
        Matrix {
            data,
            rows: end - start,
            k: self.k,
        }
    }
}

/// The quantized forms of an activation that its matrices read: Q4_0 and Q8_0 weights take
/// Q8_0, Q4_1 takes Q8_1 (which carries the block sums), float weights read the f32 copy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ActivationForms {
    pub q8_0: bool,
    pub q8_1: bool,
}

impl ActivationForms {
    /// Every form: for callers that do not know the matrices in advance.
    pub const ALL: ActivationForms = ActivationForms {
        q8_0: true,
        q8_1: true,
    };

    /// The forms the given matrices read.
    pub fn for_matrices<'m, 'a: 'm>(matrices: impl IntoIterator<Item = &'m Matrix<'a>>) -> Self {
        matrices
            .into_iter()
            .fold(ActivationForms::default(), |forms, m| match m.data {
                MatData::Q4_0(_) | MatData::Q8_0(_) => ActivationForms {
                    q8_0: true,
                    ..forms
                },
                MatData::Q4_1(_) => ActivationForms {
                    q8_1: true,
                    ..forms
                },
                MatData::F32(_) | MatData::F16(_) | MatData::BF16(_) => forms,
            })
    }
}

/// The activation vector x (k) in the forms its matrices need, quantized once per vector
/// and reused by all matrices that read it. Allocated once for the largest k.
/// After `prepare(x)`: `f32.len() == x.len()`, and `q8_0.len()` / `q8_1.len()` are
/// `ceil(x.len() / 32)` for the forms asked for, 0 for the others.
#[derive(Clone, Debug)]
pub struct Activation {
    pub f32: Vec<f32>,
    pub q8_0: Vec<BlockQ8_0>,
    pub q8_1: Vec<BlockQ8_1>,
    forms: ActivationForms,
}

impl Activation {
    /// Buffers for vectors of up to `k_max` elements in every form; `prepare` allocates
    /// nothing for those.
    pub fn new(k_max: usize) -> Self {
        Self::with_forms(k_max, ActivationForms::ALL)
    }

    /// Buffers for vectors of up to `k_max` elements in `forms` only.
    pub fn with_forms(k_max: usize, forms: ActivationForms) -> Self {
        let nb = k_max.div_ceil(QK);
        Activation {
            f32: Vec::with_capacity(k_max),
            q8_0: Vec::with_capacity(if forms.q8_0 { nb } else { 0 }),
            q8_1: Vec::with_capacity(if forms.q8_1 { nb } else { 0 }),
            forms,
        }
    }

    /// Copies x (k) and quantizes it once into each form asked for, with `kernels`. No
    /// allocation when x.len() <= k_max.
    pub fn prepare(&mut self, kernels: &Kernels, x: &[f32]) {
        let nb = x.len().div_ceil(QK);
        self.f32.clear();
        self.f32.extend_from_slice(x);
        if self.forms.q8_0 {
            self.q8_0.resize(nb, BlockQ8_0::default());
            kernels.quantize_q8_0(x, &mut self.q8_0);
        }
        if self.forms.q8_1 {
            self.q8_1.resize(nb, BlockQ8_1::default());
            kernels.quantize_q8_1(x, &mut self.q8_1);
        }
    }

    /// The number of elements of the prepared vector.
    pub fn len(&self) -> usize {
        self.f32.len()
    }

    pub fn is_empty(&self) -> bool {
        self.f32.is_empty()
    }
}
