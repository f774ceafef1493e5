//! `ModelConfig`: the hyperparameters of a Llama-family GGUF, read from its metadata keys and
//! checked (positive sizes, heads that divide, finite positive RoPE base, non-negative epsilon).
//! Every missing, wrongly typed or invalid key is collected and reported in one message.

use crate::gguf::keys::{arch, general, tokenizer};
use crate::gguf::{Metadata, Value};

/// The architectures we run. Anything else is an error naming it (no silent fallback).
pub const SUPPORTED_ARCHITECTURES: [&str; 1] = ["llama"];

/// Hyperparameters of the network, from `general.architecture` and `{arch}.*` keys.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// `general.architecture` (always "llama" today).
    pub architecture: String,
    /// Vocabulary size: `{arch}.vocab_size`, else `token_embd` rows, else the token list.
    pub n_vocab: usize,
    /// Residual stream width: `{arch}.embedding_length`.
    pub n_embd: usize,
    /// Transformer blocks: `{arch}.block_count`.
    pub n_layer: usize,
    /// Query heads: `{arch}.attention.head_count`.
    pub n_head: usize,
    /// Key/value heads (GQA): `{arch}.attention.head_count_kv`, default `n_head`.
    pub n_head_kv: usize,
    /// Per-head width of Q, K and V: `{arch}.attention.key_length`, default `n_embd / n_head`.
    pub head_dim: usize,
    /// FFN hidden width: `{arch}.feed_forward_length`.
    pub n_ff: usize,
    /// Context the model was trained for: `{arch}.context_length`.
    pub n_ctx_train: usize,
    /// RoPE base: `{arch}.rope.freq_base`, default 10000.
    pub rope_freq_base: f32,
    /// Rotated dims per head: `{arch}.rope.dimension_count`, default `head_dim`.
    pub n_rot: usize,
    /// RMSNorm epsilon: `{arch}.attention.layer_norm_rms_epsilon`.
    pub rms_eps: f32,
}

impl ModelConfig {
    /// Width of the concatenated query heads (n_head * head_dim).
    pub fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }

    /// Width of the concatenated key (or value) heads (n_head_kv * head_dim).
    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// Reads and checks the config. `embd_rows` is the row count of `token_embd.weight` if
    /// that tensor exists (the vocab size when `{arch}.vocab_size` is absent). Every problem
    /// found is listed in the one message returned, separated by "; ", each naming its key.
    pub fn from_metadata(meta: &Metadata, embd_rows: Option<u64>) -> Result<Self, String> {
        let mut keys = KeyReader {
            meta,
            problems: Vec::new(),
        };
        let architecture = match keys.string(general::ARCHITECTURE) {
            Some(a) if SUPPORTED_ARCHITECTURES.contains(&a.as_str()) => a,
            Some(a) => {
                return Err(format!(
                    "unsupported architecture `{a}` (general.architecture); supported: {}",
                    SUPPORTED_ARCHITECTURES.join(", ")
                ))
            }
            None => return Err(keys.problems.join("; ")),
        };
        let key = |suffix: &str| arch::key(&architecture, suffix);

        let n_layer = keys.count(&key(arch::BLOCK_COUNT));
        let n_embd = keys.count(&key(arch::EMBEDDING_LENGTH));
        let n_ff = keys.count(&key(arch::FEED_FORWARD_LENGTH));
        let n_head = keys.count(&key(arch::HEAD_COUNT));
        let n_head_kv = keys.opt_count(&key(arch::HEAD_COUNT_KV));
        let key_length = keys.opt_count(&key(arch::KEY_LENGTH));
        let value_length = keys.opt_count(&key(arch::VALUE_LENGTH));
        let rope_freq_base = keys.opt_float(&key(arch::ROPE_FREQ_BASE));
        let rms_eps = keys.float(&key(arch::LAYER_NORM_RMS_EPSILON));
        let n_ctx_train = keys.count(&key(arch::CONTEXT_LENGTH));
        let n_rot = keys.opt_count(&key(arch::ROPE_DIMENSION_COUNT));
        let vocab_size = keys.opt_count(&key(arch::VOCAB_SIZE));
        let rope_scaling = keys.opt_string(&key(arch::ROPE_SCALING_TYPE));
        let n_tokens = match meta.get(tokenizer::TOKENS) {
            Some(Value::Array(items)) => Some(items.len()),
            _ => None,
        };

        let mut problems = keys.problems;
        let (
            Some(n_layer),
            Some(n_embd),
            Some(n_ff),
            Some(n_head),
            Some(rms_eps),
            Some(n_ctx_train),
        ) = (n_layer, n_embd, n_ff, n_head, rms_eps, n_ctx_train)
        else {
            return Err(problems.join("; "));
        };
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }

        let n_head_kv = n_head_kv.unwrap_or(n_head);
        let head_dim = match key_length {
            Some(d) => d,
            None if n_head > 0 && n_embd % n_head == 0 => n_embd / n_head,
            None => {
                problems.push(format!(
                    "{}: missing, and embedding_length {n_embd} is not a multiple of head_count \
                     {n_head}",
                    key("attention.key_length")
                ));
                0
            }
        };
        let n_rot = n_rot.unwrap_or(head_dim);
        let n_vocab = vocab_size
            .or(embd_rows.and_then(|r| usize::try_from(r).ok()))
            .or(n_tokens)
            .unwrap_or(0);

        let mut check = |ok: bool, what: String| {
            if !ok {
                problems.push(what);
            }
        };
        for (name, v) in [
            ("block_count", n_layer),
            ("embedding_length", n_embd),
            ("feed_forward_length", n_ff),
            ("attention.head_count", n_head),
            ("attention.head_count_kv", n_head_kv),
            ("context_length", n_ctx_train),
        ] {
            check(v > 0, format!("{}: must be positive, found {v}", key(name)));
        }
        check(
            n_head_kv == 0 || n_head % n_head_kv == 0,
            format!(
                "{}: head_count {n_head} is not a multiple of head_count_kv {n_head_kv}",
                key("attention.head_count_kv")
            ),
        );
        if let Some(d) = key_length {
            check(
                d > 0,
                format!("{}: must be positive, found 0", key("attention.key_length")),
            );
        }
        // n_head_kv divides n_head, so kv_dim <= q_dim.
        check(
            n_head.checked_mul(head_dim).is_some(),
            format!(
                "{}: head_count {n_head} x key_length {head_dim} overflows",
                key("attention.key_length")
            ),
        );
        if let Some(v) = value_length {
            check(
                v == head_dim,
                format!(
                    "{}: value_length {v} differs from key_length {head_dim} (not supported)",
                    key("attention.value_length")
                ),
            );
        }
        check(
            n_rot.is_multiple_of(2) && n_rot <= head_dim,
            format!(
                "{}: {n_rot} must be even and at most the head size {head_dim}",
                key("rope.dimension_count")
            ),
        );
        check(
            n_vocab > 0,
            format!(
                "vocabulary size unknown: no {}, no token_embd.weight and no tokenizer.ggml.tokens",
                key("vocab_size")
            ),
        );
        if let Some(s) = rope_scaling {
            check(
                s == "none",
                format!(
                    "{}: RoPE scaling `{s}` is not supported",
                    key("rope.scaling.type")
                ),
            );
        }
        let rope_freq_base = rope_freq_base.unwrap_or(10000.0);
        check(
            rope_freq_base.is_finite() && rope_freq_base > 0.0,
            format!(
                "{}: {rope_freq_base} is not a positive number",
                key("rope.freq_base")
            ),
        );
        check(
            rms_eps.is_finite() && rms_eps >= 0.0,
            format!(
                "{}: {rms_eps} is not a non-negative number",
                key("attention.layer_norm_rms_epsilon")
            ),
        );
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(ModelConfig {
            architecture,
            n_vocab,
            n_embd,
            n_layer,
            n_head,
            n_head_kv,
            head_dim,
            n_ff,
            n_ctx_train,
            rope_freq_base,
            n_rot,
            rms_eps,
        })
    }
}

/// Reads typed keys, remembering every problem instead of stopping at the first.
struct KeyReader<'m> {
    meta: &'m Metadata,
    problems: Vec<String>,
}

impl KeyReader<'_> {
    fn wrong_type(&mut self, key: &str, expected: &str, found: &Value) {
        self.problems.push(format!(
            "{key}: expected {expected}, found {}",
            found.type_description()
        ));
    }

    fn missing(&mut self, key: &str) {
        self.problems.push(format!("{key}: missing"));
    }

    /// A non-negative integer of any width that fits in usize (None: absent).
    fn opt_count(&mut self, key: &str) -> Option<usize> {
        let v = self.meta.get(key)?;
        match v.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                let expected = "a non-negative integer";
                match v.as_i128() {
                    Some(n) => self
                        .problems
                        .push(format!("{key}: expected {expected}, found {n}")),
                    None => self.wrong_type(key, expected, v),
                }
                None
            }
        }
    }

    fn count(&mut self, key: &str) -> Option<usize> {
        if self.meta.get(key).is_none() {
            self.missing(key);
        }
        self.opt_count(key)
    }

    fn opt_float(&mut self, key: &str) -> Option<f32> {
        let v = self.meta.get(key)?;
        let f = v.as_f32();
        if f.is_none() {
            self.wrong_type(key, "a float32 or float64", v);
        }
        f
    }

    fn float(&mut self, key: &str) -> Option<f32> {
        if self.meta.get(key).is_none() {
            self.missing(key);
        }
        self.opt_float(key)
    }

    fn opt_string(&mut self, key: &str) -> Option<String> {
        let v = self.meta.get(key)?;
        let s = v.as_str().map(str::to_string);
        if s.is_none() {
            self.wrong_type(key, "a string", v);
        }
        s
    }

    fn string(&mut self, key: &str) -> Option<String> {
        if self.meta.get(key).is_none() {
            self.missing(key);
        }
        self.opt_string(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(entries: &[(&str, Value)]) -> Metadata {
        Metadata::from_entries(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
        .unwrap()
    }

    fn minimal() -> Vec<(&'static str, Value)> {
        vec![
            ("general.architecture", Value::from("llama")),
            ("llama.block_count", Value::U32(2)),
            ("llama.embedding_length", Value::U32(128)),
            ("llama.feed_forward_length", Value::U32(384)),
            ("llama.attention.head_count", Value::U32(8)),
            ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
            ("llama.context_length", Value::U64(512)),
        ]
    }

    #[test]
    fn defaults_fill_optional_keys() {
        let cfg = ModelConfig::from_metadata(&meta(&minimal()), Some(2048)).unwrap();
        assert_eq!(cfg.n_head_kv, 8);
        assert_eq!(cfg.head_dim, 16);
        assert_eq!(cfg.n_rot, 16);
        assert_eq!(cfg.rope_freq_base, 10000.0);
        assert_eq!(cfg.n_vocab, 2048);
        assert_eq!(cfg.n_ctx_train, 512);
    }

    #[test]
    fn every_missing_or_mistyped_key_is_reported_at_once() {
        let mut m = minimal();
        m.retain(|(k, _)| *k != "llama.block_count" && *k != "llama.context_length");
        for (k, v) in m.iter_mut() {
            if *k == "llama.embedding_length" {
                *v = Value::from("wide");
            }
        }
        m.push(("llama.rope.freq_base", Value::U32(7)));
        let e = ModelConfig::from_metadata(&meta(&m), Some(10)).unwrap_err();
        for key in [
            "llama.block_count: missing",
            "llama.context_length: missing",
            "llama.embedding_length: expected",
            "llama.rope.freq_base: expected a float32",
        ] {
            assert!(e.contains(key), "{key} not in: {e}");
        }
    }

    #[test]
    fn unsupported_architecture_is_named() {
        let mut m = minimal();
        m[0].1 = Value::from("gpt2");
        let e = ModelConfig::from_metadata(&meta(&m), None).unwrap_err();
        assert!(e.contains("`gpt2`"), "{e}");
        m.remove(0);
        let e = ModelConfig::from_metadata(&meta(&m), None).unwrap_err();
        assert!(e.contains("general.architecture: missing"), "{e}");
    }

    #[test]
    fn inconsistent_heads_are_errors() {
        let mut m = minimal();
        m.push(("llama.attention.head_count_kv", Value::U32(3)));
        m.push(("llama.rope.dimension_count", Value::U32(32)));
        let e = ModelConfig::from_metadata(&meta(&m), Some(5)).unwrap_err();
        assert!(e.contains("head_count_kv"), "{e}");
        assert!(e.contains("rope.dimension_count"), "{e}");
    }

    #[test]
    fn zero_or_overflowing_head_size_is_an_error() {
        let mut m = minimal();
        m.push(("llama.attention.key_length", Value::U32(0)));
        let e = ModelConfig::from_metadata(&meta(&m), Some(5)).unwrap_err();
        assert!(e.contains("key_length: must be positive"), "{e}");
        let mut m = minimal();
        m.push(("llama.attention.key_length", Value::U64(u64::MAX / 4)));
        m.push(("llama.rope.dimension_count", Value::U32(16)));
        let e = ModelConfig::from_metadata(&meta(&m), Some(5)).unwrap_err();
        assert!(e.contains("overflows"), "{e}");
    }
}
