//! run-edge: generate text with a Llama-family GGUF model, chat with it, measure its
//! perplexity or its speed (`bench`). Generated text is the only thing on stdout; errors are
//! one `error: ...` line on stderr and exit code 1.

#![forbid(unsafe_code)]

#[path = "run_edge/args.rs"]
mod args;
#[path = "run_edge/bandwidth.rs"]
mod bandwidth;
#[path = "run_edge/bench.rs"]
mod bench;
#[path = "run_edge/generate.rs"]
mod generate;
#[path = "run_edge/perplexity_cmd.rs"]
mod perplexity_cmd;
#[path = "run_edge/report.rs"]
mod report;

use clap::Parser;
use std::process::ExitCode;

/// What ends a command early: a library error or a message of our own.
#[derive(Debug)]
pub enum CliError {
    Edge(edge::Error),
    Message(String),
}

impl CliError {
    pub fn msg(message: impl Into<String>) -> Self {
        CliError::Message(message.into())
    }
}

impl From<edge::Error> for CliError {
    fn from(e: edge::Error) -> Self {
        CliError::Edge(e)
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Edge(e) => write!(f, "{e}"),
            CliError::Message(m) => f.write_str(m),
        }
    }
}

/// One line: newlines in a message become spaces.
fn fail(message: &str) -> ExitCode {
    let line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    eprintln!("error: {line}");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            _ => return fail(&args::one_line(&e)),
        },
    };
    let result = match &cli.command {
        Some(args::Command::Perplexity(p)) => perplexity_cmd::run(p),
        Some(args::Command::Bench(b)) => bench::run(b),
        None => generate::run(&cli.generate),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}
