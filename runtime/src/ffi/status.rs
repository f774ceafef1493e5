//! Status codes, the per-thread last error, and the panic boundary every entry point runs in.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use crate::{Error, ErrorKind};

/// What a call did: `EDGE_OK` (0) or a negative error. The message of an error is in
/// `edge_last_error()` on the same thread.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum edge_status {
    /// Success.
    EDGE_OK = 0,
    /// A null pointer, invalid UTF-8, or a value out of range.
    EDGE_INVALID_ARG = -1,
    /// A file could not be read.
    EDGE_IO = -2,
    /// The model file is corrupt or of a kind edge does not run.
    EDGE_BAD_MODEL = -3,
    /// Memory or threads were refused, or the session would not fit in memory.
    EDGE_OUT_OF_MEMORY = -4,
    /// The tokens do not fit in the session's context.
    EDGE_CONTEXT_FULL = -5,
    /// The caller's buffer is too small; the count out-parameter holds the size needed.
    EDGE_BUFFER_TOO_SMALL = -6,
    /// The caller stopped the call: the abort callback (eval) or the progress callback (load).
    EDGE_ABORTED = -7,
    /// The handle is in use by another thread at this moment.
    EDGE_BUSY = -8,
    /// A bug: Rust code panicked; the handle it was working on should be freed.
    EDGE_PANIC = -9,
    /// A bug in edge that is not a panic (a worker thread failed, ...).
    EDGE_INTERNAL = -10,
}

use edge_status::*;

impl edge_status {
    /// The status of a runtime error.
    fn of_kind(kind: ErrorKind) -> edge_status {
        match kind {
            ErrorKind::InvalidArgument => EDGE_INVALID_ARG,
            ErrorKind::Io => EDGE_IO,
            ErrorKind::BadModel => EDGE_BAD_MODEL,
            ErrorKind::OutOfMemory => EDGE_OUT_OF_MEMORY,
            ErrorKind::ContextFull => EDGE_CONTEXT_FULL,
            ErrorKind::Aborted => EDGE_ABORTED,
            ErrorKind::Internal => EDGE_INTERNAL,
        }
    }

    /// The status's name as a NUL-terminated string.
    fn name(self) -> &'static CStr {
        match self {
            EDGE_OK => c"EDGE_OK",
            EDGE_INVALID_ARG => c"EDGE_INVALID_ARG",
            EDGE_IO => c"EDGE_IO",
            EDGE_BAD_MODEL => c"EDGE_BAD_MODEL",
            EDGE_OUT_OF_MEMORY => c"EDGE_OUT_OF_MEMORY",
            EDGE_CONTEXT_FULL => c"EDGE_CONTEXT_FULL",
            EDGE_BUFFER_TOO_SMALL => c"EDGE_BUFFER_TOO_SMALL",
            EDGE_ABORTED => c"EDGE_ABORTED",
            EDGE_BUSY => c"EDGE_BUSY",
            EDGE_PANIC => c"EDGE_PANIC",
            EDGE_INTERNAL => c"EDGE_INTERNAL",
        }
    }
}

/// A failed call: its status and the message `edge_last_error` gives.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) status: edge_status,
    pub(crate) message: String,
}

impl Fail {
    pub(crate) fn new(status: edge_status, message: impl Into<String>) -> Fail {
        Fail {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Fail {
        Fail::new(EDGE_INVALID_ARG, message)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::new(edge_status::of_kind(e.kind()), e.to_string())
    }
}

/// The result of an entry point's body.
pub(crate) type Outcome<T = ()> = Result<T, Fail>;

thread_local! {
    /// The message of the last failed call on this thread.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
    /// The message of a panic caught on this thread (the hook fills it, the boundary takes it).
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Inside an entry point: a panic here is reported through the status, not on stderr.
    static IN_BOUNDARY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Armed by the test hook [`edge_test_panic_next_call`]: the next status-returning call on
    /// this thread panics inside its boundary.
    static PANIC_NEXT_CALL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Test hook, not part of the API (cbindgen.toml leaves it out of edge.h; runtime/tests/c
/// declares it): the next call on this thread that returns an `edge_status` panics inside Rust,
/// before touching its arguments, so a C test can check the panic boundary.
#[doc(hidden)]
#[no_mangle]
pub extern "C" fn edge_test_panic_next_call() {
    PANIC_NEXT_CALL.with(|armed| armed.set(true));
}

fn set_last_error(message: &str) {
    // An interior NUL would cut the C string: show it as the replacement character.
    let text = CString::new(message.replace('\0', "\u{FFFD}")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
}

/// Keeps panics inside an entry point off stderr (the host did not ask for output) and records
/// their message for `edge_last_error`; panics elsewhere go to the hook that was there before.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_BOUNDARY.with(|b| b.get()) {
                let payload = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".to_string());
                let place = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                PANIC_MESSAGE.with(|m| *m.borrow_mut() = Some(format!("{payload}{place}")));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `body` with panics caught: a panic gives `on_panic` and a PANIC message in
/// `edge_last_error`. Every entry point's body goes through here (directly or via [`status`]).
pub(crate) fn boundary<T>(function: &str, on_panic: T, body: impl FnOnce() -> T) -> T {
    install_panic_hook();
    let outer = IN_BOUNDARY.with(|b| b.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(body));
    IN_BOUNDARY.with(|b| b.set(outer));
    result.unwrap_or_else(|_| {
        let message = PANIC_MESSAGE
            .with(|m| m.borrow_mut().take())
            .unwrap_or_else(|| "unknown panic".to_string());
        set_last_error(&format!(
            "{function}: internal error (panic): {message}; free the handle it used"
        ));
        on_panic
    })
}

/// An entry point that returns a status: `body`'s error becomes the status and the thread's
/// last error (prefixed with the function name); a panic becomes `EDGE_PANIC`.
pub(crate) fn status(function: &str, body: impl FnOnce() -> Outcome) -> edge_status {
    boundary(function, EDGE_PANIC, || {
        if PANIC_NEXT_CALL.with(|armed| armed.replace(false)) {
            panic!("forced by the test hook edge_test_panic_next_call");
        }
        finish(function, body())
    })
}

/// A body's outcome as a status, its error kept for `edge_last_error` and the log.
fn finish(function: &str, outcome: Outcome) -> edge_status {
    match outcome {
        Ok(()) => EDGE_OK,
        Err(fail) => {
            let message = format!("{function}: {}", fail.message);
            super::log::message(super::log::edge_log_level::EDGE_LOG_ERROR, &message);
            set_last_error(&message);
            fail.status
        }
    }
}

/// The name of `status` ("EDGE_OK", "EDGE_INVALID_ARG", ...) or "EDGE_UNKNOWN_STATUS"; a
/// static string, never NULL.
#[no_mangle]
pub extern "C" fn edge_status_str(status: i32) -> *const c_char {
    boundary("edge_status_str", c"EDGE_PANIC".as_ptr(), || {
        let all = [
            EDGE_OK,
            EDGE_INVALID_ARG,
            EDGE_IO,
            EDGE_BAD_MODEL,
            EDGE_OUT_OF_MEMORY,
            EDGE_CONTEXT_FULL,
            EDGE_BUFFER_TOO_SMALL,
            EDGE_ABORTED,
            EDGE_BUSY,
            EDGE_PANIC,
            EDGE_INTERNAL,
        ];
        all.iter()
            .find(|s| **s as i32 == status)
            .map_or(c"EDGE_UNKNOWN_STATUS", |s| s.name())
            .as_ptr()
    })
}

/// The message of the last call that failed on the calling thread ("" if none has). The
/// string belongs to edge and stays valid until the next failing call on this thread; copy it
/// to keep it. Never NULL.
#[no_mangle]
pub extern "C" fn edge_last_error() -> *const c_char {
    boundary("edge_last_error", c"".as_ptr(), || {
        // The CString's buffer lives in the thread-local until the next `set_last_error`.
        LAST_ERROR.with(|e| e.borrow().as_ptr())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_panic_status_and_a_message() {
        let s = status("edge_test", || panic!("forced"));
        assert_eq!(s, EDGE_PANIC);
        let message = LAST_ERROR.with(|e| e.borrow().to_string_lossy().into_owned());
        assert!(
            message.contains("edge_test") && message.contains("forced"),
            "{message}"
        );
    }

    #[test]
    fn an_error_becomes_its_status_and_names_the_function() {
        let s = status("edge_test", || Err(Fail::invalid("x is NULL")));
        assert_eq!(s, EDGE_INVALID_ARG);
        let message = LAST_ERROR.with(|e| e.borrow().to_string_lossy().into_owned());
        assert_eq!(message, "edge_test: x is NULL");
    }
}
