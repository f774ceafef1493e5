//! The tensors a Llama GGUF must hold for its config: each present, with the ggml dims the
//! config gives it and a type the runtime runs, and one `blk.N` block per `block_count`.

use super::hparams::ModelConfig;
use crate::gguf::GgmlDims;
use crate::GgmlType;
use std::collections::HashMap;

/// Tensor types a weight matrix may have.
pub const MATRIX_TYPES: [GgmlType; 13] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

/// Tensor types a 1-D norm weight may have.
pub const NORM_TYPES: [GgmlType; 2] = [GgmlType::F32, GgmlType::F16];

/// What the validator needs of one tensor: its name, ggml dims and type (a GGUF's tensor
/// info, or what the quantizer is about to write).
#[derive(Clone, Copy, Debug)]
pub struct TensorShape<'a> {
    pub name: &'a str,
    pub dims: &'a GgmlDims,
    pub ty: GgmlType,
}

/// The shape one tensor must have: a (rows, k) matrix (ggml dims `[k, rows]`) or an (n) norm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    Matrix { rows: usize, k: usize },
    Norm { n: usize },
}

/// Every tensor a model of `cfg` reads, by GGUF name, in load order. `output.weight` is
/// listed only when `has_output` (else the logits reuse `token_embd.weight`).
pub fn expected_tensors(cfg: &ModelConfig, has_output: bool) -> Vec<(String, Expected)> {
    let (e, v) = (cfg.n_embd, cfg.n_vocab);
    let matrix = |rows, k| Expected::Matrix { rows, k };
    let norm = Expected::Norm { n: e };
    let mut out = vec![
        ("token_embd.weight".to_string(), matrix(v, e)),
        ("output_norm.weight".to_string(), norm),
    ];
    if has_output {
        out.push(("output.weight".to_string(), matrix(v, e)));
    }
    for i in 0..cfg.n_layer {
        let name = |t: &str| format!("blk.{i}.{t}.weight");
        out.extend([
            (name("attn_norm"), norm),
            (name("attn_q"), matrix(cfg.q_dim(), e)),
            (name("attn_k"), matrix(cfg.kv_dim(), e)),
            (name("attn_v"), matrix(cfg.kv_dim(), e)),
            (name("attn_output"), matrix(e, cfg.q_dim())),
            (name("ffn_norm"), norm),
            (name("ffn_gate"), matrix(cfg.n_ff, e)),
            (name("ffn_up"), matrix(cfg.n_ff, e)),
            (name("ffn_down"), matrix(e, cfg.n_ff)),
        ]);
    }
    out
}

/// Checks `tensors` against `cfg`: the block count first (before anything is sized by it),
/// then every expected tensor's presence, dims and type. All problems, each naming its tensor.
pub fn check_tensors(cfg: &ModelConfig, tensors: &[TensorShape<'_>]) -> Result<(), Vec<String>> {
    check_block_count(cfg, tensors).map_err(|p| vec![p])?;
    let by_name: HashMap<&str, &TensorShape<'_>> = tensors.iter().map(|t| (t.name, t)).collect();
    let mut problems = Vec::new();
    let has_output = by_name.contains_key("output.weight");
    for (name, expected) in expected_tensors(cfg, has_output) {
        let Some(t) = by_name.get(name.as_str()) else {
            problems.push(format!("tensor {name}: missing"));
            continue;
        };
        match expected {
            Expected::Matrix { rows, k } => {
                let want = [k as u64, rows as u64];
                if t.dims.0 != want {
                    problems.push(format!(
                        "tensor {name}: dims {:?}, expected {want:?} (ggml order, row length first)",
                        t.dims.0
                    ));
                } else if !MATRIX_TYPES.contains(&t.ty) {
                    problems.push(format!(
                        "tensor {name}: type {} is not supported (we run {})",
                        t.ty,
                        MATRIX_TYPES.map(|t| t.name()).join(", ")
                    ));
                }
            }
            Expected::Norm { n } => {
                if t.dims.0 != [n as u64] {
                    problems.push(format!(
                        "tensor {name}: dims {:?}, expected [{n}]",
                        t.dims.0
                    ));
                } else if !NORM_TYPES.contains(&t.ty) {
                    problems.push(format!(
                        "tensor {name}: type {} is not supported for a norm weight (F32 or F16)",
                        t.ty
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// `{arch}.block_count` must be the number of `blk.N` blocks the tensors hold.
fn check_block_count(cfg: &ModelConfig, tensors: &[TensorShape<'_>]) -> Result<(), String> {
    let block_of = |name: &str| -> Option<u64> {
        let rest = name.strip_prefix("blk.")?;
        rest[..rest.find('.')?].parse().ok()
    };
    let highest = tensors.iter().filter_map(|t| block_of(t.name)).max();
    let n_blocks = highest.map_or(0, |h| h.saturating_add(1));
    if n_blocks == cfg.n_layer as u64 {
        return Ok(());
    }
    let held = match highest {
        None => "no blk.N tensors".to_string(),
        Some(h) => format!("tensors for {n_blocks} blocks (blk.0 .. blk.{h})"),
    };
    Err(format!(
        "{}.block_count: {}, but the file has {held}",
        cfg.architecture, cfg.n_layer
    ))
}
