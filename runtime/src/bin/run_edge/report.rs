//! Loading a model for a command, and what run-edge reports on stderr: load time, the memory
//! plan, prompt and generation speed.

use super::args::RunArgs;
use super::CliError;
use edge::chat::ChatTemplate;
use edge::model::Model;
use edge::session::KvType;
use edge::session::{MemoryPlan, Session, SessionParams};
use edge::tokenizer::Tokenizer;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// The context used when --ctx is not given, unless the model's is smaller.
pub const DEFAULT_CTX: usize = 4096;

/// A model ready to run: session (all buffers allocated), tokenizer and chat template.
pub struct Loaded {
    pub session: Session,
    pub tokenizer: Tokenizer,
    /// The template is only needed by --chat and -i, so its error waits until then.
    pub chat_template: edge::Result<Option<ChatTemplate>>,
    pub load_seconds: f64,
}

impl Loaded {
    pub fn open(
        path: &Path,
        run: &RunArgs,
        ctx: Option<usize>,
        kv_type: KvType,
    ) -> Result<Loaded, CliError> {
        let start = Instant::now();
        if !path.is_file() {
            return Err(CliError::msg(format!(
                "model file {} does not exist or is not a file",
                path.display()
            )));
        }
        let model = Arc::new(Model::open(path)?);
        let tokenizer = Tokenizer::from_metadata(model.metadata())?;
        let chat_template = ChatTemplate::from_metadata(model.metadata());
        let n_ctx_train = model.config().n_ctx_train;
        let n_ctx = ctx.unwrap_or(if n_ctx_train > 0 {
            DEFAULT_CTX.min(n_ctx_train)
        } else {
            DEFAULT_CTX
        });
        let params = SessionParams {
            n_ctx,
            n_threads: run.threads.unwrap_or(0),
            kv_type,
            kernels: run.isa,
        };
        let session = Session::new(model, params)?;
        Ok(Loaded {
            session,
            tokenizer,
            chat_template,
            load_seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// Load time and memory plan, printed once the input is known to be usable (so a bad
    /// input gives one error line only).
    pub fn print_load_report(&self) {
        eprintln!(
            "load: {} in {:.0} ms, {} threads, {} kernels",
            self.session.model().path().display(),
            self.load_seconds * 1e3,
            self.session.n_threads(),
            self.session.kernels().name(),
        );
        memory_plan(&self.session.memory_plan());
    }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

pub fn memory_plan(plan: &MemoryPlan) {
    eprintln!(
        "memory: weights {:.1} MB mapped, KV cache {:.1} MB ({}, context {}), scratch {:.1} MB, total {:.1} MB",
        mb(plan.weights_bytes),
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

fn per_second(n: usize, seconds: f64) -> f64 {
    if seconds > 0.0 {
        n as f64 / seconds
    } else {
        0.0
    }
}

pub fn timings(prompt_tokens: usize, prompt_s: f64, generated: usize, generate_s: f64) {
    eprintln!();
    eprintln!(
        "prompt: {prompt_tokens} tokens in {:.0} ms, {:.1} tokens/s",
        prompt_s * 1e3,
        per_second(prompt_tokens, prompt_s)
    );
    eprintln!(
        "generated: {generated} tokens in {:.0} ms, {:.1} tokens/s",
        generate_s * 1e3,
        per_second(generated, generate_s)
    );
}
