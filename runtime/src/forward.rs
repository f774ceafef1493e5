//! One token through the Llama network, with every buffer in one `RunState` allocated once
//! (the idea of llama2.c's `RunState`): embedding row -> per layer: RMSNorm -> quantize once
//! -> Q, K, V -> RoPE -> KV cache -> GQA attention -> output projection -> residual ->
//! RMSNorm -> quantize once -> gate, up -> SwiGLU -> quantize once -> down -> residual ->
//! final RMSNorm -> logits.

pub mod attention;
pub mod ops;

use crate::kernels::{generic, Activation, ActivationForms, Kernels, Matrix};
use crate::model::{ModelConfig, Weights};
use crate::session::pool::{chunk_rows, ChunkCounter, ThreadPool};
use crate::session::KvType;
use crate::{Error, Result};
use attention::{attend_head, round_to_f16_in_place, AttentionArgs, KvCache, KvShape};
use ops::{add_in_place, rms_norm, RopeTable};

/// Every buffer one token needs. Allocated in `new`; `step` allocates nothing.
#[derive(Debug)]
pub struct RunState {
    /// residual stream x (n_embd)
    pub x: Vec<f32>,
    /// normed input of the current sub-block (n_embd)
    pub xb: Vec<f32>,
    /// query heads (n_head * head_dim)
    pub q: Vec<f32>,
    /// key heads of the new position (n_head_kv * head_dim)
    pub k: Vec<f32>,
    /// value heads of the new position (n_head_kv * head_dim)
    pub v: Vec<f32>,
    /// attention output, heads concatenated (n_head * head_dim)
    pub att_out: Vec<f32>,
    /// attention scores per head (n_head, n_ctx)
    pub scores: Vec<f32>,
    /// output of attn_output or ffn_down before the residual add (n_embd)
    pub proj: Vec<f32>,
    /// ffn gate, then silu(gate) * up (n_ff)
    pub gate: Vec<f32>,
    /// ffn up (n_ff)
    pub up: Vec<f32>,
    /// xb or att_out quantized once for the matrices that read it (max(n_embd, q_dim))
    pub act: Activation,
    /// silu(gate) * up quantized once for ffn_down (n_ff)
    pub act_ff: Activation,
    /// logits of the last position computed (n_vocab)
    pub logits: Vec<f32>,
    /// keys and values (n_layer, n_head_kv, n_ctx, head_dim) each
    pub kv: KvCache,
    pub kv_shape: KvShape,
    /// cos/sin (n_ctx, n_rot / 2)
    pub rope: RopeTable,
}

impl RunState {
    pub fn new(
        cfg: &ModelConfig,
        weights: &Weights<'_>,
        n_ctx: usize,
        kv_type: KvType,
    ) -> RunState {
        let kv_shape = KvShape {
            n_layer: cfg.n_layer,
            n_head_kv: cfg.n_head_kv,
            n_ctx,
            head_dim: cfg.head_dim,
        };
        RunState {
            x: vec![0.0; cfg.n_embd],
            xb: vec![0.0; cfg.n_embd],
            q: vec![0.0; cfg.q_dim()],
            k: vec![0.0; cfg.kv_dim()],
            v: vec![0.0; cfg.kv_dim()],
            att_out: vec![0.0; cfg.q_dim()],
            scores: vec![0.0; cfg.n_head * n_ctx],
            proj: vec![0.0; cfg.n_embd],
            gate: vec![0.0; cfg.n_ff],
            up: vec![0.0; cfg.n_ff],
            act: Activation::with_forms(cfg.n_embd.max(cfg.q_dim()), act_forms(weights)),
            act_ff: Activation::with_forms(
                cfg.n_ff,
                ActivationForms::for_matrices(weights.layers.iter().map(|l| &l.ffn_down)),
            ),
            logits: vec![0.0; cfg.n_vocab],
            kv: KvCache::new(kv_shape, kv_type),
            kv_shape,
            rope: RopeTable::new(n_ctx, cfg.n_rot, cfg.rope_freq_base),
        }
    }

    /// Bytes of everything but the KV cache.
    pub fn scratch_bytes(&self) -> usize {
        let f = |v: &Vec<f32>| v.capacity() * 4;
        let act = |a: &Activation| {
            a.f32.capacity() * 4
                + a.q8_0.capacity() * std::mem::size_of::<edge_formats::BlockQ8_0>()
                + a.q8_1.capacity() * std::mem::size_of::<edge_formats::BlockQ8_1>()
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

/// Runs `token` at position `pos` (< n_ctx, token < n_vocab: the session checks both) and
/// stores its keys and values; computes the logits into `st.logits` when `want_logits`.
pub fn step(
    cx: &mut StepContext<'_>,
    st: &mut RunState,
    token: u32,
    pos: usize,
    want_logits: bool,
) -> Result<()> {
    let cfg = cx.cfg;
    let w = cx.weights;
    let kernels = cx.kernels;
    let eps = cfg.rms_eps;
    generic::dequantize_row(&w.token_embd, token as usize, &mut st.x);

    for (layer, lw) in w.layers.iter().enumerate() {
        // attention block
        rms_norm(&mut st.xb, &st.x, &lw.attn_norm, eps);
        st.act.prepare(kernels, &st.xb);
        par_matvecs(
            cx.pool,
            kernels,
            [
                (&mut st.q, &lw.attn_q),
                (&mut st.k, &lw.attn_k),
                (&mut st.v, &lw.attn_v),
            ],
            &st.act,
        )?;
        st.rope.apply(&mut st.q, cfg.head_dim, pos);
        st.rope.apply(&mut st.k, cfg.head_dim, pos);
        st.kv.store(&st.kv_shape, layer, pos, &st.k, &st.v);
        if st.kv.kv_type() == KvType::F16 {
            // ggml's flash attention converts q to the f16 of the keys before the dot products.
            round_to_f16_in_place(&mut st.q);
        }
        let args = AttentionArgs {
            cache: &st.kv,
            shape: st.kv_shape,
            layer,
            n_pos: pos + 1,
            group: cfg.n_head / cfg.n_head_kv,
            scale: 1.0 / (cfg.head_dim as f32).sqrt(),
            kernels: *kernels,
        };
        par_attention(
            cx.pool,
            &args,
            cfg.n_head,
            &st.q,
            &mut st.scores,
            &mut st.att_out,
        )?;
        st.act.prepare(kernels, &st.att_out);
        par_matvecs(cx.pool, kernels, [(&mut st.proj, &lw.attn_output)], &st.act)?;
        add_in_place(&mut st.x, &st.proj);

        // feed-forward block
        rms_norm(&mut st.xb, &st.x, &lw.ffn_norm, eps);
        st.act.prepare(kernels, &st.xb);
        par_matvecs(
            cx.pool,
            kernels,
            [(&mut st.gate, &lw.ffn_gate), (&mut st.up, &lw.ffn_up)],
            &st.act,
        )?;
        (kernels.swiglu)(&mut st.gate, &st.up);
        st.act_ff.prepare(kernels, &st.gate);
        par_matvecs(cx.pool, kernels, [(&mut st.proj, &lw.ffn_down)], &st.act_ff)?;
        add_in_place(&mut st.x, &st.proj);
    }

    if want_logits {
        rms_norm(&mut st.xb, &st.x, &w.output_norm, eps);
        st.act.prepare(kernels, &st.xb);
        par_matvecs(cx.pool, kernels, [(&mut st.logits, &w.output)], &st.act)?;
    }
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

fn job_panicked(what: &str) -> Error {
    Error::Model(format!(
        "internal error: a worker thread panicked in {what}"
    ))
}

/// Every (out, w) pair: w (rows, k) @ x (k) -> out (rows), each matrix's rows cut into
/// chunks that the pool's threads take as they come (one barrier for the whole group).
fn par_matvecs<const N: usize>(
    pool: &mut ThreadPool,
    kernels: &Kernels,
    jobs: [(&mut Vec<f32>, &Matrix<'_>); N],
    x: &Activation,
) -> Result<()> {
    let n = pool.n_threads();
    let jobs = jobs.map(|(out, w)| {
        let rows = w.rows.min(out.len());
        (SharedOut::new(out), *w, rows, chunk_rows(rows, n))
    });
    // first_chunk[j]: global index of matrix j's first chunk.
    let mut first_chunk = [0usize; N];
    let mut n_chunks = 0;
    for (first, (_, _, rows, chunk)) in first_chunk.iter_mut().zip(&jobs) {
        *first = n_chunks;
        n_chunks += rows.div_ceil(*chunk);
    }
    let chunks = ChunkCounter::new(n_chunks);
    pool.run(|| {
        while let Some(c) = chunks.take() {
            let j = first_chunk.iter().rposition(|&f| f <= c).unwrap_or(0);
            let (out, w, rows, chunk) = &jobs[j];
            let a = (c - first_chunk[j]) * chunk;
            let b = (a + chunk).min(*rows);
            // SAFETY: each chunk index is taken once, so the row ranges never overlap.
            let out = unsafe { out.range(a, b) };
            kernels.matvec(out, &w.rows(a, b), x);
        }
    })
    .map_err(|_| job_panicked("a matrix-vector product"))
}

/// Attention for all query heads; the pool's threads take heads as they come.
// q (n_head * head_dim), scores (n_head, n_ctx) -> out (n_head * head_dim)
fn par_attention(
    pool: &mut ThreadPool,
    args: &AttentionArgs<'_>,
    n_head: usize,
    q: &[f32],
    scores: &mut [f32],
    out: &mut [f32],
) -> Result<()> {
    let hd = args.shape.head_dim;
    let n_ctx = args.shape.n_ctx;
    let (scores, out) = (SharedOut::new(scores), SharedOut::new(out));
    let heads = ChunkCounter::new(n_head);
    pool.run(|| {
        while let Some(h) = heads.take() {
            // SAFETY: each head is taken once; its scores row and output slice are its own.
            let (sc, o) = unsafe {
                (
                    scores.range(h * n_ctx, (h + 1) * n_ctx),
                    out.range(h * hd, (h + 1) * hd),
                )
            };
            attend_head(args, h, &q[h * hd..(h + 1) * hd], sc, o);
        }
    })
    .map_err(|_| job_panicked("attention"))
}

/// The forms of `act`: it feeds q, k, v, the attention output, gate, up and the logits.
fn act_forms(w: &Weights<'_>) -> ActivationForms {
    let per_layer = w.layers.iter().flat_map(|l| l.matrices_reading_embd());
    ActivationForms::for_matrices(per_layer.chain([&w.output]))
}
