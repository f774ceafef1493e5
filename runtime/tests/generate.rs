//! `edge::generate` on real models: greedy text equal to llama.cpp's and to the binary's, the
//! stop rules (stop string, budget, abort, end of generation) and the KV cache kept across
//! chat turns.

mod common;

use edge::ChatMessage;
use edge::SamplerParams;
use edge::{GenerateParams, Generator, Outcome, Prompt, StopReason, TextModel};
use edge::{KvType, SessionParams};
use edge_formats::GgmlType;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

const PROMPT: &str = "Once upon a time";

fn tinystories() -> PathBuf {
    common::quantized(
        &common::shared_models().join("tinystories-656k"),
        GgmlType::F32,
    )
}

fn greedy_params(max_tokens: usize) -> GenerateParams {
    GenerateParams {
        max_tokens,
        sampler: SamplerParams::greedy(),
        ..Default::default()
    }
}

fn generator(path: &Path, n_ctx: usize, params: GenerateParams) -> Generator {
    let model = Arc::new(TextModel::open(path).unwrap());
    let session = SessionParams {
        n_ctx,
        kv_type: KvType::F16,
        ..Default::default()
    };
    Generator::new(model, session, params).unwrap()
}

/// A whole turn through the iterator: the text and the outcome.
fn run(gen: &mut Generator, prompt: Prompt<'_>) -> (String, Outcome) {
    gen.start(prompt).unwrap();
    let text: String = gen.pieces().map(Result::unwrap).collect();
    (text, gen.outcome().unwrap())
}

#[test]
fn greedy_text_equals_llamacpp_on_the_chat_prompt_case() {
    let model = common::quantized(&common::smollm2_folder(), GgmlType::Q8_0);
    let reference = common::reference_json("llama.cpp/smollm2-135m-instruct-q8_0.json");
    let cases = common::smollm2_public_cases();
    let chat = cases
        .iter()
        .position(|c| c["chat"].as_bool() == Some(true))
        .unwrap();
    let llamacpp = &reference["cases"][chat];
    let want_stop = match llamacpp["stopped_at_eog"].as_bool() {
        Some(true) => StopReason::EndOfGeneration,
        _ => StopReason::Budget,
    };
    let params = GenerateParams {
        render_special: true,
        ..greedy_params(32)
    };
    let mut gen = generator(&model, 512, params);
    let (text, outcome) = run(
        &mut gen,
        Prompt::Text(cases[chat]["text"].as_str().unwrap()),
    );
    assert_eq!(text, llamacpp["greedy_text"].as_str().unwrap());
    assert_eq!(outcome.stop, want_stop);
    assert_eq!(outcome.generated_tokens, gen.generated().len());
}

#[test]
fn greedy_text_equals_the_binary_and_the_prompt_forms_agree() {
    let model = tinystories();
    let out = common::run_edge()
        .arg("-m")
        .arg(&model)
        .args(["-p", PROMPT, "-n", "12", "--temp", "0", "--ignore-eos"])
        .args(["--kv-type", "f16", "--ctx", "64"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let binary = String::from_utf8(out.stdout).unwrap();

    let params = GenerateParams {
        ignore_eos: true,
        ..greedy_params(12)
    };
    let mut gen = generator(&model, 64, params);
    let (text, outcome) = run(&mut gen, Prompt::Text(PROMPT));
    // The binary ends its text with a newline.
    assert_eq!(format!("{text}\n"), binary);
    assert_eq!(outcome.stop, StopReason::Budget);

    let ids = gen
        .model()
        .tokenize(Prompt::Text(PROMPT))
        .unwrap()
        .into_owned();
    gen.clear_cache();
    let (from_ids, _) = run(&mut gen, Prompt::Tokens(&ids));
    assert_eq!(from_ids, text);
    // The callback form hands out the same pieces.
    gen.clear_cache();
    let mut pieces = String::new();
    gen.generate(Prompt::Text(PROMPT), |p| {
        pieces.push_str(p);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(pieces, text);
}

#[test]
fn the_budget_gives_exactly_n_tokens() {
    let model = tinystories();
    let long_params = GenerateParams {
        ignore_eos: true,
        ..greedy_params(20)
    };
    let mut gen = generator(&model, 64, long_params);
    let (_, _) = run(&mut gen, Prompt::Text(PROMPT));
    let long = gen.generated().to_vec();
    for n in [0, 1, 7] {
        let params = GenerateParams {
            ignore_eos: true,
            ..greedy_params(n)
        };
        gen.set_params(params).unwrap();
        gen.clear_cache();
        let (text, outcome) = run(&mut gen, Prompt::Text(PROMPT));
        assert_eq!(outcome.stop, StopReason::Budget, "n = {n}");
        assert_eq!(outcome.generated_tokens, n);
        assert_eq!(gen.generated(), &long[..n]);
        assert_eq!(text, gen.model().tokenizer().decode(&long[..n], false));
    }
}

#[test]
fn a_stop_string_cuts_the_text_just_before_it() {
    let model = tinystories();
    let params = GenerateParams {
        ignore_eos: true,
        ..greedy_params(24)
    };
    let mut gen = generator(&model, 64, params.clone());
    let (full, _) = run(&mut gen, Prompt::Text(PROMPT));
    // A stop string from the middle of the text, spanning token boundaries.
    let start = (full.len() / 2..full.len())
        .find(|&i| full.is_char_boundary(i) && full.is_char_boundary(i + 4))
        .unwrap();
    let stop = full[start..start + 4].to_string();
    let first = full.find(&stop).unwrap();

    gen.set_params(GenerateParams {
        stop: vec!["no such text".to_string(), stop.clone()],
        ..params
    })
    .unwrap();
    gen.clear_cache();
    let (text, outcome) = run(&mut gen, Prompt::Text(PROMPT));
    assert_eq!(text, full[..first], "stop string {stop:?}");
    assert_eq!(outcome.stop, StopReason::StopString { index: 1 });
    assert_eq!(gen.reply(), full[..first]);
    assert!(outcome.generated_tokens < 24);
}

#[test]
fn empty_stop_strings_are_refused() {
    let model = Arc::new(TextModel::open(&tinystories()).unwrap());
    let params = GenerateParams {
        stop: vec![String::new()],
        ..greedy_params(4)
    };
    let err = Generator::new(model, SessionParams::default(), params).unwrap_err();
    assert!(err.to_string().contains("empty stop string"), "{err}");
}

#[test]
fn the_abort_flag_and_the_callback_stop_the_turn() {
    let model = tinystories();
    let params = GenerateParams {
        ignore_eos: true,
        ..greedy_params(40)
    };
    let mut gen = generator(&model, 64, params);
    let abort = gen.abort_handle();

    // Raised after the first piece: nothing more is generated.
    gen.start(Prompt::Text(PROMPT)).unwrap();
    let first = gen.next_piece().unwrap().map(str::to_owned);
    assert!(first.is_some());
    let after_first = gen.generated().len();
    abort.store(true, Ordering::Relaxed);
    assert_eq!(gen.next_piece().unwrap(), None);
    let outcome = gen.outcome().unwrap();
    assert_eq!(outcome.stop, StopReason::Aborted);
    assert_eq!(outcome.generated_tokens, after_first);

    // `start` lowers the flag; the callback's Break stops after the third piece.
    let mut seen = 0;
    let outcome = gen
        .generate(Prompt::Text(PROMPT), |_| {
            seen += 1;
            if seen == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(seen, 3);
    assert_eq!(outcome.stop, StopReason::Aborted);
    assert!(outcome.generated_tokens < 40);
}

#[test]
fn a_second_chat_turn_feeds_only_the_new_tokens_and_equals_a_fresh_run() {
    let model = common::smollm2_llamacpp_gguf();
    let mut gen = generator(&model, 512, greedy_params(16));
    let mut messages = vec![ChatMessage::user("What is the capital of France?")];
    let (first, outcome) = run(&mut gen, Prompt::Chat(&messages));
    assert_eq!(outcome.reused_tokens, 0);
    assert!(!first.is_empty());
    let cached_after_first = gen.cached_tokens().to_vec();

    messages.push(ChatMessage::assistant(gen.reply()));
    messages.push(ChatMessage::user("Tell me more about it."));
    let conversation = gen.model().tokenize(Prompt::Chat(&messages)).unwrap();
    let common_prefix = cached_after_first
        .iter()
        .zip(conversation.iter())
        .take_while(|(a, b)| a == b)
        .count();
    let (second, outcome) = run(&mut gen, Prompt::Chat(&messages));
    assert!(common_prefix > 0);
    assert_eq!(outcome.reused_tokens, common_prefix);
    assert_eq!(outcome.prompt_tokens, conversation.len() - common_prefix);
    assert!(outcome.prompt_tokens < conversation.len());

    gen.clear_cache();
    let (fresh, outcome) = run(&mut gen, Prompt::Chat(&messages));
    assert_eq!(outcome.reused_tokens, 0);
    assert_eq!(outcome.prompt_tokens, conversation.len());
    assert_eq!(second, fresh);
}

#[test]
fn prompts_that_cannot_run_are_errors() {
    let mut gen = generator(&tinystories(), 8, greedy_params(4));
    assert!(gen.next_piece().is_err(), "next_piece before start");
    let long = "Once upon a time there was a little girl who liked to play in the park.";
    let err = gen.start(Prompt::Text(long)).unwrap_err();
    assert!(matches!(err, edge::Error::ContextFull(_)), "{err}");
    let err = gen.start(Prompt::Tokens(&[])).unwrap_err();
    assert!(err.to_string().contains("empty prompt"), "{err}");
    let err = gen
        .start(Prompt::Chat(&[ChatMessage::user("hi")]))
        .unwrap_err();
    assert!(err.to_string().contains("chat template"), "{err}");
}

#[test]
fn a_full_context_ends_the_turn() {
    let params = GenerateParams {
        ignore_eos: true,
        ..greedy_params(usize::MAX)
    };
    let mut gen = generator(&tinystories(), 12, params);
    let (_, outcome) = run(&mut gen, Prompt::Text(PROMPT));
    assert_eq!(outcome.stop, StopReason::ContextFull);
    // Every position holds a token; the last one sampled was not fed.
    assert_eq!(gen.session().pos(), 12);
    assert_eq!(outcome.prompt_tokens + outcome.generated_tokens, 13);
}
