//! A batch of tokens through the Llama network, with every buffer in one `RunState`
//! allocated once (the idea of llama2.c's `RunState`): embedding rows -> per layer: RMSNorm ->
//! quantize once -> Q, K, V -> RoPE -> KV cache -> GQA attention -> output projection ->
//! residual -> RMSNorm -> quantize once -> gate, up -> SwiGLU -> quantize once -> down ->
//! residual -> final RMSNorm -> logits of the tokens that want them ([`Outputs`]).
//!
//! The tokens of a batch share each weight chunk while it is in cache: the matrix products
//! take row chunks as the outer loop and tokens as the inner one (`Kernels::matmul_in`: a
//! gemm tiled over rows and tokens where the type has one). Every output element still has
//! the bits of one `dot`, so a batch gives the same bits as its tokens one by one; except
//! the AVX2 K-quants, which follow llama.cpp's batch arithmetic on the tokens llama.cpp
//! computes with it (the exception of `dispatch::GemmFn`): each step says where its tokens
//! sit in llama.cpp's batch ([`LlamaBatch`]). Like llama.cpp, the last layer's feed-forward
//! block runs on the tokens whose logits are wanted only (the others' results would only
//! feed logits nobody reads): the last one of a prompt, or llama-perplexity's scored
//! positions, so that `Session::forward_outputs` gives llama-perplexity's logits bit for bit.

pub mod attention;
pub mod kv_cache;
pub mod ops;

use crate::alloc;
use crate::kernels::{generic, Activation, ActivationForms, Kernels, LlamaBatch, Matrix};
use crate::model::{ModelConfig, Weights};
use crate::threads::{chunk_rows, ChunkCounter, ThreadPool};
use crate::{Error, Result};
use attention::{
    attend_chunk, attend_tile, attend_tiled, merge_chunks, partial_len, round_to_f16_in_place,
    splits, AttentionArgs, FA_TILE_Q, QUERY_TILE, SPLIT_CHUNK, SPLIT_MAX_GROUP, TILED_QUERY_TILE,
};
pub use kv_cache::{KvCache, KvShape, KvType};
use ops::{add_in_place, rms_norm, RopeTable};

/// Which tokens of a step want logits: `tokens[first..]`, sitting at `batch` among the rows
/// llama.cpp computes logits for (its last layer's feed-forward block and the output matrix
/// run on those rows only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outputs {
    /// Index in the step of the first token whose logits are wanted (the step's length: none).
    pub first: usize,
    /// Where those tokens sit among llama.cpp's output rows.
    pub batch: LlamaBatch,
}

impl Outputs {
    /// The logits of the last of n tokens, alone (a generation step or a prompt's end).
    pub const fn last(n: usize) -> Outputs {
        Outputs {
            first: n.saturating_sub(1),
            batch: LlamaBatch::whole(1),
        }
    }
}

/// Tokens one `step` takes at most (the session cuts longer prompts into batches).
pub const MAX_BATCH: usize = 32;

/// Every buffer a batch needs. Allocated in `new`; `step` allocates nothing.
/// Per-token buffers hold `batch` rows: token t of the batch at `[t * dim, (t + 1) * dim)`.
#[derive(Debug)]
pub struct RunState {
    /// Tokens per batch (1..=MAX_BATCH).
    pub batch: usize,
    /// residual stream x (batch, n_embd)
    pub x: Vec<f32>,
    /// normed input of the current sub-block (batch, n_embd)
    pub xb: Vec<f32>,
    /// query heads (batch, n_head * head_dim)
    pub q: Vec<f32>,
    /// key heads of the new positions (batch, n_head_kv * head_dim)
    pub k: Vec<f32>,
    /// value heads of the new positions (batch, n_head_kv * head_dim)
    pub v: Vec<f32>,
    /// attention output, heads concatenated (batch, n_head * head_dim)
    pub att_out: Vec<f32>,
    /// attention scores of each token and head (batch, n_head, n_ctx), f32 cache only
    pub scores: Vec<f32>,
    /// output of attn_output or ffn_down before the residual add (batch, n_embd)
    pub proj: Vec<f32>,
    /// ffn gate, then silu(gate) * up (batch, n_ff)
    pub gate: Vec<f32>,
    /// ffn up (batch, n_ff)
    pub up: Vec<f32>,
    /// per token: xb or att_out quantized once for the matrices that read it
    /// (max(n_embd, q_dim) each)
    pub act: Vec<Activation>,
    /// per token: silu(gate) * up quantized once for ffn_down (n_ff each)
    pub act_ff: Vec<Activation>,
    /// logits of the last position computed (n_vocab)
    pub logits: Vec<f32>,
    /// logits of every output token of the last step (batch, n_vocab); empty until a step
    /// wants more than one
    pub logits_rows: Vec<f32>,
    /// keys and values (n_layer, n_head_kv, n_ctx, head_dim) each
    pub kv: KvCache,
    pub kv_shape: KvShape,
    /// cos/sin (n_ctx, n_rot / 2)
    pub rope: RopeTable,
}

impl RunState {
    /// Buffers for batches of up to `batch` tokens (clamped to 1..=MAX_BATCH).
    pub fn new(
        cfg: &ModelConfig,
        weights: &Weights<'_>,
        n_ctx: usize,
        kv_type: KvType,
        batch: usize,
    ) -> Result<RunState> {
        let batch = batch.clamp(1, MAX_BATCH);
        let kv_shape = KvShape {
            n_layer: cfg.n_layer,
            n_head_kv: cfg.n_head_kv,
            n_ctx,
            head_dim: cfg.head_dim,
        };
        let rows = |dim: usize| alloc::zeroed::<f32>("activations", batch.saturating_mul(dim));
        let act_forms = act_forms(weights);
        let ff_forms = ActivationForms::for_matrices(weights.layers.iter().map(|l| &l.ffn_down));
        Ok(RunState {
            batch,
            x: rows(cfg.n_embd)?,
            xb: rows(cfg.n_embd)?,
            q: rows(cfg.q_dim())?,
            k: rows(cfg.kv_dim())?,
            v: rows(cfg.kv_dim())?,
            att_out: rows(cfg.q_dim())?,
            scores: alloc::zeroed(
                "attention scores",
                batch.saturating_mul(cfg.n_head).saturating_mul(n_ctx),
            )?,
            proj: rows(cfg.n_embd)?,
            gate: rows(cfg.n_ff)?,
            up: rows(cfg.n_ff)?,
            act: (0..batch)
                .map(|_| Activation::with_forms(cfg.n_embd.max(cfg.q_dim()), act_forms))
                .collect(),
            act_ff: (0..batch)
                .map(|_| Activation::with_forms(cfg.n_ff, ff_forms))
                .collect(),
            logits: alloc::zeroed("logits", cfg.n_vocab)?,
            logits_rows: Vec::new(),
            kv: KvCache::new(kv_shape, kv_type)?,
            kv_shape,
            rope: RopeTable::new(n_ctx, cfg.n_rot, cfg.rope_freq_base)?,
        })
    }

    /// The bytes `scratch_bytes` reports for the state `new` makes with these arguments,
    /// computed before anything is allocated; None when the sizes overflow.
    pub fn planned_scratch_bytes(
        cfg: &ModelConfig,
        weights: &Weights<'_>,
        n_ctx: usize,
        batch: usize,
    ) -> Option<u64> {
        let batch = batch.clamp(1, MAX_BATCH) as u64;
        let (d, qd, kvd, ff) = (cfg.n_embd, cfg.q_dim(), cfg.kv_dim(), cfg.n_ff);
        let floats_per_token = [d, d, d, qd, qd, kvd, kvd, ff, ff]
            .iter()
            .try_fold(0u64, |sum, &n| sum.checked_add(n as u64))?;
        let act_bytes = |k: usize, forms: ActivationForms| -> Option<u64> {
            forms
                .iter()
                .try_fold((k as u64).checked_mul(4)?, |sum, form| {
                    let blocks = k.div_ceil(form.block_size()) as u64;
                    sum.checked_add(blocks.checked_mul(form.block_bytes() as u64)?)
                })
        };
        let ff_forms = ActivationForms::for_matrices(weights.layers.iter().map(|l| &l.ffn_down));
        let per_token = floats_per_token
            .checked_mul(4)?
            .checked_add(act_bytes(d.max(qd), act_forms(weights))?)?
            .checked_add(act_bytes(ff, ff_forms)?)?;
        let scores = batch
            .checked_mul(cfg.n_head as u64)?
            .checked_mul(n_ctx as u64)?;
        let rope = (n_ctx as u64).checked_mul((cfg.n_rot / 2) as u64 * 2)?;
        let per_ctx_floats = scores.checked_add(rope)?.checked_add(cfg.n_vocab as u64)?;
        per_token
            .checked_mul(batch)?
            .checked_add(per_ctx_floats.checked_mul(4)?)
    }

    /// Bytes of everything but the KV cache.
    pub fn scratch_bytes(&self) -> usize {
        let f = |v: &Vec<f32>| v.capacity() * 4;
        let act = |acts: &Vec<Activation>| -> usize {
            acts.iter()
                .map(|a| {
                    a.f32.capacity() * 4
                        + a.q8_0.capacity() * std::mem::size_of::<edge_formats::BlockQ8_0>()
                        + a.q8_1.capacity() * std::mem::size_of::<edge_formats::BlockQ8_1>()
                        + a.q8_k.capacity() * std::mem::size_of::<edge_formats::blocks::BlockQ8_K>()
                })
                .sum()
        };
        f(&self.x)
            + f(&self.xb)
            + f(&self.q)
            + f(&self.k)
            + f(&self.v)
            + f(&self.att_out)
            + f(&self.scores)
            + f(&self.proj)
            + f(&self.gate)
            + f(&self.up)
            + f(&self.logits)
            + f(&self.logits_rows)
            + act(&self.act)
            + act(&self.act_ff)
            + self.rope.n_bytes()
    }
}

/// What a step runs with, besides the state.
pub struct StepContext<'a> {
    pub cfg: &'a ModelConfig,
    pub weights: &'a Weights<'a>,
    pub kernels: &'a Kernels,
    pub pool: &'a mut ThreadPool,
}

/// Row t of a (batch, dim) buffer.
fn row(buf: &[f32], dim: usize, t: usize) -> &[f32] {
    &buf[t * dim..(t + 1) * dim]
}

/// Row t of a (batch, dim) buffer, mutable.
fn row_mut(buf: &mut [f32], dim: usize, t: usize) -> &mut [f32] {
    &mut buf[t * dim..(t + 1) * dim]
}

/// xb[dst] = rms_norm(x[src]) * w, then act[dst] = xb[dst] in the forms its matrices read.
fn norm_and_quantize(
    st: &mut RunState,
    kernels: &Kernels,
    w: &[f32],
    eps: f32,
    src: usize,
    dst: usize,
) {
    let d = w.len();
    let xb = row_mut(&mut st.xb, d, dst);
    rms_norm(xb, row(&st.x, d, src), w, eps);
    st.act[dst].prepare(kernels, xb);
}

/// x[t] += proj[t] for the first n tokens (the residual add after a sub-block).
fn add_residual(st: &mut RunState, n: usize) {
    let d = st.x.len() / st.batch;
    for (x, proj) in
        st.x.chunks_exact_mut(d)
            .zip(st.proj.chunks_exact(d))
            .take(n)
    {
        add_in_place(x, proj);
    }
}

/// Runs `tokens` (1..=st.batch of them) at positions pos0.. (pos0 + len <= n_ctx, ids below
/// n_vocab: the session checks all three) and stores their keys and values; computes the
/// logits of the `outputs` tokens: one into `st.logits`, several into `st.logits_rows` (which
/// the caller sizes to (batch, n_vocab) first). `batch`: where the tokens sit in the batch
/// llama.cpp would compute them in (it picks some kernels).
pub fn step(
    cx: &mut StepContext<'_>,
    st: &mut RunState,
    tokens: &[u32],
    pos0: usize,
    outputs: Outputs,
    batch: LlamaBatch,
) -> Result<()> {
    let cfg = cx.cfg;
    let w = cx.weights;
    let kernels = cx.kernels;
    let eps = cfg.rms_eps;
    let n = tokens.len().min(st.batch);
    // tokens[out_first..n] want logits.
    let out_first = outputs.first.min(n);
    let n_out = n - out_first;
    if n_out > 1 && st.logits_rows.len() < n_out * st.logits.len() {
        return Err(Error::InvalidArgument(format!(
            "step: the logits of {n_out} tokens need logits_rows of {n_out} x {}",
            st.logits.len()
        )));
    }
    let (d, qd, kvd, ff) = (cfg.n_embd, cfg.q_dim(), cfg.kv_dim(), cfg.n_ff);
    for (t, &token) in tokens[..n].iter().enumerate() {
        generic::dequantize_row(&w.token_embd, token as usize, row_mut(&mut st.x, d, t));
    }

    // llama.cpp's flash attention over an f16 cache takes its tiled path for a big batch.
    let tiled = st.kv.kv_type() == KvType::F16 && batch.len >= FA_TILE_Q;
    for (layer, lw) in w.layers.iter().enumerate() {
        // attention block
        for t in 0..n {
            norm_and_quantize(st, kernels, &lw.attn_norm, eps, t, t);
        }
        par_matmuls(
            cx.pool,
            kernels,
            [
                (&mut st.q, qd, &lw.attn_q),
                (&mut st.k, kvd, &lw.attn_k),
                (&mut st.v, kvd, &lw.attn_v),
            ],
            &st.act[..n],
            batch,
        )?;
        for t in 0..n {
            let pos = pos0 + t;
            let q = row_mut(&mut st.q, qd, t);
            st.rope.apply(q, cfg.head_dim, pos);
            if st.kv.kv_type() == KvType::F16 && !tiled {
                // ggml's one-token flash attention converts q to the f16 of the keys.
                round_to_f16_in_place(q);
            }
            st.rope.apply(row_mut(&mut st.k, kvd, t), cfg.head_dim, pos);
            st.kv.store(
                &st.kv_shape,
                layer,
                pos,
                row(&st.k, kvd, t),
                row(&st.v, kvd, t),
            );
        }
        let args = AttentionArgs {
            cache: &st.kv,
            shape: st.kv_shape,
            layer,
            group: cfg.n_head / cfg.n_head_kv,
            scale: 1.0 / (cfg.head_dim as f32).sqrt(),
            kernels: *kernels,
            tiled,
        };
        par_attention(
            cx.pool,
            &args,
            cfg.n_head,
            pos0,
            &st.q[..n * qd],
            &mut st.scores,
            &mut st.att_out,
        )?;
        for t in 0..n {
            st.act[t].prepare(kernels, row(&st.att_out, qd, t));
        }
        par_matmuls(
            cx.pool,
            kernels,
            [(&mut st.proj, d, &lw.attn_output)],
            &st.act[..n],
            batch,
        )?;
        add_residual(st, n);

        // feed-forward block: on the last layer, the output tokens' alone (rows 0.. of the
        // buffers, at their place among llama.cpp's output rows), or nothing when no logits
        // are wanted.
        let (first, ffn_batch) = if layer + 1 < w.layers.len() {
            (0, batch)
        } else {
            (out_first, outputs.batch)
        };
        let m = n - first;
        if m == 0 {
            continue;
        }
        for t in 0..m {
            norm_and_quantize(st, kernels, &lw.ffn_norm, eps, first + t, t);
        }
        par_matmuls(
            cx.pool,
            kernels,
            [
                (&mut st.gate, ff, &lw.ffn_gate),
                (&mut st.up, ff, &lw.ffn_up),
            ],
            &st.act[..m],
            ffn_batch,
        )?;
        for t in 0..m {
            let gate = row_mut(&mut st.gate, ff, t);
            (kernels.swiglu)(gate, row(&st.up, ff, t));
            st.act_ff[t].prepare(kernels, gate);
        }
        par_matmuls(
            cx.pool,
            kernels,
            [(&mut st.proj, d, &lw.ffn_down)],
            &st.act_ff[..m],
            ffn_batch,
        )?;
        for t in 0..m {
            add_in_place(row_mut(&mut st.x, d, first + t), row(&st.proj, d, t));
        }
    }

    if n_out == 0 {
        return Ok(());
    }
    for t in 0..n_out {
        norm_and_quantize(st, kernels, &w.output_norm, eps, out_first + t, t);
    }
    let n_vocab = st.logits.len();
    let logits = if n_out == 1 {
        &mut st.logits
    } else {
        &mut st.logits_rows
    };
    par_matmuls(
        cx.pool,
        kernels,
        [(logits, n_vocab, &w.output)],
        &st.act[..n_out],
        outputs.batch,
    )?;
    Ok(())
}

/// An output buffer shared by the pool's threads, each writing a disjoint range.
#[derive(Clone, Copy)]
struct SharedOut {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: threads only write disjoint ranges of the buffer (each chunk is taken once, see
// `par_matvecs` and `par_attention`), and the buffer outlives the pool job.
unsafe impl Send for SharedOut {}
// SAFETY: as above.
unsafe impl Sync for SharedOut {}

impl SharedOut {
    fn new(out: &mut [f32]) -> Self {
        SharedOut {
            ptr: out.as_mut_ptr(),
            len: out.len(),
        }
    }

    /// The sub-slice [start, end), clamped to the buffer.
    ///
    /// # Safety
    /// No other live reference may overlap [start, end).
    #[allow(clippy::mut_from_ref)]
    unsafe fn range(&self, start: usize, end: usize) -> &mut [f32] {
        let end = end.min(self.len);
        let start = start.min(end);
        // SAFETY: in bounds by the clamps; exclusivity is the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), end - start) }
    }
}

/// A panic on a worker thread is a bug of ours: an internal error, not a model error.
fn job_panicked(during: &'static str) -> Error {
    Error::WorkerPanicked { during }
}

/// Every (out, dim, w) triple: for each token t of `xs`, w (rows, k) @ xs[t] (k) -> row t of
/// out (batch, dim), rows <= dim. Each matrix's rows are cut into chunks that the pool's
/// threads take as they come (one barrier for the whole group); a chunk runs every token
/// while its weights are in cache, through the type's gemm where it has one (each output
/// still the bits of its token's matvec, but for the exception of `dispatch::GemmFn`).
/// `batch`: where xs[0] sits in llama.cpp's batch.
fn par_matmuls<const N: usize>(
    pool: &mut ThreadPool,
    kernels: &Kernels,
    jobs: [(&mut Vec<f32>, usize, &Matrix<'_>); N],
    xs: &[Activation],
    batch: LlamaBatch,
) -> Result<()> {
    let n = pool.n_threads();
    let batched = xs.len() > 1;
    let jobs = jobs.map(|(out, dim, w)| {
        let rows = w.rows.min(dim);
        let chunk = if batched {
            batch_chunk_rows(rows, n)
        } else {
            chunk_rows(rows, n)
        };
        (SharedOut::new(out), dim, *w, rows, chunk)
    });
    // first_chunk[j]: global index of matrix j's first chunk.
    let mut first_chunk = [0usize; N];
    let mut n_chunks = 0;
    for (first, (_, _, _, rows, chunk)) in first_chunk.iter_mut().zip(&jobs) {
        *first = n_chunks;
        n_chunks += rows.div_ceil(*chunk);
    }
    let chunks = ChunkCounter::new(n_chunks);
    pool.run(|| {
        while let Some(c) = chunks.take() {
            let j = first_chunk.iter().rposition(|&f| f <= c).unwrap_or(0);
            let (out, dim, w, rows, chunk) = &jobs[j];
            let a = (c - first_chunk[j]) * chunk;
            let b = (a + chunk).min(*rows);
            let w = w.rows(a, b);
            for (t0, xs) in xs.chunks(MAX_BATCH).enumerate() {
                let mut outs: [&mut [f32]; MAX_BATCH] = Default::default();
                for (t, o) in outs.iter_mut().enumerate().take(xs.len()) {
                    let t = t0 * MAX_BATCH + t;
                    // SAFETY: each chunk index is taken once, and token rows do not overlap
                    // (rows <= dim), so no two ranges overlap.
                    *o = unsafe { out.range(t * dim + a, t * dim + b) };
                }
                let at = LlamaBatch {
                    first: batch.first + t0 * MAX_BATCH,
                    ..batch
                };
                kernels.matmul_in(&mut outs[..xs.len()], &w, xs, at);
            }
        }
    })
    .map_err(|_| job_panicked("a matrix product"))
}

/// Rows per chunk of a batched product: two chunks per thread, half as many as a decode
/// step cuts (each gemm call repeats its tokens' per-block setup, and a call over 80 rows ran
/// 5-8% slower per row than one over 144-288 rows: SmolLM2 shapes, AVX-512 Q4_0), still
/// enough for the threads to even out. Multiples of 16 rows (the widest gemm row tile).
fn batch_chunk_rows(rows: usize, n_threads: usize) -> usize {
    rows.div_ceil(2 * n_threads.max(1))
        .next_multiple_of(16)
        .max(16)
}

/// Attention of every query head for the tokens of `q` at positions pos0..: the pool's
/// threads take (head, tile of tokens) pairs as they come, QUERY_TILE tokens per tile, or
/// TILED_QUERY_TILE on the tiled path (each query's result is independent of the tiling).
// q (n, n_head * head_dim), scores (batch, n_head, n_ctx) -> out (n, n_head * head_dim)
fn par_attention(
    pool: &mut ThreadPool,
    args: &AttentionArgs<'_>,
    n_head: usize,
    pos0: usize,
    q: &[f32],
    scores: &mut [f32],
    out: &mut [f32],
) -> Result<()> {
    const MAX_TILE: usize = if QUERY_TILE > TILED_QUERY_TILE {
        QUERY_TILE
    } else {
        TILED_QUERY_TILE
    };
    let hd = args.shape.head_dim;
    let n_ctx = args.shape.n_ctx;
    let qd = n_head * hd;
    let n = q.len().checked_div(qd).unwrap_or(0);
    if splits(args, n, pos0) {
        return par_attention_split(pool, args, n_head, pos0, q, scores, out);
    }
    let tile = if args.tiled {
        TILED_QUERY_TILE
    } else {
        QUERY_TILE
    };
    let n_tiles = n.div_ceil(tile);
    let (scores, out) = (SharedOut::new(scores), SharedOut::new(out));
    let items = ChunkCounter::new(n_head * n_tiles);
    pool.run(|| {
        while let Some(item) = items.take() {
            let (h, t0) = (item % n_head, item / n_head * tile);
            let t1 = (t0 + tile).min(n);
            let mut queries: [&[f32]; MAX_TILE] = [&[]; MAX_TILE];
            let mut sc: [&mut [f32]; MAX_TILE] = Default::default();
            let mut outs: [&mut [f32]; MAX_TILE] = Default::default();
            for (i, t) in (t0..t1).enumerate() {
                let at = t * qd + h * hd;
                queries[i] = &q[at..at + hd];
                let s = (t * n_head + h) * n_ctx;
                // SAFETY: each (head, tile) item is taken once, and its (token, head) score
                // rows and output slices belong to no other item.
                (sc[i], outs[i]) = unsafe { (scores.range(s, s + n_ctx), out.range(at, at + hd)) };
            }
            let m = t1 - t0;
            let attend = if args.tiled {
                attend_tiled
            } else {
                attend_tile
            };
            attend(
                args,
                h,
                pos0 + t0,
                &queries[..m],
                &mut sc[..m],
                &mut outs[..m],
            );
        }
    })
    .map_err(|_| job_panicked("attention"))
}

/// One decoded token at `pos` over an f16 cache, split ([`splits`]): the pool's threads take
/// (KV head, chunk of SPLIT_CHUNK keys) pairs, each running the KV head's group of query
/// heads over the chunk's rows once, into the score rows; the caller merges each head's
/// chunks in order. The chunks are fixed: 1 thread gives the bits of N.
// q (n_head * head_dim), scores (>= n_head * n_ctx) -> out (n_head * head_dim)
fn par_attention_split(
    pool: &mut ThreadPool,
    args: &AttentionArgs<'_>,
    n_head: usize,
    pos: usize,
    q: &[f32],
    scores: &mut [f32],
    out: &mut [f32],
) -> Result<()> {
    let (hd, n_ctx, group) = (args.shape.head_dim, args.shape.n_ctx, args.group);
    let n_keys = pos + 1;
    let n_chunks = n_keys.div_ceil(SPLIT_CHUNK);
    let n_kv = n_head / group.max(1);
    let plen = partial_len(hd);
    let partials = SharedOut::new(scores);
    let items = ChunkCounter::new(n_kv * n_chunks);
    pool.run(|| {
        while let Some(item) = items.take() {
            let (kv_head, chunk) = (item % n_kv, item / n_kv);
            let mut queries: [&[f32]; SPLIT_MAX_GROUP] = [&[]; SPLIT_MAX_GROUP];
            let mut parts: [&mut [f32]; SPLIT_MAX_GROUP] = Default::default();
            for g in 0..group {
                let h = kv_head * group + g;
                queries[g] = &q[h * hd..(h + 1) * hd];
                let at = h * n_ctx + chunk * plen;
                // SAFETY: each (KV head, chunk) item is taken once, and the chunk's span of
                // its heads' score rows belongs to no other item.
                parts[g] = unsafe { partials.range(at, at + plen) };
            }
            attend_chunk(
                args,
                kv_head,
                chunk,
                n_keys,
                &queries[..group],
                &mut parts[..group],
            );
        }
    })
    .map_err(|_| job_panicked("attention"))?;
    for h in 0..n_head {
        let row = &scores[h * n_ctx..h * n_ctx + n_chunks * plen];
        merge_chunks(row, &mut out[h * hd..(h + 1) * hd]);
    }
    Ok(())
}

/// The forms of `act`: it feeds q, k, v, the attention output, gate, up and the logits.
fn act_forms(w: &Weights<'_>) -> ActivationForms {
    let per_layer = w.layers.iter().flat_map(|l| l.matrices_reading_embd());
    ActivationForms::for_matrices(per_layer.chain([&w.output]))
}
