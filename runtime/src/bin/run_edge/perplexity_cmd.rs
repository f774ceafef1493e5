//! `run-edge perplexity`: llama-perplexity's measurement; progress on stderr, the result line
//! `Final estimate: PPL = X +/- Y` on stdout, as llama-perplexity prints it.

use super::args::PerplexityArgs;
use super::report;
use super::text_input;
use super::CliError;
use edge::perplexity;
use edge::Session;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

pub fn run(args: &PerplexityArgs) -> Result<(), CliError> {
    let model_path = args
        .run
        .model
        .as_deref()
        .ok_or(CliError::msg("no model: give one with -m"))?;
    let text = text_input::read_file_capped(&args.file, &args.file.display().to_string())?;
    if text.is_empty() {
        return Err(CliError::msg(format!(
            "{}: the file is empty",
            args.file.display()
        )));
    }
    let load_start = Instant::now();
    let model = report::open_model(model_path, args.run.load.options())?;
    let params = report::session_params(&args.run, Some(args.ctx), args.kv_type);
    let mut session = Session::new(Arc::clone(model.model()), params)?;
    // The rows of logits each batch scores, in the memory line below.
    session.reserve_logit_rows()?;
    let load_time = load_start.elapsed();
    let start = Instant::now();
    let (tokens, bos) = perplexity::tokenize(model.tokenizer(), &text)?;
    perplexity::check(tokens.len(), args.ctx, session.n_ctx(), args.chunks)?;
    let tokenize_seconds = start.elapsed().as_secs_f64();
    report::print_load_report(&session, load_time);
    eprintln!(
        "tokenized: {} tokens in {:.0} ms",
        tokens.len(),
        tokenize_seconds * 1e3
    );
    let start = Instant::now();
    let result = perplexity::run_tokens(
        &mut session,
        &tokens,
        bos,
        args.ctx,
        args.chunks,
        |chunk, ppl| {
            eprint!("[{}]{ppl:.4},", chunk + 1);
            let _ = std::io::stderr().flush();
        },
    )?;
    eprintln!();
    eprintln!(
        "perplexity: {} chunks of {} tokens, {} tokens scored, {:.1} s",
        result.n_chunks,
        result.n_ctx,
        result.n_tokens_scored,
        start.elapsed().as_secs_f64()
    );
    println!(
        "Final estimate: PPL = {:.4} +/- {:.5}",
        result.ppl, result.err
    );
    Ok(())
}
