//! The runtime's one error type. Messages name the file, key, tensor or value at fault;
//! [`Error::kind`] sorts them into the few classes a caller (or a C status) acts on.

use std::path::PathBuf;

/// Everything that can go wrong in the runtime. The message (`Display`) names the file, key,
/// tensor or value at fault; [`Error::kind`] gives its class.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The GGUF file could not be read or is malformed (from `edge-formats`).
    #[error(transparent)]
    Format(#[from] edge_formats::Error),
    /// The model's hyperparameter keys are missing, mistyped or inconsistent: every problem
    /// found, "; "-separated, each naming its key.
    #[error("{}: metadata: {problems}", path.display())]
    BadConfig {
        /// The model file.
        path: PathBuf,
        /// The problems, each naming its key.
        problems: String,
    },
    /// Weight tensors missing, misshapen or of a type we do not run: the problems found,
    /// "; "-separated, each naming its tensor (or the block count key).
    #[error("{}: {problems}", path.display())]
    BadWeights {
        /// The model file.
        path: PathBuf,
        /// The problems, each naming its tensor.
        problems: String,
    },
    /// The model file is readable but not something we can run (a tensor's data does not
    /// match its type and shape, ...); the message names it.
    #[error("{0}")]
    Model(String),
    /// The tokenizer in the model's metadata is missing or inconsistent; the message names
    /// the key or token.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The chat template is missing, does not compile or refused the messages.
    #[error("chat template: {0}")]
    Template(String),
    /// The prompt or generation does not fit the context.
    #[error("context full: {0}")]
    ContextFull(String),
    /// A parameter the caller gave is out of range or unknown (thread count, token id, ISA
    /// name, sampler setting, ...); the message names it and the accepted values.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The allocator refused a buffer.
    #[error("out of memory: cannot allocate {bytes} bytes for the {what}")]
    OutOfMemory {
        /// The buffer (KV cache, logits, ...).
        what: &'static str,
        /// Its size.
        bytes: u64,
    },
    /// The session would need more memory than the machine has available (checked before
    /// anything is allocated); the message gives the plan and the limit.
    #[error("{0}")]
    MemoryLimit(String),
    /// The operating system refused a worker thread.
    #[error("cannot start {n_threads} worker threads: {source}")]
    Threads {
        /// The threads asked for.
        n_threads: usize,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A worker thread panicked: a bug in the runtime, not a problem of the model or input.
    #[error("internal error: a worker thread panicked in {during}")]
    WorkerPanicked {
        /// The work it was doing ("a matrix product", "attention").
        during: &'static str,
    },
}

/// The class of an [`Error`]: what a caller acts on, and what a C status maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A parameter or input the caller gave is invalid.
    InvalidArgument,
    /// A file could not be read.
    Io,
    /// The model file is malformed, inconsistent or of a kind we do not run (architecture,
    /// tensor type, tokenizer, chat template).
    BadModel,
    /// The system refused memory or threads, or the session would not fit in memory.
    OutOfMemory,
    /// The prompt or generation does not fit the session's context.
    ContextFull,
    /// The caller stopped the work. No library function returns it today (generation
    /// reports an abort as [`crate::StopReason::Aborted`]); it is here for C callers' status.
    Aborted,
    /// A bug in the runtime (a worker thread panicked, ...).
    Internal,
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        use edge_formats::Error as F;
        match self {
            Error::Format(F::Io { .. } | F::WriteIo(_)) => ErrorKind::Io,
            Error::Format(F::Write(_)) => ErrorKind::Internal,
            Error::Format(_)
            | Error::BadConfig { .. }
            | Error::BadWeights { .. }
            | Error::Model(_)
            | Error::Tokenizer(_)
            | Error::Template(_) => ErrorKind::BadModel,
            Error::ContextFull(_) => ErrorKind::ContextFull,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::OutOfMemory { .. } | Error::MemoryLimit(_) | Error::Threads { .. } => {
                ErrorKind::OutOfMemory
            }
            Error::WorkerPanicked { .. } => ErrorKind::Internal,
        }
    }
}

/// `Result` with the runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_kind() {
        let cases = [
            (
                Error::InvalidArgument("x".into()),
                ErrorKind::InvalidArgument,
            ),
            (Error::ContextFull("x".into()), ErrorKind::ContextFull),
            (Error::MemoryLimit("x".into()), ErrorKind::OutOfMemory),
            (
                Error::BadWeights {
                    path: "m.gguf".into(),
                    problems: "tensor output_norm.weight: missing".into(),
                },
                ErrorKind::BadModel,
            ),
            (
                Error::WorkerPanicked {
                    during: "attention",
                },
                ErrorKind::Internal,
            ),
            (
                Error::Format(edge_formats::Error::Io {
                    path: "m.gguf".into(),
                    source: std::io::ErrorKind::NotFound.into(),
                }),
                ErrorKind::Io,
            ),
        ];
        for (e, kind) in cases {
            assert_eq!(e.kind(), kind, "{e}");
        }
    }

    #[test]
    fn a_worker_panic_is_an_internal_error_not_a_model_error() {
        let e = Error::WorkerPanicked {
            during: "a matrix product",
        };
        assert_eq!(
            e.to_string(),
            "internal error: a worker thread panicked in a matrix product"
        );
    }
}
