//! edge-quantize: Hugging Face safetensors or a llama.cpp GGUF in, an int8/int4 GGUF out,
//! tensor bytes identical to `llama-quantize --pure`.

pub mod codec;
pub mod convert;
