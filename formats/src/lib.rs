//! edge-formats: what is on disk, nothing else.
//!
//! - [`gguf`]: GGUF v3 reader over memmap2 (zero-copy tensor data) and a streaming writer.
//! - [`safetensors`]: reader over memmap2 for one file or a sharded folder.
//! - [`blocks`]: `#[repr(C)]` quant blocks and the ggml type table.

pub mod blocks;
pub mod error;
pub mod gguf;
pub mod safetensors;

pub use blocks::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, GgmlType, QK};
pub use error::{Error, Result};
