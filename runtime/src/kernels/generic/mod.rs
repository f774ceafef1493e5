//! Portable scalar kernels, one file per weight-type family (`q4`, `q5`, `q8`,
//! `k_quants`, `float`): the reference every SIMD kernel is tested against (DESIGN
//! convention 4). The arithmetic follows ggml so results agree with llama.cpp to rounding:
//! integer sums within a block, f32 scaling and accumulation in ggml's order.
//!
//! Length conventions (no kernel panics on them): dot products run over the shorter of the
//! two inputs; quantizers write `min(out.len(), ceil(x.len() / 32))` blocks and treat the
//! missing tail of a partial last block as zeros; matvec loops write
//! `min(out.len(), w.len() / row_len)` rows.

mod activation;
mod attention;
mod attention_tiled;
mod float;
mod gemm;
mod k_quants;
mod q4;
mod q5;
mod q8;
mod swiglu;

pub use activation::*;
pub use attention::*;
pub use attention_tiled::*;
pub use float::*;
pub use gemm::*;
pub use k_quants::*;
pub use q4::*;
pub use q5::*;
pub use q8::*;
pub use swiglu::*;

use super::{MatData, Matrix};
use edge_formats::blocks::dequantize;

/// The row loop every ISA shares: `out[r] = dot(w row r, x)` for w (rows, row_len) stored
/// row-major, rows = min(out.len(), w.len() / row_len). `#[inline(always)]` so that each ISA's
/// `#[target_feature]` matvec inlines its own dot product here.
#[inline(always)]
pub fn rows_by<W, X>(
    out: &mut [f32],
    w: &[W],
    row_len: usize,
    x: &[X],
    dot: impl Fn(&[W], &[X]) -> f32,
) {
    if row_len == 0 {
        out.fill(0.0);
        return;
    }
    for (o, row) in out.iter_mut().zip(w.chunks_exact(row_len)) {
        *o = dot(row, x);
    }
}

/// Row `row` of w (rows, k) -> out (k), as f32 (embedding lookup), by the scalar decoders of
/// `edge_formats::blocks` (ggml `dequantize_row_*`). Writes min(out.len(), k) values; a row
/// outside the matrix writes zeros (callers check token ids before calling).
pub fn dequantize_row(w: &Matrix, row: usize, out: &mut [f32]) {
    let k = w.k.min(out.len());
    let out = &mut out[..k];
    out.fill(0.0);
    if row >= w.rows {
        return;
    }
    match w.data {
        MatData::Q4_0x4(s) => return super::repacked::dequantize_row_q4_0x4(s, w.k, row, out),
        MatData::Q8_0x4(s) => return super::repacked::dequantize_row_q8_0x4(s, w.k, row, out),
        _ => {}
    }
    let one_row = w.rows(row, row + 1);
    match one_row.data {
        MatData::F32(s) => dequantize(s, out),
        MatData::F16(s) => dequantize(s, out),
        MatData::BF16(s) => dequantize(s, out),
        MatData::Q8_0(s) => dequantize(s, out),
        MatData::Q4_0(s) => dequantize(s, out),
        MatData::Q4_1(s) => dequantize(s, out),
        MatData::Q5_0(s) => dequantize(s, out),
        MatData::Q5_1(s) => dequantize(s, out),
        MatData::Q2_K(s) => dequantize(s, out),
        MatData::Q3_K(s) => dequantize(s, out),
        MatData::Q4_K(s) => dequantize(s, out),
        MatData::Q5_K(s) => dequantize(s, out),
        MatData::Q6_K(s) => dequantize(s, out),
        MatData::Q4_0x4(_) | MatData::Q8_0x4(_) => {} // decoded above
    }
}
