//! Samplers: pick the next token from a session's logits.

use std::sync::{Mutex, TryLockError};

use super::args::{self, Versioned};
use super::model::{edge_model, model_ref};
use super::session::{self as ffi_session, edge_session, edge_token};
use super::status::{self, boundary, edge_status, Fail, Outcome};
use crate::{Sampler, SamplerParams};

/// How to pick tokens. Fill it with `edge_sampler_params_default(&p, sizeof p)` (llama.cpp's
/// defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, no repetition penalty), then
/// change fields; temperature 0 is greedy.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct edge_sampler_params {
    /// sizeof(edge_sampler_params) as the caller's header has it (the default sets it).
    pub struct_size: u32,
    /// Temperature; <= 0 is greedy (the most likely token, nothing else applies).
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 = off.
    pub top_k: u32,
    /// Keep the most likely tokens up to this probability mass; >= 1 = off.
    pub top_p: f32,
    /// Drop tokens less likely than this fraction of the most likely one; <= 0 = off.
    pub min_p: f32,
    /// Divide (or multiply, when negative) the logits of recent tokens by this; 1 = off.
    pub repeat_penalty: f32,
    /// How many of the last accepted tokens the penalty looks at; 0 = off.
    pub repeat_last_n: u32,
    /// Seed of the random stream: the same seed, logits and accepted tokens give the same
    /// tokens.
    pub seed: u64,
}

impl Versioned for edge_sampler_params {
    const NAME: &'static str = "edge_sampler_params";
    fn set_struct_size(&mut self, size: u32) {
        self.struct_size = size;
    }
}

pub(crate) fn default_sampler_params() -> edge_sampler_params {
    let d = SamplerParams::default();
    edge_sampler_params {
        struct_size: std::mem::size_of::<edge_sampler_params>() as u32,
        temperature: d.temp,
        top_k: d.top_k as u32,
        top_p: d.top_p,
        min_p: d.min_p,
        repeat_penalty: d.repeat_penalty,
        repeat_last_n: d.repeat_last_n as u32,
        seed: d.seed,
    }
}

/// The Rust parameters of `p`; INVALID_ARG for a NaN.
pub(crate) fn sampler_params(p: &edge_sampler_params) -> Outcome<SamplerParams> {
    let floats = [
        ("temperature", p.temperature),
        ("top_p", p.top_p),
        ("min_p", p.min_p),
        ("repeat_penalty", p.repeat_penalty),
    ];
    if let Some((name, _)) = floats.iter().find(|(_, x)| x.is_nan()) {
        return Err(Fail::invalid(format!("sampler parameter {name} is NaN")));
    }
    Ok(SamplerParams {
        temp: p.temperature,
        top_k: p.top_k as usize,
        top_p: p.top_p,
        min_p: p.min_p,
        repeat_penalty: p.repeat_penalty,
        repeat_last_n: p.repeat_last_n as usize,
        seed: p.seed,
    })
}

/// A sampler with its scratch (allocated once) and its history of accepted tokens. Used by one
/// thread at a time (BUSY otherwise).
pub struct edge_sampler {
    inner: Mutex<Sampler>,
}

/// Fills `params` (a struct of `size` bytes: pass `sizeof *params`) with the defaults.
/// Returns OK, or INVALID_ARG (NULL, or `size` smaller than this library's struct).
#[no_mangle]
pub unsafe extern "C" fn edge_sampler_params_default(
    params: *mut edge_sampler_params,
    size: usize,
) -> edge_status {
    status::status("edge_sampler_params_default", || {
        // SAFETY: the caller gives a struct of `size` writable bytes or NULL.
        unsafe { args::versioned_out(params, size, default_sampler_params(), "params") }
    })
}

/// Makes a sampler for `model`'s vocabulary and writes it to `*sampler_out`; free it with
/// `edge_sampler_free`. `params` may be NULL (defaults). It does not keep the model.
/// Returns OK, INVALID_ARG (NULL argument, a NaN parameter), OUT_OF_MEMORY, PANIC.
#[no_mangle]
pub unsafe extern "C" fn edge_sampler_new(
    model: *const edge_model,
    params: *const edge_sampler_params,
    sampler_out: *mut *mut edge_sampler,
) -> edge_status {
    status::status("edge_sampler_new", || {
        // SAFETY: the caller gives a live handle and a live struct, or NULL.
        let (model, params) = unsafe {
            (
                model_ref(model)?,
                args::versioned_in(params, default_sampler_params())?,
            )
        };
        if sampler_out.is_null() {
            return Err(Fail::invalid("sampler_out is NULL"));
        }
        let params = sampler_params(&params)?;
        let n_vocab = model.model().n_vocab();
        // No session to clamp the penalty window to: the sampler's own limit does.
        let window = params.repeat_last_n.min(Sampler::MAX_REPEAT_LAST_N);
        let sampler = Sampler::for_context(params, n_vocab, window)?;
        let handle = Box::new(edge_sampler {
            inner: Mutex::new(sampler),
        });
        // SAFETY: checked non-null above; the caller gives a writable pointer.
        unsafe { sampler_out.write(Box::into_raw(handle)) };
        Ok(())
    })
}

/// Frees a sampler. NULL does nothing.
#[no_mangle]
pub unsafe extern "C" fn edge_sampler_free(sampler: *mut edge_sampler) {
    boundary("edge_sampler_free", (), || {
        if !sampler.is_null() {
            // SAFETY: a pointer from `edge_sampler_new`, freed once (the caller's contract).
            drop(unsafe { Box::from_raw(sampler) });
        }
    })
}

/// Runs `body` on the locked sampler: BUSY if another thread is in it.
///
/// # Safety
/// `sampler` is NULL or a live handle.
unsafe fn with_sampler(
    sampler: *mut edge_sampler,
    body: impl FnOnce(&mut Sampler) -> Outcome,
) -> Outcome {
    // SAFETY: the caller's contract.
    let sampler = unsafe { args::reference(sampler, "sampler") }?;
    let mut guard = match sampler.inner.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::WouldBlock) => {
            return Err(Fail::new(
                edge_status::EDGE_BUSY,
                "the sampler is in use by another call",
            ))
        }
        // A sampler holds no invariant a panic can break: keep using it.
        Err(TryLockError::Poisoned(e)) => e.into_inner(),
    };
    body(&mut guard)
}

/// Picks the next token from `session`'s logits into `*token_out`. It does not accept it: call
/// `edge_sampler_accept` with the token kept (and evaluate it in the session).
/// Returns OK, INVALID_ARG (NULL argument, the session has no logits yet), BUSY, PANIC.
#[no_mangle]
pub unsafe extern "C" fn edge_sampler_sample(
    sampler: *mut edge_sampler,
    session: *mut edge_session,
    token_out: *mut edge_token,
) -> edge_status {
    status::status("edge_sampler_sample", || {
        // SAFETY: the caller gives live handles or NULL.
        let state = unsafe { ffi_session::enter(session) }?;
        let session = state.generator.session();
        if session.pos() == 0 {
            return Err(Fail::invalid(
                "the session has evaluated no token: no logits",
            ));
        }
        // SAFETY: the caller gives a live handle or NULL.
        unsafe {
            with_sampler(sampler, |s| {
                let token = s.sample(session.logits());
                args::write(token_out, token, "token_out")
            })
        }
    })
}

/// Records `token` as emitted (for the repetition penalty).
/// Returns OK, INVALID_ARG (NULL sampler), BUSY, PANIC.
#[no_mangle]
pub unsafe extern "C" fn edge_sampler_accept(
    sampler: *mut edge_sampler,
    token: edge_token,
) -> edge_status {
    status::status("edge_sampler_accept", || {
        // SAFETY: the caller gives a live handle or NULL.
        unsafe {
            with_sampler(sampler, |s| {
                s.accept(token);
                Ok(())
            })
        }
    })
}

/// Forgets the accepted tokens and restarts the random stream from the seed.
/// Returns OK, INVALID_ARG (NULL sampler), BUSY, PANIC.
#[no_mangle]
pub unsafe extern "C" fn edge_sampler_reset(sampler: *mut edge_sampler) -> edge_status {
    status::status("edge_sampler_reset", || {
        // SAFETY: the caller gives a live handle or NULL.
        unsafe {
            with_sampler(sampler, |s| {
                s.reset();
                Ok(())
            })
        }
    })
}
