//! `quantize`: a Hugging Face folder, a `.safetensors` file or a GGUF in, a GGUF out.
//! Errors: one line `error: ...` on stderr and exit code 1.

use clap::Parser;
use edge_formats::GgmlType;
use edge_quantize::plan::WRITABLE_TYPES;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "quantize",
    version,
    about = "Quantize a Hugging Face Llama model (or a llama.cpp GGUF) into a GGUF file"
)]
struct Cli {
    /// A Hugging Face model folder, a .safetensors file in one, or a .gguf file.
    input: PathBuf,
    /// Output file. Default: <name>-<type>.gguf beside the input.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Type of every 2-D weight: q4_0, q4_1, q8_0, f16, bf16 or f32.
    #[arg(long = "type", value_parser = parse_type, default_value = "q4_0")]
    ty: GgmlType,
    /// Type of token_embd and output.
    #[arg(long, value_parser = parse_type, default_value = "q8_0")]
    output_type: GgmlType,
    /// Write tensors whose rows are not whole blocks as F16 (with a warning) instead of failing.
    #[arg(long)]
    allow_fallback: bool,
    /// Worker threads (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// No progress bar, table or summary.
    #[arg(short, long)]
    quiet: bool,
}

fn parse_type(s: &str) -> Result<GgmlType, String> {
    GgmlType::parse(s)
        .filter(|t| WRITABLE_TYPES.contains(t))
        .ok_or_else(|| format!("`{s}` is not one of q4_0, q4_1, q8_0, f16, bf16, f32"))
}

mod bin_signals;

fn main() {
    bin_signals::report_sigbus();
    let cli = Cli::parse();
    // Ctrl-C, SIGTERM, SIGHUP: no half-written file stays behind.
    let interrupted = ctrlc::set_handler(|| {
        edge_quantize::output::remove_unfinished_outputs();
        eprintln!("error: interrupted; no output written");
        std::process::exit(130);
    });
    if let Err(e) = interrupted {
        eprintln!("warning: cannot catch interrupts ({e}); one would leave a temporary file");
    }
    let opts = edge_quantize::Options {
        input: cli.input,
        output: cli.output,
        ty: cli.ty,
        output_ty: cli.output_type,
        allow_fallback: cli.allow_fallback,
        threads: cli.threads.map(|n| n as usize),
        verbose: !cli.quiet,
    };
    if let Err(e) = edge_quantize::run(&opts) {
        // One line, whatever the message holds.
        let msg = e.to_string().replace(['\n', '\r'], " ");
        eprintln!("error: {msg}");
        std::process::exit(1);
    }
}
