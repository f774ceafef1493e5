//! edge-quantize: Hugging Face safetensors or a llama.cpp GGUF in, an int8/int4 GGUF out,
//! tensor bytes identical to `llama-quantize --pure`.

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
    /// Type of every 2-D weight but `token_embd` and `output`.
    pub ty: GgmlType,
    /// Type of `token_embd` and `output`.
    pub output_ty: GgmlType,
    pub allow_fallback: bool,
    /// Rayon threads; None = all cores.
    pub threads: Option<usize>,
    /// Progress bar and per-tensor table on stderr.
    pub verbose: bool,
}

/// Quantizes `opts.input` into a GGUF; returns the path written. On error nothing is left
/// behind: the output is written to a temporary file beside it and renamed at the end.
pub fn run(opts: &Options) -> Result<PathBuf> {
    let started = std::time::Instant::now();
    let policy = plan::TypePolicy::new(opts.ty, opts.output_ty, opts.allow_fallback)?;
    let source = source::Source::open(&opts.input)?;
    let plan = source.plan(&policy)?;

    let dest = match &opts.output {
        Some(p) => p.clone(),
        None => output::default_output(&opts.input, opts.ty)?,
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
    for t in plan.tensors.iter().filter(|t| t.fell_back) {
        eprintln!(
            "warning: tensor `{}`: row length {} is not a multiple of 32; written as F16",
            t.name,
            t.dims.row_len()
        );
    }
    progress.finish(source.input_bytes(&plan), &written, started.elapsed());
    Ok(written)
}
