//! Streams a plan into a GGUF: header and tensor infos first, then each tensor in chunks of
//! rows (converted to f32, quantized in parallel, written), never a whole tensor in memory.

use crate::codec;
use crate::error::{Error, Result};
use crate::plan::{Plan, PlannedTensor};
use crate::source::{Rows, Source};
use edge_formats::gguf::{GgmlDims, GgufWriter, TensorSpec};
use edge_formats::GgmlType;
use rayon::prelude::*;
use std::io::Write;

/// f32 values converted per chunk (1 MiB): bounds the working memory per tensor.
const CHUNK_ELEMENTS: usize = 1 << 18;

/// What was written for one tensor (a line of the table).
#[derive(Clone, Debug)]
pub struct TensorReport {
    pub name: String,
    pub dims: GgmlDims,
    pub ty: GgmlType,
    /// sqrt(sum (x - dequant(quant(x)))^2 / sum x^2) over the whole tensor.
    pub relative_rms_error: f64,
    pub bytes: u64,
}

/// Writes `plan` from `source` into `out`; `on_chunk(elements)` after each chunk and
/// `on_tensor` after each tensor.
pub fn write_gguf<W: Write>(
    source: &Source,
    plan: &Plan,
    out: W,
    pool: &rayon::ThreadPool,
    mut on_chunk: impl FnMut(u64),
    mut on_tensor: impl FnMut(&TensorReport),
) -> Result<W> {
    let specs: Vec<TensorSpec> = plan.tensors.iter().map(PlannedTensor::spec).collect();
    let mut writer = GgufWriter::new(out, &plan.metadata, &specs)?;
    for t in &plan.tensors {
        let rows = source.rows(t)?;
        let report = write_tensor(&mut writer, t, &rows, pool, &mut on_chunk)?;
        writer.end_tensor()?;
        drop(rows);
        source.release(t);
        on_tensor(&report);
    }
    Ok(writer.finish()?)
}

/// Sums of squared error and squared input, for the relative RMS error.
#[derive(Clone, Copy, Default)]
struct ErrorSums {
    err: f64,
    norm: f64,
}

impl ErrorSums {
    fn add(self, o: ErrorSums) -> ErrorSums {
        ErrorSums {
            err: self.err + o.err,
            norm: self.norm + o.norm,
        }
    }

    fn of_row(x: &[f32], y: &[f32]) -> ErrorSums {
        let mut s = ErrorSums::default();
        for (&a, &b) in x.iter().zip(y) {
            let d = f64::from(a) - f64::from(b);
            s.err += d * d;
            s.norm += f64::from(a) * f64::from(a);
        }
        s
    }

    fn relative(self) -> f64 {
        if self.err == 0.0 {
            0.0
        } else {
            (self.err / self.norm).sqrt()
        }
    }
}

fn write_tensor<W: Write>(
    writer: &mut GgufWriter<W>,
    t: &PlannedTensor,
    rows: &Rows<'_>,
    pool: &rayon::ThreadPool,
    on_chunk: &mut impl FnMut(u64),
) -> Result<TensorReport> {
    let row_len = t.dims.row_len() as usize;
    let n_rows = t.dims.n_rows() as usize;
    let out_row_bytes = t.ty.row_bytes(row_len as u64).ok_or_else(|| {
        Error::shape(
            &t.name,
            format!("row length {row_len} is not whole {} blocks", t.ty),
        )
    })? as usize;
    let rows_per_chunk = (CHUNK_ELEMENTS / row_len.max(1)).clamp(1, n_rows.max(1));

    // src, dequantized and output buffers for one chunk: src (rows, row_len) ->
    // out (rows, out_row_bytes) -> deq (rows, row_len).
    let mut src = vec![0f32; rows_per_chunk * row_len];
    let mut deq = vec![0f32; rows_per_chunk * row_len];
    let mut out = vec![0u8; rows_per_chunk * out_row_bytes];
    let mut sums = ErrorSums::default();
    let codec_err = |source| Error::Codec {
        tensor: t.name.clone(),
        source,
    };

    let mut start = 0;
    while start < n_rows {
        let n = rows_per_chunk.min(n_rows - start);
        let chunk = pool.install(|| {
            src[..n * row_len]
                .par_chunks_mut(row_len.max(1))
                .zip(deq[..n * row_len].par_chunks_mut(row_len.max(1)))
                .zip(out[..n * out_row_bytes].par_chunks_mut(out_row_bytes.max(1)))
                .enumerate()
                .with_min_len(8)
                .map(|(i, ((x, y), q))| -> Result<ErrorSums> {
                    let source_row = t.rows.source_row(start + i, n_rows);
                    rows.read_row(source_row, x)?;
                    check_finite(t, source_row, x)?;
                    codec::quantize_row(t.ty, x, q).map_err(codec_err)?;
                    codec::dequantize_row(t.ty, q, y).map_err(codec_err)?;
                    check_representable(t, source_row, x, y)?;
                    Ok(ErrorSums::of_row(x, y))
                })
                // Not try_reduce: of two failing rows, the reduction keeps the earlier one, so
                // the error names the first bad weight whatever the thread timing.
                .reduce(
                    || Ok(ErrorSums::default()),
                    |a, b| match (a, b) {
                        (Ok(a), Ok(b)) => Ok(a.add(b)),
                        (Err(e), _) | (Ok(_), Err(e)) => Err(e),
                    },
                )
        })?;
        sums = sums.add(chunk);
        writer.write_data(&out[..n * out_row_bytes])?;
        on_chunk((n * row_len) as u64);
        start += n;
    }
    Ok(TensorReport {
        name: t.name.clone(),
        dims: t.dims.clone(),
        ty: t.ty,
        relative_rms_error: sums.relative(),
        bytes: (n_rows * out_row_bytes) as u64,
    })
}

/// The error for weight `column` of source row `row` of `t`.
fn bad_weight(t: &PlannedTensor, row: usize, column: usize, what: String) -> Error {
    let row_len = t.dims.row_len();
    Error::BadWeight {
        tensor: t.source.clone(),
        index: row as u64 * row_len + column as u64,
        row: row as u64,
        column: column as u64,
        what,
    }
}

/// Refuses a NaN or infinite input weight, as llama-quantize does (its validation of the
/// quantized rows fails on them): no output type can carry it meaningfully.
fn check_finite(t: &PlannedTensor, row: usize, x: &[f32]) -> Result<()> {
    match x.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(col) => Err(bad_weight(
            t,
            row,
            col,
            format!(
                "is {}; a model with NaN or infinite weights cannot be quantized",
                x[col]
            ),
        )),
    }
}

/// Refuses finite weights that come out of `t.ty` as NaN or infinity (past F16's range, or a
/// block whose F16 scale overflows), naming the largest weight of the block at fault.
fn check_representable(t: &PlannedTensor, row: usize, x: &[f32], y: &[f32]) -> Result<()> {
    let Some(bad) = y.iter().position(|v| !v.is_finite()) else {
        return Ok(());
    };
    let block = t.ty.block_size().max(1);
    let first = bad / block * block;
    let end = (first + block).min(x.len());
    let col = (first..end)
        .max_by(|&a, &b| x[a].abs().total_cmp(&x[b].abs()))
        .unwrap_or(bad);
    Err(bad_weight(
        t,
        row,
        col,
        format!(
            "= {} is out of the range of {} (it would be written as {})",
            x[col], t.ty, y[bad]
        ),
    ))
}
