use std::path::PathBuf;

/// Every error of this crate names the file and, where it applies, the key, tensor and byte offset.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A malformed file: `what` says what is wrong and where (key, tensor, offset).
    #[error("{path}: {what}")]
    Corrupt { path: PathBuf, what: String },
    /// Something well-formed that we do not support (GGUF v2, an unknown dtype, ...).
    #[error("{path}: {what}")]
    Unsupported { path: PathBuf, what: String },
    /// A metadata key that is missing or has the wrong type.
    #[error("metadata key `{key}`: {what}")]
    Key { key: String, what: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
