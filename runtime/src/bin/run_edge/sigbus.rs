//! run-edge's SIGBUS report. A mapped model file (`--mmap`, the default off x86-64 Linux)
//! truncated (or rewritten) while run-edge reads it raises SIGBUS at the next read of a lost
//! page, which would end the process without a word (a resident file is a copy: no SIGBUS).
//! The binary installs this handler; the library never does: signals belong to the program (a
//! C host embedding libedge keeps its own).

/// The one line the handler writes, as is: no allocation and no formatting in a handler.
const MESSAGE: &[u8] = b"error: the model file was truncated or replaced while it was mapped \
(SIGBUS); its weights can no longer be read\n";

/// Exit code after SIGBUS: an error like the others (1), not a signal death.
const EXIT_CODE: libc::c_int = 1;

extern "C" fn on_sigbus(_signal: libc::c_int) {
    // SAFETY: write(2) and _exit(2) are async-signal-safe; MESSAGE is a static buffer whose
    // length is passed with it.
    unsafe {
        libc::write(libc::STDERR_FILENO, MESSAGE.as_ptr().cast(), MESSAGE.len());
        libc::_exit(EXIT_CODE);
    }
}

/// Turns a SIGBUS (the model truncated while mapped) into one `error:` line and exit code 1.
pub fn report_sigbus() {
    let handler: extern "C" fn(libc::c_int) = on_sigbus;
    // SAFETY: an all-zero sigaction is a valid value (no flags, empty mask, filled below); the
    // handler calls only async-signal-safe functions and never returns.
    let installed = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut())
    };
    if installed != 0 {
        eprintln!("warning: cannot catch SIGBUS; a model truncated while running would end run-edge silently");
    }
}
