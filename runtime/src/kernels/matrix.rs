//! Weight matrices: typed views of the GGUF mapping, one variant per weight type.

use super::repacked::{BlockQ4_0x4, BlockQ8_0x4, ROWS};
use crate::{Error, Result};
use edge_formats::blocks::{
    BlockQ2_K, BlockQ3_K, BlockQ4_K, BlockQ5_0, BlockQ5_1, BlockQ5_K, BlockQ6_K,
};
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, GgmlType};
use half::{bf16, f16};

/// The storage of a weight matrix (rows, k): row r is elements [r*k, (r+1)*k) (in blocks of
/// 32, or of 256 for the K-quants). Borrowed from the GGUF mapping, but for the repacked
/// variants (`Q4_0x4`, `Q8_0x4`: four rows interleaved, see `kernels::repacked`), borrowed
/// from the model's copies.
#[derive(Clone, Copy, Debug)]
#[allow(non_camel_case_types)] // ggml's spelling: Q4_K, Q8_K
pub enum MatData<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
    BF16(&'a [bf16]),
    Q8_0(&'a [BlockQ8_0]),
    Q4_0(&'a [BlockQ4_0]),
    Q4_1(&'a [BlockQ4_1]),
    Q5_0(&'a [BlockQ5_0]),
    Q5_1(&'a [BlockQ5_1]),
    Q2_K(&'a [BlockQ2_K]),
    Q3_K(&'a [BlockQ3_K]),
    Q4_K(&'a [BlockQ4_K]),
    Q5_K(&'a [BlockQ5_K]),
    Q6_K(&'a [BlockQ6_K]),
    /// Q4_0 rows repacked four at a time: group g of rows 4g..4g+4 is blocks
    /// [g * k/32, (g+1) * k/32); rows is a multiple of 4.
    Q4_0x4(&'a [BlockQ4_0x4]),
    /// Q8_0 rows repacked four at a time, as `Q4_0x4`.
    Q8_0x4(&'a [BlockQ8_0x4]),
}

impl MatData<'_> {
    /// The ggml type of the storage.
    pub fn ggml_type(&self) -> GgmlType {
        match self {
            MatData::F32(_) => GgmlType::F32,
            MatData::F16(_) => GgmlType::F16,
            MatData::BF16(_) => GgmlType::BF16,
            MatData::Q8_0(_) | MatData::Q8_0x4(_) => GgmlType::Q8_0,
            MatData::Q4_0(_) | MatData::Q4_0x4(_) => GgmlType::Q4_0,
            MatData::Q4_1(_) => GgmlType::Q4_1,
            MatData::Q5_0(_) => GgmlType::Q5_0,
            MatData::Q5_1(_) => GgmlType::Q5_1,
            MatData::Q2_K(_) => GgmlType::Q2_K,
            MatData::Q3_K(_) => GgmlType::Q3_K,
            MatData::Q4_K(_) => GgmlType::Q4_K,
            MatData::Q5_K(_) => GgmlType::Q5_K,
            MatData::Q6_K(_) => GgmlType::Q6_K,
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
            GgmlType::Q5_0 => MatData::Q5_0(cast_exact(ty, bytes, n)?),
            GgmlType::Q5_1 => MatData::Q5_1(cast_exact(ty, bytes, n)?),
            GgmlType::Q2_K => MatData::Q2_K(cast_exact(ty, bytes, n)?),
            GgmlType::Q3_K => MatData::Q3_K(cast_exact(ty, bytes, n)?),
            GgmlType::Q4_K => MatData::Q4_K(cast_exact(ty, bytes, n)?),
            GgmlType::Q5_K => MatData::Q5_K(cast_exact(ty, bytes, n)?),
            GgmlType::Q6_K => MatData::Q6_K(cast_exact(ty, bytes, n)?),
            GgmlType::Q8_1 | GgmlType::Q8_K => {
                return Err(Error::Model(format!(
                    "{ty} matrix ({rows}, {k}): {ty} is an activation type, not a weight type"
                )))
            }
        };
        Ok(Matrix { data, rows, k })
    }

    /// The sub-view of rows [start, end) (clamped to the matrix; an empty range gives 0 rows).
    /// A repacked matrix is cut at whole groups of 4 rows: start and end are rounded down to
    /// a multiple of 4 (the matrix's end excepted), so callers cut it at multiples of 4.
    pub fn rows(&self, start: usize, end: usize) -> Matrix<'a> {
        let mut end = end.min(self.rows);
        let mut start = start.min(end);
        let per_row = self.k / self.data.ggml_type().block_size();
        let (mut a, mut b) = (start * per_row, end * per_row);
        if let MatData::Q4_0x4(_) | MatData::Q8_0x4(_) = self.data {
            debug_assert!(start.is_multiple_of(ROWS) && end.is_multiple_of(ROWS));
            (start, end) = (start - start % ROWS, end - end % ROWS);
            (a, b) = (start / ROWS * per_row, end / ROWS * per_row);
        }
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
            MatData::Q5_0(s) => MatData::Q5_0(cut(s, a, b)),
            MatData::Q5_1(s) => MatData::Q5_1(cut(s, a, b)),
            MatData::Q2_K(s) => MatData::Q2_K(cut(s, a, b)),
            MatData::Q3_K(s) => MatData::Q3_K(cut(s, a, b)),
            MatData::Q4_K(s) => MatData::Q4_K(cut(s, a, b)),
            MatData::Q5_K(s) => MatData::Q5_K(cut(s, a, b)),
            MatData::Q6_K(s) => MatData::Q6_K(cut(s, a, b)),
            MatData::Q4_0x4(s) => MatData::Q4_0x4(cut(s, a, b)),
            MatData::Q8_0x4(s) => MatData::Q8_0x4(cut(s, a, b)),
        };
        Matrix {
            data,
            rows: end - start,
            k: self.k,
        }
    }
}
