//! Chat templates: the model's own Jinja template (`tokenizer.chat_template`), rendered with
//! minijinja the way Hugging Face transformers renders it (`apply_chat_template`): jinja2 with
//! `trim_blocks` and `lstrip_blocks`, a context of `messages`, `add_generation_prompt`,
//! `bos_token`, `eos_token`, and a `raise_exception(message)` function. Python string methods
//! (`.strip()`, `.split()`, ...) come from minijinja-contrib's pycompat callback.

use crate::{Error, Result};
use edge_formats::gguf::keys::tokenizer as tk;
use edge_formats::gguf::{Metadata, Value};
use serde::Serialize;

/// The GGUF key holding the template source.
pub const CHAT_TEMPLATE_KEY: &str = tk::CHAT_TEMPLATE;

const TEMPLATE_NAME: &str = "chat_template";

/// One turn of a conversation: `role` is "system", "user" or "assistant".
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// Who speaks: "system", "user", "assistant" (or any role the template knows).
    pub role: String,
    /// What they say.
    pub content: String,
}

impl ChatMessage {
    /// A message of `role`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }
    /// A "system" message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }
    /// A "user" message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }
    /// An "assistant" message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// A compiled chat template plus the special-token texts it may refer to.
#[derive(Clone)]
pub struct ChatTemplate {
    env: minijinja::Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// Compiles `source` (Jinja). `bos_token`/`eos_token` are the texts of the tokenizer's
    /// BOS/EOS tokens ("" when the model has none).
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self> {
        let mut env = minijinja::Environment::new();
        // transformers: jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.add_template_owned(TEMPLATE_NAME, source.to_owned())
            .map_err(|e| Error::Template(describe(&e)))?;
        Ok(ChatTemplate {
            env,
            bos_token: bos_token.to_owned(),
            eos_token: eos_token.to_owned(),
        })
    }

    /// The template in `tokenizer.chat_template`, with `bos_token`/`eos_token` taken from
    /// `tokenizer.ggml.tokens` at `tokenizer.ggml.bos_token_id`/`eos_token_id`.
    /// `Ok(None)` when the model has no template.
    pub fn from_metadata(metadata: &Metadata) -> Result<Option<Self>> {
        let Some(value) = metadata.get(CHAT_TEMPLATE_KEY) else {
            return Ok(None);
        };
        let Some(source) = value.as_str() else {
            return Err(Error::Template(format!(
                "metadata key {CHAT_TEMPLATE_KEY} is {}, expected a string",
                value.type_description()
            )));
        };
        let bos = special_token_text(metadata, tk::BOS_ID);
        let eos = special_token_text(metadata, tk::EOS_ID);
        Self::new(source, &bos, &eos).map(Some)
    }

    /// Replaces the BOS/EOS texts (e.g. with `Tokenizer::token_text` of its ids).
    pub fn with_special_tokens(mut self, bos_token: &str, eos_token: &str) -> Self {
        self.set_special_tokens(bos_token, eos_token);
        self
    }

    /// Replaces the BOS/EOS texts in place.
    pub fn set_special_tokens(&mut self, bos_token: &str, eos_token: &str) {
        self.bos_token = bos_token.to_owned();
        self.eos_token = eos_token.to_owned();
    }

    /// The text the template gets as `bos_token`.
    pub fn bos_token(&self) -> &str {
        &self.bos_token
    }

    /// The text the template gets as `eos_token`.
    pub fn eos_token(&self) -> &str {
        &self.eos_token
    }

    /// The conversation as the model's prompt text; with `add_generation_prompt` it ends with
    /// the header of the assistant's next turn.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| Error::Template(describe(&e)))?;
        template
            .render(minijinja::context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            })
            .map_err(|e| Error::Template(describe(&e)))
    }
}

/// The instructions one render may run: a crafted template's nested loops would otherwise run
/// for ever. Real templates take tens of instructions per message, so this allows
/// conversations of some 100,000 messages and stops a runaway render within a second.
const TEMPLATE_FUEL: u64 = 10_000_000;

/// The text of the token whose id is stored under `id_key`, or "".
fn special_token_text(metadata: &Metadata, id_key: &str) -> String {
    let id = metadata.get(id_key).and_then(Value::as_u64);
    let tokens = metadata.get(tk::TOKENS).and_then(Value::as_array);
    match (id, tokens) {
        (Some(id), Some((_, tokens))) => usize::try_from(id)
            .ok()
            .and_then(|i| tokens.get(i))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    }
}

/// `raise_exception(message)`: the template refuses its input (e.g. roles out of order).
fn raise_exception(message: String) -> std::result::Result<minijinja::Value, minijinja::Error> {
    Err(minijinja::Error::new(
        minijinja::ErrorKind::InvalidOperation,
        message,
    ))
}

/// One line: the error and its causes, with the template line where known.
fn describe(error: &minijinja::Error) -> String {
    if error.kind() == minijinja::ErrorKind::OutOfFuel {
        return format!(
            "rendering ran more than {TEMPLATE_FUEL} instructions (loops that do not end?)"
        );
    }
    let mut text = match error.line() {
        Some(line) => format!("{} (template line {line})", error),
        None => error.to_string(),
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn chatml_with_default_system() {
        let t = ChatTemplate::new(CHATML, "<|im_start|>", "<|im_end|>").unwrap();
        let out = t.render(&[ChatMessage::user("Hi")], true).unwrap();
        assert_eq!(
            out,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn raise_exception_is_an_error_with_its_message() {
        let t = ChatTemplate::new(
            "{% if messages[0]['role'] != 'user' %}{{ raise_exception('first must be user') }}{% endif %}",
            "",
            "",
        )
        .unwrap();
        let err = t.render(&[ChatMessage::system("x")], false).unwrap_err();
        assert!(err.to_string().contains("first must be user"), "{err}");
    }

    #[test]
    fn python_string_methods_and_special_tokens() {
        let t = ChatTemplate::new(
            "{{ bos_token }}{% for m in messages %}{{ m.content.strip() | upper }}{% endfor %}{{ eos_token }}",
            "<s>",
            "</s>",
        )
        .unwrap();
        assert_eq!(
            t.render(&[ChatMessage::user("  hi  ")], false).unwrap(),
            "<s>HI</s>"
        );
    }

    #[test]
    fn trim_and_lstrip_blocks_like_transformers() {
        let t = ChatTemplate::new("  {% if true %}\nA\n  {% endif %}\nB", "", "").unwrap();
        assert_eq!(t.render(&[], false).unwrap(), "A\nB");
    }

    #[test]
    fn a_long_conversation_renders_within_the_fuel() {
        let t = ChatTemplate::new(CHATML, "<|im_start|>", "<|im_end|>").unwrap();
        let messages: Vec<ChatMessage> = (0..20_000).map(|_| ChatMessage::user("Hi")).collect();
        let out = t.render(&messages, true).unwrap();
        assert_eq!(
            out.matches("<|im_start|>user\nHi<|im_end|>").count(),
            20_000
        );
    }

    #[test]
    fn loops_that_do_not_end_run_out_of_fuel() {
        let nested = "{% for a in range(100000) %}{% for b in range(100000) %}{{ b }}\
                      {% endfor %}{% endfor %}";
        let t = ChatTemplate::new(nested, "", "").unwrap();
        let e = t.render(&[ChatMessage::user("Hi")], true).unwrap_err();
        assert!(
            e.to_string()
                .contains("rendering ran more than 10000000 instructions"),
            "{e}"
        );
    }

    #[test]
    fn syntax_error_is_reported() {
        let err = ChatTemplate::new("{% if %}", "", "").unwrap_err();
        assert!(err.to_string().starts_with("chat template:"), "{err}");
    }
}
