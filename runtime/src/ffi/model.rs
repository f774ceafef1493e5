//! Models: load, free, introspection.

use std::ffi::{c_char, c_void};
use std::path::Path;
use std::sync::Arc;

use super::args::{self, Versioned};
use super::log::{self, edge_log_level};
use super::status::{self, boundary, edge_status, Fail};
use crate::TextModel;

/// A loaded model file: weights (memory-mapped), tokenizer, chat template. Immutable: one model
/// may be used by any number of threads and sessions at once. Sessions keep it alive, so it
/// may be freed before them.
pub struct edge_model {
    pub(crate) inner: Arc<TextModel>,
}

/// Called during `edge_model_load` on the loading thread with the fraction of the load done:
/// 0.0 first, then after each piece of tensor data read (at most 8 MiB, in file order) the
/// bytes read so far over all the tensors' bytes, rising, and 1.0 last. Return true to go on,
/// false to stop the load (`edge_model_load` then returns EDGE_ABORTED).
pub type edge_progress_callback =
    Option<unsafe extern "C" fn(progress: f32, user_data: *mut c_void) -> bool>;

/// How to load a model. Fill it with `edge_model_params_default(&p, sizeof p)`, then change
/// fields.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct edge_model_params {
    /// sizeof(edge_model_params) as the caller's header has it (the default sets it).
    pub struct_size: u32,
    /// Optional (NULL: none): reports the load's progress and may stop it.
    pub progress_callback: edge_progress_callback,
    /// Passed to `progress_callback`.
    pub progress_user_data: *mut c_void,
}

impl Versioned for edge_model_params {
    const NAME: &'static str = "edge_model_params";
    fn set_struct_size(&mut self, size: u32) {
        self.struct_size = size;
    }
}

fn default_model_params() -> edge_model_params {
    edge_model_params {
        struct_size: std::mem::size_of::<edge_model_params>() as u32,
        progress_callback: None,
        progress_user_data: std::ptr::null_mut(),
    }
}

/// Fills `params` (a struct of `size` bytes: pass `sizeof *params`) with the defaults.
/// Returns OK, or INVALID_ARG (NULL, or `size` smaller than this library's struct).
#[no_mangle]
pub unsafe extern "C" fn edge_model_params_default(
    params: *mut edge_model_params,
    size: usize,
) -> edge_status {
    status::status("edge_model_params_default", || {
        // SAFETY: the caller gives a struct of `size` writable bytes or NULL.
        unsafe { args::versioned_out(params, size, default_model_params(), "params") }
    })
}

/// Loads the GGUF file at `path` (UTF-8) and writes the new model to `*model_out`; free it with
/// `edge_model_free`. `params` may be NULL (defaults). The file is memory-mapped and checked,
/// then every page of its tensor data is read once, so that the first token does not wait for
/// the disk; `params->progress_callback` follows that reading.
/// Returns OK, INVALID_ARG (NULL or non-UTF-8 argument), IO (cannot read the file), BAD_MODEL
/// (corrupt, or an architecture, tensor type or tokenizer edge does not run), OUT_OF_MEMORY,
/// ABORTED (the progress callback returned false; nothing is loaded), PANIC.
#[no_mangle]
pub unsafe extern "C" fn edge_model_load(
    path: *const c_char,
    params: *const edge_model_params,
    model_out: *mut *mut edge_model,
) -> edge_status {
    status::status("edge_model_load", || {
        // SAFETY: the caller gives NUL-terminated strings, live structs or NULL.
        let (path, params) = unsafe {
            (
                args::text(path, "path")?,
                args::versioned_in(params, default_model_params())?,
            )
        };
        if model_out.is_null() {
            return Err(Fail::invalid("model_out is NULL"));
        }
        let go_on = |fraction: f32| match params.progress_callback {
            // SAFETY: the caller's callback, called with its own user data as documented.
            Some(callback) => unsafe { callback(fraction, params.progress_user_data) },
            None => true,
        };
        let stopped = || {
            Fail::new(
                edge_status::EDGE_ABORTED,
                format!("the progress callback stopped the load of {path}"),
            )
        };
        if !go_on(0.0) {
            return Err(stopped());
        }
        let model = TextModel::open(Path::new(path))?;
        if !read_tensor_pages(model.model(), go_on) {
            return Err(stopped());
        }
        log::message(
            edge_log_level::EDGE_LOG_INFO,
            &format!("loaded {path}: {}", model.model().description()),
        );
        let handle = Box::new(edge_model {
            inner: Arc::new(model),
        });
        // SAFETY: checked non-null above; the caller gives a writable pointer.
        unsafe { model_out.write(Box::into_raw(handle)) };
        Ok(())
    })
}

/// The most tensor bytes read between two progress reports.
const PROGRESS_PIECE: usize = 8 << 20;

/// Reads one byte of every page of the tensors' data (in file order, so the disk reads ahead),
/// telling `go_on` the fraction read after each piece and 1.0 at the end; false as soon as
/// `go_on` returns false.
fn read_tensor_pages(model: &crate::Model, mut go_on: impl FnMut(f32) -> bool) -> bool {
    const PAGE: usize = 4096;
    let file = model.file();
    let mut tensors: Vec<_> = file.tensors().iter().collect();
    tensors.sort_by_key(|t| t.offset);
    let total: u64 = tensors.iter().map(|t| t.n_bytes).sum();
    let mut done = 0u64;
    let mut checksum = 0u8;
    for tensor in tensors {
        for piece in file.tensor_data(tensor).chunks(PROGRESS_PIECE) {
            checksum ^= piece.iter().step_by(PAGE).fold(0, |x, &b| x ^ b);
            done += piece.len() as u64;
            // Below 1.0 until the end: 1.0 is reported once, last.
            let fraction = (done as f64 / total as f64).min(0.999_999) as f32;
            if !go_on(fraction) {
                return false;
            }
        }
    }
    // The reads are the point: keep the compiler from dropping them.
    std::hint::black_box(checksum);
    go_on(1.0)
}

/// Frees a model from `edge_model_load`. Sessions made from it keep working (they hold the
/// model until they are freed). NULL does nothing.
#[no_mangle]
pub unsafe extern "C" fn edge_model_free(model: *mut edge_model) {
    boundary("edge_model_free", (), || {
        if !model.is_null() {
            // SAFETY: a pointer from `edge_model_load`, freed once (the caller's contract).
            drop(unsafe { Box::from_raw(model) });
        }
    })
}

/// `model` as a reference, or INVALID_ARG.
///
/// # Safety
/// `model` is NULL or a live handle from `edge_model_load`.
pub(crate) unsafe fn model_ref<'a>(
    model: *const edge_model,
) -> status::Outcome<&'a Arc<TextModel>> {
    // SAFETY: the caller's contract.
    Ok(&unsafe { args::reference(model, "model") }?.inner)
}

/// One number about the model; 0 when `model` is NULL.
fn number(model: *const edge_model, name: &str, get: impl FnOnce(&TextModel) -> u64) -> u64 {
    boundary(name, 0, || {
        // SAFETY: the caller gives a live handle or NULL.
        unsafe { model_ref(model) }.map_or(0, |m| get(m))
    })
}

/// The context length the model was trained for; 0 if `model` is NULL.
#[no_mangle]
pub unsafe extern "C" fn edge_model_n_ctx_train(model: *const edge_model) -> u32 {
    number(model, "edge_model_n_ctx_train", |m| {
        m.model().n_ctx_train() as u64
    }) as u32
}

/// The embedding width; 0 if `model` is NULL.
#[no_mangle]
pub unsafe extern "C" fn edge_model_n_embd(model: *const edge_model) -> u32 {
    number(model, "edge_model_n_embd", |m| m.model().n_embd() as u64) as u32
}

/// The number of layers; 0 if `model` is NULL.
#[no_mangle]
pub unsafe extern "C" fn edge_model_n_layer(model: *const edge_model) -> u32 {
    number(model, "edge_model_n_layer", |m| m.model().n_layer() as u64) as u32
}

/// The vocabulary size (logits per position); 0 if `model` is NULL.
#[no_mangle]
pub unsafe extern "C" fn edge_model_n_vocab(model: *const edge_model) -> u32 {
    number(model, "edge_model_n_vocab", |m| m.model().n_vocab() as u64) as u32
}

/// The size of the model file in bytes; 0 if `model` is NULL.
#[no_mangle]
pub unsafe extern "C" fn edge_model_size(model: *const edge_model) -> u64 {
    number(model, "edge_model_size", |m| m.model().size())
}

/// The metadata value under `key` as text (strings as they are, numbers and booleans printed,
/// arrays refused), NUL-terminated into `buf` of `capacity` bytes; `*n_out` gets its length, or
/// the capacity needed with BUFFER_TOO_SMALL (pass `buf` NULL and `capacity` 0 to ask).
/// Returns OK, INVALID_ARG (NULL or non-UTF-8 argument, no such key, an array value),
/// BUFFER_TOO_SMALL, PANIC.
#[no_mangle]
pub unsafe extern "C" fn edge_model_meta_str(
    model: *const edge_model,
    key: *const c_char,
    buf: *mut c_char,
    capacity: usize,
    n_out: *mut usize,
) -> edge_status {
    status::status("edge_model_meta_str", || {
        // SAFETY: the caller gives a live handle and a NUL-terminated key, or NULL.
        let (model, key) = unsafe { (model_ref(model)?, args::text(key, "key")?) };
        let value = model
            .model()
            .metadata()
            .get(key)
            .ok_or_else(|| Fail::invalid(format!("the model has no metadata key {key:?}")))?;
        let text = value_text(value)
            .ok_or_else(|| Fail::invalid(format!("metadata key {key:?} holds an array")))?;
        // SAFETY: the caller gives a buffer of `capacity` bytes and a count, or NULL.
        unsafe { args::text_out(text.as_bytes(), buf, capacity, n_out) }
    })
}

/// The model's chat template source (`tokenizer.chat_template`) into `buf`, by the rule of
/// `edge_model_meta_str`. Returns OK, INVALID_ARG (NULL argument, or the model has no
/// template), BUFFER_TOO_SMALL, PANIC.
#[no_mangle]
pub unsafe extern "C" fn edge_model_chat_template(
    model: *const edge_model,
    buf: *mut c_char,
    capacity: usize,
    n_out: *mut usize,
) -> edge_status {
    // SAFETY: forwarded with the caller's guarantees; the key is a static C string.
    unsafe {
        edge_model_meta_str(
            model,
            c"tokenizer.chat_template".as_ptr(),
            buf,
            capacity,
            n_out,
        )
    }
}

/// A scalar metadata value as text; None for an array.
fn value_text(value: &edge_formats::gguf::Value) -> Option<String> {
    use edge_formats::gguf::Value as V;
    Some(match value {
        V::String(s) => s.clone(),
        V::Bool(b) => b.to_string(),
        V::F32(x) => x.to_string(),
        V::F64(x) => x.to_string(),
        V::Array(..) => return None,
        other => other.as_i128()?.to_string(),
    })
}
