//! Q6_K: 256 values in 16 sub-blocks of 16 as `d * sc * (q - 32)`, laid out by
//! [`edge_formats::blocks::q6_k`]. Port of ggml `quantize_row_q6_K_ref`.

use super::kquant::{f16_round, make_qx_quants, nearest_int, GROUP_MAX_EPS};
use edge_formats::blocks::q6_k::pack_q6_k;
use edge_formats::blocks::{BlockQ6_K, QK_K};
use half::f16;

/// One super-block: [`make_qx_quants`] (nmax 32) per sub-block; the scales quantized to
/// signed 8 bits against the one of largest magnitude (d = its value / -128); every value
/// re-quantized against the stored scales (a sub-block whose stored scale is zero keeps its
/// first levels). An all-zero block (largest |scale| below 1e-15) is all zero bytes.
#[inline]
pub(super) fn quantize_block(x: &[f32; QK_K]) -> BlockQ6_K {
    let mut levels = [0i8; QK_K];
    let mut scales = [0.0f32; QK_K / 16];
    let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
    for (s, (xs, ls)) in scales
        .iter_mut()
        .zip(x.chunks_exact(16).zip(levels.chunks_exact_mut(16)))
    {
        *s = make_qx_quants(32, xs, ls);
        if s.abs() > max_abs_scale {
            max_abs_scale = s.abs();
            max_scale = *s;
        }
    }
    if max_abs_scale < GROUP_MAX_EPS {
        return BlockQ6_K {
            ql: [0; QK_K / 2],
            qh: [0; QK_K / 4],
            scales: [0; QK_K / 16],
            d: f16::ZERO,
        };
    }
    let iscale = -128.0 / max_scale;
    let (d, d32) = f16_round(1.0 / iscale);
    // ggml: MIN(127, nearest_int(...)) stored into an int8_t.
    let sc = scales.map(|s| nearest_int(iscale * s).min(127) as i8);
    for ((&sc, xs), ls) in sc
        .iter()
        .zip(x.chunks_exact(16))
        .zip(levels.chunks_exact_mut(16))
    {
        let d = d32 * f32::from(sc);
        if d == 0.0 {
            continue;
        }
        for (l, &v) in ls.iter_mut().zip(xs) {
            *l = (nearest_int(v / d).clamp(-32, 31) + 32) as i8;
        }
    }
    let (ql, qh) = pack_q6_k(&levels.map(|l| l as u8));
    BlockQ6_K {
        ql,
        qh,
        scales: sc,
        d,
    }
}

/// src (n = 256 * dst.len()) -> dst, ggml `quantize_row_q6_K_ref`.
pub fn quantize_q6_k(src: &[f32], dst: &mut [BlockQ6_K]) {
    super::quantize_typed(src, dst, quantize_block)
}
