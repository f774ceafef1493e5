//! Command-line arguments (clap derive) and their validation: every bad value is rejected
//! while parsing, so the commands only see values they can use.

use clap::{Args, Parser, Subcommand};
use edge::{Isa, KvType, LoadOptions, Storage};
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
    /// Perplexity of a text file, by llama-perplexity's algorithm; prints `Final estimate: PPL
    /// = X +/- Y`.
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
    /// Kernel ISA: scalar, avx2, avx512, neon or dotprod (default: the best this CPU has).
    /// Without --isa, the EDGE_ISA environment variable chooses (an invalid value is an error).
    #[arg(long, value_parser = parse_isa)]
    pub isa: Option<Isa>,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// How the model file is loaded: mapped or read into memory (llama.cpp's flag names).
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Map the model file instead of reading it into memory: opens at once and shares its
    /// pages with the page cache and other processes, but decodes slower on x86-64 (4 KiB
    /// pages); the file must not change while it runs. The default except on x86-64 Linux.
    #[arg(long, conflicts_with = "no_mmap")]
    pub mmap: bool,
    /// Read the whole model file into this process's memory (transparent huge pages on
    /// Linux): opening reads the file and the memory is the process's own, but decoding is
    /// faster on x86-64. The default on x86-64 Linux for a file of at most half the
    /// available memory. On ARM dotprod the repacked matrices
    /// then come on top of the file instead of replacing its pages.
    #[arg(long = "no-mmap")]
    pub no_mmap: bool,
}

impl LoadArgs {
    /// The load options the flags ask for; neither flag: the library's default.
    pub fn options(&self) -> LoadOptions {
        match (self.mmap, self.no_mmap) {
            (true, _) => LoadOptions::with(Storage::Mapped),
            (_, true) => LoadOptions::with(Storage::Resident),
            _ => LoadOptions::default(),
        }
    }
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The prompt; special-token text in it (e.g. `<|im_start|>`) is recognized, and escapes
    /// (`\n`, `\t`, `\\`, ...) are processed unless --no-escape. Without -p or -f, a prompt
    /// piped on stdin is read.
    #[arg(short = 'p', long = "prompt", allow_hyphen_values = true)]
    pub prompt: Option<String>,
    /// Read the prompt from this file (taken as it is: no escape processing).
    #[arg(short = 'f', long = "file", conflicts_with = "prompt")]
    pub file: Option<PathBuf>,
    /// Take `\n`, `\t`, ... in -p, --system and -r literally.
    #[arg(long = "no-escape")]
    pub no_escape: bool,
    /// Tokens to generate at most (-1: until the context is full); stops earlier at an
    /// end-of-generation token.
    #[arg(short = 'n', long = "n-predict", default_value = "128", allow_negative_numbers = true, value_parser = parse_n_predict)]
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
    /// Sampler seed (default or -1: a random one, printed on stderr).
    #[arg(short = 's', long, allow_negative_numbers = true, value_parser = parse_seed)]
    pub seed: Option<Seed>,
    /// Context length in tokens (default: 4096, or the model's if smaller).
    #[arg(short = 'c', long = "ctx", visible_alias = "ctx-size", value_parser = positive_usize)]
    pub ctx: Option<usize>,
    /// KV cache element type: f32 (default) or f16 (half the memory; llama.cpp's default).
    #[arg(long = "kv-type", value_parser = parse_kv_type)]
    pub kv_type: Option<KvType>,
    /// llama.cpp's spelling of --kv-type for the keys (-ctk); one type serves K and V here.
    #[arg(long = "cache-type-k", value_parser = parse_kv_type)]
    pub cache_type_k: Option<KvType>,
    /// llama.cpp's spelling of --kv-type for the values (-ctv); one type serves K and V here.
    #[arg(long = "cache-type-v", value_parser = parse_kv_type)]
    pub cache_type_v: Option<KvType>,
    /// Prompt tokens fed per pass (default: the whole prompt).
    #[arg(short = 'b', long = "batch-size", value_parser = positive_usize)]
    pub batch_size: Option<usize>,
    /// Stop the reply before this text (repeatable); in a chat, the prompt comes back.
    #[arg(short = 'r', long = "reverse-prompt", allow_hyphen_values = true)]
    pub reverse_prompt: Vec<String>,
    /// Accepted for llama.cpp's sake (-ngl): there is no GPU offload, everything runs on the CPU.
    #[arg(
        long = "n-gpu-layers",
        visible_alias = "gpu-layers",
        allow_negative_numbers = true
    )]
    pub n_gpu_layers: Option<i64>,
    /// Keep generating after an end-of-generation token.
    #[arg(long = "ignore-eos")]
    pub ignore_eos: bool,
    /// Print special tokens as their text.
    #[arg(long)]
    pub special: bool,
    /// Apply the model's chat template to the prompt.
    #[arg(long)]
    pub chat: bool,
    /// System message for --chat and -i (llama.cpp: -sys).
    #[arg(long, visible_alias = "system-prompt", allow_hyphen_values = true)]
    pub system: Option<String>,
    /// Interactive chat: user lines from stdin, the KV cache kept across turns (llama.cpp:
    /// -cnv). Ctrl-C stops a reply; at the prompt, Ctrl-C or Ctrl-D ends the chat.
    #[arg(short = 'i', long = "interactive", visible_alias = "conversation")]
    pub interactive: bool,
    /// In a chat, the timings after every turn (default: once, at the end).
    #[arg(long)]
    pub verbose: bool,
}

/// A `--seed` value: a number, or -1 for a random one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seed {
    Random,
    Fixed(u64),
}

#[derive(Debug, Args)]
pub struct PerplexityArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The text file.
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// Tokens per chunk.
    #[arg(short = 'c', long = "ctx", visible_alias = "ctx-size", default_value_t = 512, value_parser = positive_usize)]
    pub ctx: usize,
    /// Chunks to evaluate (default: all).
    #[arg(long, value_parser = positive_usize)]
    pub chunks: Option<usize>,
    /// KV cache element type: f16 (llama-perplexity's default, with which the figure is
    /// llama.cpp's on x86) or f32.
    #[arg(long = "kv-type", default_value = "f16", value_parser = parse_kv_type)]
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
    /// Tokens already in the context when each test starts, filled untimed (comma-separated;
    /// llama-bench's -d: "tg128 @ d2048" decodes at positions 2048..2176).
    #[arg(
        short = 'd',
        long = "n-depth",
        value_delimiter = ',',
        default_value = "0"
    )]
    pub n_depth: Vec<usize>,
    /// Thread counts (comma-separated; default: every core).
    #[arg(short = 't', long = "threads", value_delimiter = ',', value_parser = positive_usize)]
    pub threads: Vec<usize>,
    /// Measured repetitions of each test (after one warm-up run).
    #[arg(short = 'r', long = "repetitions", default_value_t = 5, value_parser = positive_usize)]
    pub repetitions: usize,
    /// KV cache element type: f32 or f16 (llama-bench's default).
    #[arg(long = "kv-type", default_value = "f32", value_parser = parse_kv_type)]
    pub kv_type: KvType,
    /// Kernel ISA: scalar, avx2, avx512, neon or dotprod (default: the best this CPU has).
    #[arg(long, value_parser = parse_isa)]
    pub isa: Option<Isa>,
    #[command(flatten)]
    pub load: LoadArgs,
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

fn parse_n_predict(s: &str) -> Result<usize, String> {
    match s.trim() {
        "-1" => Ok(usize::MAX),
        t => t
            .parse::<usize>()
            .map_err(|_| "expected a token count, or -1 for the whole context".to_string()),
    }
}

fn parse_seed(s: &str) -> Result<Seed, String> {
    match s.trim() {
        "-1" => Ok(Seed::Random),
        t => t
            .parse::<u64>()
            .map(Seed::Fixed)
            .map_err(|_| "expected a non-negative integer, or -1 for a random seed".to_string()),
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
/// (e.g. `the following required arguments were not provided: --model <MODEL>`), clap's
/// "did you mean" tips appended after `; `.
pub fn one_line(error: &clap::Error) -> String {
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
    let text = text.strip_prefix("error:").unwrap_or(&text).trim();
    if text.is_empty() {
        "invalid arguments".to_string()
    } else {
        text.to_string()
    }
}
