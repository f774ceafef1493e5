//! The KV cache and grouped-query attention over it.

use super::ops::softmax_in_place;
use crate::kernels::Kernels;
use crate::session::KvType;
use half::f16;

/// Keys and values of every layer and position, f32 or f16.
/// Layout of each of `k` and `v`: (n_layer, n_head_kv, n_ctx, head_dim), so the keys of one
/// head are contiguous over positions.
#[derive(Clone, Debug)]
pub enum KvCache {
    F32 { k: Vec<f32>, v: Vec<f32> },
    F16 { k: Vec<f16>, v: Vec<f16> },
}

/// The shape of the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvShape {
    pub n_layer: usize,
    pub n_head_kv: usize,
    pub n_ctx: usize,
    pub head_dim: usize,
}

impl KvShape {
    /// Elements of one of k or v.
    pub fn n_elements(&self) -> usize {
        self.n_layer * self.n_head_kv * self.n_ctx * self.head_dim
    }

    /// Start of the (layer, head) plane of n_ctx * head_dim elements.
    fn plane(&self, layer: usize, head: usize) -> usize {
        (layer * self.n_head_kv + head) * self.n_ctx * self.head_dim
    }
}

impl KvCache {
    pub fn new(shape: KvShape, ty: KvType) -> crate::Result<KvCache> {
        let n = shape.n_elements();
        Ok(match ty {
            KvType::F32 => KvCache::F32 {
                k: crate::alloc::zeroed("KV cache", n)?,
                v: crate::alloc::zeroed("KV cache", n)?,
            },
            KvType::F16 => KvCache::F16 {
                k: crate::alloc::zeroed("KV cache", n)?,
                v: crate::alloc::zeroed("KV cache", n)?,
            },
        })
    }

    /// The element type.
    pub fn kv_type(&self) -> KvType {
        match self {
            KvCache::F32 { .. } => KvType::F32,
            KvCache::F16 { .. } => KvType::F16,
        }
    }

    /// Bytes of k and v together.
    pub fn n_bytes(&self) -> usize {
        let n_elements = match self {
            KvCache::F32 { k, v } => k.len() + v.len(),
            KvCache::F16 { k, v } => k.len() + v.len(),
        };
        n_elements * self.kv_type().size()
    }

    /// Stores the new key and value rows of `layer` at `pos`.
    // k (n_head_kv * head_dim), v (n_head_kv * head_dim) -> cache[layer, :, pos, :]
    pub fn store(&mut self, shape: &KvShape, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        let hd = shape.head_dim;
        for head in 0..shape.n_head_kv {
            let at = shape.plane(layer, head) + pos * hd;
            let (src_k, src_v) = (&k[head * hd..][..hd], &v[head * hd..][..hd]);
            match self {
                KvCache::F32 { k, v } => {
                    k[at..at + hd].copy_from_slice(src_k);
                    v[at..at + hd].copy_from_slice(src_v);
                }
                KvCache::F16 { k, v } => {
                    for (d, s) in k[at..at + hd].iter_mut().zip(src_k) {
                        *d = f16::from_f32(*s);
                    }
                    for (d, s) in v[at..at + hd].iter_mut().zip(src_v) {
                        *d = f16::from_f32(*s);
                    }
                }
            }
        }
    }
}

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
                *sc = (args.kernels.dot_f32)(key, q) * args.scale;
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
    for e in x {
        *e = f16::from_f32(*e).to_f32();
    }
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
    // out holds the f16 accumulator, widened: every value in it is an exact f16.
    let mut max = f32::NEG_INFINITY;
    let mut sum = 0.0f32;
    for (key, val) in keys.chunks_exact(hd).zip(values.chunks_exact(hd)) {
        let s = (args.kernels.dot_f16_f32)(key, q) * args.scale;
        let (mut rescale, mut weight) = (1.0f32, 1.0f32);
        if s > max {
            rescale = (max - s).exp();
            max = s;
            for o in out.iter_mut() {
                *o = f16::from_f32(*o * rescale).to_f32();
            }
        } else {
            weight = (s - max).exp();
        }
        for (o, x) in out.iter_mut().zip(val) {
            *o = f16::from_f32(x.to_f32().mul_add(weight, *o)).to_f32();
        }
        sum = sum.mul_add(rescale, weight);
    }
    let inv = if sum == 0.0 { 0.0 } else { 1.0 / sum };
    for o in out.iter_mut() {
        *o *= inv;
    }
}
