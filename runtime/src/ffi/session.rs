//! Sessions: one sequence's KV cache and buffers over a model, driven token by token (eval,
//! logits) or a turn at a time (`edge_generate`).

use std::ffi::{c_char, c_void};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use super::args::{self, Versioned};
use super::log::{self, edge_log_level};
use super::model::{edge_model, model_ref};
use super::status::{self, boundary, edge_status, Fail, Outcome};
use crate::{GenerateParams, Generator, Isa, KvType, SessionParams};

/// A token id.
pub type edge_token = u32;

/// `edge_session_params.kv_type`: 32-bit float keys and values (the default).
pub const EDGE_KV_F32: i32 = 0;
/// `edge_session_params.kv_type`: 16-bit float keys and values (half the memory).
pub const EDGE_KV_F16: i32 = 1;

/// Asked between tokens (between batches of a prompt): return true to stop the call, which
/// then returns ABORTED (eval) or reports the stop reason EDGE_STOP_ABORTED (generate).
pub type edge_abort_callback = Option<unsafe extern "C" fn(user_data: *mut c_void) -> bool>;

/// How to make a session. Fill it with `edge_session_params_default(&p, sizeof p)`, then
/// change fields.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct edge_session_params {
    /// sizeof(edge_session_params) as the caller's header has it (the default sets it).
    pub struct_size: u32,
    /// Context length in tokens; 0 = the model's training context, at most 4096.
    pub n_ctx: u32,
    /// Threads for the matrix products, the calling thread included; 0 = every core. May be
    /// changed later with `edge_session_set_threads`.
    pub n_threads: u32,
    /// EDGE_KV_F32 or EDGE_KV_F16.
    pub kv_type: i32,
    /// Kernels: "scalar", "avx2", "avx512", "neon" or "dotprod"; NULL = the best this CPU
    /// runs (or the EDGE_ISA environment variable). Read only during `edge_session_new`.
    pub isa: *const c_char,
}

impl Versioned for edge_session_params {
    const NAME: &'static str = "edge_session_params";
    fn set_struct_size(&mut self, size: u32) {
        self.struct_size = size;
    }
}

fn default_session_params() -> edge_session_params {
    edge_session_params {
        struct_size: std::mem::size_of::<edge_session_params>() as u32,
        n_ctx: 0,
        n_threads: 0,
        kv_type: EDGE_KV_F32,
        isa: std::ptr::null(),
    }
}

/// One sequence being decoded: its KV cache, buffers and worker threads. Used by one thread at
/// a time: a call while another thread is inside a call on the same session returns BUSY.
/// Holds its model alive.
pub struct edge_session {
    state: Mutex<SessionState>,
}

/// What a session call works on, behind the session's lock.
pub(crate) struct SessionState {
    pub(crate) generator: Generator,
    pub(crate) abort: edge_abort_callback,
    pub(crate) abort_user_data: *mut c_void,
}

impl SessionState {
    /// Whether the caller's abort callback asks to stop.
    pub(crate) fn should_abort(&self) -> bool {
        match self.abort {
            // SAFETY: the caller's callback with its own user data, as documented.
            Some(callback) => unsafe { callback(self.abort_user_data) },
            None => false,
        }
    }
}

/// Locks the session for one call: BUSY if another thread is in it, PANIC if a panic left it
/// unusable.
///
/// # Safety
/// `session` is NULL or a live handle from `edge_session_new`.
pub(crate) unsafe fn enter<'a>(
    session: *const edge_session,
) -> Outcome<MutexGuard<'a, SessionState>> {
    // SAFETY: the caller's contract.
    let session = unsafe { args::reference(session, "session") }?;
    session.state.try_lock().map_err(|e| match e {
        TryLockError::WouldBlock => Fail::new(
            edge_status::EDGE_BUSY,
            "the session is in use by another call (one thread at a time per session)",
        ),
        TryLockError::Poisoned(_) => Fail::new(
            edge_status::EDGE_PANIC,
            "an earlier call panicked inside this session; free it",
        ),
    })
}

/// Fills `params` (a struct of `size` bytes: pass `sizeof *params`) with the defaults.
/// Returns OK, or INVALID_ARG (NULL, or `size` smaller than this library's struct).
#[no_mangle]
pub unsafe extern "C" fn edge_session_params_default(
    params: *mut edge_session_params,
    size: usize,
) -> edge_status {
    status::status("edge_session_params_default", || {
        // SAFETY: the caller gives a struct of `size` writable bytes or NULL.
        unsafe { args::versioned_out(params, size, default_session_params(), "params") }
    })
}

/// Makes a session over `model` (allocating its KV cache and buffers, starting its threads) and
/// writes it to `*session_out`; free it with `edge_session_free`. `params` may be NULL.
/// Returns OK, INVALID_ARG (NULL argument, unknown kv_type or ISA, thread count out of range),
/// OUT_OF_MEMORY (the session does not fit in memory, or threads were refused), PANIC.
#[no_mangle]
pub unsafe extern "C" fn edge_session_new(
    model: *const edge_model,
    params: *const edge_session_params,
    session_out: *mut *mut edge_session,
) -> edge_status {
    status::status("edge_session_new", || {
        // SAFETY: the caller gives a live handle and a live struct, or NULL.
        let (model, params) = unsafe {
            (
                model_ref(model)?,
                args::versioned_in(params, default_session_params())?,
            )
        };
        if session_out.is_null() {
            return Err(Fail::invalid("session_out is NULL"));
        }
        let kv_type = match params.kv_type {
            EDGE_KV_F32 => KvType::F32,
            EDGE_KV_F16 => KvType::F16,
            other => {
                return Err(Fail::invalid(format!(
                    "kv_type {other} is unknown (EDGE_KV_F32 = 0, EDGE_KV_F16 = 1)"
                )))
            }
        };
        let isa = if params.isa.is_null() {
            None
        } else {
            // SAFETY: non-null; the caller gives a NUL-terminated string.
            Some(Isa::from_name(unsafe {
                args::text(params.isa, "params.isa")
            }?)?)
        };
        let session_params = SessionParams {
            n_ctx: params.n_ctx as usize,
            n_threads: params.n_threads as usize,
            kv_type,
            isa,
        };
        let generator =
            Generator::new(Arc::clone(model), session_params, GenerateParams::default())?;
        let plan = generator.session().memory_plan();
        if let Some(warning) = plan.context_warning() {
            log::message(edge_log_level::EDGE_LOG_WARN, &warning);
        }
        log::message(
            edge_log_level::EDGE_LOG_INFO,
            &format!("{:?}", generator.session()),
        );
        let handle = Box::new(edge_session {
            state: Mutex::new(SessionState {
                generator,
                abort: None,
                abort_user_data: std::ptr::null_mut(),
            }),
        });
        // SAFETY: checked non-null above; the caller gives a writable pointer.
        unsafe { session_out.write(Box::into_raw(handle)) };
        Ok(())
    })
}

/// Frees a session (its KV cache, buffers and threads) and its hold on the model. NULL does
/// nothing. Must not be called while another thread is inside a call on it.
#[no_mangle]
pub unsafe extern "C" fn edge_session_free(session: *mut edge_session) {
    boundary("edge_session_free", (), || {
        if !session.is_null() {
            // SAFETY: a pointer from `edge_session_new`, freed once and not in use (the
            // caller's contract).
            drop(unsafe { Box::from_raw(session) });
        }
    })
}

/// Sets the callback asked between tokens (and between batches of `edge_session_eval`) whether
/// to stop; NULL removes it. `user_data` is passed back to it. It runs on the thread that
/// called into the session.
/// Returns OK, INVALID_ARG (NULL session), BUSY, PANIC.
#[no_mangle]
pub unsafe extern "C" fn edge_session_set_abort_callback(
    session: *mut edge_session,
    callback: edge_abort_callback,
    user_data: *mut c_void,
) -> edge_status {
    status::status("edge_session_set_abort_callback", || {
        // SAFETY: the caller gives a live handle or NULL.
        let mut state = unsafe { enter(session) }?;
        state.abort = callback;
        state.abort_user_data = user_data;
        Ok(())
    })
}

/// Runs `n_tokens` tokens at the next positions of the session (batched: several tokens per
/// read of the weights); afterwards `edge_session_logits` gives the logits after the last one.
/// Every id and the room needed are checked before anything runs. The abort callback is asked
/// between batches: on ABORTED the batches already run stay in the cache
/// (`edge_session_n_past` says how many tokens it holds).
/// Returns OK, INVALID_ARG (NULL argument, no tokens, a token id >= n_vocab), CONTEXT_FULL
/// (n_past + n_tokens > n_ctx; nothing runs), ABORTED, BUSY, INTERNAL, PANIC.
#[no_mangle]
pub unsafe extern "C" fn edge_session_eval(
    session: *mut edge_session,
    tokens: *const edge_token,
    n_tokens: usize,
) -> edge_status {
    status::status("edge_session_eval", || {
        // SAFETY: the caller gives a live handle and `n_tokens` tokens, or NULL.
        let (mut state, tokens) =
            unsafe { (enter(session)?, args::slice(tokens, n_tokens, "tokens")?) };
        let session = state.generator.session();
        let n_vocab = session.model().n_vocab();
        if let Some(bad) = tokens.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(Fail::invalid(format!(
                "token id {bad} is out of range (n_vocab {n_vocab})"
            )));
        }
        let (n_past, n_ctx) = (session.pos(), session.n_ctx());
        if tokens.len() > n_ctx - n_past {
            return Err(Fail::new(
                edge_status::EDGE_CONTEXT_FULL,
                format!(
                    "{} tokens after the {n_past} in the cache do not fit in n_ctx {n_ctx}",
                    tokens.len()
                ),
            ));
        }
        if tokens.is_empty() {
            return Err(Fail::invalid("no tokens given (n_tokens is 0)"));
        }
        // One llama.cpp batch at a time: the K-quants' kernels depend on it (`LlamaBatch`).
        for batch in tokens.chunks(crate::kernels::LLAMA_UBATCH) {
            if state.should_abort() {
                return Err(Fail::new(
                    edge_status::EDGE_ABORTED,
                    "the abort callback stopped the evaluation",
                ));
            }
            state.generator.feed(batch)?;
        }
        Ok(())
    })
}

/// Copies the logits after the last evaluated token (n_vocab floats) into `logits` of
/// `capacity` floats; `*n_out` gets n_vocab (also with BUFFER_TOO_SMALL).
/// Returns OK, INVALID_ARG (NULL argument, nothing evaluated yet), BUFFER_TOO_SMALL, BUSY,
/// PANIC.
#[no_mangle]
pub unsafe extern "C" fn edge_session_logits(
    session: *mut edge_session,
    logits: *mut f32,
    capacity: usize,
    n_out: *mut usize,
) -> edge_status {
    status::status("edge_session_logits", || {
        // SAFETY: the caller gives a live handle or NULL.
        let state = unsafe { enter(session) }?;
        let session = state.generator.session();
        if session.pos() == 0 {
            return Err(Fail::invalid("no token evaluated yet: there are no logits"));
        }
        // SAFETY: the caller gives `capacity` writable floats and a count, or NULL.
        unsafe { args::array_out(session.logits(), logits, capacity, n_out) }
    })
}

/// Forgets every token in the session's cache (n_past becomes 0).
/// Returns OK, INVALID_ARG (NULL session), BUSY, PANIC.
#[no_mangle]
pub unsafe extern "C" fn edge_session_reset(session: *mut edge_session) -> edge_status {
    status::status("edge_session_reset", || {
        // SAFETY: the caller gives a live handle or NULL.
        unsafe { enter(session) }?.generator.clear_cache();
        Ok(())
    })
}

/// Keeps the first `n_tokens` tokens of the cache and forgets the rest (to edit the end of a
/// conversation); `n_tokens >= n_past` changes nothing. Evaluate at least one token before
/// asking for logits again.
/// Returns OK, INVALID_ARG (NULL session), BUSY, PANIC.
#[no_mangle]
pub unsafe extern "C" fn edge_session_truncate(
    session: *mut edge_session,
    n_tokens: usize,
) -> edge_status {
    status::status("edge_session_truncate", || {
        // SAFETY: the caller gives a live handle or NULL.
        unsafe { enter(session) }?
            .generator
            .truncate_cache(n_tokens);
        Ok(())
    })
}

/// The number of tokens the session's cache holds (the position of the next token); 0 when
/// `session` is NULL or busy.
#[no_mangle]
pub unsafe extern "C" fn edge_session_n_past(session: *mut edge_session) -> u32 {
    boundary("edge_session_n_past", 0, || {
        // SAFETY: the caller gives a live handle or NULL.
        unsafe { enter(session) }.map_or(0, |s| s.generator.session().pos() as u32)
    })
}

/// The session's context length in tokens; 0 when `session` is NULL or busy.
#[no_mangle]
pub unsafe extern "C" fn edge_session_n_ctx(session: *mut edge_session) -> u32 {
    boundary("edge_session_n_ctx", 0, || {
        // SAFETY: the caller gives a live handle or NULL.
        unsafe { enter(session) }.map_or(0, |s| s.generator.session().n_ctx() as u32)
    })
}

/// Runs the session's matrix products on `n_threads` threads from the next call on (0: every
/// core), the calling thread included; the old worker threads stop. The cache stays, and the
/// results do not change in a single bit: each output row is computed whole by one thread.
/// Returns OK, INVALID_ARG (NULL session, more threads than 4 per core or 1024), OUT_OF_MEMORY
/// (a thread could not start; the session keeps its old threads), BUSY, PANIC.
#[no_mangle]
pub unsafe extern "C" fn edge_session_set_threads(
    session: *mut edge_session,
    n_threads: u32,
) -> edge_status {
    status::status("edge_session_set_threads", || {
        // SAFETY: the caller gives a live handle or NULL.
        let mut state = unsafe { enter(session) }?;
        state.generator.set_threads(n_threads as usize)?;
        Ok(())
    })
}

/// The threads the session's matrix products run on, the calling thread included; 0 when
/// `session` is NULL or busy.
#[no_mangle]
pub unsafe extern "C" fn edge_session_n_threads(session: *mut edge_session) -> u32 {
    boundary("edge_session_n_threads", 0, || {
        // SAFETY: the caller gives a live handle or NULL.
        unsafe { enter(session) }.map_or(0, |s| s.generator.session().n_threads() as u32)
    })
}
