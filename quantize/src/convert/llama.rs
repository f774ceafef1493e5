//! The Llama family: Hugging Face `config.json` and tensor names -> GGUF `llama.*` metadata and
//! tensor names, as llama.cpp's `convert_hf_to_gguf.py` (`LlamaModel`) writes them.

use crate::error::{Error, Result};
use edge_formats::gguf::keys::{arch, general};
use edge_formats::gguf::Value;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

/// `general.architecture`.
pub const ARCH: &str = "llama";

/// Hugging Face architectures with the Llama tensor layout that we convert.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["LlamaForCausalLM", "MistralForCausalLM"];

/// Hugging Face tensors that carry nothing a GGUF needs (recomputed at load).
const IGNORED_SUFFIXES: &[&str] = &[".rotary_emb.inv_freq"];

/// The hyperparameters of a Llama-family model, from `config.json` (both the transformers 4
/// keys and the transformers 5 `rope_parameters` form).
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    pub architecture: String,
    pub n_layer: u32,
    pub n_ctx: u32,
    pub n_embd: u32,
    pub n_ff: u32,
    pub n_head: u32,
    pub n_head_kv: u32,
    pub head_dim: u32,
    pub vocab_size: u32,
    pub rope_theta: f32,
    pub rms_norm_eps: f32,
    pub tie_word_embeddings: bool,
}

struct ConfigJson<'a> {
    path: &'a Path,
    root: &'a serde_json::Map<String, Json>,
}

impl ConfigJson<'_> {
    fn err(&self, key: &str, what: impl Into<String>) -> Error {
        Error::Config {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            what: what.into(),
        }
    }

    fn u32_opt(&self, key: &str) -> Result<Option<u32>> {
        match self.root.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n > 0)
                .map(Some)
                .ok_or_else(|| self.err(key, format!("expected a positive integer, found {v}"))),
        }
    }

    fn u32(&self, key: &str) -> Result<u32> {
        self.u32_opt(key)?.ok_or_else(|| self.err(key, "missing"))
    }

    fn f64_in(&self, obj: &serde_json::Map<String, Json>, key: &str) -> Result<Option<f64>> {
        match obj.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .map(Some)
                .ok_or_else(|| self.err(key, format!("expected a number, found {v}"))),
        }
    }

    fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.root.get(key) {
            None | Some(Json::Null) => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.err(key, format!("expected true or false, found {v}"))),
        }
    }

    fn str_opt(&self, obj: &serde_json::Map<String, Json>, key: &str) -> Result<Option<String>> {
        match obj.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.err(key, format!("expected a string, found {v}"))),
        }
    }
}

impl LlamaConfig {
    /// Reads `config.json`; an architecture other than the Llama layout is an error naming it.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(path, &text)
    }

    pub fn from_json(path: &Path, text: &str) -> Result<Self> {
        let parsed: Json = super::json::parse_unique_keys(text).map_err(|e| {
            let key = match &e {
                super::json::JsonError::DuplicateKey { key, .. } => key.clone(),
                super::json::JsonError::Syntax(_) => "(file)".into(),
            };
            Error::Config {
                path: path.to_path_buf(),
                key,
                what: e.to_string(),
            }
        })?;
        let Some(root) = parsed.as_object() else {
            return Err(Error::Config {
                path: path.to_path_buf(),
                key: "(file)".into(),
                what: "not a JSON object".into(),
            });
        };
        let c = ConfigJson { path, root };

        let architecture = match root.get("architectures") {
            Some(Json::Array(a)) => match a.first() {
                Some(Json::String(s)) => s.clone(),
                _ => return Err(c.err("architectures", "expected a list of names")),
            },
            Some(_) => return Err(c.err("architectures", "expected a list of names")),
            None => return Err(c.err("architectures", "missing")),
        };
        if !SUPPORTED_ARCHITECTURES.contains(&architecture.as_str()) {
            return Err(Error::UnsupportedArchitecture {
                path: path.to_path_buf(),
                arch: architecture,
                supported: SUPPORTED_ARCHITECTURES.join(", "),
            });
        }
        if let Some(act) = c.str_opt(root, "hidden_act")? {
            if act != "silu" {
                return Err(c.err(
                    "hidden_act",
                    format!("`{act}` is not supported (only silu)"),
                ));
            }
        }

        // Rope: transformers 4 puts `rope_theta` at the top level and scaling in
        // `rope_scaling`; transformers 5 puts both in `rope_parameters`.
        let empty = serde_json::Map::new();
        let rope_params = match root.get("rope_parameters") {
            Some(Json::Object(o)) => o,
            None | Some(Json::Null) => &empty,
            Some(_) => return Err(c.err("rope_parameters", "expected an object")),
        };
        let rope_scaling = match root.get("rope_scaling") {
            Some(Json::Object(o)) => o,
            None | Some(Json::Null) => &empty,
            Some(_) => return Err(c.err("rope_scaling", "expected an object or null")),
        };
        for (key, obj) in [
            ("rope_parameters", rope_params),
            ("rope_scaling", rope_scaling),
        ] {
            let ty = match c.str_opt(obj, "rope_type")? {
                Some(t) => Some(t),
                None => c.str_opt(obj, "type")?,
            };
            if let Some(ty) = ty {
                if ty != "default" {
                    return Err(c.err(key, format!("rope type `{ty}` is not supported")));
                }
            }
        }
        let rope_theta = match c.f64_in(root, "rope_theta")? {
            Some(t) => t,
            None => c.f64_in(rope_params, "rope_theta")?.unwrap_or(10_000.0),
        };
        let rms_norm_eps = c
            .f64_in(root, "rms_norm_eps")?
            .ok_or_else(|| c.err("rms_norm_eps", "missing"))?;
        // Stored as f32 in the GGUF: a value that is not a finite positive f32 there (0, a
        // negative, 1e300 which becomes infinity) is what the runtime refuses.
        let stored = |v: f64| v as f32;
        // As written in config.json (1e300, not 300 digits).
        let shown = |v: f64| Json::from(v).to_string();
        if !(stored(rope_theta).is_finite() && stored(rope_theta) > 0.0) {
            return Err(c.err(
                "rope_theta",
                format!(
                    "{} is not a positive number that fits a float32",
                    shown(rope_theta)
                ),
            ));
        }
        if !(stored(rms_norm_eps).is_finite() && stored(rms_norm_eps) >= 0.0) {
            return Err(c.err(
                "rms_norm_eps",
                format!(
                    "{} is not a non-negative number that fits a float32",
                    shown(rms_norm_eps)
                ),
            ));
        }

        let n_embd = c.u32("hidden_size")?;
        let n_head = c.u32("num_attention_heads")?;
        let n_head_kv = c.u32_opt("num_key_value_heads")?.unwrap_or(n_head);
        if n_head % n_head_kv != 0 {
            return Err(c.err(
                "num_key_value_heads",
                format!("{n_head_kv} does not divide num_attention_heads {n_head}"),
            ));
        }
        let head_dim = match c.u32_opt("head_dim")? {
            Some(d) => d,
            None if n_embd % n_head == 0 => n_embd / n_head,
            None => {
                return Err(c.err(
                    "num_attention_heads",
                    format!("{n_head} does not divide hidden_size {n_embd}"),
                ))
            }
        };
        if head_dim % 2 != 0 {
            return Err(c.err("head_dim", format!("{head_dim} is odd; RoPE needs pairs")));
        }
        // The widths of Q (and K, V: n_head_kv divides n_head) are sizes of tensors.
        if n_head.checked_mul(head_dim).is_none() {
            return Err(c.err(
                "num_attention_heads",
                format!("{n_head} heads of head_dim {head_dim} overflow a tensor size"),
            ));
        }

        Ok(LlamaConfig {
            architecture,
            n_layer: c.u32("num_hidden_layers")?,
            n_ctx: c.u32("max_position_embeddings")?,
            n_embd,
            n_ff: c.u32("intermediate_size")?,
            n_head,
            n_head_kv,
            head_dim,
            vocab_size: c.u32("vocab_size")?,
            rope_theta: rope_theta as f32,
            rms_norm_eps: rms_norm_eps as f32,
            tie_word_embeddings: c.bool_or("tie_word_embeddings", false)?,
        })
    }

    /// The `llama.*` keys in the order and with the value types llama.cpp writes them.
    /// `general.file_type` goes between `value_length` and `vocab_size` in the converter's
    /// layout; the caller inserts it (see [`KEYS_BEFORE_FILE_TYPE`]).
    pub fn llama_keys(&self) -> Vec<(String, Value)> {
        let k = |suffix: &str| arch::key(ARCH, suffix);
        vec![
            (k(arch::BLOCK_COUNT), Value::U32(self.n_layer)),
            (k(arch::CONTEXT_LENGTH), Value::U32(self.n_ctx)),
            (k(arch::EMBEDDING_LENGTH), Value::U32(self.n_embd)),
            (k(arch::FEED_FORWARD_LENGTH), Value::U32(self.n_ff)),
            (k(arch::HEAD_COUNT), Value::U32(self.n_head)),
            (k(arch::HEAD_COUNT_KV), Value::U32(self.n_head_kv)),
            (k(arch::ROPE_FREQ_BASE), Value::F32(self.rope_theta)),
            (
                k(arch::LAYER_NORM_RMS_EPSILON),
                Value::F32(self.rms_norm_eps),
            ),
            (k(arch::KEY_LENGTH), Value::U32(self.head_dim)),
            (k(arch::VALUE_LENGTH), Value::U32(self.head_dim)),
            (k(arch::VOCAB_SIZE), Value::U32(self.vocab_size)),
            (k(arch::ROPE_DIMENSION_COUNT), Value::U32(self.head_dim)),
        ]
    }
}

/// How many of [`LlamaConfig::llama_keys`] llama.cpp's converter writes before
/// `general.file_type`.
pub const KEYS_BEFORE_FILE_TYPE: usize = 10;

/// One tensor of the Llama layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    TokenEmbd,
    OutputNorm,
    Output,
    AttnNorm,
    AttnQ,
    AttnK,
    AttnV,
    AttnOutput,
    FfnNorm,
    FfnGate,
    FfnUp,
    FfnDown,
}

const LAYER_KINDS: [Kind; 9] = [
    Kind::AttnNorm,
    Kind::AttnQ,
    Kind::AttnK,
    Kind::AttnV,
    Kind::AttnOutput,
    Kind::FfnNorm,
    Kind::FfnGate,
    Kind::FfnUp,
    Kind::FfnDown,
];

impl Kind {
    /// (Hugging Face suffix after `model.layers.N.`, GGUF suffix after `blk.N.`) for layer
    /// tensors; the full names for the others.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Kind::TokenEmbd => ("model.embed_tokens.weight", "token_embd.weight"),
            Kind::OutputNorm => ("model.norm.weight", "output_norm.weight"),
            Kind::Output => ("lm_head.weight", "output.weight"),
            Kind::AttnNorm => ("input_layernorm.weight", "attn_norm.weight"),
            Kind::AttnQ => ("self_attn.q_proj.weight", "attn_q.weight"),
            Kind::AttnK => ("self_attn.k_proj.weight", "attn_k.weight"),
            Kind::AttnV => ("self_attn.v_proj.weight", "attn_v.weight"),
            Kind::AttnOutput => ("self_attn.o_proj.weight", "attn_output.weight"),
            Kind::FfnNorm => ("post_attention_layernorm.weight", "ffn_norm.weight"),
            Kind::FfnGate => ("mlp.gate_proj.weight", "ffn_gate.weight"),
            Kind::FfnUp => ("mlp.up_proj.weight", "ffn_up.weight"),
            Kind::FfnDown => ("mlp.down_proj.weight", "ffn_down.weight"),
        }
    }

    /// The shape the config implies, outermost first (as safetensors stores it).
    pub fn expected_shape(self, cfg: &LlamaConfig) -> Vec<usize> {
        let embd = cfg.n_embd as usize;
        let q = cfg.n_head as usize * cfg.head_dim as usize;
        let kv = cfg.n_head_kv as usize * cfg.head_dim as usize;
        let ff = cfg.n_ff as usize;
        let vocab = cfg.vocab_size as usize;
        match self {
            Kind::TokenEmbd | Kind::Output => vec![vocab, embd],
            Kind::OutputNorm | Kind::AttnNorm | Kind::FfnNorm => vec![embd],
            Kind::AttnQ => vec![q, embd],
            Kind::AttnK | Kind::AttnV => vec![kv, embd],
            Kind::AttnOutput => vec![embd, q],
            Kind::FfnGate | Kind::FfnUp => vec![ff, embd],
            Kind::FfnDown => vec![embd, ff],
        }
    }

    /// Heads whose rows llama.cpp permutes (`LlamaModel.permute`): n_head for Q, n_head_kv
    /// for K.
    pub fn permute_heads(self, cfg: &LlamaConfig) -> Option<u32> {
        match self {
            Kind::AttnQ => Some(cfg.n_head),
            Kind::AttnK => Some(cfg.n_head_kv),
            _ => None,
        }
    }
}

/// A tensor the GGUF will hold and where it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LlamaTensor {
    pub kind: Kind,
    pub layer: Option<u32>,
    /// Name in the Hugging Face checkpoint.
    pub hf_name: String,
    /// Name in the GGUF.
    pub gguf_name: String,
}

fn tensor(kind: Kind, layer: Option<u32>) -> LlamaTensor {
    let (hf, gguf) = kind.names();
    match layer {
        Some(n) => LlamaTensor {
            kind,
            layer,
            hf_name: format!("model.layers.{n}.{hf}"),
            gguf_name: format!("blk.{n}.{gguf}"),
        },
        None => LlamaTensor {
            kind,
            layer,
            hf_name: hf.to_string(),
            gguf_name: gguf.to_string(),
        },
    }
}

/// Every tensor of the model with `untied` deciding whether `output.weight` exists. With tied
/// embeddings the checkpoint may store the matrix only as `lm_head.weight`: `embed_source`
/// names where `token_embd` is read from.
pub fn expected_tensors(cfg: &LlamaConfig, untied: bool, embed_source: &str) -> Vec<LlamaTensor> {
    let mut out = Vec::with_capacity(3 + 9 * cfg.n_layer as usize);
    let mut embd = tensor(Kind::TokenEmbd, None);
    embd.hf_name = embed_source.to_string();
    out.push(embd);
    for n in 0..cfg.n_layer {
        out.extend(LAYER_KINDS.iter().map(|&k| tensor(k, Some(n))));
    }
    out.push(tensor(Kind::OutputNorm, None));
    if untied {
        out.push(tensor(Kind::Output, None));
    }
    out
}

/// `num_hidden_layers` must be the number of `model.layers.N` blocks the checkpoint holds:
/// checked before anything is sized by it.
pub fn check_layer_count<'a>(
    config: &Path,
    names: impl IntoIterator<Item = &'a str>,
    n_layer: u32,
) -> Result<()> {
    let layer_of = |name: &str| -> Option<u64> {
        let rest = name.strip_prefix("model.layers.")?;
        rest[..rest.find('.')?].parse().ok()
    };
    let highest = names.into_iter().filter_map(layer_of).max();
    let n_present = highest.map_or(0, |h| h.saturating_add(1));
    if n_present == u64::from(n_layer) {
        return Ok(());
    }
    let held = match highest {
        None => "no model.layers.N tensors".to_string(),
        Some(h) => format!("tensors for {n_present} layers (model.layers.0 .. {h})"),
    };
    Err(Error::Config {
        path: config.to_path_buf(),
        key: "num_hidden_layers".into(),
        what: format!("{n_layer}, but the checkpoint has {held}"),
    })
}

/// The Hugging Face name of the tied-embedding matrix when only the head is stored.
pub const LM_HEAD: &str = "lm_head.weight";
pub const EMBED_TOKENS: &str = "model.embed_tokens.weight";

/// Checks that every checkpoint tensor is either used or known to be ignorable.
pub fn check_no_extra_tensors<'a>(
    path: &Path,
    names: impl IntoIterator<Item = &'a str>,
    used: &[LlamaTensor],
    tied: bool,
) -> Result<()> {
    for name in names {
        let known = used.iter().any(|t| t.hf_name == name)
            || IGNORED_SUFFIXES.iter().any(|s| name.ends_with(s))
            || (tied && (name == LM_HEAD || name == EMBED_TOKENS));
        if !known {
            return Err(Error::UnexpectedTensor {
                path: path.to_path_buf(),
                tensor: name.to_string(),
                arch: "Llama",
            });
        }
    }
    Ok(())
}

/// `LlamaModel.permute` of convert_hf_to_gguf.py as an index map: the GGUF row `dst_row` of a
/// Q or K matrix with `rows` rows in `n_head` heads comes from this Hugging Face row. Within a
/// head of `hd` rows HF stores the two RoPE halves one after the other (rows `i` and
/// `i + hd/2` rotate together); llama.cpp wants them interleaved (rows `2i`, `2i+1`).
/// Caller guarantees `rows % n_head == 0` and an even head size.
pub fn permuted_source_row(dst_row: usize, rows: usize, n_head: usize) -> usize {
    let hd = rows / n_head;
    let half = hd / 2;
    let (head, within) = (dst_row / hd, dst_row % hd);
    let (pair, which_half) = (within / 2, within % 2);
    head * hd + which_half * half + pair
}

/// `general.*` naming as llama.cpp's gguf-py `Metadata` heuristics derive it from the model
/// folder's name (simplified: `<basename>-<size>-<finetune>` names, else a size label from the
/// parameter count).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneralNames {
    pub name: String,
    pub finetune: Option<String>,
    pub basename: Option<String>,
    pub size_label: String,
}

fn is_size_part(part: &str) -> bool {
    let Some(last) = part.chars().last() else {
        return false;
    };
    let digits = &part[..part.len() - last.len_utf8()];
    "kKmMbBtT".contains(last)
        && !digits.is_empty()
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '_')
        && digits.starts_with(|c: char| c.is_ascii_digit())
}

/// Title case as gguf-py's `id_to_title`: lowercase words get a capital, words that start with
/// a digit or are versions are kept.
fn id_to_title(id: &str) -> String {
    id.replace('-', " ")
        .split_whitespace()
        .map(|w| {
            let is_lower =
                w.chars().any(|c| c.is_alphabetic()) && !w.chars().any(|c| c.is_uppercase());
            let versionish = w.starts_with(|c: char| c.is_ascii_digit())
                || (w.starts_with('v') && w[1..].chars().all(|c| c.is_ascii_digit() || c == '.'));
            if is_lower && !versionish {
                let mut cs = w.chars();
                let first = cs.next().map(|c| c.to_uppercase().collect::<String>());
                first.unwrap_or_default() + &cs.as_str().to_lowercase()
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// gguf-py `model_weight_count_rounded_notation(n, min_digits=2)`: "656K", "1.1M", "135M".
pub fn size_label_from_count(n: u64) -> String {
    let (scale, suffix) = match n {
        n if n >= 1_000_000_000_000 => (1e12, "T"),
        n if n >= 1_000_000_000 => (1e9, "B"),
        n if n >= 1_000_000 => (1e6, "M"),
        _ => (1e3, "K"),
    };
    let scaled = n as f64 / scale;
    let decimals = if scaled > 0.0 {
        (1 - scaled.log10().floor() as i32).max(0) as usize
    } else {
        0
    };
    format!("{scaled:.decimals$}{suffix}")
}

impl GeneralNames {
    pub fn from_model_id(id: &str, n_params: u64) -> Self {
        let parts: Vec<&str> = id.split('-').filter(|p| !p.is_empty()).collect();
        let size_at = parts
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, p)| is_size_part(p))
            .map(|(i, _)| i);
        let (basename, size_label, finetune) = match size_at {
            Some(i) => {
                let mut label = parts[i].replace('_', ".");
                if let Some(last) = label.pop() {
                    label.push(last.to_ascii_uppercase());
                }
                let rest: Vec<&str> = parts[i + 1..]
                    .iter()
                    .copied()
                    .filter(|p| p.chars().all(|c| c.is_alphabetic()))
                    .collect();
                let finetune = (!rest.is_empty()).then(|| rest.join("-"));
                (Some(parts[..i].join("-")), label, finetune)
            }
            None => (None, size_label_from_count(n_params), None),
        };
        GeneralNames {
            name: id_to_title(id),
            finetune,
            basename,
            size_label,
        }
    }

    /// The `general.*` keys llama.cpp writes first, in its order.
    pub fn keys(&self) -> Vec<(String, Value)> {
        let mut out = vec![
            (general::ARCHITECTURE.into(), Value::String(ARCH.into())),
            (general::TYPE.into(), Value::String("model".into())),
            (general::NAME.into(), Value::String(self.name.clone())),
        ];
        if let Some(f) = &self.finetune {
            out.push((general::FINETUNE.into(), Value::String(f.clone())));
        }
        if let Some(b) = &self.basename {
            out.push((general::BASENAME.into(), Value::String(b.clone())));
        }
        out.push((
            general::SIZE_LABEL.into(),
            Value::String(self.size_label.clone()),
        ));
        out
    }
}

/// The model id gguf-py derives from the input: the folder's name.
pub fn model_id(folder: &Path) -> String {
    folder
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .unwrap_or_else(|| "model".into())
}

/// The config.json beside a checkpoint.
pub fn config_path(folder: &Path) -> PathBuf {
    folder.join("config.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINYSTORIES: &str = r#"{"architectures":["LlamaForCausalLM"],"hidden_act":"silu",
        "hidden_size":128,"intermediate_size":384,"max_position_embeddings":512,
        "num_attention_heads":8,"num_hidden_layers":2,"num_key_value_heads":4,
        "rms_norm_eps":1e-06,"rope_scaling":null,"rope_theta":10000.0,
        "tie_word_embeddings":true,"vocab_size":2048}"#;

    fn cfg(text: &str) -> Result<LlamaConfig> {
        LlamaConfig::from_json(Path::new("config.json"), text)
    }

    #[test]
    fn old_style_config() {
        let c = cfg(TINYSTORIES).unwrap();
        assert_eq!(c.head_dim, 16);
        assert_eq!(c.n_head_kv, 4);
        assert_eq!(c.rope_theta, 10000.0);
        assert_eq!(c.rms_norm_eps, 1e-6f32);
        assert!(c.tie_word_embeddings);
    }

    #[test]
    fn new_style_config() {
        let text = r#"{"architectures":["LlamaForCausalLM"],"head_dim":16,"hidden_size":128,
            "intermediate_size":352,"max_position_embeddings":1024,"num_attention_heads":8,
            "num_hidden_layers":3,"num_key_value_heads":2,"rms_norm_eps":1e-05,
            "rope_parameters":{"rope_theta":500000.0,"rope_type":"default"},
            "tie_word_embeddings":false,"vocab_size":2048}"#;
        let c = cfg(text).unwrap();
        assert_eq!(c.rope_theta, 500000.0);
        assert_eq!(c.head_dim, 16);
        assert!(!c.tie_word_embeddings);
        let keys = c.llama_keys();
        assert_eq!(
            keys[6],
            ("llama.rope.freq_base".into(), Value::F32(500000.0))
        );
        assert_eq!(keys[1], ("llama.context_length".into(), Value::U32(1024)));
    }

    #[test]
    fn unsupported_architecture_is_named() {
        let text = TINYSTORIES.replace("LlamaForCausalLM", "GPT2LMHeadModel");
        let e = cfg(&text).unwrap_err().to_string();
        assert!(
            e.contains("unsupported architecture `GPT2LMHeadModel`"),
            "{e}"
        );
    }

    #[test]
    fn missing_key_is_named() {
        let text = TINYSTORIES.replace("\"hidden_size\":128,", "");
        let e = cfg(&text).unwrap_err().to_string();
        assert!(e.contains("`hidden_size`: missing"), "{e}");
        let text = TINYSTORIES.replace(
            "\"rope_scaling\":null",
            "\"rope_scaling\":{\"type\":\"yarn\"}",
        );
        let e = cfg(&text).unwrap_err().to_string();
        assert!(e.contains("yarn"), "{e}");
    }

    #[test]
    fn names_map_to_gguf() {
        let c = cfg(TINYSTORIES).unwrap();
        let t = expected_tensors(&c, false, LM_HEAD);
        assert_eq!(t.len(), 1 + 9 * 2 + 1);
        assert_eq!(t[0].gguf_name, "token_embd.weight");
        assert_eq!(t[0].hf_name, "lm_head.weight");
        let find = |g: &str| t.iter().find(|x| x.gguf_name == g).unwrap().hf_name.clone();
        assert_eq!(
            find("blk.1.attn_q.weight"),
            "model.layers.1.self_attn.q_proj.weight"
        );
        assert_eq!(
            find("blk.0.attn_output.weight"),
            "model.layers.0.self_attn.o_proj.weight"
        );
        assert_eq!(
            find("blk.0.ffn_down.weight"),
            "model.layers.0.mlp.down_proj.weight"
        );
        assert_eq!(
            find("blk.1.attn_norm.weight"),
            "model.layers.1.input_layernorm.weight"
        );
        assert_eq!(
            find("blk.1.ffn_norm.weight"),
            "model.layers.1.post_attention_layernorm.weight"
        );
        assert_eq!(find("output_norm.weight"), "model.norm.weight");
        assert!(!t.iter().any(|x| x.gguf_name == "output.weight"));
        let untied = expected_tensors(&c, true, EMBED_TOKENS);
        assert_eq!(untied.last().unwrap().hf_name, "lm_head.weight");
        assert_eq!(untied.last().unwrap().gguf_name, "output.weight");
        assert_eq!(Kind::AttnK.expected_shape(&c), vec![64, 128]);
        assert_eq!(Kind::FfnDown.expected_shape(&c), vec![128, 384]);
    }

    #[test]
    fn extra_tensor_is_an_error() {
        let c = cfg(TINYSTORIES).unwrap();
        let t = expected_tensors(&c, false, EMBED_TOKENS);
        let mut names: Vec<&str> = t.iter().map(|x| x.hf_name.as_str()).collect();
        names.push("lm_head.weight");
        names.push("model.layers.0.self_attn.rotary_emb.inv_freq");
        check_no_extra_tensors(Path::new("m"), names.iter().copied(), &t, true).unwrap();
        names.push("model.layers.0.self_attn.q_proj.bias");
        let e = check_no_extra_tensors(Path::new("m"), names.iter().copied(), &t, true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("q_proj.bias"), "{e}");
    }

    /// Hand-computed: 2 heads of 4 rows. HF rows per head [a0 a1 b0 b1] (halves a, b) become
    /// [a0 b0 a1 b1]: reshape (heads, 2, 2) -> swap -> (heads, 2, 2).
    #[test]
    fn permutation_interleaves_halves() {
        let src: Vec<usize> = (0..8).map(|r| permuted_source_row(r, 8, 2)).collect();
        assert_eq!(src, vec![0, 2, 1, 3, 4, 6, 5, 7]);
        // Head size 6: halves [0 1 2] [3 4 5] -> 0 3 1 4 2 5.
        let src: Vec<usize> = (0..6).map(|r| permuted_source_row(r, 6, 1)).collect();
        assert_eq!(src, vec![0, 3, 1, 4, 2, 5]);
        // It is a permutation for a realistic shape (9 heads of 64).
        let mut seen: Vec<usize> = (0..576).map(|r| permuted_source_row(r, 576, 9)).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..576).collect::<Vec<_>>());
    }

    #[test]
    fn general_names_like_llama_cpp() {
        let g = GeneralNames::from_model_id("tinystories-656k", 0);
        assert_eq!(g.name, "Tinystories 656k");
        assert_eq!(g.basename.as_deref(), Some("tinystories"));
        assert_eq!(g.size_label, "656K");
        assert_eq!(g.finetune, None);
        let g = GeneralNames::from_model_id("smollm2-135m-instruct", 0);
        assert_eq!(g.name, "Smollm2 135m Instruct");
        assert_eq!(g.basename.as_deref(), Some("smollm2"));
        assert_eq!(g.finetune.as_deref(), Some("instruct"));
        assert_eq!(g.size_label, "135M");
        let g = GeneralNames::from_model_id("tiny-random-llama", 1_053_568);
        assert_eq!(g.name, "Tiny Random Llama");
        assert_eq!(g.basename, None);
        assert_eq!(g.size_label, "1.1M");
        let keys: Vec<String> = g.keys().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "general.architecture",
                "general.type",
                "general.name",
                "general.size_label"
            ]
        );
        assert_eq!(size_label_from_count(656_000), "656K");
        assert_eq!(size_label_from_count(134_515_008), "135M");
    }
}
