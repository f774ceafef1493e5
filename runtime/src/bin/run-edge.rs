//! run-edge: generate text with a Llama-family GGUF model, chat with it, measure its
//! perplexity or its speed (`bench`). Generated text is the only thing on stdout; errors are
//! one `error: ...` line on stderr, exit code 2 for a usage error (a bad or missing flag) and 1
//! for any other; an interrupt (Ctrl-C) outside a chat exits 130.

// Unsafe code only in the SIGBUS handler (libc's sigaction, write and _exit).
#![deny(unsafe_code)]

#[path = "run_edge/args.rs"]
mod args;
#[path = "run_edge/bandwidth.rs"]
mod bandwidth;
#[path = "run_edge/bench.rs"]
mod bench;
#[path = "run_edge/generate.rs"]
mod generate;
#[path = "run_edge/interrupt.rs"]
mod interrupt;
#[path = "run_edge/llama_flags.rs"]
mod llama_flags;
#[path = "run_edge/perplexity_cmd.rs"]
mod perplexity_cmd;
#[path = "run_edge/report.rs"]
mod report;
#[path = "run_edge/sigbus.rs"]
#[allow(unsafe_code)]
mod sigbus;
#[path = "run_edge/text_input.rs"]
mod text_input;

use clap::Parser;
use std::process::ExitCode;

/// What ends a command early: a library error, a message of our own, or a usage error (the
/// arguments themselves are wrong: exit code 2).
#[derive(Debug)]
pub enum CliError {
    Edge(edge::Error),
    Message(String),
    Usage(String),
}

impl CliError {
    pub fn msg(message: impl Into<String>) -> Self {
        CliError::Message(message.into())
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
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
            CliError::Message(m) | CliError::Usage(m) => f.write_str(m),
        }
    }
}

/// Exit code of a usage error, as clap's.
const EXIT_USAGE: u8 = 2;

/// One line: newlines in a message become spaces.
fn fail(message: &str, code: u8) -> ExitCode {
    let line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    eprintln!("error: {line}");
    ExitCode::from(code)
}

fn main() -> ExitCode {
    sigbus::report_sigbus();
    let command_line = llama_flags::rewrite(std::env::args_os());
    let cli = match args::Cli::try_parse_from(command_line) {
        Ok(cli) => cli,
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            _ => return fail(&args::one_line(&e), EXIT_USAGE),
        },
    };
    let result = match &cli.command {
        Some(args::Command::Perplexity(p)) => perplexity_cmd::run(p).map(|()| ExitCode::SUCCESS),
        Some(args::Command::Bench(b)) => bench::run(b).map(|()| ExitCode::SUCCESS),
        None => generate::run(&cli.generate),
    };
    match result {
        Ok(code) => code,
        Err(e @ CliError::Usage(_)) => fail(&e.to_string(), EXIT_USAGE),
        Err(e) => fail(&e.to_string(), 1),
    }
}
