//! `quantize`: a Hugging Face folder, a `.safetensors` file or a GGUF in, a GGUF out. Takes
//! flags (`quantize IN --type T -o OUT`) or llama-quantize's positional form (`quantize IN OUT
//! TYPE [NTHREADS]`, or `quantize IN TYPE`). Errors: one line `error: ...` on stderr, exit code
//! 2 for a usage error (a bad or missing argument), 1 for any other.

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
    /// llama-quantize's positional output file (or the file type, when it names one).
    #[arg(value_name = "OUT")]
    output_positional: Option<PathBuf>,
    /// llama-quantize's positional file type.
    #[arg(value_name = "TYPE")]
    type_positional: Option<String>,
    /// llama-quantize's positional thread count.
    #[arg(value_name = "NTHREADS")]
    threads_positional: Option<String>,
    /// Output file. Default: <name>-<type>.gguf beside the input.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// llama-quantize's file type: q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k_s, q3_k_m (q3_k),
    /// q3_k_l, q4_k_s, q4_k_m (q4_k), q5_k_s, q5_k_m (q5_k), q6_k, f16, bf16 or f32; its
    /// per-tensor rules and fallbacks apply as in llama-quantize. Default: q4_k_m.
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
    #[arg(short = 't', long, value_parser = clap::value_parser!(u64).range(1..=1024))]
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

/// Exit code of a usage error, as clap's.
const EXIT_USAGE: i32 = 2;

/// Ends the program with one `error: ` line (newlines in `message` become spaces).
fn fail(message: &str, code: i32) -> ! {
    let line = message.replace(['\n', '\r'], " ");
    eprintln!("error: {line}");
    std::process::exit(code);
}

/// Clap's error as one line without the `error: ` prefix: the message lines before the usage,
/// its "did you mean" tips appended after `; `.
fn one_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let mut text = String::new();
    for line in rendered.lines().map(str::trim) {
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if line.is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push_str(if line.starts_with("tip:") { "; " } else { " " });
        }
        text.push_str(line);
    }
    text.strip_prefix("error:")
        .unwrap_or(&text)
        .trim()
        .to_string()
}

/// What the flag form and the positional form say together: the output, the file type and the
/// thread count, each given at most once.
struct Resolved {
    output: Option<PathBuf>,
    ty: Option<FileType>,
    threads: Option<u64>,
}

fn resolve(cli: &Cli) -> Result<Resolved, String> {
    let mut output_positional = cli.output_positional.clone();
    let mut type_positional = cli.type_positional.clone();
    // `quantize IN TYPE`: llama-quantize's form without an output file.
    if type_positional.is_none() {
        if let Some(name) = output_positional.as_ref().and_then(|p| p.to_str()) {
            if FileType::parse(name).is_some() {
                type_positional = Some(name.to_string());
                output_positional = None;
            }
        }
    }
    let output = match (&cli.output, output_positional) {
        (Some(flag), Some(pos)) => {
            return Err(format!(
                "the output is given twice: -o {} and {}",
                flag.display(),
                pos.display()
            ))
        }
        (flag, pos) => flag.clone().or(pos),
    };
    let ty = match (cli.ty, type_positional) {
        (Some(_), Some(pos)) => {
            return Err(format!("the file type is given twice: --type and {pos}"))
        }
        (_, Some(pos)) => Some(parse_file_type(&pos).map_err(|e| format!("TYPE: {e}"))?),
        (flag, None) => flag,
    };
    let threads = match (cli.threads, &cli.threads_positional) {
        (Some(_), Some(pos)) => {
            return Err(format!(
                "the thread count is given twice: --threads and {pos}"
            ))
        }
        (_, Some(pos)) => Some(
            pos.parse::<u64>()
                .ok()
                .filter(|n| (1..=1024).contains(n))
                .ok_or_else(|| format!("NTHREADS: `{pos}` is not a number from 1 to 1024"))?,
        ),
        (flag, None) => flag,
    };
    Ok(Resolved {
        output,
        ty,
        threads,
    })
}

/// `model-00001-of-00003.safetensors` -> 3: the input is one shard of a model in 3 files.
fn shard_count(input: &std::path::Path) -> Option<u32> {
    let name = input.file_name()?.to_str()?;
    let stem = name.strip_suffix(".safetensors")?;
    let (head, total) = stem.rsplit_once("-of-")?;
    let (_, index) = head.rsplit_once('-')?;
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(index) || !digits(total) {
        return None;
    }
    total.parse().ok()
}

mod bin_signals;

fn main() {
    bin_signals::report_sigbus();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                let _ = e.print();
                return;
            }
            _ => fail(&one_line(&e), EXIT_USAGE),
        },
    };
    let resolved = resolve(&cli).unwrap_or_else(|e| fail(&e, EXIT_USAGE));
    if let Some(total) = shard_count(&cli.input).filter(|&n| n > 1) {
        let folder = cli
            .input
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        fail(
            &format!(
                "{} is one shard of a model in {total} files: pass the folder {}",
                cli.input.display(),
                folder.display()
            ),
            1,
        );
    }
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
        output: resolved.output,
        // No file type: llama-quantize's most downloaded mix, its rules deciding every tensor.
        output_ty: cli.output_type,
        file_type: resolved.ty.unwrap_or(FileType::Q4_K_M),
        pure: cli.pure,
        threads: resolved.threads.map(|n| n as usize),
        verbose: !cli.quiet,
    };
    if let Err(e) = edge_quantize::run(&opts) {
        fail(&e.to_string(), 1);
    }
}
