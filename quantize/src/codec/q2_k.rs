//! Q2_K: 256 values in 16 sub-blocks of 16 as `d * sc * q - dmin * m`, laid out by
//! [`edge_formats::blocks::q2_k`]. Port of ggml `quantize_row_q2_K_ref`.

use super::kquant::{f16_round, make_qkx2_quants, nearest_int, ScaleSearch};
use edge_formats::blocks::q2_k::pack_2bit;
use edge_formats::blocks::{BlockQ2_K, QK_K};

/// The 4-bit range of the sub-block scales and minimums (ggml's `q4scale`).
const Q4SCALE: f32 = 15.0;

/// One super-block: [`make_qkx2_quants`] (nmax 3, weights |x|, absolute errors) per
/// sub-block; scales and minimums quantized to 4 bits against their maxima; every value
/// re-quantized against the stored scales (a sub-block whose stored scale is zero keeps its
/// first levels).
#[inline]
pub(super) fn quantize_block(x: &[f32; QK_K]) -> BlockQ2_K {
    let search = ScaleSearch {
        rmin: -0.5,
        rdelta: 0.1,
        nstep: 15,
        use_mad: true,
    };
    let mut levels = [0u8; QK_K];
    let mut scales = [0.0f32; QK_K / 16];
    let mut mins = [0.0f32; QK_K / 16];
    let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
    for (j, (xs, ls)) in x
        .chunks_exact(16)
        .zip(levels.chunks_exact_mut(16))
        .enumerate()
    {
        let weights: [f32; 16] = std::array::from_fn(|l| xs[l].abs());
        (scales[j], mins[j]) = make_qkx2_quants(3, xs, &weights, ls, search);
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }
    // ggml stores nearest_int into a uint8_t (wrapping); the minimum's is shifted into the
    // high nibble the same way.
    let mut packed = [0u8; QK_K / 16];
    let mut d = half::f16::ZERO;
    let mut dmin = half::f16::ZERO;
    if max_scale > 0.0 {
        let iscale = Q4SCALE / max_scale;
        for (p, &s) in packed.iter_mut().zip(&scales) {
            *p = nearest_int(iscale * s) as u8;
        }
        d = f16_round(max_scale / Q4SCALE).0;
    }
    if max_min > 0.0 {
        let iscale = Q4SCALE / max_min;
        for (p, &m) in packed.iter_mut().zip(&mins) {
            *p |= (nearest_int(iscale * m) << 4) as u8;
        }
        dmin = f16_round(max_min / Q4SCALE).0;
    }
    let (d32, dmin32) = (d.to_f32(), dmin.to_f32());
    for ((&p, xs), ls) in packed
        .iter()
        .zip(x.chunks_exact(16))
        .zip(levels.chunks_exact_mut(16))
    {
        let d = d32 * f32::from(p & 0xf);
        if d == 0.0 {
            continue;
        }
        let dm = dmin32 * f32::from(p >> 4);
        for (l, &v) in ls.iter_mut().zip(xs) {
            *l = nearest_int((v + dm) / d).clamp(0, 3) as u8;
        }
    }
    BlockQ2_K {
        scales: packed,
        qs: pack_2bit(&levels),
        d,
        dmin,
    }
}

/// src (n = 256 * dst.len()) -> dst, ggml `quantize_row_q2_K_ref`.
pub fn quantize_q2_k(src: &[f32], dst: &mut [BlockQ2_K]) {
    super::quantize_typed(src, dst, quantize_block)
}
