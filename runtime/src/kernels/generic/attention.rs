//! The inner loops of attention over an f16 KV cache, in ggml's flash-attention arithmetic
//! (`ggml_vec_mad_f16`, `ggml_vec_scale_f16`): the value accumulator is kept as f32 values
//! that are each exactly an f16, and every update is rounded back to f16, to nearest even.

use crate::kernels::AttentionF16Kernels;
use half::f16;

/// The generic f16-attention entries of the kernel table.
pub const ATTENTION_F16: AttentionF16Kernels = AttentionF16Kernels {
    mad: mad_f16,
    scale: scale_f16,
    round: round_f16,
    attend: attend_f16,
    attend_tiled: super::attend_f16_tiled,
};

/// f32 -> nearest f16 (ties to even) -> f32.
#[inline(always)]
fn to_f16_and_back(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

/// acc (n) += v (n) * w, one fused multiply-add per element rounded to f16:
/// acc_i = f16(fma(v_i, w, acc_i)). Runs over the shorter of the two.
pub fn mad_f16(acc: &mut [f32], v: &[f16], w: f32) {
    for (a, x) in acc.iter_mut().zip(v) {
        *a = to_f16_and_back(x.to_f32().mul_add(w, *a));
    }
}

/// acc (n) *= s, each product rounded to f16: acc_i = f16(acc_i * s).
pub fn scale_f16(acc: &mut [f32], s: f32) {
    for a in acc {
        *a = to_f16_and_back(*a * s);
    }
}

/// x (n) -> x (n), every element rounded to the nearest f16 (ties to even), kept as f32.
pub fn round_f16(x: &mut [f32]) {
    for e in x {
        *e = to_f16_and_back(*e);
    }
}

/// Keys in order, each for every query: ggml's online-softmax update with this table's f16
/// dot ([`dot_f16_f32`]) and loops ([`mad_f16`], [`scale_f16`]); see `AttentionF16Kernels::attend`.
// keys (n, hd), values (n, hd), queries[i] (hd) -> max[i], sum[i], accs[i] (hd)
pub fn attend_f16(
    keys: &[f16],
    values: &[f16],
    queries: &[&[f32]],
    scale: f32,
    max: &mut [f32],
    sum: &mut [f32],
    accs: &mut [&mut [f32]],
) {
    let loops = OnlineSoftmaxLoops {
        dot: super::dot_f16_f32,
        scale: scale_f16,
        mad: mad_f16,
    };
    attend_f16_by(loops, keys, values, queries, scale, max, sum, accs);
}

/// The three loops an ISA's `attend` is made of: its f16 dot, scale and mad entries.
#[derive(Clone, Copy)]
pub struct OnlineSoftmaxLoops<D, S, M> {
    pub dot: D,
    pub scale: S,
    pub mad: M,
}

/// [`attend_f16`] with an ISA's own loops (inlined where they are): each query's result is
/// the bits of its keys taken one at a time through the same dot, scale and mad.
// keys (n, hd), values (n, hd), queries[i] (hd) -> max[i], sum[i], accs[i] (hd)
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn attend_f16_by<D, S, M>(
    loops: OnlineSoftmaxLoops<D, S, M>,
    keys: &[f16],
    values: &[f16],
    queries: &[&[f32]],
    scale: f32,
    max: &mut [f32],
    sum: &mut [f32],
    accs: &mut [&mut [f32]],
) where
    D: Fn(&[f16], &[f32]) -> f32,
    S: Fn(&mut [f32], f32),
    M: Fn(&mut [f32], &[f16], f32),
{
    let Some(hd) = queries.first().map(|q| q.len()).filter(|&hd| hd > 0) else {
        return;
    };
    for (key, val) in keys.chunks_exact(hd).zip(values.chunks_exact(hd)) {
        for (((q, m), s), acc) in queries
            .iter()
            .zip(max.iter_mut())
            .zip(sum.iter_mut())
            .zip(accs.iter_mut())
        {
            let score = (loops.dot)(key, q) * scale;
            online_softmax_step(score, m, s, acc, val, &loops.scale, &loops.mad);
        }
    }
}

/// One key of ggml's online softmax (`ggml_compute_forward_flash_attn_ext_f16_one_chunk`) for
/// one query: a score above the running max rescales the accumulator by exp(max - score) and
/// takes weight 1, any other takes weight exp(score - max); then acc += weight * value (f16
/// updates) and sum = fma(sum, rescale, weight). Every ISA's `attend` runs this, inlined.
#[inline(always)]
pub fn online_softmax_step(
    score: f32,
    max: &mut f32,
    sum: &mut f32,
    acc: &mut [f32],
    value: &[f16],
    scale: impl FnOnce(&mut [f32], f32),
    mad: impl FnOnce(&mut [f32], &[f16], f32),
) {
    let (mut rescale, mut weight) = (1.0f32, 1.0f32);
    if score > *max {
        rescale = (*max - score).exp();
        *max = score;
        scale(acc, rescale);
    } else {
        weight = (score - *max).exp();
    }
    mad(acc, value, weight);
    *sum = sum.mul_add(rescale, weight);
}
