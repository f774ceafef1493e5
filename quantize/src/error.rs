//! The one error type of edge-quantize. Every message is one line and names the file, key or
//! tensor it is about.

use edge_formats::GgmlType;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The GGUF or safetensors layer failed (its message names file, key, tensor, offset).
    #[error("{0}")]
    Format(#[from] edge_formats::Error),
    /// The input path is neither a `.safetensors` file, a `.gguf` file nor a folder.
    #[error("{path}: {what}")]
    Input { path: PathBuf, what: String },
    /// A Hugging Face folder lacks a file we need.
    #[error("{folder}: missing {file}")]
    MissingFile { folder: PathBuf, file: &'static str },
    /// config.json is unreadable, or a key is missing or of the wrong type.
    #[error("{path}: key `{key}`: {what}")]
    Config {
        path: PathBuf,
        key: String,
        what: String,
    },
    #[error("{path}: unsupported architecture `{arch}` (supported: {supported})")]
    UnsupportedArchitecture {
        path: PathBuf,
        arch: String,
        supported: String,
    },
    /// The tokenizer files could not be turned into GGUF metadata.
    #[error(transparent)]
    Tokenizer(#[from] crate::convert::tokenizer::TokenizerConvertError),
    /// A row could not be (de)quantized.
    #[error("tensor `{tensor}`: {source}")]
    Codec {
        tensor: String,
        #[source]
        source: crate::codec::CodecError,
    },
    /// A weight that is NaN or infinite, or that the output type cannot hold (it would be
    /// written as one): every value computed from it would be garbage.
    #[error("tensor `{tensor}`: weight {index} (row {row}, column {column}) {what}")]
    BadWeight {
        tensor: String,
        index: u64,
        row: u64,
        column: u64,
        what: String,
    },
    /// A tensor the architecture needs is absent.
    #[error("tensor `{tensor}` is missing from {path}")]
    MissingTensor { path: PathBuf, tensor: String },
    /// A tensor the converter does not know: no silent drops.
    #[error("tensor `{tensor}` in {path} is not part of the {arch} layout")]
    UnexpectedTensor {
        path: PathBuf,
        tensor: String,
        arch: &'static str,
    },
    /// A tensor whose shape contradicts the config (or that cannot be converted as shaped).
    #[error("tensor `{tensor}`: {what}")]
    Shape { tensor: String, what: String },
    /// A tensor stored in a type we cannot read.
    #[error("tensor `{tensor}`: {what}")]
    TensorType { tensor: String, what: String },
    /// Row length not a whole number of blocks for the requested type.
    #[error(
        "tensor `{tensor}`: row length {row_len} is not a multiple of {block} as {ty} requires, \
         and llama-quantize has no fallback type for {ty}"
    )]
    RowNotBlockAligned {
        tensor: String,
        row_len: u64,
        block: usize,
        ty: GgmlType,
    },
    /// A requested output type we do not write (e.g. Q8_1, an activation-only type).
    #[error(
        "cannot write tensors as {0} (supported: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, \
         q2_k, q3_k, q4_k, q5_k, q6_k)"
    )]
    UnsupportedTargetType(GgmlType),
    /// The output path names an input.
    #[error("output {output} would overwrite the input {input}")]
    OutputIsInput { output: PathBuf, input: PathBuf },
    /// The output cannot be created where asked.
    #[error("cannot write output {path}: {what}")]
    Output { path: PathBuf, what: String },
    /// The GGUF about to be written does not validate (`edge_formats::validate`, the checks
    /// run-edge loads it with): nothing is written.
    #[error("{input}: the GGUF it would give fails run-edge's checks: {source}")]
    Invalid {
        input: PathBuf,
        #[source]
        source: edge_formats::validate::Invalid,
    },
    /// The rayon pool could not be built.
    #[error("cannot start {threads} worker threads: {what}")]
    Threads { threads: usize, what: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn shape(tensor: impl Into<String>, what: impl Into<String>) -> Self {
        Error::Shape {
            tensor: tensor.into(),
            what: what.into(),
        }
    }
}
