//! edge: runs quantized Llama-family GGUF models on small CPUs.

mod alloc;
pub mod chat;
pub mod error;
pub mod forward;
pub mod generate;
pub mod kernels;
pub mod model;
pub mod perplexity;
pub mod sampler;
pub mod session;
pub mod threads;
pub mod tokenizer;

pub use error::{Error, Result};
