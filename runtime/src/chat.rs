//! Chat templates: the model's own Jinja template (`tokenizer.chat_template`), rendered with
//! minijinja the way Hugging Face transformers renders it (`apply_chat_template`): jinja2 with
//! `trim_blocks` and `lstrip_blocks`, a context of `messages`, `add_generation_prompt`,
//! `bos_token`, `eos_token`, and a `raise_exception(message)` function. Python string methods
//! (`.strip()`, `.split()`, ...) come from minijinja-contrib's pycompat callback.

mod budget;

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

/// A chat template (checked to compile) plus the special-token texts it may refer to.
#[derive(Clone)]
pub struct ChatTemplate {
    source: String,
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
        parse(source).map_err(|e| Error::Template(describe(&e)))?;
        Ok(ChatTemplate {
            source: source.to_owned(),
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
        let input_bytes = self.source.len()
            + self.bos_token.len()
            + self.eos_token.len()
            + messages
                .iter()
                .map(|m| m.role.len() + m.content.len())
                .sum::<usize>();
        let context = minijinja::context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => &self.bos_token,
            eos_token => &self.eos_token,
        };
        render_charged(&self.source, context, budget::budget_for(input_bytes))
            .map_err(|e| Error::Template(describe(&e)))
    }
}

/// The environment of transformers' `apply_chat_template`: jinja2 with `trim_blocks` and
/// `lstrip_blocks`, pycompat string methods, `raise_exception`, fuel, and the budget's hooks.
fn environment<'s>() -> minijinja::Environment<'s> {
    let mut env = minijinja::Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", raise_exception);
    env.add_function(budget::CHARGE, budget::charge_made);
    env.add_filter("indent", budget::bounded_indent);
    env.set_formatter(budget::charged_formatter);
    env.set_fuel(Some(TEMPLATE_FUEL));
    env
}

/// The whitespace rules of `environment` (the parser takes them separately).
const WHITESPACE: minijinja::machinery::WhitespaceConfig = minijinja::machinery::WhitespaceConfig {
    keep_trailing_newline: false,
    lstrip_blocks: true,
    trim_blocks: true,
};

// SyntaxConfig is a unit struct unless minijinja's `custom_syntax` feature is on: `default()`
// compiles either way.
#[allow(clippy::default_constructed_unit_structs)]
fn parse(
    source: &str,
) -> std::result::Result<minijinja::machinery::ast::Stmt<'_>, minijinja::Error> {
    minijinja::machinery::parse(
        source,
        TEMPLATE_NAME,
        minijinja::syntax::SyntaxConfig::default(),
        WHITESPACE,
    )
}

/// Compiles `source`, rewrites it to charge what it makes (see `budget`) and runs it with
/// `context` under a budget of `limit` bytes.
fn render_charged(
    source: &str,
    context: minijinja::Value,
    limit: u64,
) -> std::result::Result<String, minijinja::Error> {
    use minijinja::machinery::{CodeGenerator, Vm};
    let ast = parse(source)?;
    let mut codegen = CodeGenerator::new(TEMPLATE_NAME, source);
    codegen.compile_stmt(&ast);
    let (instructions, blocks) = codegen.finish();
    let instructions = budget::charged(&instructions, TEMPLATE_NAME);
    let blocks = blocks
        .iter()
        .map(|(name, block)| (*name, budget::charged(block, name)))
        .collect();
    let env = environment();
    let _armed = budget::Armed::new(limit);
    let mut text = String::new();
    let mut out = minijinja::machinery::make_string_output(&mut text);
    Vm::new(&env).eval(
        &instructions,
        context,
        &blocks,
        &mut out,
        minijinja::AutoEscape::None,
    )?;
    Ok(text)
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
        (Some(id), Some(tokens)) => usize::try_from(id)
            .ok()
            .and_then(|i| tokens.get(i))
            .and_then(|token| token.as_str().map(str::to_owned))
            .unwrap_or_default(),
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

    /// Renders `source` with one user message of `content`: the error's text.
    fn render_error(source: &str, content: &str) -> String {
        let t = ChatTemplate::new(source, "", "").unwrap();
        t.render(&[ChatMessage::user(content)], true)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn templates_that_make_more_than_their_budget_are_stopped() {
        let cases = [
            // Doubling a string (a namespace carries it out of the loop's scope).
            "{% set ns = namespace(s='ab') %}{% for i in range(64) %}\
             {% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
            "{% set ns = namespace(s='ab') %}{% for i in range(64) %}\
             {% set ns.s = ns.s + ns.s %}{% endfor %}",
            "{% set ns = namespace(s='ab') %}{% for i in range(64) %}\
             {% set ns.s = ns.s * 2 %}{% endfor %}",
            "{% set ns = namespace(s='ab') %}{% for i in range(64) %}\
             {% set ns.s = ns.s | replace('a', 'aa') %}{% endfor %}",
            "{% set ns = namespace(s='ab') %}{% for i in range(64) %}\
             {% set ns.s = [ns.s, ns.s] | join %}{% endfor %}",
            // Doubling a list.
            "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}\
             {% set ns.l = ns.l + ns.l %}{% endfor %}",
            // Output: 100 GB of `{{ }}`, of raw text, and of a macro's captured output.
            "{% for i in range(100000) %}{{ 'x' * 1000000 }}{% endfor %}",
            "{% macro m() %}{% for i in range(100000) %}{{ 'y' * 100000 }}{% endfor %}\
             {% endmacro %}{% set s = m() %}",
        ];
        let raw = format!(
            "{{% for i in range(100000) %}}{}{{% endfor %}}",
            "x".repeat(4096)
        );
        for source in cases.iter().copied().chain([raw.as_str()]) {
            let e = render_error(source, "Hi");
            let budget = 64 * 1024 * 1024 + 16 * (source.len() as u64 + 4 + 2);
            let over = format!("rendering made more than {budget} bytes of text");
            assert!(e.contains(&over), "{source}: {e}");
            assert!(e.contains("template line 1"), "{source}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        let e = render_error("{{ 'a' | indent(1000000000000) }}", "Hi");
        assert!(e.contains("indent width 1000000000000 is over 4096"), "{e}");
    }

    #[test]
    fn a_large_message_renders_within_its_budget() {
        let t = ChatTemplate::new(CHATML, "<|im_start|>", "<|im_end|>").unwrap();
        let content = "word ".repeat(4 << 20);
        let out = t.render(&[ChatMessage::user(&content)], true).unwrap();
        assert!(out.contains(&content));
        // Macros, recursive loops and `indent` still work under the rewrite.
        let t = ChatTemplate::new(
            "{% macro say(m) %}[{{ m.role }}]{{ m.content | indent(2) }}{% endmacro %}\
             {% for m in messages %}{{ say(m) }}{% endfor %}\
             {% for x in [[1, [2]], 3] recursive %}{% if x is iterable %}{{ loop(x) }}\
             {% else %}{{ x }}{% endif %}{% endfor %}",
            "",
            "",
        )
        .unwrap();
        let out = t
            .render(
                &[ChatMessage::user("a\nb"), ChatMessage::assistant("c")],
                false,
            )
            .unwrap();
        assert_eq!(out, "[user]a\n  b[assistant]c123");
    }

    #[test]
    fn syntax_error_is_reported() {
        let err = ChatTemplate::new("{% if %}", "", "").unwrap_err();
        assert!(err.to_string().starts_with("chat template:"), "{err}");
    }
}
