//! What a Llama GGUF must hold to run, checked in one place: the runtime checks a file with it
//! at load and the quantizer checks what it is about to write, so quantize never writes a file
//! run-edge refuses.
//!
//! - [`ModelConfig::from_metadata`]: the hyper-parameters (`{arch}.*` keys), present, typed and
//!   consistent;
//! - [`check_tensors`]: every tensor the config implies, present, shaped and typed as it says;
//! - [`check_tokenizer`]: the `tokenizer.*` keys, consistent with themselves;
//! - [`check_model`]: all three, and a token list as long as the embedding has rows.
//!
//! Tensor data regions are checked where they are read: the GGUF reader refuses data outside
//! the file and overlapping regions.

mod hparams;
mod tensors;
mod tokenizer;

pub use hparams::{ModelConfig, SUPPORTED_ARCHITECTURES};
pub use tensors::{
    check_tensors, expected_tensors, Expected, TensorShape, MATRIX_TYPES, NORM_TYPES,
};
pub use tokenizer::{
    check_normalizer_replacements, check_tokenizer, split_merge, Lookup, MAX_NORMALIZER_GROWTH,
};

use crate::gguf::Metadata;

/// The part of a model a validation problem is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The hyper-parameter keys (`general.architecture`, `{arch}.*`).
    Config,
    /// The tensors (or the block count they contradict).
    Tensors,
    /// The `tokenizer.*` keys.
    Tokenizer,
}

/// A model that does not validate: the part at fault and its problems in one line, each
/// naming its key or tensor.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{problems}", part_prefix(*part))]
pub struct Invalid {
    pub part: Part,
    pub problems: String,
}

fn part_prefix(part: Part) -> &'static str {
    match part {
        Part::Config => "metadata: ",
        Part::Tensors => "",
        Part::Tokenizer => "tokenizer: ",
    }
}

/// At most this many problems are listed in one message; the rest are counted.
const MAX_LISTED_PROBLEMS: usize = 4;

/// The problems separated by "; ", the list cut after `MAX_LISTED_PROBLEMS`.
pub fn join_problems(problems: &[String]) -> String {
    let listed = problems[..problems.len().min(MAX_LISTED_PROBLEMS)].join("; ");
    match problems.len().checked_sub(MAX_LISTED_PROBLEMS) {
        Some(more) if more > 0 => format!("{listed}; and {more} more"),
        _ => listed,
    }
}

/// The row count of `token_embd.weight` if it is a matrix: the vocabulary size when
/// `{arch}.vocab_size` is absent.
pub fn embedding_rows(tensors: &[TensorShape<'_>]) -> Option<u64> {
    tensors
        .iter()
        .find(|t| t.name == "token_embd.weight")
        .filter(|t| t.dims.0.len() == 2)
        .map(|t| t.dims.0[1])
}

/// Checks the config and the tensors (what a model needs to compute logits).
pub fn check_weights(meta: &Metadata, tensors: &[TensorShape<'_>]) -> Result<ModelConfig, Invalid> {
    let cfg =
        ModelConfig::from_metadata(meta, embedding_rows(tensors)).map_err(|problems| Invalid {
            part: Part::Config,
            problems,
        })?;
    check_tensors(&cfg, tensors).map_err(|p| Invalid {
        part: Part::Tensors,
        problems: join_problems(&p),
    })?;
    Ok(cfg)
}

/// The whole model: config, tensors and tokenizer, and as many tokens as vocabulary rows.
pub fn check_model(meta: &Metadata, tensors: &[TensorShape<'_>]) -> Result<ModelConfig, Invalid> {
    let cfg = check_weights(meta, tensors)?;
    let tokenizer_err = |problems| Invalid {
        part: Part::Tokenizer,
        problems,
    };
    let n_tokens = check_tokenizer(&|key| meta.get(key)).map_err(tokenizer_err)?;
    check_token_count(n_tokens, cfg.n_vocab).map_err(tokenizer_err)?;
    Ok(cfg)
}

/// A tokenizer of `n_tokens` tokens for a model of `n_vocab` vocabulary rows: one token per
/// row (with fewer, ids past the list decode to nothing; with more, tokens have no logit).
pub fn check_token_count(n_tokens: usize, n_vocab: usize) -> Result<(), String> {
    if n_tokens == n_vocab {
        return Ok(());
    }
    Err(format!(
        "{n_tokens} tokens in tokenizer.ggml.tokens for a vocabulary of {n_vocab} (the rows of \
         token_embd.weight)"
    ))
}

#[cfg(test)]
mod tests;
