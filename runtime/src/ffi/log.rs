//! The process-wide log callback: edge prints nothing; what it would say goes here, if set.

use std::ffi::{c_char, c_void, CString};
use std::sync::Mutex;

use super::status::boundary;

/// How much a log message matters.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum edge_log_level {
    /// Something failed.
    EDGE_LOG_ERROR = 0,
    /// Works, but maybe not as the caller meant (a context above the training length, ...).
    EDGE_LOG_WARN = 1,
    /// What was loaded or allocated.
    EDGE_LOG_INFO = 2,
}

/// Receives one log message (NUL-terminated UTF-8, no trailing newline, valid only during the
/// call). May be called from any thread that calls into edge.
pub type edge_log_callback = Option<
    unsafe extern "C" fn(level: edge_log_level, message: *const c_char, user_data: *mut c_void),
>;

/// The callback and its user data (kept as an address: it is only handed back to the caller).
static LOG: Mutex<
    Option<(
        unsafe extern "C" fn(edge_log_level, *const c_char, *mut c_void),
        usize,
    )>,
> = Mutex::new(None);

/// Sends `message` to the log callback, if one is set.
pub(crate) fn message(level: edge_log_level, message: &str) {
    let Some((callback, user_data)) = *LOG.lock().unwrap_or_else(|e| e.into_inner()) else {
        return;
    };
    let text = CString::new(message.replace('\0', "\u{FFFD}")).unwrap_or_default();
    // SAFETY: the caller's callback with its own user data, as `edge_log_set` documents; the
    // string outlives the call.
    unsafe { callback(level, text.as_ptr(), user_data as *mut c_void) };
}

/// Sets the log callback for the whole process (every model and session, every thread); NULL
/// turns logging off, which is the default: edge never writes to stdout or stderr.
/// `user_data` is passed back to each call. Safe to call from any thread at any time; a call
/// into edge already under way on another thread may still log once to the old callback.
#[no_mangle]
pub extern "C" fn edge_log_set(callback: edge_log_callback, user_data: *mut c_void) {
    boundary("edge_log_set", (), || {
        *LOG.lock().unwrap_or_else(|e| e.into_inner()) =
            callback.map(|cb| (cb, user_data as usize));
    })
}
