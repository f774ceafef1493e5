//! GGUF metadata key names: llama.cpp's (as gguf-py's `Keys` spells them) and ours
//! (`edge.tokenizer.*`). Writers and readers use these constants, never the literals.

/// `general.*`: what the file is.
pub mod general {
    pub const ARCHITECTURE: &str = "general.architecture";
    pub const TYPE: &str = "general.type";
    pub const NAME: &str = "general.name";
    pub const FINETUNE: &str = "general.finetune";
    pub const BASENAME: &str = "general.basename";
    pub const SIZE_LABEL: &str = "general.size_label";
    /// llama_ftype of the whole model.
    pub const FILE_TYPE: &str = "general.file_type";
    pub const QUANTIZATION_VERSION: &str = "general.quantization_version";
    /// Alignment of tensor data (default 32).
    pub const ALIGNMENT: &str = "general.alignment";
}

/// Per-architecture keys `{arch}.{suffix}`: the suffixes, and [`key`] that joins them.
pub mod arch {
    pub const BLOCK_COUNT: &str = "block_count";
    pub const CONTEXT_LENGTH: &str = "context_length";
    pub const EMBEDDING_LENGTH: &str = "embedding_length";
    pub const FEED_FORWARD_LENGTH: &str = "feed_forward_length";
    pub const HEAD_COUNT: &str = "attention.head_count";
    pub const HEAD_COUNT_KV: &str = "attention.head_count_kv";
    pub const KEY_LENGTH: &str = "attention.key_length";
    pub const VALUE_LENGTH: &str = "attention.value_length";
    pub const LAYER_NORM_RMS_EPSILON: &str = "attention.layer_norm_rms_epsilon";
    pub const ROPE_FREQ_BASE: &str = "rope.freq_base";
    pub const ROPE_DIMENSION_COUNT: &str = "rope.dimension_count";
    pub const ROPE_SCALING_TYPE: &str = "rope.scaling.type";
    pub const VOCAB_SIZE: &str = "vocab_size";

    /// The key of `suffix` for architecture `arch`: `key("llama", BLOCK_COUNT)` is
    /// "llama.block_count".
    pub fn key(arch: &str, suffix: &str) -> String {
        format!("{arch}.{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_keys_spell_as_llama_cpp() {
        assert_eq!(arch::key("llama", arch::BLOCK_COUNT), "llama.block_count");
        assert_eq!(
            arch::key("llama", arch::LAYER_NORM_RMS_EPSILON),
            "llama.attention.layer_norm_rms_epsilon"
        );
        assert_eq!(tokenizer::add_token_key("bos"), tokenizer::ADD_BOS);
        assert_eq!(tokenizer::add_token_key("eos"), tokenizer::ADD_EOS);
    }
}

/// `tokenizer.*`: llama.cpp's vocabulary keys.
pub mod tokenizer {
    /// "gpt2" (byte-level BPE) or "llama" (SentencePiece-style).
    pub const MODEL: &str = "tokenizer.ggml.model";
    /// The byte-level pre-tokenizer's name ("smollm", "llama-bpe", ...).
    pub const PRE: &str = "tokenizer.ggml.pre";
    pub const TOKENS: &str = "tokenizer.ggml.tokens";
    pub const TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
    pub const SCORES: &str = "tokenizer.ggml.scores";
    pub const MERGES: &str = "tokenizer.ggml.merges";
    pub const BOS_ID: &str = "tokenizer.ggml.bos_token_id";
    pub const EOS_ID: &str = "tokenizer.ggml.eos_token_id";
    pub const EOT_ID: &str = "tokenizer.ggml.eot_token_id";
    pub const EOM_ID: &str = "tokenizer.ggml.eom_token_id";
    pub const UNK_ID: &str = "tokenizer.ggml.unknown_token_id";
    /// llama.cpp's spelling.
    pub const SEP_ID: &str = "tokenizer.ggml.seperator_token_id";
    pub const PAD_ID: &str = "tokenizer.ggml.padding_token_id";
    pub const CLS_ID: &str = "tokenizer.ggml.cls_token_id";
    pub const MASK_ID: &str = "tokenizer.ggml.mask_token_id";
    pub const ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
    pub const ADD_EOS: &str = "tokenizer.ggml.add_eos_token";
    pub const ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";
    /// The Jinja chat template.
    pub const CHAT_TEMPLATE: &str = "tokenizer.chat_template";

    /// Whether to add the special token of `kind` ("bos", "eos", "sep", ...):
    /// `tokenizer.ggml.add_{kind}_token`, e.g. [`ADD_BOS`] for "bos".
    pub fn add_token_key(kind: &str) -> String {
        format!("tokenizer.ggml.add_{kind}_token")
    }
}

/// `edge.tokenizer.*`: what tokenizer.json says beyond llama.cpp's keys, written by our
/// quantizer so that the runtime reproduces Hugging Face `tokenizers` exactly.
pub mod edge_tokenizer {
    /// Version of this key set; its presence marks a file converted by edge.
    pub const VERSION: &str = "edge.tokenizer.version";
    pub const BYTE_FALLBACK: &str = "edge.tokenizer.byte_fallback";
    pub const FUSE_UNK: &str = "edge.tokenizer.fuse_unk";
    pub const IGNORE_MERGES: &str = "edge.tokenizer.ignore_merges";
    pub const NORMALIZER_PREPEND: &str = "edge.tokenizer.normalizer.prepend";
    pub const NORMALIZER_REPLACE_FROM: &str = "edge.tokenizer.normalizer.replace_from";
    pub const NORMALIZER_REPLACE_TO: &str = "edge.tokenizer.normalizer.replace_to";
    pub const ADDED_TOKEN_IDS: &str = "edge.tokenizer.added_token_ids";
    pub const ADDED_TOKEN_SPECIAL: &str = "edge.tokenizer.added_token_special";
    pub const ADDED_TOKEN_NORMALIZED: &str = "edge.tokenizer.added_token_normalized";
}
