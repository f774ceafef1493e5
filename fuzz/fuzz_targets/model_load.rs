//! Loading a model as run-edge does, from arbitrary bytes: the file is opened with
//! `TextModel::open` (config, validation, weight views, tokenizer, chat template); the
//! tokenizer and the chat template are also built from the metadata alone, so that crafted
//! metadata reaches them without valid tensors. Whatever loads is used: a text is encoded and
//! decoded, a conversation rendered. Any panic, abort, hang or blow-up is a bug (scripts/fuzz
//! runs it under an RSS and a per-input time limit).
#![no_main]

use edge::{ChatMessage, ChatTemplate, TextModel, Tokenizer};
use edge_formats::gguf::GgufHeader;
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const TEXT: &str = "Hello wörld <|im_start|>  ab\n\u{1F600}";

/// One file per fuzzing process, rewritten for each input.
fn scratch() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("edge-fuzz-model-{}.gguf", std::process::id())))
}

fn use_tokenizer(t: &Tokenizer) {
    let ids = t.encode(TEXT, true, true);
    let _ = t.decode(&ids, true);
    let mut decoder = t.stream_decoder(false);
    for &id in ids.iter().take(64) {
        let _ = decoder.push(t, id);
    }
}

fn use_template(t: &ChatTemplate) {
    let messages = [ChatMessage::system("Be brief."), ChatMessage::user(TEXT)];
    let _ = t.render(&messages, true);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = GgufHeader::parse(data, Path::new("fuzz.gguf")) {
        if let Ok(t) = Tokenizer::from_metadata(&header.metadata) {
            use_tokenizer(&t);
        }
        if let Ok(Some(t)) = ChatTemplate::from_metadata(&header.metadata) {
            use_template(&t);
        }
    }
    if std::fs::write(scratch(), data).is_err() {
        return;
    }
    if let Ok(model) = TextModel::open(scratch()) {
        use_tokenizer(model.tokenizer());
        if let Ok(t) = model.chat_template() {
            use_template(t);
        }
        let _ = model.model().description();
    }
});
