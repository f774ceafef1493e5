//! edge-formats: what is on disk, nothing else.
//!
//! - [`gguf`]: GGUF v3 reader over memmap2 (zero-copy tensor data) and a streaming writer.
//! - [`safetensors`]: reader over memmap2 for one file or a sharded folder.
//! - [`blocks`]: the ggml type table, `#[repr(C)]` quant blocks and their scalar decoders.
//! - [`file_type`]: llama-quantize's file types (`general.file_type`) and their names.
//! - [`validate`]: what a Llama GGUF must hold to run (config, tensors, tokenizer), shared by
//!   the runtime's loader and the quantizer.

// Unsafe code only where a file is memory-mapped (`memmap2::Mmap::map`, and the page advice
// that releases a safetensors tensor): the readers of `gguf` and `safetensors`.
#![deny(unsafe_code)]

pub mod blocks;
pub mod error;
pub mod file_type;
#[allow(unsafe_code)]
pub mod gguf;
pub mod regular_file;
#[allow(unsafe_code)]
pub mod safetensors;
pub mod validate;

pub use blocks::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, GgmlType, QK};
pub use error::{Error, Result};
pub use file_type::FileType;
