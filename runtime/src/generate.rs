//! Text generation: a prompt (text, chat messages or token ids) in, complete UTF-8 pieces out.
//!
//! [`TextModel`] is what a file gives: the weights, the tokenizer and the chat template.
//! [`Generator`] runs one conversation over a [`Session`]: [`Generator::start`] feeds a prompt,
//! then the caller pulls pieces with [`Generator::next_piece`] (or the [`Generator::pieces`]
//! iterator, or pushes them through a callback with [`Generator::generate`]) until a stop rule
//! ends the turn: end of generation, the token budget, a stop string, the caller's abort or a
//! full context. The KV cache is kept between turns: a prompt that starts with what the cache
//! holds (the next turn of a chat, rendered whole) only feeds the tokens after that prefix.
//!
//! Nothing here prints. Per token, nothing is allocated beyond the pieces handed out by the
//! iterator: [`Generator::next_piece`] lends a buffer the generator reuses.

mod stop;

use crate::chat::{ChatMessage, ChatTemplate};
use crate::model::{LoadOptions, Model};
use crate::sampler::{Sampler, SamplerParams};
use crate::session::{Session, SessionParams};
use crate::tokenizer::{StreamDecoder, Tokenizer};
use crate::{Error, Result};
use std::borrow::Cow;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stop::Scan;

/// A model file ready for text: the weights, the tokenizer and the chat template.
/// Shared between generators (each with its own session) through an `Arc`.
pub struct TextModel {
    model: Arc<Model>,
    tokenizer: Tokenizer,
    /// Only chat needs the template, so a broken one is reported when chat asks for it.
    chat_template: Result<Option<ChatTemplate>>,
}

impl std::fmt::Debug for TextModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextModel")
            .field("path", &self.model.path())
            .field("n_vocab", &self.tokenizer.n_vocab())
            .finish_non_exhaustive()
    }
}

impl TextModel {
    /// Loads the GGUF file at `path` as the platform's default [`LoadOptions`] say (resident
    /// on x86-64 Linux when the file fits, mapped elsewhere: [`LoadOptions::storage_for`]) and
    /// builds its tokenizer and chat template.
    pub fn open(path: &Path) -> Result<TextModel> {
        Self::open_with(path, LoadOptions::default())
    }

    /// Loads the GGUF file at `path` as `options` say (mapped or resident) and builds its
    /// tokenizer and chat template.
    pub fn open_with(path: &Path, options: LoadOptions) -> Result<TextModel> {
        let model = Arc::new(Model::open_with(path, options)?);
        let tokenizer = Tokenizer::from_metadata(model.metadata())?;
        model.check_tokenizer_len(tokenizer.n_vocab())?;
        let chat_template = ChatTemplate::from_metadata(model.metadata()).map(|template| {
            template.map(|t| {
                let text = |id: Option<u32>| id.and_then(|id| tokenizer.token_text(id));
                let bos = text(tokenizer.bos()).unwrap_or("");
                let eos = text(tokenizer.eos()).unwrap_or("");
                t.with_special_tokens(bos, eos)
            })
        });
        Ok(TextModel {
            model,
            tokenizer,
            chat_template,
        })
    }

    /// The weights and configuration.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The tokenizer of the model file.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The model's chat template, its `bos_token`/`eos_token` the tokenizer's. An error when
    /// the file has none (`tokenizer.chat_template`) or it does not compile.
    pub fn chat_template(&self) -> Result<&ChatTemplate> {
        match &self.chat_template {
            Ok(Some(template)) => Ok(template),
            Ok(None) => Err(Error::Template(
                "the model has no chat template (tokenizer.chat_template)".to_string(),
            )),
            Err(Error::Template(message)) => Err(Error::Template(message.clone())),
            Err(other) => Err(Error::Template(other.to_string())),
        }
    }

    /// Token ids of `prompt`: text and rendered chat are tokenized with BOS as the model wants
    /// and special-token text recognized; ids are taken as they are.
    pub fn tokenize<'p>(&self, prompt: Prompt<'p>) -> Result<Cow<'p, [u32]>> {
        let text = match prompt {
            Prompt::Tokens(ids) => return Ok(Cow::Borrowed(ids)),
            Prompt::Text(text) => Cow::Borrowed(text),
            Prompt::Chat(messages) => Cow::Owned(self.chat_template()?.render(messages, true)?),
        };
        let add_bos = self.tokenizer.add_bos_default();
        Ok(Cow::Owned(self.tokenizer.encode(&text, add_bos, true)))
    }
}

/// A prompt in one of the three forms a caller may have it.
#[derive(Clone, Copy, Debug)]
pub enum Prompt<'a> {
    /// Plain text; special-token text in it (e.g. `<|im_start|>`) is recognized.
    Text(&'a str),
    /// A conversation, rendered by the model's chat template with the assistant's header
    /// appended.
    Chat(&'a [ChatMessage]),
    /// Token ids, fed as they are.
    Tokens(&'a [u32]),
}

/// How a generator samples and when it stops.
#[derive(Clone, Debug)]
pub struct GenerateParams {
    /// Tokens to generate at most per turn (`usize::MAX`: until another rule stops it).
    pub max_tokens: usize,
    /// Keep generating after an end-of-generation token (which is then handed out as text).
    pub ignore_eos: bool,
    /// Hand out special tokens (e.g. `<|im_end|>`) as their text.
    pub render_special: bool,
    /// The turn ends before the first of these in the generated text; the text up to it is
    /// handed out, the stop string itself is not. None may be empty.
    pub stop: Vec<String>,
    /// How each token is picked.
    pub sampler: SamplerParams,
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams {
            max_tokens: 128,
            ignore_eos: false,
            render_special: false,
            stop: Vec::new(),
            sampler: SamplerParams::default(),
        }
    }
}

/// Why a turn ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// The model produced an end-of-generation token (not handed out).
    EndOfGeneration,
    /// `max_tokens` were generated.
    Budget,
    /// A stop string appeared; `index` is its place in `GenerateParams::stop`.
    StopString {
        /// The stop string's index in `GenerateParams::stop`.
        index: usize,
    },
    /// The abort flag was raised or the callback asked to stop.
    Aborted,
    /// The context has no room for the next token.
    ContextFull,
}

impl StopReason {
    /// A short name: `eog`, `budget`, `stop string`, `aborted`, `context full`.
    pub fn name(self) -> &'static str {
        match self {
            StopReason::EndOfGeneration => "eog",
            StopReason::Budget => "budget",
            StopReason::StopString { .. } => "stop string",
            StopReason::Aborted => "aborted",
            StopReason::ContextFull => "context full",
        }
    }
}

/// How one turn went.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome {
    /// Prompt tokens fed this turn.
    pub prompt_tokens: usize,
    /// Prompt tokens found in the KV cache and not fed again.
    pub reused_tokens: usize,
    /// Time to feed the prompt.
    pub prompt_time: Duration,
    /// Tokens sampled and kept (an end-of-generation token that stopped the turn is not one).
    pub generated_tokens: usize,
    /// From the end of the prompt to the end of the turn (the caller's time between pieces
    /// included).
    pub generate_time: Duration,
    /// What ended the turn.
    pub stop: StopReason,
}

/// One conversation over one session. See the module documentation for the loop.
pub struct Generator {
    model: Arc<TextModel>,
    session: Session,
    sampler: Sampler,
    params: GenerateParams,
    abort: Arc<AtomicBool>,
    /// Prompt tokens fed per `forward_batch` call (usize::MAX: the whole prompt at once).
    prompt_batch: usize,
    /// The tokens whose keys and values the cache holds, in order (capacity n_ctx).
    cached: Vec<u32>,
    turn: Turn,
}

/// The state of the current turn; buffers keep their capacity across turns.
struct Turn {
    /// False before the first `start`.
    started: bool,
    decoder: StreamDecoder,
    /// Decoded text not handed out yet: it may be the start of a stop string.
    held: String,
    /// The piece `next_piece` lends out.
    piece: String,
    /// Tokens generated this turn (capacity n_ctx + 1: never grows).
    generated: Vec<u32>,
    /// The last generated token, fed to the model when the next one is asked for.
    unfed: Option<u32>,
    prompt_tokens: usize,
    reused_tokens: usize,
    prompt_time: Duration,
    generate_start: Instant,
    generate_time: Duration,
    stop: Option<StopReason>,
}

impl Generator {
    /// A session over `model` with `session` params (n_ctx 0: the model's context, at most
    /// [`crate::DEFAULT_MAX_CTX`]) and a sampler from `params`.
    pub fn new(
        model: Arc<TextModel>,
        session: SessionParams,
        params: GenerateParams,
    ) -> Result<Generator> {
        check_params(&params)?;
        let session = Session::new(Arc::clone(model.model()), session)?;
        let n_ctx = session.n_ctx();
        let n_vocab = model.model().config().n_vocab;
        Ok(Generator {
            sampler: Sampler::for_context(params.sampler, n_vocab, n_ctx)?,
            params,
            abort: Arc::new(AtomicBool::new(false)),
            prompt_batch: usize::MAX,
            cached: Vec::with_capacity(n_ctx),
            turn: Turn {
                started: false,
                decoder: StreamDecoder::new(false),
                held: String::with_capacity(64),
                piece: String::with_capacity(64),
                generated: Vec::with_capacity(n_ctx + 1),
                unfed: None,
                prompt_tokens: 0,
                reused_tokens: 0,
                prompt_time: Duration::ZERO,
                generate_start: Instant::now(),
                generate_time: Duration::ZERO,
                stop: None,
            },
            session,
            model,
        })
    }

    /// The model it generates with.
    pub fn model(&self) -> &Arc<TextModel> {
        &self.model
    }

    /// The session (threads, kernels, context, memory plan, position).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Runs the matrix products on `n_threads` threads from the next token on (see
    /// [`Session::set_threads`]); the cache and the results' bits do not change.
    pub fn set_threads(&mut self, n_threads: usize) -> Result<()> {
        self.session.set_threads(n_threads)
    }

    /// The generation parameters in force.
    pub fn params(&self) -> &GenerateParams {
        &self.params
    }

    /// Replaces the sampling and stop rules; they apply from the next `start`.
    pub fn set_params(&mut self, params: GenerateParams) -> Result<()> {
        check_params(&params)?;
        let n_vocab = self.model.model().config().n_vocab;
        self.sampler = Sampler::for_context(params.sampler, n_vocab, self.session.n_ctx())?;
        self.params = params;
        Ok(())
    }

    /// The flag that stops the turn at the next token when raised (from any thread or a
    /// signal handler). `start` lowers it.
    pub fn abort_handle(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.abort)
    }

    /// Feeds prompts `n` tokens per pass (llama.cpp's `--batch-size`); 0 = the whole prompt
    /// at once, the default.
    pub fn set_prompt_batch(&mut self, n: usize) {
        self.prompt_batch = if n == 0 { usize::MAX } else { n };
    }

    /// The tokens whose keys and values the cache holds.
    pub fn cached_tokens(&self) -> &[u32] {
        &self.cached
    }

    /// Empties the KV cache: the next prompt is fed whole.
    pub fn clear_cache(&mut self) {
        self.session.reset();
        self.cached.clear();
    }

    /// Keeps the first `n` cached tokens and forgets the rest.
    pub fn truncate_cache(&mut self, n: usize) {
        self.session.truncate(n);
        self.cached.truncate(n);
    }

    /// Feeds `tokens` after what the cache holds, outside any turn (which it ends), and returns
    /// the logits after the last one: for callers that drive the model token by token.
    pub fn feed(&mut self, tokens: &[u32]) -> Result<&[f32]> {
        self.turn.started = false;
        self.turn.unfed = None;
        self.session.forward_batch(tokens)?;
        self.cached.extend_from_slice(tokens);
        Ok(self.session.logits())
    }

    /// Feeds `prompt` after the longest prefix of it that the cache already holds (at least its
    /// last token is fed, so the logits are those after the whole prompt), and begins a turn.
    /// Lowers the abort flag. Errors: an empty prompt, a prompt longer than the context, a
    /// token id out of range, a chat prompt without a usable template.
    pub fn start(&mut self, prompt: Prompt<'_>) -> Result<()> {
        let model = Arc::clone(&self.model);
        let tokens = model.tokenize(prompt)?;
        let n_ctx = self.session.n_ctx();
        if tokens.is_empty() {
            return Err(Error::InvalidArgument(
                "empty prompt: it has no tokens".to_string(),
            ));
        }
        if tokens.len() > n_ctx {
            return Err(Error::ContextFull(format!(
                "the prompt has {} tokens, the context holds {n_ctx}",
                tokens.len()
            )));
        }
        self.abort.store(false, Ordering::Relaxed);
        let keep = common_prefix(&self.cached, &tokens).min(tokens.len() - 1);
        self.session.truncate(keep);
        self.cached.truncate(keep);
        let new_tokens = &tokens[keep..];

        self.sampler.reset();
        for &t in new_tokens {
            self.sampler.accept(t);
        }
        let turn = &mut self.turn;
        turn.started = true;
        turn.stop = None;
        turn.decoder = StreamDecoder::new(self.params.render_special);
        turn.held.clear();
        turn.piece.clear();
        turn.generated.clear();
        turn.unfed = None;
        turn.prompt_tokens = new_tokens.len();
        turn.reused_tokens = keep;
        turn.generate_time = Duration::ZERO;

        let prompt_start = Instant::now();
        for batch in new_tokens.chunks(self.prompt_batch) {
            self.session.forward_batch(batch)?;
            self.cached.extend_from_slice(batch);
        }
        turn.prompt_time = prompt_start.elapsed();
        turn.generate_start = Instant::now();
        Ok(())
    }

    /// The next piece of text: complete UTF-8, never empty; `None` once the turn has ended
    /// (see [`Generator::outcome`]). Generates as many tokens as the piece needs (a character
    /// split over tokens, text held back while it may start a stop string). The abort flag is
    /// checked before every token.
    pub fn next_piece(&mut self) -> Result<Option<&str>> {
        if !self.turn.started {
            return Err(Error::InvalidArgument(
                "next_piece: no turn started (call start first)".to_string(),
            ));
        }
        self.turn.piece.clear();
        while self.turn.piece.is_empty() {
            if self.turn.stop.is_some() {
                return Ok(None);
            }
            self.step()?;
        }
        Ok(Some(&self.turn.piece))
    }

    /// The remaining pieces of the turn, each an owned `String`.
    pub fn pieces(&mut self) -> Pieces<'_> {
        Pieces {
            generator: self,
            failed: false,
        }
    }

    /// A whole turn: `start(prompt)`, then every piece through `on_piece`, which may end the
    /// turn early by returning `Break` (the outcome says `Aborted`).
    pub fn generate(
        &mut self,
        prompt: Prompt<'_>,
        mut on_piece: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Outcome> {
        self.start(prompt)?;
        while let Some(piece) = self.next_piece()? {
            if on_piece(piece).is_break() {
                self.finish(StopReason::Aborted);
            }
        }
        self.outcome()
            .ok_or_else(|| Error::InvalidArgument("generate: the turn did not end".to_string()))
    }

    /// How the current turn went, once it has ended.
    pub fn outcome(&self) -> Option<Outcome> {
        let turn = &self.turn;
        turn.stop.map(|stop| Outcome {
            prompt_tokens: turn.prompt_tokens,
            reused_tokens: turn.reused_tokens,
            prompt_time: turn.prompt_time,
            generated_tokens: turn.generated.len(),
            generate_time: turn.generate_time,
            stop,
        })
    }

    /// The tokens generated in the current turn.
    pub fn generated(&self) -> &[u32] {
        &self.turn.generated
    }

    /// The current turn's reply as a chat message's content: the generated text without
    /// special tokens, ending before the stop string that ended it.
    pub fn reply(&self) -> String {
        let mut text = self.model.tokenizer().decode(&self.turn.generated, false);
        if let Some(StopReason::StopString { index }) = self.turn.stop {
            if let Some(at) = self
                .params
                .stop
                .get(index)
                .and_then(|s| text.find(s.as_str()))
            {
                text.truncate(at);
            }
        }
        text
    }

    /// Generates one token (or ends the turn) and appends what may be handed out to `piece`.
    fn step(&mut self) -> Result<()> {
        if self.abort.load(Ordering::Relaxed) {
            self.finish(StopReason::Aborted);
            return Ok(());
        }
        if self.turn.generated.len() >= self.params.max_tokens {
            self.finish(StopReason::Budget);
            return Ok(());
        }
        if let Some(token) = self.turn.unfed.take() {
            match self.session.forward(token) {
                Ok(_) => self.cached.push(token),
                Err(Error::ContextFull(_)) => {
                    self.finish(StopReason::ContextFull);
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        let token = self.sampler.sample(self.session.logits());
        self.sampler.accept(token);
        let tokenizer = self.model.tokenizer();
        if tokenizer.is_eog(token) && !self.params.ignore_eos {
            self.finish(StopReason::EndOfGeneration);
            return Ok(());
        }
        let turn = &mut self.turn;
        turn.generated.push(token);
        turn.unfed = Some(token);
        turn.decoder.push_into(tokenizer, token, &mut turn.held);
        self.release_held();
        Ok(())
    }

    /// Moves the held text that cannot be part of a stop string to `piece`; a stop string
    /// found ends the turn.
    fn release_held(&mut self) {
        let turn = &mut self.turn;
        match stop::scan(&turn.held, &self.params.stop) {
            Scan::Found { at, index } => {
                turn.piece.push_str(&turn.held[..at]);
                turn.held.clear();
                turn.end(StopReason::StopString { index });
            }
            Scan::Clear { safe } => {
                turn.piece.push_str(&turn.held[..safe]);
                turn.held.drain(..safe);
            }
        }
    }

    /// Ends the turn for `reason`: an unfinished character comes out as U+FFFD, and the held
    /// text is released (up to a stop string it completes).
    fn finish(&mut self, reason: StopReason) {
        if self.turn.stop.is_some() {
            return;
        }
        let rest = self.turn.decoder.flush();
        self.turn.held.push_str(&rest);
        self.release_held();
        let turn = &mut self.turn;
        if turn.stop.is_none() {
            // No stop string: what was held back as its possible start is text after all.
            turn.piece.push_str(&turn.held);
            turn.held.clear();
            turn.end(reason);
        }
    }
}

impl Turn {
    fn end(&mut self, reason: StopReason) {
        self.stop = Some(reason);
        self.generate_time = self.generate_start.elapsed();
    }
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("session", &self.session)
            .field("params", &self.params)
            .field("cached", &self.cached.len())
            .field("stop", &self.turn.stop)
            .finish_non_exhaustive()
    }
}

/// The pieces of a turn as owned strings; ends after the last piece or the first error.
pub struct Pieces<'g> {
    generator: &'g mut Generator,
    failed: bool,
}

impl Iterator for Pieces<'_> {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        if self.failed {
            return None;
        }
        match self.generator.next_piece() {
            Ok(piece) => piece.map(|p| Ok(p.to_owned())),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

fn check_params(params: &GenerateParams) -> Result<()> {
    if params.stop.iter().any(String::is_empty) {
        return Err(Error::InvalidArgument(
            "stop strings: an empty stop string would stop before any text".to_string(),
        ));
    }
    Ok(())
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    /// A C caller or a worker thread owns a generator: it must move between threads.
    #[test]
    fn generators_and_models_can_move_between_threads() {
        fn is_send<T: Send>() {}
        fn is_send_sync<T: Send + Sync>() {}
        is_send::<super::Generator>();
        is_send_sync::<super::TextModel>();
    }
}
