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
    /// A request outside a tensor (rows past its end, a buffer of the wrong size).
    #[error("tensor `{tensor}`: {what}")]
    Range { tensor: String, what: String },
    /// The GGUF writer was given something it cannot write (bad spec, wrong data size, ...).
    #[error("GGUF writer: {0}")]
    Write(String),
    /// The GGUF writer's sink failed.
    #[error("GGUF writer: {0}")]
    WriteIo(#[source] std::io::Error),
}

impl Error {
    pub(crate) fn corrupt(path: &std::path::Path, what: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }

    pub(crate) fn unsupported(path: &std::path::Path, what: impl Into<String>) -> Self {
        Error::Unsupported {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
