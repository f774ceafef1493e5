//! The plan: every output tensor with its GGUF name, dims, target type and where its rows come
//! from, plus the metadata, all decided before a byte is written. The type policy is
//! `llama-quantize --pure` with our defaults (DESIGN section 2).

use crate::error::{Error, Result};
use edge_formats::gguf::keys::general;
use edge_formats::gguf::{GgmlDims, TensorSpec, Value};
use edge_formats::GgmlType;

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
    /// Written as F16 because its rows are not whole blocks (`--allow-fallback`).
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

/// The types the user may ask for.
pub const WRITABLE_TYPES: [GgmlType; 13] = GgmlType::WEIGHT_TYPES;

/// What `--type`, `--output-type` and `--allow-fallback` decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypePolicy {
    pub ty: GgmlType,
    pub output_ty: GgmlType,
    pub allow_fallback: bool,
}

impl TypePolicy {
    pub fn new(ty: GgmlType, output_ty: GgmlType, allow_fallback: bool) -> Result<Self> {
        for t in [ty, output_ty] {
            if !WRITABLE_TYPES.contains(&t) {
                return Err(Error::UnsupportedTargetType(t));
            }
        }
        Ok(TypePolicy {
            ty,
            output_ty,
            allow_fallback,
        })
    }

    /// The type of tensor `name` with dims `dims`, and whether it fell back to F16:
    /// 1-D tensors stay F32, `token_embd`/`output` take `output_ty`, every other weight `ty`.
    /// Rows that are not whole blocks: an error naming the tensor, or F16 when allowed.
    pub fn type_for(&self, name: &str, dims: &GgmlDims) -> Result<(GgmlType, bool)> {
        if dims.0.len() <= 1 {
            return Ok((GgmlType::F32, false));
        }
        let ty = if OUTPUT_TENSORS.contains(&name) {
            self.output_ty
        } else {
            self.ty
        };
        let row_len = dims.row_len();
        if ty.row_bytes(row_len).is_some() {
            return Ok((ty, false));
        }
        if self.allow_fallback {
            Ok((GgmlType::F16, true))
        } else {
            Err(Error::RowNotBlockAligned {
                tensor: name.to_string(),
                row_len,
                block: ty.block_size(),
                ty,
            })
        }
    }

    /// True when no block type is involved: the output is what llama.cpp's converter would
    /// write (its metadata and tensor order), not what llama-quantize would.
    pub fn is_plain_conversion(&self) -> bool {
        self.ty.block_size() == 1 && self.output_ty.block_size() == 1
    }

    /// `general.file_type`: the type of the bulk of the weights.
    pub fn file_type(&self) -> u32 {
        self.ty.file_type().unwrap_or(0)
    }
}

/// llama-quantize's tensor order: non-layer tensors by name, then layer by layer (numerically),
/// each layer's tensors by name.
pub fn sort_like_llama_quantize(tensors: &mut [PlannedTensor]) {
    tensors.sort_by(|a, b| layer_key(&a.name).cmp(&layer_key(&b.name)));
}

fn layer_key(name: &str) -> (i64, &str) {
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

    #[test]
    fn type_policy() {
        let p = TypePolicy::new(GgmlType::Q4_0, GgmlType::Q8_0, false).unwrap();
        assert_eq!(
            p.type_for("blk.0.attn_norm.weight", &dims(&[576])).unwrap(),
            (GgmlType::F32, false)
        );
        assert_eq!(
            p.type_for("blk.0.attn_q.weight", &dims(&[576, 576]))
                .unwrap(),
            (GgmlType::Q4_0, false)
        );
        assert_eq!(
            p.type_for("token_embd.weight", &dims(&[576, 49152]))
                .unwrap(),
            (GgmlType::Q8_0, false)
        );
        assert_eq!(
            p.type_for("output.weight", &dims(&[576, 49152])).unwrap(),
            (GgmlType::Q8_0, false)
        );
        let e = p
            .type_for("blk.0.ffn_down.weight", &dims(&[100, 64]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`blk.0.ffn_down.weight`") && e.contains("100"),
            "{e}"
        );
        let p = TypePolicy::new(GgmlType::Q4_0, GgmlType::Q8_0, true).unwrap();
        assert_eq!(
            p.type_for("blk.0.ffn_down.weight", &dims(&[100, 64]))
                .unwrap(),
            (GgmlType::F16, true)
        );
        // Float types have no block constraint.
        let p = TypePolicy::new(GgmlType::F32, GgmlType::F16, false).unwrap();
        assert_eq!(
            p.type_for("blk.0.ffn_down.weight", &dims(&[100, 64]))
                .unwrap(),
            (GgmlType::F32, false)
        );
        assert!(p.is_plain_conversion());
        assert!(TypePolicy::new(GgmlType::Q8_1, GgmlType::Q8_0, false).is_err());
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
