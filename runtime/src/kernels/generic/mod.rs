//! Portable scalar kernels, one file per weight-type family: the reference every SIMD kernel is tested against (DESIGN
//! convention 4). The arithmetic follows ggml so results agree with llama.cpp to rounding:
//! integer sums within a block, f32 scaling and accumulation in ggml's order.
//!
//! Length conventions (no kernel panics on them): dot products run over the shorter of the
//! two inputs; quantizers write `min(out.len(), ceil(x.len() / 32))` blocks and treat the
//! missing tail of a partial last block as zeros; matvec loops write
//! `min(out.len(), w.len() / row_len)` rows.

mod activation;
mod float;
mod q4;
mod q8;
mod swiglu;

pub use activation::*;
pub use float::*;
pub use q4::*;
pub use q8::*;
pub use swiglu::*;

use super::{MatData, Matrix};
use edge_formats::QK;

/// The row loop every ISA shares: out[r] = dot(w row r, x) for w (rows, row_len) stored
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

/// Row `row` of w (rows, k) -> out (k), as f32 (embedding lookup). ggml dequantize_row_q4_0,
/// _q4_1, _q8_0: x = d * (q - 8), x = d * q + m, x = d * q, each in f32.
/// Writes min(out.len(), k) values; a row outside the matrix writes zeros (callers check
/// token ids before calling).
pub fn dequantize_row(w: &Matrix, row: usize, out: &mut [f32]) {
    let k = w.k.min(out.len());
    let out = &mut out[..k];
    let bs = w.data.ggml_type().block_size();
    let per_row = w.k / bs;
    let (a, b) = (
        row.saturating_mul(per_row),
        row.saturating_add(1).saturating_mul(per_row),
    );
    fn get<T>(s: &[T], a: usize, b: usize) -> &[T] {
        s.get(a..b).unwrap_or(&[])
    }
    out.fill(0.0);
    if row >= w.rows {
        return;
    }
    match w.data {
        MatData::F32(s) => {
            for (o, v) in out.iter_mut().zip(get(s, a, b)) {
                *o = *v;
            }
        }
        MatData::F16(s) => {
            for (o, v) in out.iter_mut().zip(get(s, a, b)) {
                *o = v.to_f32();
            }
        }
        MatData::BF16(s) => {
            for (o, v) in out.iter_mut().zip(get(s, a, b)) {
                *o = bf16_to_f32(*v);
            }
        }
        MatData::Q8_0(s) => {
            for (ob, blk) in out.chunks_mut(QK).zip(get(s, a, b)) {
                let d = blk.d.to_f32();
                for (o, q) in ob.iter_mut().zip(blk.qs) {
                    *o = q as f32 * d;
                }
            }
        }
        MatData::Q4_0(s) => {
            for (ob, blk) in out.chunks_mut(QK).zip(get(s, a, b)) {
                let d = blk.d.to_f32();
                let (lo, hi) = nibbles(&blk.qs);
                for (j, o) in ob.iter_mut().enumerate() {
                    let q = if j < QK / 2 { lo[j] } else { hi[j - QK / 2] };
                    *o = (q - 8) as f32 * d;
                }
            }
        }
        MatData::Q4_1(s) => {
            for (ob, blk) in out.chunks_mut(QK).zip(get(s, a, b)) {
                let (d, m) = (blk.d.to_f32(), blk.m.to_f32());
                let (lo, hi) = nibbles(&blk.qs);
                for (j, o) in ob.iter_mut().enumerate() {
                    let q = if j < QK / 2 { lo[j] } else { hi[j - QK / 2] };
                    *o = q as f32 * d + m;
                }
            }
        }
    }
}
