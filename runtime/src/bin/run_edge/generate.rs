//! Text generation: one prompt (optionally through the chat template), or an interactive chat
//! that keeps the KV cache across turns. Generated text goes to stdout, flushed per token;
//! everything else goes to stderr.

use super::args::GenerateArgs;
use super::report::{self, Loaded};
use super::CliError;
use edge::chat::{ChatMessage, ChatTemplate};
use edge::sampler::{Sampler, SamplerParams};
use edge::session::Session;
use edge::tokenizer::{StreamDecoder, Tokenizer};
use edge::Error;
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
    let loaded = Loaded::open(model_path, &args.run, args.ctx, args.kv_type)?;
    let template = if args.chat || args.interactive {
        let template = loaded.chat_template.as_ref().map_err(clone_error)?;
        Some(chat_template(template.as_ref(), &loaded.tokenizer)?)
    } else {
        None
    };
    let mut messages = Vec::new();
    if let Some(system) = &args.system {
        messages.push(ChatMessage::system(system.clone()));
    }

    // Everything that can reject the input happens before anything is printed.
    let first_tokens = match (&template, prompt, args.interactive) {
        (_, _, true) => None,
        (Some(t), Some(p), false) => {
            messages.push(ChatMessage::user(p));
            Some(t.render(&messages, true)?)
        }
        (None, Some(p), false) => Some(p.to_string()),
        (_, None, false) => None,
    }
    .map(|text| {
        let add_bos = loaded.tokenizer.add_bos_default();
        loaded.tokenizer.encode(&text, add_bos, true)
    });
    if let Some(tokens) = &first_tokens {
        if tokens.is_empty() {
            return Err(CliError::msg("empty prompt: it has no tokens"));
        }
        if tokens.len() > loaded.session.n_ctx() {
            return Err(CliError::msg(format!(
                "prompt has {} tokens, longer than the context of {} tokens (raise --ctx)",
                tokens.len(),
                loaded.session.n_ctx()
            )));
        }
    }
    loaded.print_load_report();

    let params = SamplerParams {
        temp: args.temp,
        top_k: args.top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        repeat_penalty: args.repeat_penalty,
        repeat_last_n: args.repeat_last_n,
        seed: args.seed,
    };
    let mut gen = Generator {
        sampler: Sampler::new(params, loaded.session.model().config().n_vocab),
        session: loaded.session,
        tokenizer: loaded.tokenizer,
        n_predict: args.n_predict,
        ignore_eos: args.ignore_eos,
        special: args.special,
    };
    match (template, first_tokens) {
        (Some(template), None) => interactive(&mut gen, &template, messages, prompt),
        (_, Some(tokens)) => {
            let outcome = gen.respond(&tokens)?;
            outcome.report();
            Ok(())
        }
        (None, None) => Err(CliError::msg(
            "no prompt: give one with -p, or chat with -i",
        )),
    }
}

/// The template's error, kept for --chat, re-made as a message.
fn clone_error(e: &edge::Error) -> CliError {
    CliError::msg(e.to_string())
}

/// The model's template with the tokenizer's BOS/EOS texts.
fn chat_template(
    template: Option<&ChatTemplate>,
    tokenizer: &Tokenizer,
) -> Result<ChatTemplate, CliError> {
    let Some(template) = template else {
        return Err(CliError::msg(
            "the model has no chat template (tokenizer.chat_template); drop --chat / -i",
        ));
    };
    let text = |id: Option<u32>| {
        id.and_then(|id| tokenizer.token_text(id))
            .unwrap_or("")
            .to_string()
    };
    let bos = text(tokenizer.bos());
    let eos = text(tokenizer.eos());
    let mut template = template.clone();
    template.set_special_tokens(&bos, &eos);
    Ok(template)
}

struct Generator {
    session: Session,
    tokenizer: Tokenizer,
    sampler: Sampler,
    n_predict: usize,
    ignore_eos: bool,
    special: bool,
}

/// How one response went.
struct Outcome {
    prompt_tokens: usize,
    prompt_seconds: f64,
    generated: Vec<u32>,
    generate_seconds: f64,
    context_full: bool,
}

impl Outcome {
    fn report(&self) {
        report::timings(
            self.prompt_tokens,
            self.prompt_seconds,
            self.generated.len(),
            self.generate_seconds,
        );
        if self.context_full {
            eprintln!(
                "context full: stopped after {} generated tokens",
                self.generated.len()
            );
        }
    }
}

impl Generator {
    fn tokenize(&self, text: &str) -> Vec<u32> {
        self.tokenizer
            .encode(text, self.tokenizer.add_bos_default(), true)
    }

    /// Feeds `new_tokens` after what the cache holds, then samples and prints up to
    /// `n_predict` tokens. The end-of-generation token is neither printed nor fed back.
    fn respond(&mut self, new_tokens: &[u32]) -> Result<Outcome, CliError> {
        let mut outcome = Outcome {
            prompt_tokens: new_tokens.len(),
            prompt_seconds: 0.0,
            generated: Vec::with_capacity(self.n_predict.min(self.session.n_ctx())),
            generate_seconds: 0.0,
            context_full: false,
        };
        for &t in new_tokens {
            self.sampler.accept(t);
        }
        if self.n_predict == 0 {
            // Still evaluate the prompt, so -n 0 measures prompt speed.
            let start = Instant::now();
            self.session.forward_batch(new_tokens)?;
            outcome.prompt_seconds = start.elapsed().as_secs_f64();
            return Ok(outcome);
        }
        let start = Instant::now();
        let mut logits = self.session.forward_batch(new_tokens)?;
        outcome.prompt_seconds = start.elapsed().as_secs_f64();

        let start = Instant::now();
        let mut decoder = StreamDecoder::new(self.special);
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        loop {
            let token = self.sampler.sample(logits);
            self.sampler.accept(token);
            if self.tokenizer.is_eog(token) && !self.ignore_eos {
                break;
            }
            outcome.generated.push(token);
            let piece = decoder.push(&self.tokenizer, token);
            write_flush(&mut out, &piece)?;
            if outcome.generated.len() >= self.n_predict {
                break;
            }
            logits = match self.session.forward(token) {
                Ok(logits) => logits,
                Err(Error::ContextFull(_)) => {
                    outcome.context_full = true;
                    break;
                }
                Err(e) => return Err(e.into()),
            };
        }
        let rest = decoder.flush();
        write_flush(&mut out, &rest)?;
        outcome.generate_seconds = start.elapsed().as_secs_f64();
        Ok(outcome)
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

/// Interactive chat: each user line is appended to the conversation, the conversation is
/// rendered, and only the tokens after the part the KV cache already holds are fed.
fn interactive(
    gen: &mut Generator,
    template: &ChatTemplate,
    mut messages: Vec<ChatMessage>,
    first_prompt: Option<&str>,
) -> Result<(), CliError> {
    // The tokens whose keys and values are in the cache, in order.
    let mut cached: Vec<u32> = Vec::new();
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
        let text = template.render(&messages, true)?;
        let tokens = gen.tokenize(&text);
        let n_ctx = gen.session.n_ctx();
        if tokens.len() >= n_ctx {
            eprintln!(
                "context full: the conversation has {} tokens, the context holds {n_ctx}; ending the chat",
                tokens.len()
            );
            return Ok(());
        }
        let keep = common_prefix(&cached, &tokens);
        // Re-feed at least one token so the logits are those after the whole prompt.
        let keep = keep.min(tokens.len() - 1);
        gen.session.truncate(keep);
        cached.truncate(keep);
        gen.sampler.reset();
        let outcome = gen.respond(&tokens[keep..])?;
        cached.extend_from_slice(&tokens[keep..]);
        // The last generated token was sampled but not fed unless more followed it.
        let fed = gen.session.pos() - cached.len();
        cached.extend_from_slice(&outcome.generated[..fed.min(outcome.generated.len())]);
        write_flush(&mut std::io::stdout().lock(), "\n")?;
        outcome.report();
        if outcome.context_full {
            eprintln!("context full: ending the chat");
            return Ok(());
        }
        let reply = gen.tokenizer.decode(&outcome.generated, false);
        messages.push(ChatMessage::assistant(reply));
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
