//! Model families: Hugging Face names, config and tokenizer -> GGUF.
