//! Scalar block codecs, bit-exact with ggml's `quantize_row_*_ref` (the file quantizers:
//! round half away from zero) and its `dequantize_row_*`.
//!
//! - [`q8_0`], [`q8_1`], [`q4_0`], [`q4_1`]: typed slices, `&[f32]` <-> `&[Block*]`.
//! - [`float`]: f32 <-> f16 / bf16 bits as ggml converts them.
//! - [`quantize_row`] / [`dequantize_row`]: one or more rows of any supported type as the
//!   bytes a GGUF file holds (little-endian), for the quantizer and for reading GGUF inputs.
//!
//! The runtime's activation quantizer (ties to even, as ggml's SIMD path) lives elsewhere.

pub mod float;
pub mod q4_0;
pub mod q4_1;
pub mod q8_0;
pub mod q8_1;

pub use float::{bf16_bits_to_f32, f16_bits_to_f32, f32_to_bf16_bits, f32_to_f16_bits};
pub use q4_0::{dequantize_q4_0, quantize_q4_0};
pub use q4_1::{dequantize_q4_1, quantize_q4_1};
pub use q8_0::{dequantize_q8_0, quantize_q8_0};
pub use q8_1::{dequantize_q8_1, quantize_q8_1};

use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, GgmlType, QK};
use std::mem::size_of;

/// Why a row could not be (de)quantized. The caller adds the tensor name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The element count is not a whole number of blocks of `ty`.
    #[error("{ty}: {len} elements is not a multiple of the block size {block}")]
    NotBlockMultiple {
        ty: GgmlType,
        len: usize,
        block: usize,
    },
    /// The byte buffer does not have exactly the size `n_elements` of `ty` take.
    #[error("{ty}: {n_elements} elements take {expected} bytes, the buffer has {actual}")]
    BufferSize {
        ty: GgmlType,
        n_elements: usize,
        expected: usize,
        actual: usize,
    },
    /// No codec for this type.
    #[error("{ty}: no codec for this tensor type")]
    Unsupported { ty: GgmlType },
}

/// Bytes that `n_elements` of `ty` take, after checking that they are whole blocks.
fn checked_size(ty: GgmlType, n_elements: usize) -> Result<usize, CodecError> {
    let block = ty.block_size();
    if !n_elements.is_multiple_of(block) {
        return Err(CodecError::NotBlockMultiple {
            ty,
            len: n_elements,
            block,
        });
    }
    Ok((n_elements / block).saturating_mul(ty.block_bytes()))
}

fn check_buffer(ty: GgmlType, n_elements: usize, bytes: usize) -> Result<(), CodecError> {
    let expected = checked_size(ty, n_elements)?;
    if bytes != expected {
        return Err(CodecError::BufferSize {
            ty,
            n_elements,
            expected,
            actual: bytes,
        });
    }
    Ok(())
}

/// Writes one block of 32 `src` values with `encode` into `dst` (`bytes` bytes per block),
/// as little-endian bytes produced by `to_bytes`.
fn quantize_blocks<B>(
    src: &[f32],
    dst: &mut [u8],
    encode: impl Fn(&[f32; QK]) -> B,
    to_bytes: impl Fn(&B, &mut [u8]),
) {
    for (x, out) in src
        .chunks_exact(QK)
        .zip(dst.chunks_exact_mut(size_of::<B>()))
    {
        if let Ok(x) = <&[f32; QK]>::try_from(x) {
            to_bytes(&encode(x), out);
        }
    }
}

/// src (n elements, any number of rows) -> dst (the GGUF bytes of n elements of `ty`).
/// F32 is copied, F16 and BF16 are written as little-endian bits (ggml's conversions), the
/// block types as ggml's `quantize_row_*_ref` lays them out. `src.len()` must be a multiple
/// of the block size of `ty` (32 for block types) and `dst.len()` exactly
/// `ty.row_bytes(src.len())`; rows of a tensor can be passed one at a time or all together
/// (blocks never straddle rows when the row length is a multiple of 32).
pub fn quantize_row(ty: GgmlType, src: &[f32], dst: &mut [u8]) -> Result<(), CodecError> {
    check_buffer(ty, src.len(), dst.len())?;
    #[allow(unreachable_patterns)] // new GgmlType variants without a codec
    match ty {
        GgmlType::F32 => float::write_f32_le(src, dst),
        GgmlType::F16 => float::write_f16_le(src, dst),
        GgmlType::BF16 => float::write_bf16_le(src, dst),
        GgmlType::Q8_0 => quantize_blocks(src, dst, q8_0::quantize_block, |b, out| {
            out[..2].copy_from_slice(&b.d.to_bits().to_le_bytes());
            out[2..].copy_from_slice(bytemuck::cast_slice(&b.qs));
        }),
        GgmlType::Q8_1 => quantize_blocks(src, dst, q8_1::quantize_block, |b, out| {
            out[..2].copy_from_slice(&b.d.to_bits().to_le_bytes());
            out[2..4].copy_from_slice(&b.s.to_bits().to_le_bytes());
            out[4..].copy_from_slice(bytemuck::cast_slice(&b.qs));
        }),
        GgmlType::Q4_0 => quantize_blocks(src, dst, q4_0::quantize_block, |b, out| {
            out[..2].copy_from_slice(&b.d.to_bits().to_le_bytes());
            out[2..].copy_from_slice(&b.qs);
        }),
        GgmlType::Q4_1 => quantize_blocks(src, dst, q4_1::quantize_block, |b, out| {
            out[..2].copy_from_slice(&b.d.to_bits().to_le_bytes());
            out[2..4].copy_from_slice(&b.m.to_bits().to_le_bytes());
            out[4..].copy_from_slice(&b.qs);
        }),
        _ => return Err(CodecError::Unsupported { ty }),
    }
    Ok(())
}

/// Reads one block of type `B` from its little-endian bytes (`size_of::<B>()` of them) and
/// dequantizes it into 32 values with `decode`.
fn dequantize_blocks<B: bytemuck::Pod>(
    src: &[u8],
    dst: &mut [f32],
    decode: impl Fn(&[B], &mut [f32]),
) {
    for (bytes, y) in src
        .chunks_exact(size_of::<B>())
        .zip(dst.chunks_exact_mut(QK))
    {
        // Blocks are little-endian on disk and in memory on every target we build for.
        let block: B = bytemuck::pod_read_unaligned(bytes);
        decode(std::slice::from_ref(&block), y);
    }
}

/// src (the GGUF bytes of n elements of `ty`) -> dst (n f32), ggml's `dequantize_row_*` and
/// exact f16/bf16 widening. `dst.len()` must be a multiple of the block size of `ty` and
/// `src.len()` exactly `ty.row_bytes(dst.len())`.
pub fn dequantize_row(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), CodecError> {
    check_buffer(ty, dst.len(), src.len())?;
    #[allow(unreachable_patterns)] // new GgmlType variants without a codec
    match ty {
        GgmlType::F32 => float::read_f32_le(src, dst),
        GgmlType::F16 => float::read_f16_le(src, dst),
        GgmlType::BF16 => float::read_bf16_le(src, dst),
        GgmlType::Q8_0 => dequantize_blocks::<BlockQ8_0>(src, dst, dequantize_q8_0),
        GgmlType::Q8_1 => dequantize_blocks::<BlockQ8_1>(src, dst, dequantize_q8_1),
        GgmlType::Q4_0 => dequantize_blocks::<BlockQ4_0>(src, dst, dequantize_q4_0),
        GgmlType::Q4_1 => dequantize_blocks::<BlockQ4_1>(src, dst, dequantize_q4_1),
        _ => return Err(CodecError::Unsupported { ty }),
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
