//! edge: runs quantized Llama-family GGUF models on small CPUs.

pub mod kernels;
pub mod model;
pub mod sampler;
pub mod tokenizer;
