//! Chat messages through the model's chat template.

use std::ffi::c_char;

use super::args;
use super::model::{edge_model, model_ref};
use super::status::{self, edge_status, Outcome};
use crate::ChatMessage;

/// One message of a conversation: both strings NUL-terminated UTF-8, read only during the call.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct edge_chat_message {
    /// "system", "user" or "assistant" (what the template knows).
    pub role: *const c_char,
    /// The message's text.
    pub content: *const c_char,
}

/// The caller's messages as Rust messages; INVALID_ARG naming the first NULL or non-UTF-8 one.
///
/// # Safety
/// `messages` is NULL or points to `n_messages` live messages with NUL-terminated strings.
pub(crate) unsafe fn chat_messages(
    messages: *const edge_chat_message,
    n_messages: usize,
) -> Outcome<Vec<ChatMessage>> {
    // SAFETY: the caller's contract.
    let messages = unsafe { args::slice(messages, n_messages, "messages") }?;
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            // SAFETY: the caller's contract: NUL-terminated strings or NULL.
            let (role, content) = unsafe {
                (
                    args::text(m.role, &format!("messages[{i}].role"))?,
                    args::text(m.content, &format!("messages[{i}].content"))?,
                )
            };
            Ok(ChatMessage::new(role, content))
        })
        .collect()
}

/// Renders `messages` with the model's chat template (`add_assistant`: append the header
/// that starts the assistant's reply) into `buf` of `capacity` bytes, NUL-terminated; `*n_out`
/// gets the text's length, or the capacity needed (with the NUL) with BUFFER_TOO_SMALL (pass
/// `buf` NULL and `capacity` 0 to ask).
/// Returns OK, INVALID_ARG (NULL or non-UTF-8 argument), BAD_MODEL (no template, or it fails on
/// these messages), BUFFER_TOO_SMALL, PANIC.
#[no_mangle]
pub unsafe extern "C" fn edge_chat_apply_template(
    model: *const edge_model,
    messages: *const edge_chat_message,
    n_messages: usize,
    add_assistant: bool,
    buf: *mut c_char,
    capacity: usize,
    n_out: *mut usize,
) -> edge_status {
    status::status("edge_chat_apply_template", || {
        // SAFETY: the caller gives a live handle and `n_messages` messages, or NULL.
        let (model, messages) =
            unsafe { (model_ref(model)?, chat_messages(messages, n_messages)?) };
        let text = model.chat_template()?.render(&messages, add_assistant)?;
        // SAFETY: the caller gives `capacity` writable bytes and a count, or NULL.
        unsafe { args::text_out(text.as_bytes(), buf, capacity, n_out) }
    })
}
