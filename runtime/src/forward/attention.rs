//! Grouped-query attention over the KV cache.

/// The cache types, now in `kv_cache` (this path kept for existing callers).
pub use super::kv_cache::{KvCache, KvShape};
use super::ops::softmax_in_place;
use crate::kernels::Kernels;
use half::f16;

/// What one attention call needs besides the per-head buffers.
#[derive(Clone, Copy, Debug)]
pub struct AttentionArgs<'a> {
    pub cache: &'a KvCache,
    pub shape: KvShape,
    pub layer: usize,
    /// Positions 0..n_pos are attended (the current one included).
    pub n_pos: usize,
    /// Query heads per KV head.
    pub group: usize,
    /// 1 / sqrt(head_dim)
    pub scale: f32,
    pub kernels: Kernels,
}

/// Causal attention of query head `head`: scores_t = (q . k_t) * scale for t < n_pos,
/// softmax, out = sum_t p_t v_t, with k and v of KV head `head / group` (GQA).
// q (head_dim), scores (>= n_pos) -> out (head_dim)
pub fn attend_head(
    args: &AttentionArgs<'_>,
    head: usize,
    q: &[f32],
    scores: &mut [f32],
    out: &mut [f32],
) {
    let s = &args.shape;
    let hd = s.head_dim;
    let plane = s.plane(args.layer, head / args.group);
    let len = args.n_pos * hd;
    let scores = &mut scores[..args.n_pos];
    out.fill(0.0);
    match args.cache {
        KvCache::F32 { k, v } => {
            let (keys, values) = (&k[plane..plane + len], &v[plane..plane + len]);
            for (sc, key) in scores.iter_mut().zip(keys.chunks_exact(hd)) {
                *sc = (args.kernels.f32.dot)(key, q) * args.scale;
            }
            softmax_in_place(scores);
            for (&p, val) in scores.iter().zip(values.chunks_exact(hd)) {
                for (o, &x) in out.iter_mut().zip(val) {
                    *o += p * x;
                }
            }
        }
        KvCache::F16 { k, v } => {
            let (keys, values) = (&k[plane..plane + len], &v[plane..plane + len]);
            attend_f16_online(args, q, keys, values, out);
        }
    }
}

/// Rounds every element to the nearest f16 (ties to even), keeping it as f32.
pub fn round_to_f16_in_place(x: &mut [f32]) {
    crate::kernels::generic::round_f16(x)
}

/// Attention over an f16 cache with the arithmetic of ggml's CPU flash attention
/// (`ggml_compute_forward_flash_attn_ext_f16_one_chunk`), which llama.cpp uses by default:
/// online softmax over positions in order, the weighted sum of values accumulated in f16
/// (one fused multiply-add, rounded to f16 after every update), divided by the softmax sum
/// at the end. `q` must already be rounded to f16 ([`round_to_f16_in_place`]). With the AVX2
/// dots this is llama.cpp's result to the bit.
// q (head_dim), keys (n_pos, head_dim), values (n_pos, head_dim) -> out (head_dim)
fn attend_f16_online(
    args: &AttentionArgs<'_>,
    q: &[f32],
    keys: &[f16],
    values: &[f16],
    out: &mut [f32],
) {
    let hd = args.shape.head_dim;
    let (dot, f16_ops) = (args.kernels.f16.dot, args.kernels.attention_f16);
    // out holds the f16 accumulator, widened: every value in it is an exact f16.
    let mut max = f32::NEG_INFINITY;
    let mut sum = 0.0f32;
    for (key, val) in keys.chunks_exact(hd).zip(values.chunks_exact(hd)) {
        let s = dot(key, q) * args.scale;
        let (mut rescale, mut weight) = (1.0f32, 1.0f32);
        if s > max {
            rescale = (max - s).exp();
            max = s;
            (f16_ops.scale)(out, rescale);
        } else {
            weight = (s - max).exp();
        }
        (f16_ops.mad)(out, val, weight);
        sum = sum.mul_add(rescale, weight);
    }
    let inv = if sum == 0.0 { 0.0 } else { 1.0 / sum };
    for o in out.iter_mut() {
        *o *= inv;
    }
}
