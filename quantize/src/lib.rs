//! edge-quantize: Hugging Face safetensors or a llama.cpp GGUF in, a quantized GGUF out,
//! tensor for tensor what `llama-quantize` writes for the same file type (its per-tensor
//! rules, fallbacks, `--pure`, `--output-tensor-type`), bytes identical.

#![forbid(unsafe_code)]

pub mod codec;
pub mod convert;
pub mod error;
pub mod output;
pub mod plan;
mod report;
pub mod source;
pub mod write;

pub use error::{Error, Result};

use edge_formats::GgmlType;
use std::path::PathBuf;

/// What `quantize` was asked to do (the CLI's flags).
#[derive(Clone, Debug)]
pub struct Options {
    /// A `.safetensors` file, a Hugging Face folder, or a `.gguf`.
    pub input: PathBuf,
    /// Default: `<name>-<type>.gguf` beside the input.
    pub output: Option<PathBuf>,
    /// `--type`: llama-quantize's file type (q4_0, q4_k_m, ...).
    pub file_type: plan::FileType,
    /// `--pure`: the file type's base type on every 2-D tensor (fallbacks still apply).
    pub pure: bool,
    /// `--output-type`: the type of `token_embd` and `output`; None: the file type's rule.
    pub output_ty: Option<GgmlType>,
    /// Rayon threads; None = all cores.
    pub threads: Option<usize>,
    /// Progress bar and per-tensor table on stderr.
    pub verbose: bool,
}

/// Quantizes `opts.input` into a GGUF; returns the path written. On error nothing is left
/// behind: the output is written to a temporary file beside it and renamed at the end.
pub fn run(opts: &Options) -> Result<PathBuf> {
    let started = std::time::Instant::now();
    let policy = plan::TypePolicy::new(opts.file_type, opts.pure, opts.output_ty)?;
    let source = source::Source::open(&opts.input)?;
    let mut plan = source.plan(&policy)?;
    let fallbacks = plan::assign_types(&mut plan, &policy)?;
    source::validate_plan(&opts.input, &mut plan)?;

    let dest = match &opts.output {
        Some(p) => p.clone(),
        None => output::default_output(&opts.input, opts.file_type.base())?,
    };
    output::check_not_input(&dest, &source.inputs())?;
    let threads = opts.threads.unwrap_or(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::Threads {
            threads,
            what: e.to_string(),
        })?;

    let mut temp = output::TempOutput::create(&dest)?;
    let temp_path = temp.temp_path().to_path_buf();
    let mut progress = report::Progress::new(opts.verbose, &plan);
    let bar = progress.bar();
    {
        let sink = std::io::BufWriter::with_capacity(1 << 20, temp.file()?);
        let sink = write::write_gguf(
            &source,
            &plan,
            sink,
            &pool,
            |n| report::advance(&bar, n),
            |t| progress.tensor_done(t),
        )?;
        sink.into_inner()
            .map_err(|e| Error::io(&temp_path, e.into_error()))?;
    }
    let written = temp.commit()?;
    // Said once the file exists, so a failed run prints only its one error line.
    if opts.verbose {
        for f in &fallbacks {
            eprintln!("warning: {f}");
        }
    }
    progress.finish(source.input_bytes(&plan), &written, started.elapsed());
    Ok(written)
}
