//! Ctrl-C as in llama.cpp. While a reply is being generated, Ctrl-C raises the generator's
//! abort flag: the reply stops at the next token (a chat returns to its prompt, a one-shot run
//! prints what it has and exits 130). Anywhere else (at a chat's prompt, while loading) it ends
//! the program with exit code 130, after the chat's timing summary. The `ctrlc` crate runs the
//! handler on a thread of its own, so it may lock and print.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Exit code after an interrupt (128 + SIGINT), as llama.cpp and shells use.
pub const EXIT_INTERRUPTED: u8 = 130;

/// What the handler needs to know and to do.
pub struct Interrupts {
    abort: Arc<AtomicBool>,
    generating: AtomicBool,
    /// Printed before exiting on an interrupt outside a reply (a chat's timing summary).
    on_exit: Mutex<Option<Box<dyn Fn() + Send>>>,
}

impl Interrupts {
    /// Installs the handler; `abort` is the generator's abort handle. A handler that cannot
    /// be installed is a warning: Ctrl-C then ends the program as it would by default.
    pub fn install(abort: Arc<AtomicBool>) -> Arc<Interrupts> {
        let interrupts = Arc::new(Interrupts {
            abort,
            generating: AtomicBool::new(false),
            on_exit: Mutex::new(None),
        });
        let handler = Arc::clone(&interrupts);
        if let Err(e) = ctrlc::set_handler(move || handler.interrupted()) {
            eprintln!("warning: cannot catch Ctrl-C ({e}); it will end the program at once");
        }
        interrupts
    }

    /// Marks the span in which Ctrl-C stops the reply instead of the program.
    pub fn set_generating(&self, generating: bool) {
        self.generating.store(generating, Ordering::SeqCst);
    }

    /// What to print before exiting on an interrupt outside a reply.
    pub fn on_exit(&self, print: impl Fn() + Send + 'static) {
        if let Ok(mut slot) = self.on_exit.lock() {
            *slot = Some(Box::new(print));
        }
    }

    fn interrupted(&self) {
        if self.generating.load(Ordering::SeqCst) {
            self.abort.store(true, Ordering::SeqCst);
            return;
        }
        eprintln!();
        if let Ok(slot) = self.on_exit.lock() {
            if let Some(print) = slot.as_ref() {
                print();
            }
        }
        std::process::exit(i32::from(EXIT_INTERRUPTED));
    }
}
