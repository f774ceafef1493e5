//! Command-line arguments (clap derive) and their validation: every bad value is rejected
//! while parsing, so the commands only see values they can use.

use clap::{Args, Parser, Subcommand};
use edge::Isa;
use edge::KvType;
use std::path::PathBuf;

/// Generate text with a Llama-family GGUF model, chat with it, or measure its perplexity.
#[derive(Debug, Parser)]
#[command(
    name = "run-edge",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub generate: GenerateArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Perplexity of a text file, by llama-perplexity's algorithm; prints `PPL = X +/- Y`.
    Perplexity(PerplexityArgs),
    /// Prompt and decode speed as llama-bench measures them (pp = a prompt of -p tokens, tg =
    /// -n tokens decoded one at a time, both from an empty cache), and the share of the
    /// memory-bandwidth bound that decode reaches.
    Bench(BenchArgs),
}

/// Options every command shares: the model and how to run it.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The GGUF model file.
    #[arg(short = 'm', long = "model", required = true)]
    pub model: Option<PathBuf>,
    /// Worker threads (default: every core).
    #[arg(long, short = 't', value_parser = positive_usize)]
    pub threads: Option<usize>,
    /// Kernel ISA: scalar, avx2, neon or dotprod (default: the best this CPU has).
    /// Without --isa, the EDGE_ISA environment variable chooses (an invalid value is an error).
    #[arg(long, value_parser = parse_isa)]
    pub isa: Option<Isa>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The prompt; special-token text in it (e.g. `<|im_start|>`) is recognized.
    #[arg(short = 'p', long = "prompt", allow_hyphen_values = true)]
    pub prompt: Option<String>,
    /// Tokens to generate at most; stops earlier at an end-of-generation token.
    #[arg(short = 'n', long = "n-predict", default_value_t = 128)]
    pub n_predict: usize,
    /// Temperature; 0 = greedy.
    #[arg(long, default_value_t = 0.8, allow_negative_numbers = true, value_parser = non_negative_f32)]
    pub temp: f32,
    /// Keep the k most likely tokens; 0 = off.
    #[arg(long = "top-k", default_value_t = 40)]
    pub top_k: usize,
    /// Nucleus sampling mass in [0, 1]; 1 = off.
    #[arg(long = "top-p", default_value_t = 0.95, allow_negative_numbers = true, value_parser = unit_f32)]
    pub top_p: f32,
    /// Minimum probability relative to the best token, in [0, 1]; 0 = off.
    #[arg(long = "min-p", default_value_t = 0.05, allow_negative_numbers = true, value_parser = unit_f32)]
    pub min_p: f32,
    /// Repetition penalty (> 0); 1 = off.
    #[arg(long = "repeat-penalty", default_value_t = 1.0, allow_negative_numbers = true, value_parser = positive_f32)]
    pub repeat_penalty: f32,
    /// Tokens the repetition penalty looks back over.
    #[arg(long = "repeat-last-n", default_value_t = 64)]
    pub repeat_last_n: usize,
    /// Sampler seed.
    #[arg(long, default_value_t = edge::SamplerParams::DEFAULT_SEED)]
    pub seed: u64,
    /// Context length in tokens (default: 4096, or the model's if smaller).
    #[arg(short = 'c', long = "ctx", value_parser = positive_usize)]
    pub ctx: Option<usize>,
    /// KV cache element type: f32 (default) or f16 (half the memory; llama.cpp's default).
    #[arg(long = "kv-type", default_value = "f32", value_parser = parse_kv_type)]
    pub kv_type: KvType,
    /// Keep generating after an end-of-generation token.
    #[arg(long = "ignore-eos")]
    pub ignore_eos: bool,
    /// Print special tokens as their text.
    #[arg(long)]
    pub special: bool,
    /// Apply the model's chat template to the prompt.
    #[arg(long)]
    pub chat: bool,
    /// System message for --chat and -i.
    #[arg(long)]
    pub system: Option<String>,
    /// Interactive chat: user lines from stdin, the KV cache kept across turns.
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
}

#[derive(Debug, Args)]
pub struct PerplexityArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The text file.
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// Tokens per chunk.
    #[arg(short = 'c', long = "ctx", default_value_t = 512, value_parser = positive_usize)]
    pub ctx: usize,
    /// Chunks to evaluate (default: all).
    #[arg(long, value_parser = positive_usize)]
    pub chunks: Option<usize>,
    /// KV cache element type: f32 or f16.
    #[arg(long = "kv-type", default_value = "f32", value_parser = parse_kv_type)]
    pub kv_type: KvType,
}

/// Output format of `bench`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchOutput {
    /// Markdown tables, as llama-bench prints by default.
    Md,
    /// One JSON array of test objects with llama-bench's field names.
    Json,
    /// One JSON object per line.
    Jsonl,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The GGUF model file.
    #[arg(short = 'm', long = "model")]
    pub model: PathBuf,
    /// Prompt lengths to time (comma-separated; 0 skips the prompt test).
    #[arg(
        short = 'p',
        long = "n-prompt",
        value_delimiter = ',',
        default_value = "512"
    )]
    pub n_prompt: Vec<usize>,
    /// Tokens to decode (comma-separated; 0 skips the decode test).
    #[arg(
        short = 'n',
        long = "n-gen",
        value_delimiter = ',',
        default_value = "128"
    )]
    pub n_gen: Vec<usize>,
    /// Thread counts (comma-separated; default: every core).
    #[arg(short = 't', long = "threads", value_delimiter = ',', value_parser = positive_usize)]
    pub threads: Vec<usize>,
    /// Measured repetitions of each test (after one warm-up run).
    #[arg(short = 'r', long = "repetitions", default_value_t = 5, value_parser = positive_usize)]
    pub repetitions: usize,
    /// KV cache element type: f32 or f16 (llama-bench's default).
    #[arg(long = "kv-type", default_value = "f32", value_parser = parse_kv_type)]
    pub kv_type: KvType,
    /// Kernel ISA: scalar, avx2, neon or dotprod (default: the best this CPU has).
    #[arg(long, value_parser = parse_isa)]
    pub isa: Option<Isa>,
    /// Output format: md, json or jsonl.
    #[arg(short = 'o', long = "output", value_enum, default_value = "md")]
    pub output: BenchOutput,
}

fn parse_f32(s: &str) -> Result<f32, String> {
    let v: f32 = s.trim().parse().map_err(|_| "not a number".to_string())?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err("must be finite".into())
    }
}

fn non_negative_f32(s: &str) -> Result<f32, String> {
    let v = parse_f32(s)?;
    if v >= 0.0 {
        Ok(v)
    } else {
        Err("must be >= 0".into())
    }
}

fn positive_f32(s: &str) -> Result<f32, String> {
    let v = parse_f32(s)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err("must be > 0".into())
    }
}

fn unit_f32(s: &str) -> Result<f32, String> {
    let v = parse_f32(s)?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be between 0 and 1".into())
    }
}

fn positive_usize(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(v) => Ok(v),
        Err(_) => Err("not a positive integer".into()),
    }
}

fn parse_kv_type(s: &str) -> Result<KvType, String> {
    s.parse::<KvType>()
        .map_err(|_| "expected f32 or f16".to_string())
}

fn parse_isa(s: &str) -> Result<Isa, String> {
    if !Isa::NAMES.contains(&s) {
        return Err(format!(
            "unknown ISA (expected one of {})",
            Isa::NAMES.join(", ")
        ));
    }
    Isa::by_name(s).ok_or_else(|| "not supported by this CPU".to_string())
}

/// Clap's error as one line without the `error: ` prefix: the message lines before the usage
/// (e.g. `the following required arguments were not provided: --model <MODEL>`).
pub fn one_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let text = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
        .collect::<Vec<_>>()
        .join(" ");
    let text = text.strip_prefix("error:").unwrap_or(&text).trim();
    if text.is_empty() {
        "invalid arguments".to_string()
    } else {
        text.to_string()
    }
}
