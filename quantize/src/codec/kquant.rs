//! The helpers ggml's K-quant reference quantizers share (ggml-quants.c): `nearest_int`,
//! `make_qx_quants`, `make_q3_quants`, `make_qkx2_quants`. Plain f32 arithmetic in ggml's
//! order, never fused: llama.cpp's quantizers are built without FMA or contraction, and a
//! single ulp changes which candidate scale wins.

use super::block_scale::signed_absmax;
use super::float::f32_to_f16_bits;
use half::f16;

/// Below this a group's largest |x| counts as all zero (ggml `GROUP_MAX_EPS`).
pub(super) const GROUP_MAX_EPS: f32 = 1e-15;

/// ggml `nearest_int`: round to nearest, ties to even, by adding 1.5 * 2^23 and reading the
/// mantissa. Exact for |x| < 2^22; beyond that (ggml asserts only in debug builds) it gives
/// the same bits ggml does, which is what byte identity needs.
#[inline(always)]
pub(super) fn nearest_int(x: f32) -> i32 {
    let biased = x + 12_582_912.0;
    (biased.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

/// x -> (its f16, that f16 widened back), ggml's `GGML_FP32_TO_FP16` then `GGML_FP16_TO_FP32`.
#[inline]
pub(super) fn f16_round(x: f32) -> (f16, f32) {
    let h = f16::from_bits(f32_to_f16_bits(x));
    (h, h.to_f32())
}

/// ggml `make_qx_quants` with `rmse_type = 1` and no importance weights (the only form the
/// reference quantizers use): symmetric levels l in [-nmax, nmax - 1] weighted by x^2, the
/// scale refined over 18 nearby iscales. Writes `l + nmax` into `levels` and returns the
/// scale (0 for an all-zero group, whose levels are 0).
pub(super) fn make_qx_quants(nmax: i32, x: &[f32], levels: &mut [i8]) -> f32 {
    let (max, amax) = signed_absmax(x);
    if amax < GROUP_MAX_EPS {
        levels.fill(0);
        return 0.0;
    }
    let level = |iscale: f32, v: f32| nearest_int(iscale * v).clamp(-nmax, nmax - 1);
    // (sum w x l, sum w l^2) with w = x^2, in ggml's order.
    let sums = |iscale: f32| {
        let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
        for &v in x {
            let l = level(iscale, v) as f32;
            let w = v * v;
            sumlx += w * v * l;
            suml2 += w * l * l;
        }
        (sumlx, suml2)
    };
    let set_levels = |levels: &mut [i8], iscale: f32| {
        for (o, &v) in levels.iter_mut().zip(x) {
            *o = (level(iscale, v) + nmax) as i8;
        }
    };

    let iscale = -(nmax as f32) / max;
    set_levels(levels, iscale);
    let (sumlx, suml2) = sums(iscale);
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in (-9..=9).filter(|&is| is != 0) {
        let iscale = -(nmax as f32 + 0.1 * is as f32) / max;
        let (sumlx, suml2) = sums(iscale);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            set_levels(levels, iscale);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// ggml `make_q3_quants` with `do_rmse`: levels in [-nmax, nmax - 1] weighted by x^2, then up
/// to 5 passes moving single levels while that improves the fit. Writes `l + nmax` into
/// `levels` and returns the scale (0 for an all-zero group, whose levels are 0).
pub(super) fn make_q3_quants(nmax: i32, x: &[f32], levels: &mut [i8]) -> f32 {
    let (max, amax) = signed_absmax(x);
    if amax < GROUP_MAX_EPS {
        levels.fill(0);
        return 0.0;
    }
    let iscale = -(nmax as f32) / max;
    let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
    for (o, &v) in levels.iter_mut().zip(x) {
        let l = nearest_int(iscale * v).clamp(-nmax, nmax - 1);
        *o = l as i8;
        let w = v * v;
        sumlx += w * v * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    for _ in 0..5 {
        let mut changed = false;
        for (o, &v) in levels.iter_mut().zip(x) {
            let w = v * v;
            let cur = f32::from(*o);
            let mut slx = sumlx - w * v * cur;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * cur * cur;
                let new_l = nearest_int(v * sl2 / slx).clamp(-nmax, nmax - 1);
                if new_l != i32::from(*o) {
                    slx += w * v * new_l as f32;
                    sl2 += w * new_l as f32 * new_l as f32;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        *o = new_l as i8;
                        sumlx = slx;
                        suml2 = sl2;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    for o in levels.iter_mut() {
        *o += nmax as i8;
    }
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

/// The search [`make_qkx2_quants`] runs: iscale = (rmin + rdelta * is + nmax) / (max - min)
/// for is in 0..=nstep, and whether errors are absolute (true) or squared.
#[derive(Clone, Copy)]
pub(super) struct ScaleSearch {
    pub rmin: f32,
    pub rdelta: f32,
    pub nstep: i32,
    pub use_mad: bool,
}

/// ggml `make_qkx2_quants`: asymmetric levels l in [0, nmax] for `x = scale * l - min`
/// (min >= 0 is what is subtracted), fitted by weighted least squares over the iscales of
/// `search`, keeping the one with the smallest weighted error. Writes the levels and returns
/// (scale, min). `x`, `weights` and `levels` have the same length (16 or 32).
pub(super) fn make_qkx2_quants(
    nmax: i32,
    x: &[f32],
    weights: &[f32],
    levels: &mut [u8],
    search: ScaleSearch,
) -> (f32, f32) {
    let n = x.len();
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        levels.fill(0);
        return (0.0, -min);
    }
    let error = |scale: f32, min: f32, levels: &[u8]| {
        let mut err = 0.0f32;
        for ((&l, &v), &w) in levels.iter().zip(x).zip(weights) {
            let diff = scale * f32::from(l) + min - v;
            let diff = if search.use_mad {
                diff.abs()
            } else {
                diff * diff
            };
            err += w * diff;
        }
        err
    };
    let quantize = |iscale: f32, min: f32, levels: &mut [u8]| {
        for (o, &v) in levels.iter_mut().zip(x) {
            *o = nearest_int(iscale * (v - min)).clamp(0, nmax) as u8;
        }
    };

    let iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    quantize(iscale, min, levels);
    let mut best_error = error(scale, min, levels);
    if search.nstep < 1 {
        return (scale, -min);
    }
    let mut aux = [0u8; 32];
    let aux = &mut aux[..n];
    for is in 0..=search.nstep {
        let iscale = (search.rmin + search.rdelta * is as f32 + nmax as f32) / (max - min);
        quantize(iscale, min, aux);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for ((&l, &v), &w) in aux.iter().zip(x).zip(weights) {
            let l = f32::from(l);
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * v;
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let cur_error = error(this_scale, this_min, aux);
            if cur_error < best_error {
                levels.copy_from_slice(aux);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}
