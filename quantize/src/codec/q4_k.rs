//! Q4_K and Q5_K: 256 values in 8 sub-blocks of 32 as `d * sc * q - dmin * m`, laid out by
//! [`edge_formats::blocks::q4_k`] / [`edge_formats::blocks::q5_k`]. Ports of ggml
//! `quantize_row_q4_K_ref` and `quantize_row_q5_K_ref`, which differ only in nmax and the
//! scale search.

use super::kquant::{f16_round, make_qkx2_quants, nearest_int, ScaleSearch};
use edge_formats::blocks::q4_k::{pack_4bit_k, pack_scale_min_k4, scale_min_k4};
use edge_formats::blocks::q5_k::pack_q5_k;
use edge_formats::blocks::{BlockQ4_K, BlockQ5_K, QK_K};
use half::f16;

/// What both types store: (d, dmin, packed scales, levels 0..=nmax per value).
struct ScaleMinBlock {
    d: f16,
    dmin: f16,
    scales: [u8; 12],
    levels: [u8; QK_K],
}

/// The shared algorithm: per sub-block of 32, weights `sqrt(mean x^2) + |x|` and
/// [`make_qkx2_quants`]; the 8 scales and 8 minimums quantized to 6 bits against their
/// maxima; then every value re-quantized against the stored (f16) scales. A sub-block
/// whose stored scale is zero keeps its first levels.
fn quantize_scale_min(x: &[f32; QK_K], nmax: i32, search: ScaleSearch) -> ScaleMinBlock {
    let mut levels = [0u8; QK_K];
    let mut scales = [0.0f32; 8];
    let mut mins = [0.0f32; 8];
    let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
    for (j, (xs, ls)) in x
        .chunks_exact(32)
        .zip(levels.chunks_exact_mut(32))
        .enumerate()
    {
        let sum_x2 = xs.iter().fold(0.0f32, |s, &v| s + v * v);
        let av_x = (sum_x2 / 32.0).sqrt();
        let mut weights = [0.0f32; 32];
        for (w, &v) in weights.iter_mut().zip(xs) {
            *w = av_x + v.abs();
        }
        (scales[j], mins[j]) = make_qkx2_quants(nmax, xs, &weights, ls, search);
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }
    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    // ggml stores nearest_int into a uint8_t (wrapping), then clamps to 63.
    let six_bits = |v: f32| (nearest_int(v) as u8).min(63);
    let packed = pack_scale_min_k4(
        &scales.map(|s| six_bits(inv_scale * s)),
        &mins.map(|m| six_bits(inv_min * m)),
    );
    let (d, d32) = f16_round(max_scale / 63.0);
    let (dmin, dmin32) = f16_round(max_min / 63.0);
    for (j, (xs, ls)) in x
        .chunks_exact(32)
        .zip(levels.chunks_exact_mut(32))
        .enumerate()
    {
        let (sc, m) = scale_min_k4(j, &packed);
        let d = d32 * f32::from(sc);
        if d == 0.0 {
            continue;
        }
        let dm = dmin32 * f32::from(m);
        for (l, &v) in ls.iter_mut().zip(xs) {
            *l = nearest_int((v + dm) / d).clamp(0, nmax) as u8;
        }
    }
    ScaleMinBlock {
        d,
        dmin,
        scales: packed,
        levels,
    }
}

/// One Q4_K super-block, ggml `quantize_row_q4_K_ref`.
#[inline]
pub(super) fn quantize_block_q4_k(x: &[f32; QK_K]) -> BlockQ4_K {
    let search = ScaleSearch {
        rmin: -1.0,
        rdelta: 0.1,
        nstep: 20,
        use_mad: false,
    };
    let b = quantize_scale_min(x, 15, search);
    BlockQ4_K {
        d: b.d,
        dmin: b.dmin,
        scales: b.scales,
        qs: pack_4bit_k(&b.levels),
    }
}

/// One Q5_K super-block, ggml `quantize_row_q5_K_ref`.
#[inline]
pub(super) fn quantize_block_q5_k(x: &[f32; QK_K]) -> BlockQ5_K {
    let search = ScaleSearch {
        rmin: -0.5,
        rdelta: 0.1,
        nstep: 15,
        use_mad: false,
    };
    let b = quantize_scale_min(x, 31, search);
    let (qh, qs) = pack_q5_k(&b.levels);
    BlockQ5_K {
        d: b.d,
        dmin: b.dmin,
        scales: b.scales,
        qh,
        qs,
    }
}

/// src (n = 256 * dst.len()) -> dst, ggml `quantize_row_q4_K_ref`.
pub fn quantize_q4_k(src: &[f32], dst: &mut [BlockQ4_K]) {
    super::quantize_typed(src, dst, quantize_block_q4_k)
}

/// src (n = 256 * dst.len()) -> dst, ggml `quantize_row_q5_K_ref`.
pub fn quantize_q5_k(src: &[f32], dst: &mut [BlockQ5_K]) {
    super::quantize_typed(src, dst, quantize_block_q5_k)
}
