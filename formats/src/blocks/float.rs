//! The plain float types as blocks of one element: f32 as is, f16 and bf16 widened exactly
//! (ggml `GGML_FP16_TO_FP32`, `GGML_BF16_TO_FP32`). The f32 -> f16 / bf16 encoders (ggml's
//! rounding) live with the other encoders in edge-quantize.

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
