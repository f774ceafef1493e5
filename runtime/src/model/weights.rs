//! The Llama weights as views into the GGUF mapping (copied only when the file places a
//! tensor at an address its type cannot be read from, see `realign`). Every tensor's shape
//! and type were checked against the config by `edge_formats::validate` before; the loader
//! still refuses what it cannot view rather than trust that.

use super::realign::Realigned;
use super::ModelConfig;
use crate::kernels::{MatData, Matrix};
use crate::{Error, Result};
use edge_formats::gguf::{GgufFile, TensorInfo};
use edge_formats::validate::join_problems;
use std::borrow::Cow;

/// Tensor types a weight matrix may have (the validator's list).
pub(crate) use edge_formats::validate::MATRIX_TYPES;

/// One transformer block. Shapes are (rows, k): out (rows) = w @ x (k).
#[derive(Clone, Debug)]
pub struct LayerWeights<'a> {
    /// blk.N.attn_norm.weight (n_embd)
    pub attn_norm: Cow<'a, [f32]>,
    /// blk.N.attn_q.weight (q_dim, n_embd)
    pub attn_q: Matrix<'a>,
    /// blk.N.attn_k.weight (kv_dim, n_embd)
    pub attn_k: Matrix<'a>,
    /// blk.N.attn_v.weight (kv_dim, n_embd)
    pub attn_v: Matrix<'a>,
    /// blk.N.attn_output.weight (n_embd, q_dim)
    pub attn_output: Matrix<'a>,
    /// blk.N.ffn_norm.weight (n_embd)
    pub ffn_norm: Cow<'a, [f32]>,
    /// blk.N.ffn_gate.weight (n_ff, n_embd)
    pub ffn_gate: Matrix<'a>,
    /// blk.N.ffn_up.weight (n_ff, n_embd)
    pub ffn_up: Matrix<'a>,
    /// blk.N.ffn_down.weight (n_embd, n_ff)
    pub ffn_down: Matrix<'a>,
}

impl<'a> LayerWeights<'a> {
    /// The matrices that read an n_embd or q_dim activation (the shared `act` buffer of a
    /// step): q, k, v, the attention output, gate and up. `ffn_down` is the other one.
    pub fn matrices_reading_embd(&self) -> [&Matrix<'a>; 6] {
        [
            &self.attn_q,
            &self.attn_k,
            &self.attn_v,
            &self.attn_output,
            &self.ffn_gate,
            &self.ffn_up,
        ]
    }
}

/// All weights of the network.
#[derive(Clone, Debug)]
pub struct Weights<'a> {
    /// token_embd.weight (n_vocab, n_embd): one row per token.
    pub token_embd: Matrix<'a>,
    /// n_layer blocks.
    pub layers: Vec<LayerWeights<'a>>,
    /// output_norm.weight (n_embd)
    pub output_norm: Cow<'a, [f32]>,
    /// output.weight (n_vocab, n_embd), or token_embd when the file ties them.
    pub output: Matrix<'a>,
    /// True when output.weight is absent and token_embd is used for the logits.
    pub tied_output: bool,
}

impl<'a> Weights<'a> {
    /// Builds the views, collecting every missing, misshapen or mistyped tensor into one
    /// error message.
    /// Errors: [`Error::BadWeights`] naming the file and each problem's tensor.
    pub fn load(file: &'a GgufFile, realigned: &'a Realigned, cfg: &ModelConfig) -> Result<Self> {
        Self::views(file, realigned, cfg).map_err(|problems| Error::BadWeights {
            path: file.path.clone(),
            problems,
        })
    }

    /// [`Weights::load`] with the problems as one "; "-separated message.
    fn views(
        file: &'a GgufFile,
        realigned: &'a Realigned,
        cfg: &ModelConfig,
    ) -> std::result::Result<Self, String> {
        let mut ld = Loader {
            file,
            realigned,
            problems: Vec::new(),
        };
        let (e, v) = (cfg.n_embd, cfg.n_vocab);
        let token_embd = ld.matrix("token_embd.weight", v, e);
        let output_norm = ld.norm("output_norm.weight", e);
        let tied_output = file.tensor("output.weight").is_none();
        let output = if tied_output {
            token_embd
        } else {
            ld.matrix("output.weight", v, e)
        };
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let name = |t: &str| format!("blk.{i}.{t}.weight");
            let layer = LayerWeights {
                attn_norm: ld.norm(&name("attn_norm"), e).unwrap_or_default(),
                attn_q: ld.matrix(&name("attn_q"), cfg.q_dim(), e).unwrap_or(EMPTY),
                attn_k: ld.matrix(&name("attn_k"), cfg.kv_dim(), e).unwrap_or(EMPTY),
                attn_v: ld.matrix(&name("attn_v"), cfg.kv_dim(), e).unwrap_or(EMPTY),
                attn_output: ld
                    .matrix(&name("attn_output"), e, cfg.q_dim())
                    .unwrap_or(EMPTY),
                ffn_norm: ld.norm(&name("ffn_norm"), e).unwrap_or_default(),
                ffn_gate: ld.matrix(&name("ffn_gate"), cfg.n_ff, e).unwrap_or(EMPTY),
                ffn_up: ld.matrix(&name("ffn_up"), cfg.n_ff, e).unwrap_or(EMPTY),
                ffn_down: ld.matrix(&name("ffn_down"), e, cfg.n_ff).unwrap_or(EMPTY),
            };
            layers.push(layer);
        }
        match (token_embd, output_norm, output) {
            (Some(token_embd), Some(output_norm), Some(output)) if ld.problems.is_empty() => {
                Ok(Weights {
                    token_embd,
                    layers,
                    output_norm,
                    output,
                    tied_output,
                })
            }
            _ => Err(join_problems(&ld.problems)),
        }
    }

    /// Every weight matrix (output included when tied: it then repeats token_embd).
    pub fn matrices(&self) -> impl Iterator<Item = &Matrix<'a>> {
        let per_layer = self.layers.iter().flat_map(|l| {
            let [q, k, v, o, gate, up] = l.matrices_reading_embd();
            [q, k, v, o, gate, up, &l.ffn_down]
        });
        [&self.token_embd, &self.output]
            .into_iter()
            .chain(per_layer)
    }

    /// Replaces every weight matrix by `view(matrix)` (the same shape, another storage).
    pub fn map_matrices<'b>(self, view: impl Fn(Matrix<'a>) -> Matrix<'b>) -> Weights<'b>
    where
        'a: 'b,
    {
        Weights {
            token_embd: view(self.token_embd),
            layers: self
                .layers
                .into_iter()
                .map(|l| LayerWeights {
                    attn_norm: l.attn_norm,
                    attn_q: view(l.attn_q),
                    attn_k: view(l.attn_k),
                    attn_v: view(l.attn_v),
                    attn_output: view(l.attn_output),
                    ffn_norm: l.ffn_norm,
                    ffn_gate: view(l.ffn_gate),
                    ffn_up: view(l.ffn_up),
                    ffn_down: view(l.ffn_down),
                })
                .collect(),
            output_norm: self.output_norm,
            output: view(self.output),
            tied_output: self.tied_output,
        }
    }

    /// Bytes of weight data the views cover (output counted once when tied).
    pub fn n_bytes(&self) -> u64 {
        let norm = |n: &Cow<'_, [f32]>| (n.len() * 4) as u64;
        let mut total = matrix_bytes(&self.token_embd) + norm(&self.output_norm);
        if !self.tied_output {
            total += matrix_bytes(&self.output);
        }
        for l in &self.layers {
            total += norm(&l.attn_norm) + norm(&l.ffn_norm);
            for m in l.matrices_reading_embd().into_iter().chain([&l.ffn_down]) {
                total += matrix_bytes(m);
            }
        }
        total
    }
}

/// A placeholder for a tensor that failed to load; never used (the load then errors).
const EMPTY: Matrix<'static> = Matrix {
    data: MatData::F32(&[]),
    rows: 0,
    k: 0,
};

/// Bytes of a matrix's storage.
pub fn matrix_bytes(m: &Matrix<'_>) -> u64 {
    let bytes = match m.data {
        MatData::F32(d) => std::mem::size_of_val(d),
        MatData::F16(d) => std::mem::size_of_val(d),
        MatData::BF16(d) => std::mem::size_of_val(d),
        MatData::Q8_0(d) => std::mem::size_of_val(d),
        MatData::Q4_0(d) => std::mem::size_of_val(d),
        MatData::Q4_1(d) => std::mem::size_of_val(d),
        MatData::Q5_0(d) => std::mem::size_of_val(d),
        MatData::Q5_1(d) => std::mem::size_of_val(d),
        MatData::Q2_K(d) => std::mem::size_of_val(d),
        MatData::Q3_K(d) => std::mem::size_of_val(d),
        MatData::Q4_K(d) => std::mem::size_of_val(d),
        MatData::Q5_K(d) => std::mem::size_of_val(d),
        MatData::Q6_K(d) => std::mem::size_of_val(d),
        MatData::Q4_0x4(d) => std::mem::size_of_val(d),
        MatData::Q8_0x4(d) => std::mem::size_of_val(d),
    };
    bytes as u64
}

/// Looks tensors up and checks them, collecting problems.
struct Loader<'a> {
    file: &'a GgufFile,
    realigned: &'a Realigned,
    problems: Vec<String>,
}

impl<'a> Loader<'a> {
    fn info(&mut self, name: &str) -> Option<&'a TensorInfo> {
        let info = self.file.tensor(name);
        if info.is_none() {
            self.problems.push(format!("tensor {name}: missing"));
        }
        info
    }

    /// A (rows, k) weight matrix: ggml dims [k, rows].
    fn matrix(&mut self, name: &str, rows: usize, k: usize) -> Option<Matrix<'a>> {
        let info = self.info(name)?;
        let expected = [k as u64, rows as u64];
        if info.dims.0 != expected {
            self.problems.push(format!(
                "tensor {name}: dims {:?}, expected {expected:?} (ggml order, row length first)",
                info.dims.0
            ));
            return None;
        }
        if !MATRIX_TYPES.contains(&info.ty) {
            self.problems.push(format!(
                "tensor {name}: type {} is not supported (we run {})",
                info.ty,
                MATRIX_TYPES.map(|t| t.name()).join(", ")
            ));
            return None;
        }
        match Matrix::from_bytes(info.ty, self.realigned.data(self.file, info), rows, k) {
            Ok(m) => Some(m),
            Err(e) => {
                self.problems.push(format!("tensor {name}: {e}"));
                None
            }
        }
    }

    /// A 1-D norm weight (n): F32 viewed in place, F16 converted once.
    fn norm(&mut self, name: &str, n: usize) -> Option<Cow<'a, [f32]>> {
        let info = self.info(name)?;
        if info.dims.0 != [n as u64] {
            self.problems.push(format!(
                "tensor {name}: dims {:?}, expected [{n}]",
                info.dims.0
            ));
            return None;
        }
        match Matrix::from_bytes(info.ty, self.realigned.data(self.file, info), 1, n) {
            Ok(Matrix {
                data: MatData::F32(d),
                ..
            }) => Some(Cow::Borrowed(d)),
            Ok(Matrix {
                data: MatData::F16(d),
                ..
            }) => Some(Cow::Owned(d.iter().map(|h| h.to_f32()).collect())),
            Ok(_) => {
                self.problems.push(format!(
                    "tensor {name}: type {} is not supported for a norm weight (F32 or F16)",
                    info.ty
                ));
                None
            }
            Err(e) => {
                self.problems.push(format!("tensor {name}: {e}"));
                None
            }
        }
    }
}
