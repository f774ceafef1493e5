//! `quantize`: a Hugging Face folder, a `.safetensors` file or a GGUF in, a GGUF out.
//! Errors: one line `error: ...` on stderr and exit code 1.

use clap::Parser;
use edge_formats::GgmlType;
use edge_quantize::plan::{FileType, WRITABLE_TYPES};
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
    /// llama-quantize's file type: q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k_s, q3_k_m (q3_k),
    /// q3_k_l, q4_k_s, q4_k_m (q4_k), q5_k_s, q5_k_m (q5_k), q6_k, f16, bf16 or f32; its
    /// per-tensor rules and fallbacks apply as in llama-quantize. Default: q4_0 with
    /// --output-type q8_0. (The runtime does not run Q5_0, Q5_1 or K-quants yet.)
    #[arg(long = "type", value_parser = parse_file_type)]
    ty: Option<FileType>,
    /// Put the file type's base type on every 2-D tensor, token_embd and output included
    /// (llama-quantize --pure); rows that are not whole blocks still fall back.
    #[arg(long)]
    pure: bool,
    /// Type of token_embd and output (llama-quantize --token-embedding-type T
    /// --output-tensor-type T). Default: the file type's rule.
    #[arg(long, value_parser = parse_type)]
    output_type: Option<GgmlType>,
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
        .ok_or_else(|| {
            let names: Vec<String> = WRITABLE_TYPES
                .iter()
                .map(|t| t.name().to_lowercase())
                .collect();
            format!("`{s}` is not one of {}", names.join(", "))
        })
}

fn parse_file_type(s: &str) -> Result<FileType, String> {
    FileType::parse(s).ok_or_else(|| {
        let names: Vec<&str> = FileType::ALL.iter().map(|f| f.name()).collect();
        format!("`{s}` is not one of {}", names.join(", "))
    })
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
        // No --type and no --output-type: today's default, a Q4_0 file with Q8_0 output that
        // the runtime runs.
        output_ty: cli
            .output_type
            .or(cli.ty.is_none().then_some(GgmlType::Q8_0)),
        file_type: cli.ty.unwrap_or(FileType::Q4_0),
        pure: cli.pure,
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
