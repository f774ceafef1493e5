//! The model's tokenizer: text to token ids and back.

use std::ffi::c_char;

use super::args;
use super::model::{edge_model, model_ref};
use super::session::edge_token;
use super::status::{self, boundary, edge_status, Fail};

/// Token ids of `text` (UTF-8) into `tokens` of `capacity` ids; `*n_out` gets the count, or
/// the count needed with BUFFER_TOO_SMALL (pass `tokens` NULL and `capacity` 0 to ask).
/// `add_bos`: add BOS (and EOS) where the model's metadata asks for them
/// (`tokenizer.ggml.add_bos_token`, as llama.cpp does); `parse_special`: recognize special-token
/// text such as `<|im_start|>`.
/// Returns OK, INVALID_ARG (NULL or non-UTF-8 argument), BUFFER_TOO_SMALL, PANIC.
#[no_mangle]
pub unsafe extern "C" fn edge_tokenizer_tokenize(
    model: *const edge_model,
    text: *const c_char,
    add_bos: bool,
    parse_special: bool,
    tokens: *mut edge_token,
    capacity: usize,
    n_out: *mut usize,
) -> edge_status {
    status::status("edge_tokenizer_tokenize", || {
        // SAFETY: the caller gives a live handle and a NUL-terminated string, or NULL.
        let (model, text) = unsafe { (model_ref(model)?, args::text(text, "text")?) };
        let ids = model.tokenizer().encode(text, add_bos, parse_special);
        // SAFETY: the caller gives `capacity` writable ids and a count, or NULL.
        unsafe { args::array_out(&ids, tokens, capacity, n_out) }
    })
}

/// The bytes of `token` (NOT always valid UTF-8 on their own: a character may be split over
/// tokens), NUL-terminated into `buf` of `capacity` bytes; `*n_out` gets their count, or the
/// capacity needed (with the NUL) with BUFFER_TOO_SMALL. `render_special`: special tokens give
/// their text (otherwise nothing).
/// Returns OK, INVALID_ARG (NULL argument, token >= n_vocab), BUFFER_TOO_SMALL, PANIC.
#[no_mangle]
pub unsafe extern "C" fn edge_tokenizer_token_to_piece(
    model: *const edge_model,
    token: edge_token,
    render_special: bool,
    buf: *mut c_char,
    capacity: usize,
    n_out: *mut usize,
) -> edge_status {
    status::status("edge_tokenizer_token_to_piece", || {
        // SAFETY: the caller gives a live handle or NULL.
        let model = unsafe { model_ref(model) }?;
        let tokenizer = model.tokenizer();
        if token as usize >= tokenizer.n_vocab() {
            return Err(Fail::invalid(format!(
                "token id {token} is out of range (n_vocab {})",
                tokenizer.n_vocab()
            )));
        }
        let bytes = tokenizer.token_bytes(token, render_special);
        // SAFETY: the caller gives `capacity` writable bytes and a count, or NULL.
        unsafe { args::text_out(bytes, buf, capacity, n_out) }
    })
}

/// The beginning-of-sequence token, or -1 if the model has none or `model` is NULL.
#[no_mangle]
pub unsafe extern "C" fn edge_tokenizer_bos(model: *const edge_model) -> i64 {
    boundary("edge_tokenizer_bos", -1, || {
        // SAFETY: the caller gives a live handle or NULL.
        let model = unsafe { model_ref(model) };
        model
            .ok()
            .and_then(|m| m.tokenizer().bos())
            .map_or(-1, i64::from)
    })
}

/// The end-of-sequence token, or -1 if the model has none or `model` is NULL.
#[no_mangle]
pub unsafe extern "C" fn edge_tokenizer_eos(model: *const edge_model) -> i64 {
    boundary("edge_tokenizer_eos", -1, || {
        // SAFETY: the caller gives a live handle or NULL.
        let model = unsafe { model_ref(model) };
        model
            .ok()
            .and_then(|m| m.tokenizer().eos())
            .map_or(-1, i64::from)
    })
}

/// Whether `token` ends a generation (EOS, end-of-turn, ...); false if `model` is NULL.
#[no_mangle]
pub unsafe extern "C" fn edge_tokenizer_is_eog(
    model: *const edge_model,
    token: edge_token,
) -> bool {
    boundary("edge_tokenizer_is_eog", false, || {
        // SAFETY: the caller gives a live handle or NULL.
        let model = unsafe { model_ref(model) };
        model.is_ok_and(|m| m.tokenizer().is_eog(token))
    })
}
