//! The plan: every output tensor with its GGUF name, dims, target type and where its rows come
//! from, plus the metadata, all decided before a byte is written. The type policy is
//! llama-quantize's: its file types ([`FileType`], from edge-formats), its per-tensor rules and fallbacks
//! ([`rules`]), `--pure`, and `--output-type` for token_embd and output.

use crate::error::{Error, Result};
use edge_formats::gguf::keys::general;
use edge_formats::gguf::{GgmlDims, TensorSpec, Value};
use edge_formats::GgmlType;

pub mod rules;

pub use edge_formats::FileType;
pub use rules::{assign_types, Fallback};

/// Output tensors that take `--output-type` instead of `--type`.
pub const OUTPUT_TENSORS: [&str; 2] = ["token_embd.weight", "output.weight"];

/// How output rows map to source rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowOrder {
    /// Row r comes from row r.
    Identity,
    /// llama.cpp's Q/K RoPE permutation within each of `n_head` heads
    /// ([`crate::convert::llama::permuted_source_row`]).
    HeadPermute { n_head: usize },
}

impl RowOrder {
    /// The source row of output row `row` of a tensor with `rows` rows.
    pub fn source_row(self, row: usize, rows: usize) -> usize {
        match self {
            RowOrder::Identity => row,
            RowOrder::HeadPermute { n_head } => {
                crate::convert::llama::permuted_source_row(row, rows, n_head)
            }
        }
    }
}

/// One tensor to write.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedTensor {
    /// Name in the GGUF.
    pub name: String,
    /// Name in the source (safetensors name, or the GGUF name when re-quantizing).
    pub source: String,
    pub dims: GgmlDims,
    pub ty: GgmlType,
    pub rows: RowOrder,
    /// Written in a fallback type because its rows are not whole blocks of its rule's type.
    pub fell_back: bool,
}

impl PlannedTensor {
    pub fn spec(&self) -> TensorSpec {
        TensorSpec {
            name: self.name.clone(),
            dims: self.dims.clone(),
            ty: self.ty,
        }
    }
}

/// Everything the writer needs.
#[derive(Clone, Debug)]
pub struct Plan {
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<PlannedTensor>,
}

/// The tensor types `--output-type` may name.
pub const WRITABLE_TYPES: [GgmlType; 13] = GgmlType::WEIGHT_TYPES;

/// What `--type`, `--pure` and `--output-type` decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypePolicy {
    /// `--type`: llama-quantize's file type.
    pub file_type: FileType,
    /// `--pure`: the file type's base type on every 2-D tensor (before fallbacks).
    pub pure: bool,
    /// `--output-type`: the type of token_embd and output, taken as is.
    pub output_ty: Option<GgmlType>,
}

impl TypePolicy {
    pub fn new(file_type: FileType, pure: bool, output_ty: Option<GgmlType>) -> Result<Self> {
        if let Some(t) = output_ty.filter(|t| !WRITABLE_TYPES.contains(t)) {
            return Err(Error::UnsupportedTargetType(t));
        }
        Ok(TypePolicy {
            file_type,
            pure,
            output_ty,
        })
    }

    /// The provisional type of tensor `name` with dims `dims` while the source is planned:
    /// 1-D tensors stay F32 (final), 2-D ones get the file type's base type until
    /// [`assign_types`] applies llama-quantize's rules to the whole plan. Never fails; the
    /// `bool` (fell back) is always false here.
    pub fn type_for(&self, _name: &str, dims: &GgmlDims) -> Result<(GgmlType, bool)> {
        if dims.0.len() <= 1 {
            return Ok((GgmlType::F32, false));
        }
        Ok((self.file_type.base(), false))
    }

    /// True when no block type is involved: the output is what llama.cpp's converter would
    /// write (its metadata and tensor order), not what llama-quantize would.
    pub fn is_plain_conversion(&self) -> bool {
        !self.file_type.is_quantized() && self.output_ty.is_none_or(|t| t.block_size() == 1)
    }

    /// `general.file_type`: llama-quantize's number for the file type.
    pub fn file_type(&self) -> u32 {
        self.file_type.llama_ftype()
    }
}

/// llama-quantize's tensor order: non-layer tensors by name, then layer by layer (numerically),
/// each layer's tensors by name.
pub fn sort_like_llama_quantize(tensors: &mut [PlannedTensor]) {
    tensors.sort_by(|a, b| layer_key(&a.name).cmp(&layer_key(&b.name)));
}

pub(crate) fn layer_key(name: &str) -> (i64, &str) {
    let layer = name
        .strip_prefix("blk.")
        .and_then(|rest| rest.split('.').next())
        .and_then(|n| n.parse::<i64>().ok());
    match layer {
        Some(n) => (n, name),
        None => (-1, name),
    }
}

/// Sets `general.file_type` (and `general.quantization_version` = 2) in llama-quantize's place:
/// removed where they were and appended at the end.
pub fn set_quantized_file_type(metadata: &mut Vec<(String, Value)>, file_type: u32) {
    metadata.retain(|(k, _)| k != general::FILE_TYPE && k != general::QUANTIZATION_VERSION);
    metadata.push((general::QUANTIZATION_VERSION.into(), Value::U32(2)));
    metadata.push((general::FILE_TYPE.into(), Value::U32(file_type)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(d: &[u64]) -> GgmlDims {
        GgmlDims(d.to_vec())
    }

    /// A Llama plan: token_embd (tied), 1-D norms, and attn_v / ffn_down / attn_q per layer.
    fn llama_plan(n_layer: usize, width: u64) -> Plan {
        let mut names = vec!["token_embd.weight".to_string(), "output_norm.weight".into()];
        for l in 0..n_layer {
            for t in ["attn_norm", "attn_q", "attn_v", "attn_output", "ffn_down"] {
                names.push(format!("blk.{l}.{t}.weight"));
            }
        }
        let tensors = names
            .into_iter()
            .map(|name| PlannedTensor {
                dims: if name.contains("norm") {
                    dims(&[width])
                } else {
                    dims(&[width, 64])
                },
                source: name.clone(),
                name,
                ty: GgmlType::F32,
                rows: RowOrder::Identity,
                fell_back: false,
            })
            .collect();
        let metadata = vec![
            ("llama.attention.head_count".into(), Value::U32(4)),
            ("llama.attention.head_count_kv".into(), Value::U32(2)),
        ];
        Plan { metadata, tensors }
    }

    fn types(plan: &Plan) -> Vec<(String, GgmlType)> {
        plan.tensors
            .iter()
            .map(|t| (t.name.clone(), t.ty))
            .collect()
    }

    fn ty_of(plan: &Plan, name: &str) -> GgmlType {
        plan.tensors.iter().find(|t| t.name == name).unwrap().ty
    }

    #[test]
    fn type_policy() {
        let p = TypePolicy::new(FileType::Q4_0, false, Some(GgmlType::Q8_0)).unwrap();
        assert_eq!(
            p.type_for("blk.0.attn_norm.weight", &dims(&[576])).unwrap(),
            (GgmlType::F32, false)
        );
        let mut plan = llama_plan(2, 576);
        assert!(assign_types(&mut plan, &p).unwrap().is_empty());
        assert_eq!(ty_of(&plan, "blk.0.attn_q.weight"), GgmlType::Q4_0);
        assert_eq!(ty_of(&plan, "token_embd.weight"), GgmlType::Q8_0);
        assert_eq!(ty_of(&plan, "blk.1.attn_norm.weight"), GgmlType::F32);
        // A 32-block type with no fallback: an error naming the tensor.
        let mut plan = llama_plan(1, 100);
        let e = assign_types(&mut plan, &p).unwrap_err().to_string();
        assert!(
            e.contains("`token_embd.weight`") && e.contains("100"),
            "{e}"
        );
        // Float types have no block constraint.
        let p = TypePolicy::new(FileType::F32, false, Some(GgmlType::F16)).unwrap();
        assert!(p.is_plain_conversion());
        let mut plan = llama_plan(1, 100);
        assert!(assign_types(&mut plan, &p).unwrap().is_empty());
        assert_eq!(ty_of(&plan, "blk.0.ffn_down.weight"), GgmlType::F32);
        assert!(TypePolicy::new(FileType::Q4_0, false, Some(GgmlType::Q8_1)).is_err());
    }

    #[test]
    fn k_mix_rules_and_fallbacks() {
        // Q4_K_M on 256-wide rows, 8 layers: tied token_embd Q6_K; attn_v and ffn_down Q6_K
        // where use_more_bits picks (layers 0, 3, 6, 7 of 8), Q4_K elsewhere.
        let p = TypePolicy::new(FileType::Q4_K_M, false, None).unwrap();
        let mut plan = llama_plan(8, 256);
        assert!(assign_types(&mut plan, &p).unwrap().is_empty());
        assert_eq!(ty_of(&plan, "token_embd.weight"), GgmlType::Q6_K);
        let more: Vec<usize> = (0..8)
            .filter(|l| ty_of(&plan, &format!("blk.{l}.attn_v.weight")) == GgmlType::Q6_K)
            .collect();
        assert_eq!(more, [0, 3, 6, 7]);
        for l in 0..8 {
            let down = ty_of(&plan, &format!("blk.{l}.ffn_down.weight"));
            let v = ty_of(&plan, &format!("blk.{l}.attn_v.weight"));
            assert_eq!(down, v, "layer {l}");
            assert_eq!(
                ty_of(&plan, &format!("blk.{l}.attn_q.weight")),
                GgmlType::Q4_K
            );
        }
        // 576-wide rows: Q4_K falls back to Q5_0, Q6_K to Q8_0; token_embd is Q8_0 by rule.
        let mut plan = llama_plan(8, 576);
        let fallbacks = assign_types(&mut plan, &p).unwrap();
        assert_eq!(ty_of(&plan, "token_embd.weight"), GgmlType::Q8_0);
        assert_eq!(ty_of(&plan, "blk.1.attn_q.weight"), GgmlType::Q5_0);
        assert_eq!(ty_of(&plan, "blk.0.attn_v.weight"), GgmlType::Q8_0);
        assert_eq!(fallbacks.len(), 8 * 4);
        assert!(
            fallbacks[0].to_string().contains("written as"),
            "{}",
            fallbacks[0]
        );
        // --pure: the base type everywhere, token_embd included, then the fallback chain.
        let p = TypePolicy::new(FileType::Q2_K, true, None).unwrap();
        let mut plan = llama_plan(2, 576);
        assign_types(&mut plan, &p).unwrap();
        assert!(types(&plan)
            .iter()
            .filter(|(n, _)| !n.contains("norm"))
            .all(|(_, t)| *t == GgmlType::Q4_0));
        // Rows that are no whole 32-block either: F16.
        let mut plan = llama_plan(1, 48);
        assign_types(&mut plan, &p).unwrap();
        assert_eq!(ty_of(&plan, "blk.0.attn_q.weight"), GgmlType::F16);
    }

    #[test]
    fn quantize_order() {
        let mut t: Vec<PlannedTensor> = [
            "blk.10.attn_q.weight",
            "token_embd.weight",
            "blk.2.ffn_up.weight",
            "output_norm.weight",
            "blk.2.attn_k.weight",
            "output.weight",
        ]
        .iter()
        .map(|n| PlannedTensor {
            name: n.to_string(),
            source: n.to_string(),
            dims: dims(&[32]),
            ty: GgmlType::F32,
            rows: RowOrder::Identity,
            fell_back: false,
        })
        .collect();
        sort_like_llama_quantize(&mut t);
        let names: Vec<&str> = t.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "output.weight",
                "output_norm.weight",
                "token_embd.weight",
                "blk.2.attn_k.weight",
                "blk.2.ffn_up.weight",
                "blk.10.attn_q.weight"
            ]
        );
    }

    #[test]
    fn file_type_goes_last() {
        let mut m = vec![
            (
                "general.architecture".to_string(),
                Value::String("llama".into()),
            ),
            ("general.file_type".to_string(), Value::U32(3)),
            (
                "tokenizer.ggml.model".to_string(),
                Value::String("gpt2".into()),
            ),
            ("general.quantization_version".to_string(), Value::U32(2)),
        ];
        set_quantized_file_type(&mut m, 7);
        let keys: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "general.architecture",
                "tokenizer.ggml.model",
                "general.quantization_version",
                "general.file_type"
            ]
        );
        assert_eq!(m[3].1, Value::U32(7));
    }
}
