//! The plain float types as blocks of one element: f32 as is, f16 and bf16 widened exactly
//! (ggml `GGML_FP16_TO_FP32`, `GGML_BF16_TO_FP32`). The f32 -> f16 encoder lives with the
//! other encoders in edge-quantize; f32 -> bf16 is here, since the runtime's kernels round
//! activations to bf16 as ggml does.

use super::{dequantize, Block, GgmlType};
use half::{bf16, f16};

/// f16 bits -> f32, exact (ggml `GGML_FP16_TO_FP32`).
#[inline]
pub fn f16_bits_to_f32(bits: u16) -> f32 {
    f16::from_bits(bits).to_f32()
}

/// bf16 bits -> f32, exact: the bits become the upper half of an f32.
#[inline]
pub fn bf16_bits_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// f32 -> bf16 bits, ggml `ggml_compute_fp32_to_bf16`: a NaN keeps its upper 16 bits with the
/// quiet bit (0x0040) set; everything else rounds the upper 16 bits to nearest, ties to even,
/// by adding 0x7fff plus the lowest kept bit. Subnormals are not flushed; a value that rounds
/// past the largest finite bf16 becomes infinity.
#[inline]
pub fn f32_to_bf16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    if bits & 0x7fff_ffff > 0x7f80_0000 {
        return ((bits >> 16) | 0x0040) as u16;
    }
    let lowest_kept = (bits >> 16) & 1;
    // Cannot overflow: the largest non-NaN magnitude 0x7f80_0000 (+ sign) plus 0x8000 fits.
    (bits.wrapping_add(0x7fff + lowest_kept) >> 16) as u16
}

impl Block for f32 {
    const TYPE: GgmlType = GgmlType::F32;
    const BLOCK_SIZE: usize = 1;

    #[inline]
    fn dequantize(&self, out: &mut [f32]) {
        if let Some(o) = out.first_mut() {
            *o = *self;
        }
    }
}

impl Block for f16 {
    const TYPE: GgmlType = GgmlType::F16;
    const BLOCK_SIZE: usize = 1;

    #[inline]
    fn dequantize(&self, out: &mut [f32]) {
        if let Some(o) = out.first_mut() {
            *o = f16_bits_to_f32(self.to_bits());
        }
    }
}

impl Block for bf16 {
    const TYPE: GgmlType = GgmlType::BF16;
    const BLOCK_SIZE: usize = 1;

    #[inline]
    fn dequantize(&self, out: &mut [f32]) {
        if let Some(o) = out.first_mut() {
            *o = bf16_bits_to_f32(self.to_bits());
        }
    }
}

/// src (n) -> dst (n), exact. A shorter `dst` receives a prefix.
pub fn dequantize_f16(src: &[f16], dst: &mut [f32]) {
    dequantize(src, dst)
}

/// src (n) -> dst (n), exact. A shorter `dst` receives a prefix.
pub fn dequantize_bf16(src: &[bf16], dst: &mut [f32]) {
    dequantize(src, dst)
}
