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
use half::f16;

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
            if hd > LOCAL_HEAD {
                return attend_f16_causal(args, keys, values, n_all, queries, outs);
            }
            // the accumulators stay on this thread's stack while the keys run: the output
            // rows of neighbouring heads, which other threads update, share cache lines
            let mut local = [[0.0f32; LOCAL_HEAD]; QUERY_TILE];
            let mut accs: [&mut [f32]; QUERY_TILE] = Default::default();
            for (acc, l) in accs.iter_mut().zip(local.iter_mut()) {
                *acc = &mut l[..hd];
            }
            attend_f16_causal(args, keys, values, n_all, queries, &mut accs[..n]);
            for (out, acc) in outs.iter_mut().zip(&accs[..n]) {
                out.copy_from_slice(acc);
            }
        }
    }
}

/// Longest head whose accumulators [`attend_tile`] and [`attend_chunk`] keep on the stack.
const LOCAL_HEAD: usize = 256;

/// The one-token f16 path of [`attend_tile`]: the keys every query attends, then the causal
/// triangle one key at a time, then each acc divided by its sum.
// keys, values (n_all + n - 1, hd), queries[i] (hd) -> accs[i] (hd, zeroed on entry)
fn attend_f16_causal(
    args: &AttentionArgs<'_>,
    keys: &[f16],
    values: &[f16],
    n_all: usize,
    queries: &[&[f32]],
    accs: &mut [&mut [f32]],
) {
    let n = queries.len().min(accs.len()).min(QUERY_TILE);
    let (queries, accs) = (&queries[..n], &mut accs[..n]);
    let Some(hd) = queries.first().map(|q| q.len()) else {
        return;
    };
    let attend = args.kernels.attention_f16.attend;
    let mut max = [f32::NEG_INFINITY; QUERY_TILE];
    let mut sum = [0.0f32; QUERY_TILE];
    let all = n_all * hd;
    let (max, sum) = (&mut max[..n], &mut sum[..n]);
    attend(
        &keys[..all],
        &values[..all],
        queries,
        args.scale,
        max,
        sum,
        accs,
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
            &mut accs[i..],
        );
    }
    for (acc, &s) in accs.iter_mut().zip(sum.iter()) {
        let inv = if s == 0.0 { 0.0 } else { 1.0 / s };
        for a in acc.iter_mut() {
            *a *= inv;
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

/// Keys of one chunk of a split decode step (fixed: the split never depends on the thread
/// count).
pub const SPLIT_CHUNK: usize = 256;

/// Keys from which one decoded token's attention over an f16 cache is split into
/// [`SPLIT_CHUNK`]s (llama.cpp splits its one-token flash attention from 512 cache cells).
pub const SPLIT_MIN_KEYS: usize = 512;

/// Query heads per KV head a split step runs together at most (larger groups do not split).
pub const SPLIT_MAX_GROUP: usize = 16;

/// Floats of one chunk's partial state in [`attend_chunk`]'s layout: max, sum, acc (hd).
pub const fn partial_len(head_dim: usize) -> usize {
    head_dim + 2
}

/// Whether one token at `pos` (attending keys 0..=pos) takes the split path: an f16 cache,
/// not the tiled path, pos + 1 >= [`SPLIT_MIN_KEYS`], a group of at most
/// [`SPLIT_MAX_GROUP`], a head of at most 256, and each head's chunk partials fit one score row (n_ctx floats).
///
/// The split path (llama.cpp's `use_split_kv_path` arithmetic, with fixed chunks): each chunk
/// of keys runs ggml's one-token online softmax from a fresh state, and the chunks are merged
/// in order (`ggml_flash_attn_ext_reduce_partials`). Its bits differ from the unsplit path's
/// (a prompt batch of 2..63 tokens at these positions keeps the unsplit path, as llama.cpp's
/// does: there a batch is within f16 rounding of its tokens one by one, not their bits).
pub fn splits(args: &AttentionArgs<'_>, n_tokens: usize, pos: usize) -> bool {
    let hd = args.shape.head_dim;
    let n_chunks = (pos + 1).div_ceil(SPLIT_CHUNK);
    matches!(args.cache, KvCache::F16 { .. })
        && !args.tiled
        && n_tokens == 1
        && pos + 1 >= SPLIT_MIN_KEYS
        && args.group <= SPLIT_MAX_GROUP
        && hd <= LOCAL_HEAD
        && n_chunks * partial_len(hd) <= args.shape.n_ctx
}

/// Chunk `chunk` (keys chunk * SPLIT_CHUNK.., below n_keys) of every query head of KV head
/// `kv_head` (queries[g]: head kv_head * group + g, rounded to f16), each key row read once
/// for the group: partials[g] = [max, sum, acc (hd)], acc not normalized.
// queries[g] (head_dim) -> partials[g] (partial_len(head_dim))
pub fn attend_chunk(
    args: &AttentionArgs<'_>,
    kv_head: usize,
    chunk: usize,
    n_keys: usize,
    queries: &[&[f32]],
    partials: &mut [&mut [f32]],
) {
    let KvCache::F16 { k, v } = args.cache else {
        return;
    };
    let hd = args.shape.head_dim;
    let n = queries.len().min(partials.len()).min(SPLIT_MAX_GROUP);
    let plane = args.shape.plane(args.layer, kv_head);
    let first = chunk * SPLIT_CHUNK;
    let last = (first + SPLIT_CHUNK).min(n_keys);
    let rows = plane + first * hd..plane + last.max(first) * hd;
    let mut max = [f32::NEG_INFINITY; SPLIT_MAX_GROUP];
    let mut sum = [0.0f32; SPLIT_MAX_GROUP];
    // the accumulators stay on this thread's stack (see attend_tile), copied out at the end
    let mut local = [[0.0f32; LOCAL_HEAD]; SPLIT_MAX_GROUP];
    let mut accs: [&mut [f32]; SPLIT_MAX_GROUP] = Default::default();
    for (acc, l) in accs.iter_mut().zip(local.iter_mut()) {
        *acc = &mut l[..hd.min(LOCAL_HEAD)];
    }
    (args.kernels.attention_f16.attend)(
        &k[rows.clone()],
        &v[rows],
        &queries[..n],
        args.scale,
        &mut max[..n],
        &mut sum[..n],
        &mut accs[..n],
    );
    for (i, partial) in partials.iter_mut().enumerate().take(n) {
        if let [m, s, acc @ ..] = &mut partial[..] {
            (*m, *s) = (max[i], sum[i]);
            let len = acc.len().min(accs[i].len());
            acc[..len].copy_from_slice(&accs[i][..len]);
        }
    }
}

/// One head's chunk partials ([max, sum, acc (hd)] each, in key order) merged as ggml's
/// `ggml_flash_attn_ext_reduce_partials`: a chunk with sum 0 is skipped; else M' = max(M, m),
/// acc = acc * e^(M - M') + acc_c * e^(m - M'), S likewise (libm expf, separate products and
/// sum); out = acc / S.
// partials (n_chunks, partial_len(hd)) -> out (hd)
pub fn merge_chunks(partials: &[f32], out: &mut [f32]) {
    let hd = out.len();
    let (mut max, mut sum) = (f32::NEG_INFINITY, 0.0f32);
    out.fill(0.0);
    for partial in partials.chunks_exact(partial_len(hd)) {
        let (m, s, acc) = (partial[0], partial[1], &partial[2..]);
        if s == 0.0 {
            continue;
        }
        let new_max = max.max(m);
        let (scale_old, scale_new) = ((max - new_max).exp(), (m - new_max).exp());
        for (o, &a) in out.iter_mut().zip(acc) {
            *o = *o * scale_old + a * scale_new;
        }
        sum = sum * scale_old + s * scale_new;
        max = new_max;
    }
    if sum != 0.0 {
        let inv = 1.0 / sum;
        for o in out.iter_mut() {
            *o *= inv;
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

#[cfg(test)]
mod tests {
    use super::super::kv_cache::KvType;
    use super::*;

    /// One layer, one KV head of `n_pos` positions of pseudo-random f16 keys and values.
    fn f16_cache(n_pos: usize, hd: usize) -> (KvShape, KvCache) {
        let shape = KvShape {
            n_layer: 1,
            n_head_kv: 1,
            n_ctx: n_pos,
            head_dim: hd,
        };
        let mut cache = KvCache::new(shape, KvType::F16).unwrap();
        let mut x = 0x2545_f491u32;
        let mut next = || {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        };
        for pos in 0..n_pos {
            let k: Vec<f32> = (0..hd).map(|_| next() * 3.0).collect();
            let v: Vec<f32> = (0..hd).map(|_| next() * 2.0).collect();
            cache.store(&shape, 0, pos, &k, &v);
        }
        (shape, cache)
    }

    fn args(shape: KvShape, cache: &KvCache, group: usize) -> AttentionArgs<'_> {
        AttentionArgs {
            cache,
            shape,
            layer: 0,
            group,
            scale: 0.125,
            kernels: Kernels::detect().unwrap(),
            tiled: false,
        }
    }

    /// Query `h` of a group: f16-rounded pseudo-random values.
    fn query(h: usize, hd: usize) -> Vec<f32> {
        let mut q: Vec<f32> = (0..hd)
            .map(|d| ((d * 7 + h * 13) as f32 * 0.37).sin() * 2.0)
            .collect();
        round_to_f16_in_place(&mut q);
        q
    }

    #[test]
    fn one_chunk_merged_is_the_unsplit_bits() {
        let (hd, n_keys, group) = (64, 200, 3);
        let (shape, cache) = f16_cache(n_keys, hd);
        let a = args(shape, &cache, group);
        let qs: Vec<Vec<f32>> = (0..group).map(|h| query(h, hd)).collect();
        let refs: Vec<&[f32]> = qs.iter().map(|q| q.as_slice()).collect();
        let mut partials = vec![vec![0.0f32; partial_len(hd)]; group];
        let mut parts: Vec<&mut [f32]> = partials.iter_mut().map(|p| p.as_mut_slice()).collect();
        attend_chunk(&a, 0, 0, n_keys, &refs, &mut parts);
        for (h, q) in qs.iter().enumerate() {
            let mut merged = vec![0.0f32; hd];
            merge_chunks(&partials[h], &mut merged);
            let (mut unsplit, mut scores) = (vec![0.0f32; hd], vec![0.0f32; n_keys]);
            attend_tile(
                &a,
                h,
                n_keys - 1,
                &[q],
                &mut [&mut scores],
                &mut [&mut unsplit],
            );
            let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&merged), bits(&unsplit), "head {h}");
        }
    }

    #[test]
    fn split_decode_is_within_the_f16_accumulator_rounding_of_float64() {
        // Each key's f16 update of the accumulator errs by half an f16 ulp of it (2^-11 of a
        // value of at most max|v| = 2, relative to the sum of weights): over a chunk of 256
        // keys at most 256 * 2^-11 * 2 = 0.25; the merge adds f32 rounding only. Bound 0.25.
        let (hd, n_keys, group) = (64, 700, 2);
        let (shape, cache) = f16_cache(n_keys, hd);
        let a = args(shape, &cache, group);
        assert!(splits(&a, 1, n_keys - 1) && !splits(&a, 1, SPLIT_MIN_KEYS - 2));
        assert!(!splits(&a, 2, n_keys - 1), "a batch never splits");
        let n_chunks = n_keys.div_ceil(SPLIT_CHUNK);
        let qs: Vec<Vec<f32>> = (0..group).map(|h| query(h, hd)).collect();
        let refs: Vec<&[f32]> = qs.iter().map(|q| q.as_slice()).collect();
        let mut partials = vec![vec![0.0f32; n_chunks * partial_len(hd)]; group];
        for c in 0..n_chunks {
            let mut parts: Vec<&mut [f32]> = partials
                .iter_mut()
                .map(|p| &mut p[c * partial_len(hd)..(c + 1) * partial_len(hd)])
                .collect();
            attend_chunk(&a, 0, c, n_keys, &refs, &mut parts);
        }
        let KvCache::F16 { k, v } = &cache else {
            unreachable!()
        };
        for (h, q) in qs.iter().enumerate() {
            let mut out = vec![0.0f32; hd];
            merge_chunks(&partials[h], &mut out);
            let scores: Vec<f64> = k
                .chunks_exact(hd)
                .map(|key| {
                    key.iter()
                        .zip(q)
                        .map(|(k, &x)| k.to_f64() * x as f64)
                        .sum::<f64>()
                        * 0.125
                })
                .collect();
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let w: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let total: f64 = w.iter().sum();
            for (j, &o) in out.iter().enumerate() {
                let want: f64 = (0..n_keys)
                    .map(|t| w[t] * v[t * hd + j].to_f64())
                    .sum::<f64>()
                    / total;
                assert!(
                    (o as f64 - want).abs() <= 0.25,
                    "head {h} dim {j}: {o} vs {want}"
                );
            }
        }
    }
}
