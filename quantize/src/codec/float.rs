//! Scalar float conversions as ggml does them for files: f32 -> f16 (IEEE round to nearest even,
//! ggml `ggml_compute_fp32_to_fp16`) and f32 -> bf16 (ggml `ggml_compute_fp32_to_bf16`), plus
//! whole-row conversions to little-endian bytes. The exact widening back to f32 is
//! [`edge_formats::blocks::float`].

use half::f16;

/// The f16 bits ggml stores for a NaN input: a quiet NaN, sign kept, payload dropped.
pub const F16_QUIET_NAN: u16 = 0x7e00;

/// f32 -> f16 bits, ggml's `GGML_FP32_TO_FP16` (the portable FP16-library algorithm):
/// round to nearest, ties to even, subnormals kept, overflow to infinity; a NaN becomes
/// `sign | 0x7e00` (its payload is not kept).
#[inline]
pub fn f32_to_f16_bits(x: f32) -> u16 {
    if x.is_nan() {
        let sign = ((x.to_bits() >> 16) & 0x8000) as u16;
        return sign | F16_QUIET_NAN;
    }
    f16::from_f32(x).to_bits()
}

/// f32 -> bf16 bits, ggml's rounding (`edge_formats::blocks::float`, where the runtime's
/// kernels take it from too).
pub use edge_formats::blocks::float::f32_to_bf16_bits;

/// src (n) -> dst (4n bytes): f32 as little-endian bytes. Caller checks the lengths.
pub(super) fn write_f32_le(src: &[f32], dst: &mut [u8]) {
    debug_assert_eq!(dst.len(), src.len() * 4);
    for (out, x) in dst.chunks_exact_mut(4).zip(src) {
        out.copy_from_slice(&x.to_le_bytes());
    }
}

/// src (n) -> dst (2n bytes): f16 bits, little-endian. Caller checks the lengths.
pub(super) fn write_f16_le(src: &[f32], dst: &mut [u8]) {
    debug_assert_eq!(dst.len(), src.len() * 2);
    for (out, x) in dst.chunks_exact_mut(2).zip(src) {
        out.copy_from_slice(&f32_to_f16_bits(*x).to_le_bytes());
    }
}

/// src (n) -> dst (2n bytes): bf16 bits, little-endian. Caller checks the lengths.
pub(super) fn write_bf16_le(src: &[f32], dst: &mut [u8]) {
    debug_assert_eq!(dst.len(), src.len() * 2);
    for (out, x) in dst.chunks_exact_mut(2).zip(src) {
        out.copy_from_slice(&f32_to_bf16_bits(*x).to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_formats::blocks::{bf16_bits_to_f32, f16_bits_to_f32};

    #[test]
    fn f16_round_trips_every_non_nan_pattern() {
        for bits in 0..=u16::MAX {
            let x = f16_bits_to_f32(bits);
            if x.is_nan() {
                // ggml: any NaN comes back as the canonical quiet NaN with its sign.
                assert_eq!(
                    f32_to_f16_bits(x),
                    (bits & 0x8000) | F16_QUIET_NAN,
                    "{bits:#06x}"
                );
            } else {
                assert_eq!(f32_to_f16_bits(x), bits, "{bits:#06x}");
            }
        }
    }

    #[test]
    fn bf16_round_trips_every_pattern() {
        for bits in 0..=u16::MAX {
            let x = bf16_bits_to_f32(bits);
            let expected = if x.is_nan() { bits | 0x0040 } else { bits };
            assert_eq!(f32_to_bf16_bits(x), expected, "{bits:#06x}");
        }
    }

    #[test]
    fn bf16_rounds_ties_to_even_and_overflows_to_inf() {
        // 1.0 + half an ulp of bf16: tie, lowest kept bit 0 -> stays.
        assert_eq!(f32_to_bf16_bits(f32::from_bits(0x3f80_8000)), 0x3f80);
        // Kept lsb 1 and a tie -> rounds up to even.
        assert_eq!(f32_to_bf16_bits(f32::from_bits(0x3f81_8000)), 0x3f82);
        assert_eq!(f32_to_bf16_bits(f32::from_bits(0x3f80_8001)), 0x3f81);
        assert_eq!(f32_to_bf16_bits(f32::MAX), 0x7f80);
        assert_eq!(f32_to_bf16_bits(-f32::MAX), 0xff80);
        // Subnormal: not flushed.
        assert_eq!(f32_to_bf16_bits(f32::from_bits(0x0001_8000)), 0x0002);
        assert_eq!(f32_to_bf16_bits(-0.0), 0x8000);
        // Signalling NaN with payload in the upper half: quiet bit set, payload kept.
        assert_eq!(f32_to_bf16_bits(f32::from_bits(0xff81_0001)), 0xffc1);
    }
}
