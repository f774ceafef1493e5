//! Chat templates rendered by minijinja against transformers' `apply_chat_template` output
//! (the `text` of the chat prompts in reference/smollm2-135m-instruct/public-*.json).

mod common;

use edge::{ChatMessage, ChatTemplate};

/// The reference renders the user prompt alone, with the generation prompt.
fn check_against_reference(template: &ChatTemplate) {
    let cases: Vec<_> = common::smollm2_public_cases()
        .into_iter()
        .filter(|c| c["chat"].as_bool() == Some(true))
        .collect();
    assert!(!cases.is_empty(), "no chat cases in the reference");
    for case in cases {
        let prompt = case["prompt"].as_str().unwrap();
        let expected = case["text"].as_str().unwrap();
        let rendered = template.render(&[ChatMessage::user(prompt)], true).unwrap();
        assert_eq!(rendered, expected, "prompt {prompt:?}");
    }
}

#[test]
fn smollm2_template_from_tokenizer_config_matches_transformers() {
    let path = common::smollm2_folder().join("tokenizer_config.json");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let template = ChatTemplate::new(
        config["chat_template"].as_str().unwrap(),
        config["bos_token"].as_str().unwrap_or(""),
        config["eos_token"].as_str().unwrap_or(""),
    )
    .unwrap();
    check_against_reference(&template);
}

#[test]
fn smollm2_template_from_llamacpp_gguf_metadata_matches_transformers() {
    let file = edge_formats::gguf::GgufFile::open(&common::smollm2_llamacpp_gguf()).unwrap();
    let template = ChatTemplate::from_metadata(file.metadata())
        .unwrap()
        .expect("SmolLM2 has a chat template");
    // bos_token_id 1 and eos_token_id 2 in llama.cpp's file.
    assert_eq!(template.bos_token(), "<|im_start|>");
    assert_eq!(template.eos_token(), "<|im_end|>");
    check_against_reference(&template);
}

#[test]
fn multi_turn_conversation_extends_the_previous_rendering() {
    let path = common::smollm2_folder().join("tokenizer_config.json");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let template = ChatTemplate::new(config["chat_template"].as_str().unwrap(), "", "").unwrap();
    let mut messages = vec![ChatMessage::system("Be brief."), ChatMessage::user("Hi")];
    let first = template.render(&messages, true).unwrap();
    assert_eq!(
        first,
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    messages.push(ChatMessage::assistant("Hello!"));
    messages.push(ChatMessage::user("Bye"));
    let second = template.render(&messages, true).unwrap();
    assert!(second.starts_with(&first), "{second:?}");
    assert_eq!(
        &second[first.len()..],
        "Hello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"
    );
}
