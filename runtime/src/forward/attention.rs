//! Grouped-query attention over the KV cache, a tile of consecutive queries of one head at a
//! time: each key and value row is read once per tile, and every query still takes its keys
//! in order with the arithmetic of a lone query, so a batch gives the bits of its tokens one
//! by one.
//!
//! The exception: over an f16 cache, a prompt batch of [`FA_TILE_Q`] or more tokens (in
//! llama.cpp's batch, `LlamaBatch::len`) takes ggml's tiled flash attention as llama.cpp does
//! ([`attend_tiled`]: f32 arithmetic on the widened keys and values, q not rounded to f16),
//! whose bits differ from the one-token path's (f16 value accumulator, q rounded): a batch of
//! 64+ tokens is within the f16 rounding of its tokens one by one, not their bits. Each
//! query's result still depends on nothing but its own inputs (any tiling, any threads).

/// The cache types, now in `kv_cache` (this path kept for existing callers).
pub use super::kv_cache::{KvCache, KvShape};
use super::ops::softmax_in_place;
use crate::kernels::Kernels;

/// Queries of one head that share each key and value read.
pub const QUERY_TILE: usize = 8;

/// Queries of one head per [`attend_tiled`] call: each key tile is widened once for them.
pub const TILED_QUERY_TILE: usize = 16;

/// Tokens in llama.cpp's batch from which its flash attention over an f16 cache takes the
/// tiled path (`GGML_FA_TILE_Q`, the query rows of one of its tiles).
pub const FA_TILE_Q: usize = 64;

/// What one attention call needs besides the per-query buffers.
#[derive(Clone, Copy, Debug)]
pub struct AttentionArgs<'a> {
    pub cache: &'a KvCache,
    pub shape: KvShape,
    pub layer: usize,
    /// Query heads per KV head.
    pub group: usize,
    /// 1 / sqrt(head_dim)
    pub scale: f32,
    pub kernels: Kernels,
    /// Over an f16 cache: ggml's tiled flash attention ([`attend_tiled`]), for a batch of
    /// [`FA_TILE_Q`] or more tokens in llama.cpp's batch; the queries are then not rounded.
    pub tiled: bool,
}

/// Causal attention of query head `head` for the queries at positions first_pos.. (one per
/// entry of `queries`, at most [`QUERY_TILE`]): query i attends positions 0..=first_pos + i,
/// scores_t = (q . k_t) * scale, softmax, out = sum_t p_t v_t, with k and v of KV head
/// `head / group` (GQA). With an f16 cache the queries must already be rounded to f16
/// ([`round_to_f16_in_place`]); `scores` is only used with an f32 cache.
// queries[i] (head_dim), scores[i] (>= first_pos + i + 1) -> outs[i] (head_dim)
pub fn attend_tile(
    args: &AttentionArgs<'_>,
    head: usize,
    first_pos: usize,
    queries: &[&[f32]],
    scores: &mut [&mut [f32]],
    outs: &mut [&mut [f32]],
) {
    let n = queries.len().min(outs.len()).min(QUERY_TILE);
    let (queries, outs) = (&queries[..n], &mut outs[..n]);
    if n == 0 {
        return;
    }
    let hd = args.shape.head_dim;
    let plane = args.shape.plane(args.layer, head / args.group);
    // keys attended by every query of the tile, and by the last one
    let (n_all, n_last) = (first_pos + 1, first_pos + n);
    for o in outs.iter_mut() {
        o.fill(0.0);
    }
    match args.cache {
        KvCache::F32 { k, v } => {
            let keys = &k[plane..plane + n_last * hd];
            let values = &v[plane..plane + n_last * hd];
            let scores = &mut scores[..n];
            // key p is attended by the queries i >= p - first_pos
            let first_query = |p: usize| p.saturating_sub(first_pos);
            for (p, key) in keys.chunks_exact(hd).enumerate() {
                for (q, sc) in queries.iter().zip(scores.iter_mut()).skip(first_query(p)) {
                    sc[p] = (args.kernels.f32.dot)(key, q) * args.scale;
                }
            }
            for (i, sc) in scores.iter_mut().enumerate() {
                softmax_in_place(&mut sc[..n_all + i]);
            }
            // out += p_t v_t over t in order; four rows at a time where a query takes all
            // four, each output kept in a register across them (the same operations)
            for (c, vals) in values.chunks(VALUE_ROWS * hd).enumerate() {
                let p0 = c * VALUE_ROWS;
                for (i, (sc, out)) in scores.iter().zip(outs.iter_mut()).enumerate() {
                    let n_keys = (n_all + i).saturating_sub(p0).min(vals.len() / hd);
                    if n_keys == VALUE_ROWS {
                        add_weighted_rows(out, vals, hd, &sc[p0..p0 + VALUE_ROWS]);
                    } else {
                        for (val, &weight) in vals.chunks_exact(hd).zip(&sc[p0..p0 + n_keys]) {
                            for (o, &x) in out.iter_mut().zip(val) {
                                *o += weight * x;
                            }
                        }
                    }
                }
            }
        }
        KvCache::F16 { k, v } => {
            let keys = &k[plane..plane + n_last * hd];
            let values = &v[plane..plane + n_last * hd];
            let attend = args.kernels.attention_f16.attend;
            let mut max = [f32::NEG_INFINITY; QUERY_TILE];
            let mut sum = [0.0f32; QUERY_TILE];
            // the keys every query attends, then the causal triangle one key at a time
            let all = n_all * hd;
            let (max, sum) = (&mut max[..n], &mut sum[..n]);
            attend(
                &keys[..all],
                &values[..all],
                queries,
                args.scale,
                max,
                sum,
                outs,
            );
            for i in 1..n {
                let row = (n_all + i - 1) * hd..(n_all + i) * hd;
                attend(
                    &keys[row.clone()],
                    &values[row],
                    &queries[i..],
                    args.scale,
                    &mut max[i..],
                    &mut sum[i..],
                    &mut outs[i..],
                );
            }
            for (out, &s) in outs.iter_mut().zip(sum.iter()) {
                let inv = if s == 0.0 { 0.0 } else { 1.0 / s };
                for o in out.iter_mut() {
                    *o *= inv;
                }
            }
        }
    }
}

/// Causal attention of query head `head` over an f16 cache in ggml's tiled flash-attention
/// arithmetic (`AttentionF16Kernels::attend_tiled`), for the queries at positions
/// first_pos.. (any number; q as it is, not rounded): query i attends positions
/// 0..=first_pos + i with k and v of KV head `head / group`. An f32 cache takes
/// [`attend_tile`]'s path (which is also ggml's f32 arithmetic), QUERY_TILE at a time.
// queries[i] (head_dim), scores[i] (>= first_pos + i + 1, f32 cache only) -> outs[i] (head_dim)
pub fn attend_tiled(
    args: &AttentionArgs<'_>,
    head: usize,
    first_pos: usize,
    queries: &[&[f32]],
    scores: &mut [&mut [f32]],
    outs: &mut [&mut [f32]],
) {
    let n = queries.len().min(outs.len());
    let (queries, outs) = (&queries[..n], &mut outs[..n]);
    match args.cache {
        KvCache::F16 { k, v } => {
            let hd = args.shape.head_dim;
            let plane = args.shape.plane(args.layer, head / args.group);
            let len = (first_pos + n) * hd;
            (args.kernels.attention_f16.attend_tiled)(
                &k[plane..plane + len],
                &v[plane..plane + len],
                queries,
                first_pos,
                args.scale,
                outs,
            );
        }
        KvCache::F32 { .. } => {
            let mut start = 0;
            while start < n {
                let end = (start + QUERY_TILE).min(n).min(scores.len());
                if end == start {
                    return;
                }
                attend_tile(
                    args,
                    head,
                    first_pos + start,
                    &queries[start..end],
                    &mut scores[start..end],
                    &mut outs[start..end],
                );
                start = end;
            }
        }
    }
}

/// Value rows `add_weighted_rows` adds in one pass.
const VALUE_ROWS: usize = 4;

/// out_j = (((out_j + w0 v0_j) + w1 v1_j) + w2 v2_j) + w3 v3_j: four rows in order, every
/// product and sum rounded as in four separate passes.
// vals (VALUE_ROWS, hd), weights (VALUE_ROWS) -> out (hd)
fn add_weighted_rows(out: &mut [f32], vals: &[f32], hd: usize, weights: &[f32]) {
    let [w0, w1, w2, w3] = [weights[0], weights[1], weights[2], weights[3]];
    let (v0, rest) = vals.split_at(hd);
    let (v1, rest) = rest.split_at(hd);
    let (v2, v3) = rest.split_at(hd);
    for ((((o, &a), &b), &c), &d) in out.iter_mut().zip(v0).zip(v1).zip(v2).zip(v3) {
        *o = *o + w0 * a + w1 * b + w2 * c + w3 * d;
    }
}

/// Rounds every element to the nearest f16 (ties to even), keeping it as f32.
pub fn round_to_f16_in_place(x: &mut [f32]) {
    crate::kernels::generic::round_f16(x)
}
