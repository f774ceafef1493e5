//! Loading a model for a command, and what run-edge reports on stderr: load time, the memory
//! plan, prompt and generation speed.

use super::args::RunArgs;
use super::CliError;
use edge::{KvType, LoadOptions, MemoryPlan, Session, SessionParams, TextModel};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The model file as text generation needs it (weights, tokenizer, chat template), loaded as
/// `options` say (mapped or resident).
pub fn open_model(path: &Path, options: LoadOptions) -> Result<Arc<TextModel>, CliError> {
    // Names what is there instead: a FIFO, a folder, a symlink loop, nothing.
    edge_formats::regular_file::check_regular(path)
        .map_err(|e| CliError::msg(format!("model file {e}")))?;
    Ok(Arc::new(TextModel::open_with(path, options)?))
}

/// Session parameters from the shared options; no `--ctx` leaves the library's default.
pub fn session_params(run: &RunArgs, ctx: Option<usize>, kv_type: KvType) -> SessionParams {
    SessionParams {
        n_ctx: ctx.unwrap_or(0),
        n_threads: run.threads.unwrap_or(0),
        kv_type,
        isa: run.isa,
    }
}

/// Load time and memory plan, printed once the input is known to be usable (so a bad input
/// gives one error line only).
pub fn print_load_report(session: &Session, load_time: Duration) {
    eprintln!(
        "load: {} in {:.0} ms, {} threads, {} kernels",
        session.model().path().display(),
        load_time.as_secs_f64() * 1e3,
        session.n_threads(),
        session.isa().name(),
    );
    memory_plan(&session.memory_plan());
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

pub fn memory_plan(plan: &MemoryPlan) {
    eprintln!(
        "memory: weights {:.1} MB {}, KV cache {:.1} MB ({}, context {}), scratch {:.1} MB, total {:.1} MB",
        mb(plan.weights_bytes),
        plan.weights_storage,
        mb(plan.kv_bytes),
        plan.kv_type,
        plan.n_ctx,
        mb(plan.scratch_bytes),
        mb(plan.total()),
    );
    if let Some(warning) = plan.context_warning() {
        eprintln!("warning: {warning}");
    }
}

fn per_second(n: usize, time: Duration) -> f64 {
    let seconds = time.as_secs_f64();
    if seconds > 0.0 {
        n as f64 / seconds
    } else {
        0.0
    }
}

pub fn timings(prompt_tokens: usize, prompt: Duration, generated: usize, generate: Duration) {
    eprintln!();
    eprintln!(
        "prompt: {prompt_tokens} tokens in {:.0} ms, {:.1} tokens/s",
        prompt.as_secs_f64() * 1e3,
        per_second(prompt_tokens, prompt)
    );
    eprintln!(
        "generated: {generated} tokens in {:.0} ms, {:.1} tokens/s",
        generate.as_secs_f64() * 1e3,
        per_second(generated, generate)
    );
}
