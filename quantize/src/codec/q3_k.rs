//! Q3_K: 256 values in 16 sub-blocks of 16 as `d * (sc - 32) * (q - 4)`, laid out by
//! [`edge_formats::blocks::q3_k`]. Port of ggml `quantize_row_q3_K_ref`.

use super::kquant::{f16_round, make_q3_quants, nearest_int};
use edge_formats::blocks::q3_k::{pack_q3, pack_q3_scales, unpack_q3_scales};
use edge_formats::blocks::{BlockQ3_K, QK_K};
use half::f16;

/// One super-block: [`make_q3_quants`] (nmax 4) per sub-block; the scales quantized to
/// 6 bits (offset 32) against the one of largest magnitude (d = its value / -32); every
/// value re-quantized against the stored scales (a sub-block whose stored scale is zero
/// keeps its first levels).
#[inline]
pub(super) fn quantize_block(x: &[f32; QK_K]) -> BlockQ3_K {
    let mut levels = [0i8; QK_K];
    let mut scales = [0.0f32; QK_K / 16];
    let (mut max_scale, mut amax) = (0.0f32, 0.0f32);
    for (s, (xs, ls)) in scales
        .iter_mut()
        .zip(x.chunks_exact(16).zip(levels.chunks_exact_mut(16)))
    {
        *s = make_q3_quants(4, xs, ls);
        if s.abs() > amax {
            amax = s.abs();
            max_scale = *s;
        }
    }
    let mut packed = [0u8; 12];
    let mut d = f16::ZERO;
    // ggml tests `if (max_scale)`: NaN counts as non-zero.
    if max_scale != 0.0 || max_scale.is_nan() {
        let iscale = -32.0 / max_scale;
        // nearest_int stored into an int8_t (wrapping), clamped to [-32, 31], offset by 32.
        let six_bits = scales.map(|s| ((nearest_int(iscale * s) as i8).clamp(-32, 31) + 32) as u8);
        packed = pack_q3_scales(&six_bits);
        d = f16_round(1.0 / iscale).0;
    }
    let d32 = d.to_f32();
    let stored = unpack_q3_scales(&packed);
    for ((&sc, xs), ls) in stored
        .iter()
        .zip(x.chunks_exact(16))
        .zip(levels.chunks_exact_mut(16))
    {
        let d = d32 * (i32::from(sc) - 32) as f32;
        if d == 0.0 {
            continue;
        }
        for (l, &v) in ls.iter_mut().zip(xs) {
            *l = (nearest_int(v / d).clamp(-4, 3) + 4) as i8;
        }
    }
    let (hmask, qs) = pack_q3(&levels.map(|l| l as u8));
    BlockQ3_K {
        hmask,
        qs,
        scales: packed,
        d,
    }
}

/// src (n = 256 * dst.len()) -> dst, ggml `quantize_row_q3_K_ref`.
pub fn quantize_q3_k(src: &[f32], dst: &mut [BlockQ3_K]) {
    super::quantize_typed(src, dst, quantize_block)
}
