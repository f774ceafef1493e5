//! llama-quantize's per-tensor type rules (llama.cpp `llama_tensor_get_type`) for the file
//! types we write, on a Llama model: which tensors of a K-quant mix get more bits, what
//! `output` / tied `token_embd` get, and the fallback for rows that are not whole blocks.

use super::{Plan, TypePolicy};
use crate::error::{Error, Result};
use edge_formats::gguf::Value;
use edge_formats::FileType;
use edge_formats::GgmlType;

/// A tensor written in another type than its rule chose, because its rows are not whole
/// blocks of that type. Printed as a warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fallback {
    pub tensor: String,
    pub row_len: u64,
    /// The rule's type.
    pub wanted: GgmlType,
    /// The type written.
    pub written: GgmlType,
}

impl std::fmt::Display for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "tensor `{}`: row length {} is not a multiple of {} ({}); written as {}",
            self.tensor,
            self.row_len,
            self.wanted.block_size(),
            self.wanted,
            self.written
        )
    }
}

/// What a tensor is to the rules (llama.cpp `tensor_category`, the Llama subset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Category {
    TokenEmbd,
    Output,
    AttnV,
    AttnOutput,
    FfnDown,
    Other,
}

fn category(name: &str) -> Category {
    match name {
        "output.weight" => Category::Output,
        "token_embd.weight" => Category::TokenEmbd,
        _ if name.contains("attn_v.weight") => Category::AttnV,
        _ if name.contains("attn_output.weight") => Category::AttnOutput,
        _ if name.contains("ffn_down") => Category::FfnDown,
        _ => Category::Other,
    }
}

/// llama.cpp's `use_more_bits`: the first and last eighth of the layers and every third
/// one between.
fn use_more_bits(i: i64, n: i64) -> bool {
    i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
}

/// The facts of the model the rules read.
struct ModelFacts {
    /// n_head / n_head_kv (llama.cpp `n_gqa`).
    n_gqa: u32,
    /// No `output.weight`: token_embd doubles as the output matrix.
    tied: bool,
    n_attn_v: i64,
    n_ffn_down: i64,
}

impl ModelFacts {
    fn of(plan: &Plan) -> ModelFacts {
        let key = |k: &str| {
            plan.metadata.iter().find_map(|(name, v)| match v {
                Value::U32(n) if name == k => Some(*n),
                _ => None,
            })
        };
        let n_head = key("llama.attention.head_count").unwrap_or(1);
        let n_head_kv = key("llama.attention.head_count_kv").unwrap_or(n_head);
        let count = |c: Category| {
            plan.tensors
                .iter()
                .filter(|t| category(&t.name) == c)
                .count() as i64
        };
        ModelFacts {
            n_gqa: n_head.checked_div(n_head_kv).unwrap_or(1),
            tied: !plan.tensors.iter().any(|t| t.name == "output.weight"),
            n_attn_v: count(Category::AttnV),
            n_ffn_down: count(Category::FfnDown),
        }
    }
}

/// The mix's type for one tensor (llama.cpp `llama_tensor_get_type_impl` for Llama, no
/// imatrix, not Falcon, not 70B, no experts). `i` is the tensor's index among the tensors of
/// its category (its layer), for attn_v and ffn_down.
fn mix_type(ft: FileType, cat: Category, i: i64, row_len: u64, m: &ModelFacts) -> GgmlType {
    use FileType as F;
    use GgmlType as T;
    let base = ft.base();
    match cat {
        // Newer llama.cpp tests the base type's block here and lets the fallback turn Q6_K
        // into Q8_0; the types are the same, but this way no fallback is reported.
        Category::Output | Category::TokenEmbd if cat == Category::Output || m.tied => {
            if !row_len.is_multiple_of(T::Q6_K.block_size() as u64) {
                T::Q8_0
            } else if base != T::Q8_0 {
                T::Q6_K
            } else {
                base
            }
        }
        Category::AttnV => match ft {
            F::Q2_K if m.n_gqa >= 4 => T::Q4_K,
            F::Q2_K => T::Q3_K,
            F::Q3_K_M if i < 2 => T::Q5_K,
            F::Q3_K_M => T::Q4_K,
            F::Q3_K_L => T::Q5_K,
            F::Q4_K_M | F::Q5_K_M if use_more_bits(i, m.n_attn_v) => T::Q6_K,
            F::Q4_K_S if i < 4 => T::Q5_K,
            _ => base,
        },
        Category::FfnDown => {
            let n = m.n_ffn_down;
            match ft {
                F::Q2_K => T::Q3_K,
                F::Q3_K_M if i < n / 16 => T::Q5_K,
                F::Q3_K_M => T::Q4_K,
                F::Q3_K_L => T::Q5_K,
                F::Q4_K_M | F::Q5_K_M if use_more_bits(i, n) => T::Q6_K,
                F::Q4_K_S if i < n / 8 => T::Q5_K,
                _ => base,
            }
        }
        Category::AttnOutput => match ft {
            F::Q2_K => T::Q3_K,
            F::Q3_K_M => T::Q4_K,
            F::Q3_K_L => T::Q5_K,
            _ => base,
        },
        _ => base,
    }
}

/// llama.cpp `tensor_type_fallback`: the type for rows of `row_len` when `ty`'s blocks do
/// not divide them (Q2_K, Q3_K -> Q4_0 in the llama.cpp the manifests come from; Q4_K ->
/// Q5_0; Q5_K -> Q5_1; Q6_K -> Q8_0; then F16), or an error for types with no fallback.
fn fallback(tensor: &str, ty: GgmlType, row_len: u64) -> Result<GgmlType> {
    use GgmlType as T;
    let next = match ty {
        T::Q2_K | T::Q3_K => T::Q4_0,
        T::Q4_K => T::Q5_0,
        T::Q5_K => T::Q5_1,
        T::Q6_K => T::Q8_0,
        _ => {
            return Err(Error::RowNotBlockAligned {
                tensor: tensor.to_string(),
                row_len,
                block: ty.block_size(),
                ty,
            })
        }
    };
    Ok(if next.row_bytes(row_len).is_some() {
        next
    } else {
        T::F16
    })
}

/// Sets the type of every 2-D tensor of `plan` as llama-quantize would for `policy`; 1-D
/// tensors keep the type the source planning gave them (F32). Returns the fallbacks taken,
/// in llama-quantize's tensor order.
pub fn assign_types(plan: &mut Plan, policy: &TypePolicy) -> Result<Vec<Fallback>> {
    let facts = ModelFacts::of(plan);
    let ft = policy.file_type;
    // llama-quantize's order (layer by layer) drives its attn_v / ffn_down counters.
    let mut order: Vec<usize> = (0..plan.tensors.len()).collect();
    order.sort_by(|&a, &b| {
        super::layer_key(&plan.tensors[a].name).cmp(&super::layer_key(&plan.tensors[b].name))
    });
    let (mut i_attn_v, mut i_ffn_down) = (0i64, 0i64);
    let mut fallbacks = Vec::new();
    for idx in order {
        let t = &mut plan.tensors[idx];
        if t.dims.0.len() < 2 {
            continue;
        }
        let row_len = t.dims.row_len();
        let cat = category(&t.name);
        let given = policy
            .output_ty
            .filter(|_| matches!(cat, Category::TokenEmbd | Category::Output));
        let ty = if let Some(ty) = given {
            // llama-quantize's --token-embedding-type / --output-tensor-type: taken as is.
            ty.row_bytes(row_len)
                .ok_or_else(|| Error::RowNotBlockAligned {
                    tensor: t.name.clone(),
                    row_len,
                    block: ty.block_size(),
                    ty,
                })?;
            ty
        } else if !ft.is_quantized() {
            ft.base()
        } else {
            let i = match cat {
                Category::AttnV => &mut i_attn_v,
                Category::FfnDown => &mut i_ffn_down,
                _ => &mut 0,
            };
            let wanted = if policy.pure {
                ft.base()
            } else {
                let ty = mix_type(ft, cat, *i, row_len, &facts);
                *i += 1;
                ty
            };
            if wanted.row_bytes(row_len).is_some() {
                wanted
            } else {
                let written = fallback(&t.name, wanted, row_len)?;
                fallbacks.push(Fallback {
                    tensor: t.name.clone(),
                    row_len,
                    wanted,
                    written,
                });
                written
            }
        };
        t.ty = ty;
        t.fell_back = fallbacks.last().is_some_and(|f| f.tensor == t.name);
    }
    Ok(fallbacks)
}
