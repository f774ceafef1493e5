//! `run-edge --chat`: the prompt goes through the model's chat template with the assistant
//! header appended, so the reply is the assistant's text. Checked against llama.cpp's greedy
//! output on the reference's chat prompts, whose `text` is transformers' rendering with the
//! generation prompt: if `--chat` rendered anything else (no assistant header, another
//! template), the text would differ; a missing header used to make every answer begin with a
//! literal `assistant\n`.

mod common;

use edge::{ChatMessage, ChatTemplate};
use edge_formats::GgmlType;

/// SmolLM2's assistant header (ChatML), as transformers renders the generation prompt.
const ASSISTANT_HEADER: &str = "<|im_start|>assistant\n";

#[test]
fn rendered_chat_prompt_ends_with_the_assistant_header() {
    let model = common::quantized(&common::smollm2_folder(), GgmlType::Q8_0);
    let file = edge_formats::gguf::GgufFile::open(&model).unwrap();
    let template = ChatTemplate::from_metadata(file.metadata())
        .unwrap()
        .expect("SmolLM2 has a chat template");
    for messages in [
        vec![ChatMessage::user("Hi")],
        vec![ChatMessage::system("Be brief."), ChatMessage::user("Hi")],
        vec![
            ChatMessage::user("Hi"),
            ChatMessage::assistant("Hello!"),
            ChatMessage::user("Bye"),
        ],
    ] {
        let with = template.render(&messages, true).unwrap();
        let without = template.render(&messages, false).unwrap();
        assert!(with.ends_with(ASSISTANT_HEADER), "{with:?}");
        assert_eq!(with, format!("{without}{ASSISTANT_HEADER}"));
    }
}

#[test]
fn chat_flag_reply_equals_llamacpp_on_the_rendered_prompt() {
    let model = common::quantized(&common::smollm2_folder(), GgmlType::Q8_0);
    let llamacpp = common::reference_json("llama.cpp/smollm2-135m-instruct-q8_0.json");
    let cases = common::smollm2_public_cases();
    let mut checked = 0;
    for (case, theirs) in cases.iter().zip(llamacpp["cases"].as_array().unwrap()) {
        if case["chat"].as_bool() != Some(true) {
            continue;
        }
        let prompt = case["prompt"].as_str().unwrap();
        assert!(case["text"].as_str().unwrap().ends_with(ASSISTANT_HEADER));
        let out = common::run_edge()
            .arg("-m")
            .arg(&model)
            .args(["--chat", "-p", prompt, "--temp", "0", "-n", "32"])
            .args(["--kv-type", "f16", "--ctx", "512"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            !stdout.trim_start().starts_with("assistant"),
            "{prompt:?}: the reply starts with the role name: {stdout:?}"
        );
        let expected = theirs["greedy_text"].as_str().unwrap();
        assert_eq!(stdout.trim_end_matches('\n'), expected, "{prompt:?}");
        checked += 1;
    }
    assert!(checked > 0, "no chat prompt in the reference");
}
