//! Text generation: one prompt (optionally through the chat template), or an interactive chat
//! that keeps the KV cache across turns, both through `edge::generate`. Generated text goes
//! to stdout, flushed per piece; everything else goes to stderr.

use super::args::GenerateArgs;
use super::report;
use super::CliError;
use edge::{ChatMessage, GenerateParams, Generator, Outcome, Prompt, SamplerParams, StopReason};
use std::io::{BufRead, Write};
use std::time::Instant;

pub fn run(args: &GenerateArgs) -> Result<(), CliError> {
    let prompt = args.prompt.as_deref();
    match prompt {
        None if !args.interactive => {
            return Err(CliError::msg(
                "no prompt: give one with -p, or chat with -i",
            ))
        }
        Some("") => return Err(CliError::msg("empty prompt (-p \"\")")),
        _ => {}
    }
    if args.system.is_some() && !args.chat && !args.interactive {
        return Err(CliError::msg("--system needs --chat or -i"));
    }
    let model_path = args
        .run
        .model
        .as_deref()
        .ok_or(CliError::msg("no model: give one with -m"))?;
    let load_start = Instant::now();
    let model = report::open_model(model_path)?;
    let session = report::session_params(&args.run, args.ctx, args.kv_type);
    let mut gen = Generator::new(model, session, generate_params(args))?;
    let load_time = load_start.elapsed();
    let chat = args.chat || args.interactive;
    if chat {
        gen.model()
            .chat_template()
            .map_err(|e| CliError::msg(format!("{e}; drop --chat / -i")))?;
    }
    let mut messages = Vec::new();
    if let Some(system) = &args.system {
        messages.push(ChatMessage::system(system.clone()));
    }
    if args.interactive {
        report::print_load_report(gen.session(), load_time);
        return interactive(&mut gen, messages, prompt);
    }
    let Some(prompt) = prompt else {
        return Err(CliError::msg(
            "no prompt: give one with -p, or chat with -i",
        ));
    };

    // Everything that can reject the input happens before anything is printed.
    let tokens = if chat {
        messages.push(ChatMessage::user(prompt));
        gen.model().tokenize(Prompt::Chat(&messages))?
    } else {
        gen.model().tokenize(Prompt::Text(prompt))?
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
    let outcome = respond(&mut gen, &tokens)?;
    print_outcome(&outcome);
    Ok(())
}

fn generate_params(args: &GenerateArgs) -> GenerateParams {
    GenerateParams {
        max_tokens: args.n_predict,
        ignore_eos: args.ignore_eos,
        render_special: args.special,
        stop: Vec::new(),
        sampler: SamplerParams {
            temp: args.temp,
            top_k: args.top_k,
            top_p: args.top_p,
            min_p: args.min_p,
            repeat_penalty: args.repeat_penalty,
            repeat_last_n: args.repeat_last_n,
            seed: args.seed,
        },
    }
}

/// One turn on `tokens`, its pieces printed as they come.
fn respond(gen: &mut Generator, tokens: &[u32]) -> Result<Outcome, CliError> {
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

/// Interactive chat: each user line is appended to the conversation and the whole
/// conversation is the prompt; the generator feeds only what its cache does not hold.
fn interactive(
    gen: &mut Generator,
    mut messages: Vec<ChatMessage>,
    first_prompt: Option<&str>,
) -> Result<(), CliError> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut pending = first_prompt.map(str::to_string);
    loop {
        let line = match pending.take() {
            Some(p) => p,
            None => {
                eprint!("> ");
                let _ = std::io::stderr().flush();
                match lines.next() {
                    Some(Ok(line)) => line,
                    Some(Err(e)) => return Err(CliError::msg(format!("reading stdin: {e}"))),
                    None => return Ok(()),
                }
            }
        };
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            continue;
        }
        messages.push(ChatMessage::user(line));
        let tokens = gen.model().tokenize(Prompt::Chat(&messages))?;
        let n_ctx = gen.session().n_ctx();
        if tokens.len() >= n_ctx {
            eprintln!(
                "context full: the conversation has {} tokens, the context holds {n_ctx}; ending the chat",
                tokens.len()
            );
            return Ok(());
        }
        let outcome = respond(gen, &tokens)?;
        write_flush(&mut std::io::stdout().lock(), "\n")?;
        print_outcome(&outcome);
        if outcome.stop == StopReason::ContextFull {
            eprintln!("context full: ending the chat");
            return Ok(());
        }
        messages.push(ChatMessage::assistant(gen.reply()));
    }
}
