//! Model families: Hugging Face names, config and tokenizer -> GGUF.

pub mod llama;
pub mod tokenizer;
