//! The runtime's one error type. Messages name the file, key, tensor or value at fault.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Format(#[from] edge_formats::Error),
    /// The model file is readable but not something we can run (architecture, tensor type,
    /// missing tensor, inconsistent shapes); the message names it.
    #[error("{0}")]
    Model(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("chat template: {0}")]
    Template(String),
    /// The prompt or generation does not fit the context.
    #[error("context full: {0}")]
    ContextFull(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The allocator refused a buffer (`what`: KV cache, logits, ...).
    #[error("out of memory: cannot allocate {bytes} bytes for the {what}")]
    OutOfMemory { what: &'static str, bytes: u64 },
    /// The session would need more memory than the machine has available (checked before
    /// anything is allocated); the message gives the plan and the limit.
    #[error("{0}")]
    MemoryLimit(String),
    /// The operating system refused a worker thread.
    #[error("cannot start {n_threads} worker threads: {source}")]
    Threads {
        n_threads: usize,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
