//! The activation quantizers: an f32 vector -> Q8_0, Q8_1 or Q8_K blocks, round half to even
//! (the ggml SIMD rounding), once per vector for every matrix that reads it.

use edge_formats::blocks::{BlockQ8_K, QK_K};
use edge_formats::{BlockQ8_0, BlockQ8_1, QK};
use half::f16;

/// One block of up to 32 activations quantized to 8 bits, the way ggml's AVX2/NEON
/// `quantize_row_q8_0`/`quantize_row_q8_1` do it: amax = max |x|, d = amax / 127 (f32, stored
/// as f16 round-to-nearest-even), id = 127 / amax (from the f32 amax, not from the rounded d),
/// q = round_half_to_even(x * id) saturated to i8. Returns (d, q, sum of q).
///
/// One deliberate difference from ggml x86: when 127 / amax overflows to infinity (amax below
/// about 7.5e-37, where d rounds to 0 in f16 anyway and the block contributes nothing), id is
/// 0 and all q are 0, instead of the x86 conversion's -128 for infinite products.
/// Inputs must be finite (NaN-free).
#[inline(always)]
pub fn quantize_block_q8(x: &[f32]) -> (f32, [i8; QK], i32) {
    let mut amax = 0.0f32;
    for &v in x.iter().take(QK) {
        amax = amax.max(v.abs());
    }
    let d = amax / 127.0;
    let id = activation_inverse_scale(amax);
    let mut qs = [0i8; QK];
    let mut sum = 0i32;
    for (q, &v) in qs.iter_mut().zip(x) {
        // `as i8` saturates; |v * id| <= 127 up to rounding for finite inputs.
        *q = (v * id).round_ties_even() as i8;
        sum += *q as i32;
    }
    (d, qs, sum)
}

/// 127 / amax, or 0 when amax is 0 or the quotient is not finite (see `quantize_block_q8`).
#[inline(always)]
pub fn activation_inverse_scale(amax: f32) -> f32 {
    if amax == 0.0 {
        return 0.0;
    }
    let id = 127.0 / amax;
    if id.is_finite() {
        id
    } else {
        0.0
    }
}

/// The block loop of the SIMD activation quantizers: x (n) -> out (ceil(n / 32) blocks), each
/// whole block of 32 by `full_block`, the rest (a partial last block) by the generic `tail`.
/// `#[inline(always)]` so that `full_block` inlines under the caller's `#[target_feature]`.
#[inline(always)]
pub fn quantize_blocks_by<B>(
    x: &[f32],
    out: &mut [B],
    mut full_block: impl FnMut(&[f32; QK], &mut B),
    tail: fn(&[f32], &mut [B]),
) {
    let full = (x.len() / QK).min(out.len());
    for (block, xb) in out[..full].iter_mut().zip(x.chunks_exact(QK)) {
        let Ok(xb) = <&[f32; QK]>::try_from(xb) else {
            continue;
        };
        full_block(xb, block);
    }
    tail(&x[full * QK..], &mut out[full..]);
}

/// x (n) -> out (ceil(n / 32) blocks). Activation quantizer, ties to even (ggml SIMD
/// quantize_row_q8_0).
pub fn quantize_q8_0(x: &[f32], out: &mut [BlockQ8_0]) {
    for (block, xb) in out.iter_mut().zip(x.chunks(QK)) {
        let (d, qs, _) = quantize_block_q8(xb);
        *block = BlockQ8_0 {
            d: f16::from_f32(d),
            qs,
        };
    }
}

/// x (n) -> out (ceil(n / 32) blocks). Activation quantizer, ties to even, with
/// s = f16(d * sum(q)) computed from the f32 d (ggml SIMD quantize_row_q8_1).
pub fn quantize_q8_1(x: &[f32], out: &mut [BlockQ8_1]) {
    for (block, xb) in out.iter_mut().zip(x.chunks(QK)) {
        let (d, qs, sum) = quantize_block_q8(xb);
        *block = BlockQ8_1 {
            d: f16::from_f32(d),
            s: f16::from_f32(d * sum as f32),
            qs,
        };
    }
}

/// x (n) -> out (ceil(n / 256) blocks). Activation quantizer of the K-quants, ggml
/// `quantize_row_q8_K_ref` (which is also what its x86 build runs): max = the first value of
/// largest magnitude, iscale = -127 / max, q = min(127, round_half_to_even(iscale * x)), d = 1 /
/// iscale (f32), bsums = the sums of each 16 q. A partial last block reads as zero-padded.
///
/// As for Q8_0: a block whose iscale is not finite (|max| below about 7.5e-37, where d is 0
/// and the block contributes nothing) gets q = 0. Inputs must be finite (NaN-free).
pub fn quantize_q8_k(x: &[f32], out: &mut [BlockQ8_K]) {
    for (block, xb) in out.iter_mut().zip(x.chunks(QK_K)) {
        quantize_block_q8_k(xb, block);
    }
}

/// One block of up to 256 activations -> `block` (see [`quantize_q8_k`]).
#[inline(always)]
pub fn quantize_block_q8_k(x: &[f32], block: &mut BlockQ8_K) {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x.iter().take(QK_K) {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    let iscale = if amax == 0.0 { 0.0 } else { -127.0 / max };
    let iscale = if iscale.is_finite() { iscale } else { 0.0 };
    block.qs = [0; QK_K];
    for (q, &v) in block.qs.iter_mut().zip(x) {
        // `as i32` saturates; the product is within 127 of zero up to rounding.
        *q = ((iscale * v).round_ties_even() as i32).min(127) as i8;
    }
    for (s, qs) in block.bsums.iter_mut().zip(block.qs.chunks_exact(16)) {
        *s = qs.iter().map(|&q| i16::from(q)).sum();
    }
    block.d = if iscale == 0.0 { 0.0 } else { 1.0 / iscale };
}
