//! Perplexity of a text, by llama-perplexity's algorithm (llama.cpp tools/perplexity,
//! `perplexity()` without stride):
//!
//! - the whole text is tokenized once (BOS first where the tokenizer adds it; special-token
//!   text is not parsed);
//! - chunk c is tokens [c*n_ctx, (c+1)*n_ctx), evaluated from an empty cache as one batch
//!   that wants the logits of positions n_ctx/2 on (`Session::forward_outputs`: llama.cpp's
//!   batch arithmetic, so with the f16 cache llama-perplexity defaults to, its logits bit for
//!   bit on x86); where the model adds BOS, the chunk's first token is replaced by BOS (not
//!   shifted);
//! - the logits at positions n_ctx/2 .. n_ctx-2 score the token after each, so every chunk
//!   scores n_ctx/2 - 1 tokens (n_ctx - 1 - n_ctx/2);
//! - PPL = exp(mean NLL); the error llama.cpp prints is PPL * sqrt(var(NLL) / (count - 1)),
//!   with var = mean(NLL^2) - mean(NLL)^2.
//!
//! The log-softmax is computed in f64.

use crate::session::Session;
use crate::tokenizer::Tokenizer;
use crate::{Error, Result};

/// What `run` measured.
#[derive(Clone, Debug, PartialEq)]
pub struct PerplexityResult {
    /// exp(mean negative log-likelihood).
    pub ppl: f64,
    /// The `+/-` figure llama-perplexity prints.
    pub err: f64,
    /// Tokens scored: n_chunks * (n_ctx - 1 - n_ctx/2).
    pub n_tokens_scored: usize,
    /// Chunks evaluated.
    pub n_chunks: usize,
    /// Tokens per chunk (the perplexity context).
    pub n_ctx: usize,
    /// Tokens in the whole tokenized text.
    pub n_tokens_text: usize,
}

/// Running sums of the negative log-likelihoods.
#[derive(Clone, Copy, Debug, Default)]
struct NllSums {
    sum: f64,
    sum_sq: f64,
    count: usize,
}

impl NllSums {
    fn add(&mut self, nll: f64) {
        self.sum += nll;
        self.sum_sq += nll * nll;
        self.count += 1;
    }

    fn ppl(&self) -> f64 {
        (self.sum / self.count as f64).exp()
    }

    /// llama-perplexity's estimate: ppl * sqrt((mean(x^2) - mean(x)^2) / (count - 1)).
    fn err(&self) -> f64 {
        let n = self.count as f64;
        let mean = self.sum / n;
        let var = self.sum_sq / n - mean * mean;
        if var > 0.0 && self.count > 1 {
            self.ppl() * (var / (n - 1.0)).sqrt()
        } else {
            0.0
        }
    }
}

/// `-log softmax(logits)[target]`, in f64.
fn negative_log_likelihood(logits: &[f32], target: u32) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum_exp: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    let target_logit = logits
        .get(target as usize)
        .copied()
        .unwrap_or(f32::NEG_INFINITY) as f64;
    max + sum_exp.ln() - target_logit
}

/// Tokenizes `text` and measures its perplexity; `n_chunks` None = every whole chunk.
/// `progress(chunk_index, ppl_so_far)` is called after each chunk.
pub fn run(
    session: &mut Session,
    tokenizer: &Tokenizer,
    text: &str,
    n_ctx: usize,
    n_chunks: Option<usize>,
    progress: impl FnMut(usize, f64),
) -> Result<PerplexityResult> {
    let (tokens, bos) = tokenize(tokenizer, text)?;
    run_tokens(session, &tokens, bos, n_ctx, n_chunks, progress)
}

/// The whole text's tokens as llama-perplexity makes them (BOS first where the tokenizer adds
/// it, special-token text not parsed), and the BOS that replaces each chunk's first token.
pub fn tokenize(tokenizer: &Tokenizer, text: &str) -> Result<(Vec<u32>, Option<u32>)> {
    let add_bos = tokenizer.add_bos_default();
    let bos = match (add_bos, tokenizer.bos()) {
        (true, Some(bos)) => Some(bos),
        (true, None) => {
            return Err(Error::Tokenizer(
                "the tokenizer adds BOS but has no BOS token id".into(),
            ))
        }
        (false, _) => None,
    };
    Ok((tokenizer.encode(text, add_bos, false), bos))
}

/// Rejects what llama-perplexity rejects: a context under 4 (or over the session's), zero
/// chunks, a text shorter than two contexts.
pub fn check(
    n_tokens: usize,
    n_ctx: usize,
    session_n_ctx: usize,
    n_chunks: Option<usize>,
) -> Result<()> {
    if n_ctx < 4 {
        return Err(Error::InvalidArgument(format!(
            "perplexity context {n_ctx} is too small (at least 4)"
        )));
    }
    if n_ctx > session_n_ctx {
        return Err(Error::InvalidArgument(format!(
            "perplexity context {n_ctx} exceeds the session context {session_n_ctx}"
        )));
    }
    if n_chunks == Some(0) {
        return Err(Error::InvalidArgument("--chunks must be at least 1".into()));
    }
    if n_tokens < 2 * n_ctx {
        return Err(Error::InvalidArgument(format!(
            "the text has {n_tokens} tokens; perplexity with context {n_ctx} needs at least {}",
            2 * n_ctx
        )));
    }
    Ok(())
}

/// The algorithm on already tokenized text; `bos` replaces each chunk's first token.
pub fn run_tokens(
    session: &mut Session,
    tokens: &[u32],
    bos: Option<u32>,
    n_ctx: usize,
    n_chunks: Option<usize>,
    mut progress: impl FnMut(usize, f64),
) -> Result<PerplexityResult> {
    check(tokens.len(), n_ctx, session.n_ctx(), n_chunks)?;
    let n_chunks_max = tokens.len() / n_ctx;
    let n_chunks = n_chunks.map_or(n_chunks_max, |n| n.min(n_chunks_max));
    let first = n_ctx / 2;

    let mut sums = NllSums::default();
    let mut chunk_tokens = vec![0u32; n_ctx];
    for chunk in 0..n_chunks {
        chunk_tokens.copy_from_slice(&tokens[chunk * n_ctx..(chunk + 1) * n_ctx]);
        if let Some(bos) = bos {
            chunk_tokens[0] = bos;
        }
        session.reset();
        // One llama.cpp batch per chunk; the logits at position p score the token at p + 1,
        // for p in first .. n_ctx-2 (llama-perplexity also asks for n_ctx-1's, unused).
        session.forward_outputs(&chunk_tokens, first, |p, logits| {
            if let Some(&next) = chunk_tokens.get(p + 1) {
                sums.add(negative_log_likelihood(logits, next));
            }
        })?;
        progress(chunk, sums.ppl());
    }

    Ok(PerplexityResult {
        ppl: sums.ppl(),
        err: sums.err(),
        n_tokens_scored: sums.count,
        n_chunks,
        n_ctx,
        n_tokens_text: tokens.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nll_of_uniform_logits_is_log_vocab() {
        let logits = [3.0f32; 8];
        assert!((negative_log_likelihood(&logits, 5) - 8f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn nll_is_shift_invariant_and_stable_for_large_logits() {
        let a = [1.0f32, 2.0, 3.0];
        let b = [1001.0f32, 1002.0, 1003.0];
        let expected = -(3f64.exp() / (1f64.exp() + 2f64.exp() + 3f64.exp())).ln();
        assert!((negative_log_likelihood(&a, 2) - expected).abs() < 1e-12);
        assert!((negative_log_likelihood(&b, 2) - expected).abs() < 1e-9);
    }

    #[test]
    fn error_estimate_follows_llama_perplexity() {
        let mut s = NllSums::default();
        for x in [1.0, 2.0, 3.0, 4.0] {
            s.add(x);
        }
        let ppl = 2.5f64.exp();
        // mean(x^2) - mean^2 = 7.5 - 6.25 = 1.25; sqrt(1.25 / 3) * ppl
        assert!((s.ppl() - ppl).abs() < 1e-12);
        assert!((s.err() - ppl * (1.25f64 / 3.0).sqrt()).abs() < 1e-9);
    }
}
