//! Model families: Hugging Face names, config and tokenizer -> GGUF.

mod json;
pub mod llama;
pub mod tokenizer;
