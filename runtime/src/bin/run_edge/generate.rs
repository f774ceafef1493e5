//! Text generation: one prompt (optionally through the chat template), or an interactive chat
//! that keeps the KV cache across turns, both through `edge::generate`. Generated text goes
//! to stdout, flushed per piece, and ends with a newline; everything else goes to stderr.

use super::args::{GenerateArgs, Seed};
use super::interrupt::{Interrupts, EXIT_INTERRUPTED};
use super::llama_flags::process_escapes;
use super::report;
use super::text_input::{self, ChatLine};
use super::CliError;
use edge::{
    ChatMessage, GenerateParams, Generator, KvType, Outcome, Prompt, SamplerParams, StopReason,
};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NO_PROMPT: &str = "no prompt: give one with -p or -f, pipe one on stdin, or chat with -i";

pub fn run(args: &GenerateArgs) -> Result<ExitCode, CliError> {
    let escape = |text: &str| {
        if args.no_escape {
            text.to_string()
        } else {
            process_escapes(text)
        }
    };
    let prompt = prompt_text(args, &escape)?;
    if args.system.is_some() && !args.chat && !args.interactive {
        return Err(CliError::usage("--system needs --chat or -i"));
    }
    let kv_type = kv_type(args)?;
    if args.n_gpu_layers.is_some() {
        eprintln!("warning: no GPU offload here (-ngl ignored): everything runs on the CPU");
    }
    let model_path = args
        .run
        .model
        .as_deref()
        .ok_or(CliError::usage("no model: give one with -m"))?;
    let load_start = Instant::now();
    let model = report::open_model(model_path, args.run.load.options())?;
    let session = report::session_params(&args.run, args.ctx, kv_type);
    let (params, seed) = generate_params(args, &escape);
    let mut gen = Generator::new(model, session, params)?;
    gen.set_prompt_batch(args.batch_size.unwrap_or(0));
    let load_time = load_start.elapsed();
    let chat = args.chat || args.interactive;
    if chat {
        gen.model()
            .chat_template()
            .map_err(|e| CliError::msg(format!("{e}; drop --chat / -i")))?;
    }
    let mut messages = Vec::new();
    if let Some(system) = &args.system {
        messages.push(ChatMessage::system(escape(system)));
    }
    let interrupts = Interrupts::install(gen.abort_handle());
    if args.interactive {
        report::print_load_report(gen.session(), load_time);
        eprintln!("seed: {seed}");
        let chat = Chat {
            gen: &mut gen,
            interrupts: &interrupts,
            verbose: args.verbose,
            echo: !std::io::stdin().is_terminal(),
        };
        return chat.run(messages, prompt.as_deref());
    }
    let Some(prompt) = prompt else {
        return Err(CliError::usage(NO_PROMPT));
    };

    // Everything that can reject the input happens before anything is printed.
    let tokens = if chat {
        messages.push(ChatMessage::user(prompt));
        gen.model().tokenize(Prompt::Chat(&messages))?
    } else {
        gen.model().tokenize(Prompt::Text(&prompt))?
    };
    if tokens.is_empty() {
        return Err(CliError::msg("empty prompt: it has no tokens"));
    }
    let n_ctx = gen.session().n_ctx();
    if tokens.len() > n_ctx {
        return Err(CliError::msg(format!(
            "prompt has {} tokens, longer than the context of {n_ctx} tokens (raise --ctx)",
            tokens.len(),
        )));
    }
    report::print_load_report(gen.session(), load_time);
    eprintln!("seed: {seed}");
    let outcome = respond(&mut gen, &interrupts, &tokens)?;
    write_flush(&mut std::io::stdout().lock(), "\n")?;
    print_outcome(&outcome);
    Ok(if outcome.stop == StopReason::Aborted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else {
        ExitCode::SUCCESS
    })
}

/// The prompt from -p (escapes processed), -f, or stdin when it is not a terminal (and not a
/// chat, whose lines come from stdin). None: no prompt (a chat may start without one).
fn prompt_text(
    args: &GenerateArgs,
    escape: &impl Fn(&str) -> String,
) -> Result<Option<String>, CliError> {
    if let Some(p) = &args.prompt {
        if p.is_empty() {
            return Err(CliError::usage("empty prompt (-p \"\")"));
        }
        return Ok(Some(escape(p)));
    }
    if let Some(path) = &args.file {
        let text = text_input::read_file_capped(path, &format!("prompt file {}", path.display()))?;
        if text.is_empty() {
            return Err(CliError::msg(format!(
                "prompt file {}: the file is empty",
                path.display()
            )));
        }
        return Ok(Some(text));
    }
    if args.interactive {
        return Ok(None);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(CliError::usage(NO_PROMPT));
    }
    let text = text_input::read_capped(stdin.lock(), "the prompt on stdin")?;
    if text.is_empty() {
        return Err(CliError::usage(NO_PROMPT));
    }
    Ok(Some(text))
}

/// --kv-type, or llama.cpp's -ctk/-ctv: one type for both here.
fn kv_type(args: &GenerateArgs) -> Result<KvType, CliError> {
    let given = [
        ("--kv-type", args.kv_type),
        ("--cache-type-k", args.cache_type_k),
        ("--cache-type-v", args.cache_type_v),
    ];
    let mut chosen: Option<(&str, KvType)> = None;
    for (flag, ty) in given {
        let Some(ty) = ty else { continue };
        match chosen {
            Some((first, other)) if other != ty => {
                let why = "keys and values share one cache type here";
                return Err(CliError::usage(format!(
                    "{first} {other} and {flag} {ty} differ: {why}"
                )));
            }
            _ => chosen = Some((flag, ty)),
        }
    }
    Ok(chosen.map_or(KvType::F32, |(_, ty)| ty))
}

/// The generation parameters and the seed they use (a random one unless given).
fn generate_params(args: &GenerateArgs, escape: &impl Fn(&str) -> String) -> (GenerateParams, u64) {
    let seed = match args.seed {
        Some(Seed::Fixed(seed)) => seed,
        None | Some(Seed::Random) => random_seed(),
    };
    let params = GenerateParams {
        max_tokens: args.n_predict,
        ignore_eos: args.ignore_eos,
        render_special: args.special,
        stop: args
            .reverse_prompt
            .iter()
            .map(|r| escape(r))
            .filter(|r| !r.is_empty())
            .collect(),
        sampler: SamplerParams {
            temp: args.temp,
            top_k: args.top_k,
            top_p: args.top_p,
            min_p: args.min_p,
            repeat_penalty: args.repeat_penalty,
            repeat_last_n: args.repeat_last_n,
            seed,
        },
    };
    (params, seed)
}

/// A seed from the standard library's per-process random hasher keys (no extra dependency),
/// in u32 range as llama.cpp's seeds are.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(now.as_nanos());
    hasher.write_u32(std::process::id());
    hasher.finish() & u64::from(u32::MAX)
}

/// One turn on `tokens`, its pieces printed as they come; Ctrl-C stops it.
fn respond(
    gen: &mut Generator,
    interrupts: &Interrupts,
    tokens: &[u32],
) -> Result<Outcome, CliError> {
    interrupts.set_generating(true);
    let result = respond_pieces(gen, tokens);
    interrupts.set_generating(false);
    result
}

fn respond_pieces(gen: &mut Generator, tokens: &[u32]) -> Result<Outcome, CliError> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    gen.start(Prompt::Tokens(tokens))?;
    while let Some(piece) = gen.next_piece()? {
        write_flush(&mut out, piece)?;
    }
    gen.outcome()
        .ok_or_else(|| CliError::msg("generation did not end"))
}

fn print_outcome(outcome: &Outcome) {
    report::timings(
        outcome.prompt_tokens,
        outcome.prompt_time,
        outcome.generated_tokens,
        outcome.generate_time,
    );
    if outcome.stop == StopReason::ContextFull {
        eprintln!(
            "context full: stopped after {} generated tokens",
            outcome.generated_tokens
        );
    }
}

fn write_flush(out: &mut impl Write, text: &str) -> Result<(), CliError> {
    if text.is_empty() {
        return Ok(());
    }
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CliError::msg(format!("writing to stdout: {e}")))
}

/// Prompt and generation totals over a chat's turns.
#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    prompt_tokens: usize,
    prompt_time: Duration,
    generated_tokens: usize,
    generate_time: Duration,
}

impl Totals {
    fn add(&mut self, outcome: &Outcome) {
        self.prompt_tokens += outcome.prompt_tokens;
        self.prompt_time += outcome.prompt_time;
        self.generated_tokens += outcome.generated_tokens;
        self.generate_time += outcome.generate_time;
    }

    fn print(&self) {
        report::timings(
            self.prompt_tokens,
            self.prompt_time,
            self.generated_tokens,
            self.generate_time,
        );
    }
}

/// An interactive chat: each user line is appended to the conversation and the whole
/// conversation is the prompt; the generator feeds only what its cache does not hold.
struct Chat<'a> {
    gen: &'a mut Generator,
    interrupts: &'a Interrupts,
    /// Timings after every turn, not only at the end.
    verbose: bool,
    /// Echo user lines after `> ` (stdin is not a terminal, which would have shown them).
    echo: bool,
}

impl Chat<'_> {
    /// Ends at Ctrl-D (exit 0) or a full context, with the timing summary; Ctrl-C at the
    /// prompt prints it too and exits 130 (see `interrupt`).
    fn run(
        self,
        mut messages: Vec<ChatMessage>,
        first_prompt: Option<&str>,
    ) -> Result<ExitCode, CliError> {
        let totals = Arc::new(Mutex::new(Totals::default()));
        let summary = Arc::clone(&totals);
        self.interrupts.on_exit(move || {
            if let Ok(t) = summary.lock() {
                t.print();
            }
        });
        let print_totals = || {
            if let Ok(t) = totals.lock() {
                t.print();
            }
        };
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut pending = first_prompt.map(str::to_string);
        loop {
            let line = match pending.take() {
                Some(p) => p,
                None => {
                    eprint!("> ");
                    let _ = std::io::stderr().flush();
                    match text_input::next_chat_line(&mut input) {
                        Ok(Some(ChatLine::Text(line))) => {
                            if self.echo {
                                eprintln!("{line}");
                            }
                            line
                        }
                        Ok(Some(ChatLine::Skipped(why))) => {
                            if self.echo {
                                eprintln!();
                            }
                            eprintln!("error: {why}");
                            continue;
                        }
                        Err(e) => return Err(CliError::msg(format!("reading stdin: {e}"))),
                        Ok(None) => {
                            eprintln!();
                            print_totals();
                            return Ok(ExitCode::SUCCESS);
                        }
                    }
                }
            };
            let line = line.trim_end_matches(['\r', '\n']);
            if line.trim().is_empty() {
                continue;
            }
            messages.push(ChatMessage::user(line));
            let tokens = self.gen.model().tokenize(Prompt::Chat(&messages))?;
            let n_ctx = self.gen.session().n_ctx();
            if tokens.len() >= n_ctx {
                eprintln!(
                    "context full: the conversation has {} tokens, the context holds {n_ctx}; ending the chat",
                    tokens.len()
                );
                print_totals();
                return Ok(ExitCode::SUCCESS);
            }
            let outcome = respond(self.gen, self.interrupts, &tokens)?;
            write_flush(&mut std::io::stdout().lock(), "\n")?;
            if let Ok(mut t) = totals.lock() {
                t.add(&outcome);
            }
            if self.verbose {
                print_outcome(&outcome);
            }
            if outcome.stop == StopReason::ContextFull {
                eprintln!("context full: ending the chat");
                print_totals();
                return Ok(ExitCode::SUCCESS);
            }
            messages.push(ChatMessage::assistant(self.gen.reply()));
        }
    }
}
