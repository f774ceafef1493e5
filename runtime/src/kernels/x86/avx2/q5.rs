//! Q5_0 and Q5_1 weights against Q8_0 and Q8_1 activations.

use super::{f16_to_f32, hsum_f32x8, load_q8, mul_sum_i8_f32, mul_sum_u8_i8_f32};
use crate::kernels::isa_glue::{row_loop, safe_entry};
use crate::kernels::TypeKernels;
use edge_formats::blocks::{BlockQ5_0, BlockQ5_1};
use edge_formats::{BlockQ8_0, BlockQ8_1, QK};
use std::arch::x86_64::*;

/// The AVX2 Q5_0 entries.
pub(super) const Q5_0: TypeKernels<BlockQ5_0, BlockQ8_0> =
    TypeKernels::new(dot_q5_0_q8_0, matvec_q5_0);
/// The AVX2 Q5_1 entries.
pub(super) const Q5_1: TypeKernels<BlockQ5_1, BlockQ8_1> =
    TypeKernels::new(dot_q5_1_q8_1, matvec_q5_1);

safe_entry! {
    fn dot_q5_0_q8_0(w: &[BlockQ5_0], x: &[BlockQ8_0]) -> f32 => dot_q5_0_q8_0_avx2;
    fn dot_q5_1_q8_1(w: &[BlockQ5_1], x: &[BlockQ8_1]) -> f32 => dot_q5_1_q8_1_avx2;
    fn matvec_q5_0(out: &mut [f32], w: &[BlockQ5_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q5_0_avx2;
    fn matvec_q5_1(out: &mut [f32], w: &[BlockQ5_1], row_len: usize, x: &[BlockQ8_1]) => matvec_q5_1_avx2;
}

row_loop!(
    matvec_q5_0_avx2,
    BlockQ5_0,
    BlockQ8_0,
    dot_q5_0_q8_0_avx2,
    "avx2,fma,f16c"
);
row_loop!(
    matvec_q5_1_avx2,
    BlockQ5_1,
    BlockQ8_1,
    dot_q5_1_q8_1_avx2,
    "avx2,fma,f16c"
);

/// The low four bits of the 32 values, in element order (low nibbles, then high).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn low_nibbles(qs: &[u8; QK / 2]) -> __m256i {
    // SAFETY: qs has exactly 16 bytes.
    let lo = unsafe { _mm_loadu_si128(qs.as_ptr() as *const __m128i) };
    let hi = _mm_srli_epi16::<4>(lo);
    _mm256_and_si256(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(0x0F))
}

/// Byte j is 0xFF where bit j of the little-endian `qh` is set, else 0.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn bytes_of_bits(qh: [u8; 4]) -> __m256i {
    let bits = _mm256_set1_epi32(i32::from_le_bytes(qh));
    // Byte j takes byte j / 8 of qh (each 128-bit half holds all four).
    let spread = _mm256_shuffle_epi8(
        bits,
        _mm256_setr_epi8(
            0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, //
            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
        ),
    );
    let bit_of_byte = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
    _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit_of_byte), bit_of_byte)
}

// w (nb) . x (nb) -> f32; ggml_vec_dot_q5_0_q8_0 (AVX2 path): q - 16 as i8 (nibble, with
// 0xF0 or'ed in where the fifth bit is clear), lanes of 4 products,
// acc = fma(d_w * d_x, lanes, acc), then a horizontal sum.
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q5_0_q8_0_avx2(w: &[BlockQ5_0], x: &[BlockQ8_0]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (a, b) in w.iter().zip(x) {
        let d = _mm256_set1_ps(f16_to_f32(a.d) * f16_to_f32(b.d));
        let clear_high = _mm256_andnot_si256(bytes_of_bits(a.qh), _mm256_set1_epi8(0xF0u8 as i8));
        let qx = _mm256_or_si256(low_nibbles(&a.qs), clear_high);
        let q = mul_sum_i8_f32(qx, load_q8(&b.qs));
        acc = _mm256_fmadd_ps(d, q, acc);
    }
    hsum_f32x8(acc)
}

// w (nb) . x (nb) -> f32; ggml_vec_dot_q5_1_q8_1 (AVX2 path): q in [0, 31],
// acc = fma(lanes, d_w * d_x, acc); the horizontal sum plus the sum of m * s.
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q5_1_q8_1_avx2(w: &[BlockQ5_1], x: &[BlockQ8_1]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        summs += f16_to_f32(a.m) * f16_to_f32(b.s);
        let high = _mm256_and_si256(bytes_of_bits(a.qh), _mm256_set1_epi8(0x10));
        let qx = _mm256_or_si256(low_nibbles(&a.qs), high);
        let q = mul_sum_u8_i8_f32(qx, load_q8(&b.qs));
        let d = _mm256_set1_ps(f16_to_f32(a.d) * f16_to_f32(b.d));
        acc = _mm256_fmadd_ps(q, d, acc);
    }
    hsum_f32x8(acc) + summs
}
