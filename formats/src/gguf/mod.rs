//! GGUF v3: reader over memmap2 (zero-copy tensor data) and a streaming writer.
//!
//! Layout: magic "GGUF", version u32 = 3, tensor count u64, metadata count u64, metadata
//! key/value pairs, tensor infos (name, n_dims u32, dims u64 innermost first, type u32,
//! offset u64 relative to the data section), padding to `general.alignment`, tensor data.

mod array;
mod cursor;
pub mod keys;
mod metadata;
mod reader;
mod value;
pub mod vocab;
mod writer;

pub use array::{Array, Strings};
pub use metadata::Metadata;
pub use reader::{
    tensor_n_bytes, GgufFile, GgufHeader, Storage, TensorInfo, MAX_ARRAY_DEPTH, MAX_DIMS,
};
pub use value::{Value, ValueType};
pub use writer::{GgufWriter, TensorSpec};

pub const MAGIC: [u8; 4] = *b"GGUF";
pub const VERSION: u32 = 3;
pub const DEFAULT_ALIGNMENT: u64 = 32;
pub const ALIGNMENT_KEY: &str = keys::general::ALIGNMENT;

/// Values of `tokenizer.ggml.token_type`, one per token (llama.cpp's `llama_token_type`).
pub mod token_type {
    pub const NORMAL: i32 = 1;
    pub const UNKNOWN: i32 = 2;
    pub const CONTROL: i32 = 3;
    pub const USER_DEFINED: i32 = 4;
    pub const UNUSED: i32 = 5;
    pub const BYTE: i32 = 6;
}

/// Tensor dimensions in ggml order: `0` is the row length (innermost), as stored in GGUF.
/// Safetensors shapes are outermost first ([`crate::safetensors::Shape`]); convert with
/// [`GgmlDims::from_shape`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GgmlDims(pub Vec<u64>);

impl GgmlDims {
    /// Reverses an outermost-first shape into ggml order.
    pub fn from_shape(shape: &crate::safetensors::Shape) -> Self {
        GgmlDims(shape.0.iter().rev().map(|&d| d as u64).collect())
    }

    /// Elements in one row (`ne[0]`); 1 for a scalar.
    pub fn row_len(&self) -> u64 {
        self.0.first().copied().unwrap_or(1)
    }

    /// Number of rows: the product of every dim but the first.
    /// Saturates at u64::MAX (a parsed header's dims never overflow).
    pub fn n_rows(&self) -> u64 {
        self.0
            .iter()
            .skip(1)
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .unwrap_or(u64::MAX)
    }

    /// Total elements, or None on overflow.
    pub fn n_elements(&self) -> Option<u64> {
        self.0.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
    }
}

#[cfg(test)]
mod tests;
