//! `edge_generate`: a whole turn (prompt in, text pieces out through a callback) on a session.

use std::ffi::{c_char, c_void};
use std::sync::atomic::Ordering;

use super::args::{self, Versioned};
use super::chat::{chat_messages, edge_chat_message};
use super::sampler::{default_sampler_params, edge_sampler_params, sampler_params};
use super::session::{edge_session, enter, SessionState};
use super::status::{self, edge_status, Fail, Outcome};
use crate::{GenerateParams, Prompt, StopReason};

/// Receives one piece of generated text: `len` bytes of complete UTF-8 at `piece` (followed by
/// a NUL; valid only during the call). Return true to go on, false to stop the turn.
pub type edge_piece_callback =
    Option<unsafe extern "C" fn(piece: *const c_char, len: usize, user_data: *mut c_void) -> bool>;

/// How a turn samples and stops. Fill it with `edge_generate_params_default(&p, sizeof p)`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct edge_generate_params {
    /// sizeof(edge_generate_params) as the caller's header has it (the default sets it).
    pub struct_size: u32,
    /// Tokens to generate at most; negative = until another rule stops the turn. Default 128.
    pub max_tokens: i32,
    /// Keep going after an end-of-generation token (then handed out as text).
    pub ignore_eos: bool,
    /// Hand out special tokens (e.g. `<|im_end|>`) as their text.
    pub render_special: bool,
    /// How tokens are picked; NULL = `edge_sampler_params_default` (temperature 0.8). Read only
    /// during the call.
    pub sampler: *const edge_sampler_params,
    /// `n_stop` strings (UTF-8, none empty): the turn ends before the first that appears in the
    /// text, which is not handed out. May be NULL when `n_stop` is 0.
    pub stop: *const *const c_char,
    /// The number of stop strings.
    pub n_stop: usize,
}

impl Versioned for edge_generate_params {
    const NAME: &'static str = "edge_generate_params";
    fn set_struct_size(&mut self, size: u32) {
        self.struct_size = size;
    }
}

fn default_generate_params() -> edge_generate_params {
    edge_generate_params {
        struct_size: std::mem::size_of::<edge_generate_params>() as u32,
        max_tokens: GenerateParams::default().max_tokens as i32,
        ignore_eos: false,
        render_special: false,
        sampler: std::ptr::null(),
        stop: std::ptr::null(),
        n_stop: 0,
    }
}

/// Why a turn ended.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum edge_stop_reason {
    /// The model produced an end-of-generation token (not handed out).
    EDGE_STOP_EOG = 0,
    /// `max_tokens` were generated.
    EDGE_STOP_BUDGET = 1,
    /// A stop string appeared (`stop_index` says which).
    EDGE_STOP_STRING = 2,
    /// The piece callback returned false or the abort callback returned true.
    EDGE_STOP_ABORTED = 3,
    /// The context has no room for the next token.
    EDGE_STOP_CONTEXT_FULL = 4,
}

/// How a turn went. Set `struct_size` to `sizeof(edge_generate_result)` before the call.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct edge_generate_result {
    /// sizeof(edge_generate_result) as the caller's header has it: set it before the call.
    pub struct_size: u32,
    /// What ended the turn.
    pub stop_reason: edge_stop_reason,
    /// With EDGE_STOP_STRING: the index of the stop string in `edge_generate_params.stop`.
    pub stop_index: u32,
    /// Prompt tokens evaluated in this turn.
    pub prompt_tokens: u32,
    /// Prompt tokens found in the session's cache (an earlier turn) and not evaluated again.
    pub reused_tokens: u32,
    /// Tokens generated (an end-of-generation token that ended the turn is not counted).
    pub generated_tokens: u32,
    /// Milliseconds spent on the prompt.
    pub prompt_ms: f64,
    /// Milliseconds from the end of the prompt to the end of the turn (callbacks included).
    pub generate_ms: f64,
}

impl Versioned for edge_generate_result {
    const NAME: &'static str = "edge_generate_result";
    fn set_struct_size(&mut self, size: u32) {
        self.struct_size = size;
    }
}

/// Fills `params` (a struct of `size` bytes: pass `sizeof *params`) with the defaults.
/// Returns OK, or INVALID_ARG (NULL, or `size` smaller than this library's struct).
#[no_mangle]
pub unsafe extern "C" fn edge_generate_params_default(
    params: *mut edge_generate_params,
    size: usize,
) -> edge_status {
    status::status("edge_generate_params_default", || {
        // SAFETY: the caller gives a struct of `size` writable bytes or NULL.
        unsafe { args::versioned_out(params, size, default_generate_params(), "params") }
    })
}

/// One turn on `session`: tokenizes `prompt` (UTF-8; BOS as the model wants, special-token text
/// recognized), evaluates what the session's cache does not already hold (a prompt that starts
/// with the previous turns reuses them), then generates, handing each complete UTF-8 piece to
/// `on_piece` (may be NULL) until a stop rule ends the turn. The session's abort callback is
/// asked before each piece. `params` may be NULL (defaults); `result` may be NULL, or a struct
/// whose `struct_size` the caller set.
/// Returns OK (the stop reason is in `result`), INVALID_ARG (NULL or non-UTF-8 argument, an
/// empty prompt or stop string, a NaN sampler parameter), CONTEXT_FULL (the prompt does not
/// fit), BUSY, OUT_OF_MEMORY, INTERNAL, PANIC.
#[no_mangle]
pub unsafe extern "C" fn edge_generate(
    session: *mut edge_session,
    prompt: *const c_char,
    params: *const edge_generate_params,
    on_piece: edge_piece_callback,
    user_data: *mut c_void,
    result: *mut edge_generate_result,
) -> edge_status {
    status::status("edge_generate", || {
        // SAFETY: the caller gives a NUL-terminated string or NULL.
        let prompt = unsafe { args::text(prompt, "prompt") }?;
        // SAFETY: the caller gives live handles and structs, or NULL.
        unsafe {
            run_turn(
                session,
                Prompt::Text(prompt),
                params,
                on_piece,
                user_data,
                result,
            )
        }
    })
}

/// As `edge_generate`, the prompt being `messages` rendered by the model's chat template with
/// the assistant's header appended. For a conversation, pass every message so far (the
/// assistant's replies included) each turn: the cache keeps what the previous turns evaluated.
/// Returns the statuses of `edge_generate`, and BAD_MODEL when the model has no usable chat
/// template.
#[no_mangle]
pub unsafe extern "C" fn edge_generate_chat(
    session: *mut edge_session,
    messages: *const edge_chat_message,
    n_messages: usize,
    params: *const edge_generate_params,
    on_piece: edge_piece_callback,
    user_data: *mut c_void,
    result: *mut edge_generate_result,
) -> edge_status {
    status::status("edge_generate_chat", || {
        // SAFETY: the caller gives `n_messages` live messages or NULL.
        let messages = unsafe { chat_messages(messages, n_messages) }?;
        // SAFETY: the caller gives live handles and structs, or NULL.
        unsafe {
            run_turn(
                session,
                Prompt::Chat(&messages),
                params,
                on_piece,
                user_data,
                result,
            )
        }
    })
}

/// The Rust generation parameters of the caller's struct.
///
/// # Safety
/// The struct's pointers are NULL or live as documented.
unsafe fn generate_params(p: &edge_generate_params) -> Outcome<GenerateParams> {
    // SAFETY: the caller's contract.
    let sampler = unsafe { args::versioned_in(p.sampler, default_sampler_params()) }?;
    // SAFETY: the caller's contract: `n_stop` string pointers.
    let stop_ptrs = unsafe { args::slice(p.stop, p.n_stop, "params.stop") }?;
    let stop = stop_ptrs
        .iter()
        .enumerate()
        // SAFETY: the caller's contract: NUL-terminated strings.
        .map(|(i, &s)| unsafe { args::text(s, &format!("params.stop[{i}]")) }.map(str::to_string))
        .collect::<Outcome<Vec<_>>>()?;
    Ok(GenerateParams {
        max_tokens: usize::try_from(p.max_tokens).unwrap_or(usize::MAX),
        ignore_eos: p.ignore_eos,
        render_special: p.render_special,
        stop,
        sampler: sampler_params(&sampler)?,
    })
}

/// The turn behind `edge_generate` and `edge_generate_chat`.
///
/// # Safety
/// As `edge_generate`.
unsafe fn run_turn(
    session: *mut edge_session,
    prompt: Prompt<'_>,
    params: *const edge_generate_params,
    on_piece: edge_piece_callback,
    user_data: *mut c_void,
    result: *mut edge_generate_result,
) -> Outcome {
    // SAFETY: the caller's contract.
    let (mut guard, params) = unsafe {
        (
            enter(session)?,
            args::versioned_in(params, default_generate_params())?,
        )
    };
    // SAFETY: the caller's contract.
    let params = unsafe { generate_params(&params) }?;
    let state: &mut SessionState = &mut guard;
    state.generator.set_params(params)?;
    state.generator.start(prompt)?;
    let abort = state.generator.abort_handle();
    let mut stopped = false;
    let mut piece_buf: Vec<u8> = Vec::with_capacity(64);
    loop {
        if !stopped && state.should_abort() {
            abort.store(true, Ordering::Relaxed);
            stopped = true;
        }
        let Some(piece) = state.generator.next_piece()? else {
            break;
        };
        // After a stop request, the text the generator still releases is not handed out.
        if stopped {
            continue;
        }
        let Some(callback) = on_piece else {
            continue;
        };
        piece_buf.clear();
        piece_buf.extend_from_slice(piece.as_bytes());
        piece_buf.push(0);
        // SAFETY: the caller's callback with its own user data; the piece outlives the call.
        let go_on = unsafe { callback(piece_buf.as_ptr().cast(), piece.len(), user_data) };
        if !go_on {
            abort.store(true, Ordering::Relaxed);
            stopped = true;
        }
    }
    let outcome = state
        .generator
        .outcome()
        .ok_or_else(|| Fail::new(edge_status::EDGE_INTERNAL, "the turn did not end"))?;
    let (stop_reason, stop_index) = match outcome.stop {
        StopReason::EndOfGeneration => (edge_stop_reason::EDGE_STOP_EOG, 0),
        StopReason::Budget => (edge_stop_reason::EDGE_STOP_BUDGET, 0),
        StopReason::StopString { index } => (edge_stop_reason::EDGE_STOP_STRING, index as u32),
        StopReason::Aborted => (edge_stop_reason::EDGE_STOP_ABORTED, 0),
        StopReason::ContextFull => (edge_stop_reason::EDGE_STOP_CONTEXT_FULL, 0),
    };
    let report = edge_generate_result {
        struct_size: 0,
        stop_reason,
        stop_index,
        prompt_tokens: outcome.prompt_tokens as u32,
        reused_tokens: outcome.reused_tokens as u32,
        generated_tokens: outcome.generated_tokens as u32,
        prompt_ms: outcome.prompt_time.as_secs_f64() * 1e3,
        generate_ms: outcome.generate_time.as_secs_f64() * 1e3,
    };
    // SAFETY: the caller's contract.
    unsafe { args::versioned_result(result, report) }
}
