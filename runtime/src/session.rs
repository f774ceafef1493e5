//! A decoding session: the KV cache and every buffer, allocated once in `Session::new`;
//! `forward` runs one token and allocates nothing (DESIGN convention 7).

pub mod memory;

pub use crate::forward::kv_cache::KvType;
use crate::forward::{self, Outputs, RunState, StepContext};
use crate::kernels::{LlamaBatch, LLAMA_UBATCH};
use crate::model::Model;
use crate::threads::ThreadPool;
use crate::{Error, Isa, Result, Storage};
use std::sync::Arc;

/// How to build a session. `Default`: n_ctx 0 (= min(4096, n_ctx_train)), all cores, f32 KV
/// cache, the best kernels for this CPU (`EDGE_ISA` honoured).
#[derive(Clone, Copy, Debug, Default)]
pub struct SessionParams {
    /// Context length in tokens; 0 = min(4096, the model's context_length).
    pub n_ctx: usize,
    /// Threads for the matrix products (the caller's thread included); 0 = all cores.
    pub n_threads: usize,
    /// The element type of the KV cache.
    pub kv_type: KvType,
    /// The kernels' instruction set; None = [`Isa::detect`] (`EDGE_ISA` or the best this CPU
    /// runs; an invalid `EDGE_ISA` makes `Session::new` fail).
    pub isa: Option<Isa>,
}

/// The context used when `SessionParams::n_ctx` is 0, at most.
pub const DEFAULT_MAX_CTX: usize = 4096;

/// The number of threads `n_threads: 0` means: the cores this process may use.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// More threads than this are refused, whatever the machine.
pub const MAX_THREADS: usize = 1024;

/// The most threads a session takes: 4 per core this process may use, at most `MAX_THREADS`.
pub fn max_threads() -> usize {
    default_threads().saturating_mul(4).min(MAX_THREADS)
}

/// What a session holds in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Weight bytes read once per token: the file's bytes, or the repacked copies that replace
    /// parts of them (ARM dotprod).
    pub weights_bytes: u64,
    /// Where the file's bytes live: mapped (page cache) or resident (this process's
    /// anonymous memory).
    pub weights_storage: Storage,
    /// Keys and values of every layer and position.
    pub kv_bytes: u64,
    /// The element type of the KV cache.
    pub kv_type: KvType,
    /// The session's context length in tokens.
    pub n_ctx: usize,
    /// The context the model was trained for (`{arch}.context_length`).
    pub n_ctx_train: usize,
    /// Activations, quantized activations, attention scores, logits, RoPE tables.
    pub scratch_bytes: u64,
}

impl MemoryPlan {
    /// Weights, KV cache and scratch together.
    pub fn total(&self) -> u64 {
        self.weights_bytes
            .saturating_add(self.kv_bytes)
            .saturating_add(self.scratch_bytes)
    }

    /// A context longer than the model was trained for runs, but its output degrades there:
    /// the warning to show, with the memory that context takes; None within the training
    /// length.
    pub fn context_warning(&self) -> Option<String> {
        (self.n_ctx > self.n_ctx_train).then(|| {
            format!(
                "context {} is above the model's training context of {} tokens; its KV cache \
                 takes {}",
                self.n_ctx,
                self.n_ctx_train,
                format_bytes(self.kv_bytes)
            )
        })
    }

    /// One line: the parts and the total.
    fn describe(&self) -> String {
        format!(
            "context {} ({} KV cache) needs {}: weights {} {}, KV cache {}, scratch {}",
            self.n_ctx,
            self.kv_type,
            format_bytes(self.total()),
            format_bytes(self.weights_bytes),
            self.weights_storage,
            format_bytes(self.kv_bytes),
            format_bytes(self.scratch_bytes)
        )
    }
}

/// Bytes in decimal units with one decimal ("51.2 GB").
pub fn format_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1_000_000 => format!("{:.1} kB", b / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", b / 1e6),
        _ => format!("{:.1} GB", b / 1e9),
    }
}

/// One sequence being decoded.
pub struct Session {
    model: Arc<Model>,
    isa: Isa,
    pool: ThreadPool,
    /// Every buffer, the KV cache (which knows n_ctx and its element type) included.
    state: RunState,
    /// Positions filled in the KV cache (the next token goes at `pos`).
    pos: usize,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("model", &self.model.path())
            .field("isa", &self.isa.name())
            .field("n_threads", &self.pool.n_threads())
            .field("n_ctx", &self.n_ctx())
            .field("kv_type", &self.kv_type())
            .field("pos", &self.pos)
            .finish()
    }
}

impl Session {
    /// Checks the parameters and the memory plan against the machine (see [`Session::plan`]
    /// and the memory available to this process), then allocates everything a token needs and starts the
    /// worker threads. Errors: InvalidArgument (thread count), MemoryLimit (the plan does not
    /// fit), OutOfMemory (the allocator refused a buffer), Threads.
    pub fn new(model: Arc<Model>, params: SessionParams) -> Result<Session> {
        let n_threads = resolve_threads(params.n_threads)?;
        let isa = params.isa.map_or_else(Isa::detect, Ok)?;
        let plan = Self::plan(&model, &params)?;
        if let Some(limit) = memory::available() {
            if plan.total() > limit.bytes {
                return Err(Error::MemoryLimit(format!(
                    "{}, more than the {} available ({})",
                    plan.describe(),
                    format_bytes(limit.bytes),
                    limit.source
                )));
            }
        }
        let state = RunState::new(
            model.config(),
            model.weights(),
            plan.n_ctx,
            params.kv_type,
            forward::MAX_BATCH,
        )?;
        let pool =
            ThreadPool::new(n_threads).map_err(|source| Error::Threads { n_threads, source })?;
        Ok(Session {
            isa,
            pool,
            state,
            pos: 0,
            model,
        })
    }

    /// The memory a session with `params` would hold, computed before allocating anything
    /// (the figures `memory_plan` reports once it exists). Errors when the sizes overflow.
    pub fn plan(model: &Model, params: &SessionParams) -> Result<MemoryPlan> {
        let cfg = model.config();
        let n_ctx = match params.n_ctx {
            0 => cfg.n_ctx_train.min(DEFAULT_MAX_CTX),
            n => n,
        };
        let kv_bytes = [cfg.n_layer, cfg.kv_dim(), n_ctx, 2 * params.kv_type.size()]
            .iter()
            .try_fold(1u64, |p, &n| p.checked_mul(n as u64));
        let scratch_bytes =
            RunState::planned_scratch_bytes(cfg, model.weights(), n_ctx, forward::MAX_BATCH);
        let (Some(kv_bytes), Some(scratch_bytes)) = (kv_bytes, scratch_bytes) else {
            return Err(Error::MemoryLimit(format!(
                "context {n_ctx}: the KV cache of {} layers x {} values per position does not \
                 fit in memory",
                cfg.n_layer,
                cfg.kv_dim()
            )));
        };
        Ok(MemoryPlan {
            weights_bytes: model.weights_bytes(),
            weights_storage: model.storage(),
            kv_bytes,
            kv_type: params.kv_type,
            n_ctx,
            n_ctx_train: cfg.n_ctx_train,
            scratch_bytes,
        })
    }

    /// Runs `token` at the next position and returns the logits (n_vocab) there.
    /// Errors: token id out of range (InvalidArgument), no room left (ContextFull).
    pub fn forward(&mut self, token: u32) -> Result<&[f32]> {
        self.check_room(1)?;
        self.check_token(token)?;
        self.step(&[token], Outputs::last(1), LlamaBatch::whole(1))?;
        Ok(&self.state.logits)
    }

    /// Runs `tokens` in order, in batches that share each weight read, and returns the logits
    /// of the last one (the same bits as running them one by one, except on AVX2 for the
    /// K-quants, which follow llama.cpp's arithmetic for a prompt of these tokens: see
    /// `dispatch::GemmFn`; and over an f16 cache for 64+ tokens, which take ggml's tiled flash
    /// attention as llama.cpp does: see `forward::attention`). All ids and the room needed are
    /// checked before anything runs; an empty slice is an error.
    pub fn forward_batch(&mut self, tokens: &[u32]) -> Result<&[f32]> {
        // One llama.cpp prompt that wants the last token's logits.
        self.run_batch(
            "forward_batch",
            tokens,
            tokens.len().saturating_sub(1),
            |_, _| {},
        )?;
        Ok(&self.state.logits)
    }

    /// Runs `tokens` at the next positions as llama.cpp runs one batch that wants the logits
    /// of every token from index `first_out` on (llama-perplexity's request), and calls
    /// `each(index, logits)` for those tokens in order. Each logit row has the bits
    /// llama.cpp's batch gives it on x86: the kernels each of its ubatches of
    /// [`LLAMA_UBATCH`] takes, and the last layer's feed-forward block and the output matrix
    /// on the output rows only. All ids and the room needed are checked before anything
    /// runs; an empty slice is an error. Allocates the (batch, n_vocab) logit rows on first
    /// use when more than one token wants logits ([`Self::reserve_logit_rows`]).
    pub fn forward_outputs(
        &mut self,
        tokens: &[u32],
        first_out: usize,
        each: impl FnMut(usize, &[f32]),
    ) -> Result<()> {
        self.run_batch("forward_outputs", tokens, first_out, each)
    }

    /// `tokens` as one llama.cpp batch (ubatches of [`LLAMA_UBATCH`], each cut into steps that
    /// know where they sit in it) that wants the logits of the tokens from index `first_out`
    /// on; `each(index, logits)` receives them in order. Checks everything first.
    fn run_batch(
        &mut self,
        caller: &str,
        tokens: &[u32],
        first_out: usize,
        mut each: impl FnMut(usize, &[f32]),
    ) -> Result<()> {
        self.check_tokens(caller, tokens)?;
        if tokens.len().saturating_sub(first_out) > 1 {
            self.reserve_logit_rows()?;
        }
        let n_vocab = self.state.logits.len();
        let batch = self.state.batch;
        for (u, ubatch) in tokens.chunks(LLAMA_UBATCH).enumerate() {
            // This ubatch's outputs: its tokens from `out0` on, the last layer's batch.
            let u0 = u * LLAMA_UBATCH;
            let out0 = first_out.saturating_sub(u0).min(ubatch.len());
            let n_out = ubatch.len() - out0;
            for (i, step) in ubatch.chunks(batch).enumerate() {
                let s0 = i * batch;
                let first = out0.saturating_sub(s0).min(step.len());
                let outputs = Outputs {
                    first,
                    batch: LlamaBatch {
                        len: n_out,
                        first: (s0 + first).saturating_sub(out0),
                    },
                };
                let at = LlamaBatch {
                    len: ubatch.len(),
                    first: s0,
                };
                self.step(step, outputs, at)?;
                let index = u0 + s0 + first;
                match step.len() - first {
                    0 => {}
                    1 => each(index, &self.state.logits),
                    m => {
                        let rows = self.state.logits_rows.chunks_exact(n_vocab).take(m);
                        for (t, row) in rows.enumerate() {
                            each(index + t, row);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Allocates the (batch, n_vocab) logit rows that [`Self::forward_outputs`] writes (it
    /// does so itself on first use), so that [`Self::memory_plan`] counts them from now on.
    pub fn reserve_logit_rows(&mut self) -> Result<()> {
        let rows_len = self.state.batch * self.state.logits.len();
        if self.state.logits_rows.len() < rows_len {
            self.state.logits_rows = crate::alloc::zeroed("logits", rows_len)?;
        }
        Ok(())
    }

    /// The logits of the last `forward` / `forward_batch` (n_vocab).
    pub fn logits(&self) -> &[f32] {
        &self.state.logits
    }

    /// Positions filled in the KV cache: the position the next token takes.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The context length: positions the KV cache holds.
    pub fn n_ctx(&self) -> usize {
        self.state.kv_shape.n_ctx
    }

    /// Threads the matrix products run on, the caller's included.
    pub fn n_threads(&self) -> usize {
        self.pool.n_threads()
    }

    /// Runs the matrix products on `n_threads` threads from the next token on (0: every core),
    /// the calling thread included. The KV cache stays, and every result keeps its bits: each
    /// output row is computed whole by one thread, whatever their number. Errors:
    /// InvalidArgument (more than [`max_threads`]), Threads (a thread could not start; the
    /// session keeps its old threads).
    pub fn set_threads(&mut self, n_threads: usize) -> Result<()> {
        let n_threads = resolve_threads(n_threads)?;
        if n_threads != self.pool.n_threads() {
            self.pool = ThreadPool::new(n_threads)
                .map_err(|source| Error::Threads { n_threads, source })?;
        }
        Ok(())
    }

    /// The kernels' instruction set.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The element type of the KV cache.
    pub fn kv_type(&self) -> KvType {
        self.state.kv.kv_type()
    }

    /// The model this session runs.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Forgets every position (the cache is overwritten as new tokens come).
    pub fn reset(&mut self) {
        self.pos = 0;
    }

    /// Keeps the first `n_pos` positions and forgets the rest; `n_pos >= pos()` changes
    /// nothing.
    pub fn truncate(&mut self, n_pos: usize) {
        self.pos = self.pos.min(n_pos);
    }

    /// The memory this session holds.
    pub fn memory_plan(&self) -> MemoryPlan {
        MemoryPlan {
            weights_bytes: self.model.weights_bytes(),
            weights_storage: self.model.storage(),
            kv_bytes: self.state.kv.n_bytes() as u64,
            kv_type: self.kv_type(),
            n_ctx: self.n_ctx(),
            n_ctx_train: self.model.config().n_ctx_train,
            scratch_bytes: self.state.scratch_bytes() as u64,
        }
    }

    fn check_room(&self, n: usize) -> Result<()> {
        let n_ctx = self.n_ctx();
        if n > n_ctx - self.pos {
            return Err(Error::ContextFull(format!(
                "{n} more token(s) at position {} do not fit in n_ctx {n_ctx}",
                self.pos
            )));
        }
        Ok(())
    }

    /// A batch's checks, before anything runs: not empty, room for it, every id in range.
    fn check_tokens(&self, caller: &str, tokens: &[u32]) -> Result<()> {
        if tokens.is_empty() {
            return Err(Error::InvalidArgument(format!("{caller}: no tokens given")));
        }
        self.check_room(tokens.len())?;
        tokens.iter().try_for_each(|&t| self.check_token(t))
    }

    fn check_token(&self, token: u32) -> Result<()> {
        let n_vocab = self.model.config().n_vocab;
        if token as usize >= n_vocab {
            return Err(Error::InvalidArgument(format!(
                "token id {token} is out of range (vocabulary of {n_vocab})"
            )));
        }
        Ok(())
    }

    /// Runs 1..=batch tokens at the next positions, at `batch` in llama.cpp's batch.
    fn step(&mut self, tokens: &[u32], outputs: Outputs, batch: LlamaBatch) -> Result<()> {
        let model = &*self.model;
        let mut cx = StepContext {
            cfg: model.config(),
            weights: model.weights(),
            kernels: self.isa.kernels(),
            pool: &mut self.pool,
        };
        forward::step(&mut cx, &mut self.state, tokens, self.pos, outputs, batch)?;
        self.pos += tokens.len();
        Ok(())
    }
}

/// `n_threads` with 0 meaning all cores; more than [`max_threads`] is an error.
fn resolve_threads(n_threads: usize) -> Result<usize> {
    let max = max_threads();
    match n_threads {
        0 => Ok(default_threads().min(max)),
        n if n > max => Err(Error::InvalidArgument(format!(
            "{n} threads: at most {max} (4 per core available, at most {MAX_THREADS})"
        ))),
        n => Ok(n),
    }
}
