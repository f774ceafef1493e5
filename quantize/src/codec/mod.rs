//! Scalar block encoders, bit-exact with ggml's `quantize_row_*_ref` (the file quantizers:
//! round half away from zero). The decoders and the block layouts live in
//! [`edge_formats::blocks`]; [`dequantize_row`] is re-exported from there for the quantizer's
//! own round trips.
//!
//! - [`q8_0`], [`q8_1`], [`q4_0`], [`q4_1`], [`q5_0`], [`q5_1`]: blocks of 32, typed slices
//!   `&[f32]` -> `&[Block*]`.
//! - [`q2_k`], [`q3_k`], [`q4_k`] (Q4_K and Q5_K), [`q6_k`]: the K-quants, super-blocks of
//!   256 (ggml `quantize_row_q*_K_ref`), on the helpers of [`kquant`].
//! - [`float`]: f32 -> f16 / bf16 bits as ggml converts them.
//! - [`quantize_row`]: one or more rows of any supported type as the bytes a GGUF file holds
//!   (little-endian).
//!
//! The runtime's activation quantizer (ties to even, as ggml's SIMD path) lives elsewhere.

mod block_scale;
pub mod float;
mod kquant;
pub mod q2_k;
pub mod q3_k;
pub mod q4_0;
pub mod q4_1;
pub mod q4_k;
pub mod q5_0;
pub mod q5_1;
pub mod q6_k;
pub mod q8_0;
pub mod q8_1;

pub use edge_formats::blocks::{dequantize_row, RowError as CodecError};
pub use float::{f32_to_bf16_bits, f32_to_f16_bits};
pub use q2_k::quantize_q2_k;
pub use q3_k::quantize_q3_k;
pub use q4_0::quantize_q4_0;
pub use q4_1::quantize_q4_1;
pub use q4_k::{quantize_q4_k, quantize_q5_k};
pub use q5_0::quantize_q5_0;
pub use q5_1::quantize_q5_1;
pub use q6_k::quantize_q6_k;
pub use q8_0::quantize_q8_0;
pub use q8_1::quantize_q8_1;

use edge_formats::blocks::check_row;
use edge_formats::GgmlType;

/// Encodes the N-value blocks of `src` with `encode` into `dst`, each block as its
/// in-memory bytes (little-endian on every target we build for, as on disk).
fn quantize_blocks<B: bytemuck::Pod, const N: usize>(
    src: &[f32],
    dst: &mut [u8],
    encode: impl Fn(&[f32; N]) -> B,
) {
    for (x, out) in src
        .chunks_exact(N)
        .zip(dst.chunks_exact_mut(std::mem::size_of::<B>()))
    {
        if let Ok(x) = <&[f32; N]>::try_from(x) {
            out.copy_from_slice(bytemuck::bytes_of(&encode(x)));
        }
    }
}

/// src (n = N * dst.len()) -> dst (n / N blocks) with `encode`. `src.len()` must equal
/// `dst.len() * N` (checked in debug builds; otherwise only the whole blocks both slices
/// have are written).
fn quantize_typed<B, const N: usize>(src: &[f32], dst: &mut [B], encode: impl Fn(&[f32; N]) -> B) {
    debug_assert_eq!(src.len(), dst.len() * N, "quantize: src/dst lengths");
    for (block, x) in dst.iter_mut().zip(src.chunks_exact(N)) {
        if let Ok(x) = <&[f32; N]>::try_from(x) {
            *block = encode(x);
        }
    }
}

/// src (n elements, any number of rows) -> dst (the GGUF bytes of n elements of `ty`).
/// F32 is copied, F16 and BF16 are written as little-endian bits (ggml's conversions), the
/// block types as ggml's `quantize_row_*_ref` lays them out. `src.len()` must be a multiple
/// of the block size of `ty` (32, or 256 for K-quants) and `dst.len()` exactly
/// `ty.row_bytes(src.len())`; rows of a tensor can be passed one at a time or all together
/// (blocks never straddle rows when the row length is a multiple of the block size).
/// Q8_K (an activation type) has no file encoder here.
pub fn quantize_row(ty: GgmlType, src: &[f32], dst: &mut [u8]) -> Result<(), CodecError> {
    check_row(ty, src.len(), dst.len())?;
    match ty {
        GgmlType::F32 => float::write_f32_le(src, dst),
        GgmlType::F16 => float::write_f16_le(src, dst),
        GgmlType::BF16 => float::write_bf16_le(src, dst),
        GgmlType::Q8_0 => quantize_blocks(src, dst, q8_0::quantize_block),
        GgmlType::Q8_1 => quantize_blocks(src, dst, q8_1::quantize_block),
        GgmlType::Q4_0 => quantize_blocks(src, dst, q4_0::quantize_block),
        GgmlType::Q4_1 => quantize_blocks(src, dst, q4_1::quantize_block),
        GgmlType::Q5_0 => quantize_blocks(src, dst, q5_0::quantize_block),
        GgmlType::Q5_1 => quantize_blocks(src, dst, q5_1::quantize_block),
        GgmlType::Q2_K => quantize_blocks(src, dst, q2_k::quantize_block),
        GgmlType::Q3_K => quantize_blocks(src, dst, q3_k::quantize_block),
        GgmlType::Q4_K => quantize_blocks(src, dst, q4_k::quantize_block_q4_k),
        GgmlType::Q5_K => quantize_blocks(src, dst, q4_k::quantize_block_q5_k),
        GgmlType::Q6_K => quantize_blocks(src, dst, q6_k::quantize_block),
        GgmlType::Q8_K => return Err(CodecError::Unsupported { ty }),
    }
    Ok(())
}

/// Relative RMS error `sqrt(sum (a - b)^2 / sum a^2)`, accumulated in f64. 0 when both sums
/// are 0; infinity when only `original` is all zero.
///
/// # Panics
/// When the two slices differ in length (a caller bug, not an input property).
pub fn relative_rms_error(original: &[f32], reconstructed: &[f32]) -> f64 {
    assert_eq!(
        original.len(),
        reconstructed.len(),
        "relative_rms_error: slices differ in length"
    );
    let (mut err, mut norm) = (0.0f64, 0.0f64);
    for (&a, &b) in original.iter().zip(reconstructed) {
        let diff = f64::from(a) - f64::from(b);
        err += diff * diff;
        norm += f64::from(a) * f64::from(a);
    }
    if err == 0.0 {
        0.0
    } else {
        (err / norm).sqrt()
    }
}

#[cfg(test)]
mod tests;
