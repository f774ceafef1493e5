//! Arbitrary text never panics or yields out-of-range ids; byte-level BPE round-trips exactly;
//! SentencePiece-style round-trips text made of characters in its vocabulary.

mod common;

use edge::Tokenizer;
use edge_formats::gguf::GgufFile;
use edge_quantize::convert::tokenizer::tokenizer_metadata;
use proptest::prelude::*;
use std::sync::OnceLock;

fn smollm2() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| {
        Tokenizer::from_entries(&tokenizer_metadata(&common::smollm2_folder()).unwrap()).unwrap()
    })
}

fn tinystories() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| {
        let folder = common::shared_models().join("tinystories-656k");
        Tokenizer::from_entries(&tokenizer_metadata(&folder).unwrap()).unwrap()
    })
}

/// llama.cpp's file: score-based merging, byte fallback with no byte tokens.
fn tinystories_llamacpp() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| {
        let path = common::shared_models().join("llama.cpp-made/tinystories-656k.f32.gguf");
        Tokenizer::from_metadata(GgufFile::open(&path).unwrap().metadata()).unwrap()
    })
}

/// Pieces that stress the tokenizers: specials, whitespace kinds, digits, characters with no
/// token in tinystories, emoji with modifiers, lone combining marks.
fn tricky_text() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "a",
        "Z",
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "&",
        "ü",
        "e\u{301}",
        "\u{301}",
        "🙂",
        "👍🏽",
        "日本",
        "'s",
        "'LL",
        "123",
        "٣",
        "½",
        "<|im_end|>",
        "<|im_start|>",
        "<|end_story|>",
        "<|start_story|>",
        "<unk>",
        "<",
        "|",
        "\u{2581}",
        "\u{a0}",
        "\u{3000}",
        "x",
        "Once",
        " upon",
    ]);
    prop::collection::vec(pieces, 0..24).prop_map(|v| v.concat())
}

fn check_ids(tokenizer: &Tokenizer, text: &str) {
    for (bos, special) in [(true, true), (false, false)] {
        let ids = tokenizer.encode(text, bos, special);
        assert!(
            ids.iter().all(|&id| (id as usize) < tokenizer.n_vocab()),
            "{text:?}: {ids:?}"
        );
        let _ = tokenizer.decode(&ids, true);
        let mut decoder = tokenizer.stream_decoder(true);
        let mut streamed = String::new();
        for &id in &ids {
            decoder.push_into(tokenizer, id, &mut streamed);
        }
        streamed.push_str(&decoder.flush());
        assert_eq!(
            streamed,
            String::from_utf8_lossy(
                &ids.iter()
                    .flat_map(|&id| tokenizer.token_bytes(id, true).to_vec())
                    .collect::<Vec<u8>>()
            )
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_unicode_never_panics(text in any::<String>()) {
        check_ids(smollm2(), &text);
        check_ids(tinystories(), &text);
        check_ids(tinystories_llamacpp(), &text);
        prop_assert_eq!(smollm2().decode(&smollm2().encode(&text, false, false), false), text);
    }

    #[test]
    fn tricky_text_never_panics_and_byte_level_round_trips(text in tricky_text()) {
        check_ids(smollm2(), &text);
        check_ids(tinystories(), &text);
        check_ids(tinystories_llamacpp(), &text);
        let smol = smollm2();
        prop_assert_eq!(smol.decode(&smol.encode(&text, false, false), true), text.clone());
        prop_assert_eq!(smol.decode(&smol.encode(&text, false, true), true), text);
    }

    #[test]
    fn sentencepiece_round_trips_in_vocabulary_text(
        text in prop::collection::vec(prop::sample::select(vec![
            "a", "b", "Once", " upon", " ", "  ", "\n", "!", "<|end_story|>", "<unk>", "9", "'", "_", "|",
        ]), 0..24).prop_map(|v| v.concat())
    ) {
        let t = tinystories();
        prop_assert_eq!(t.decode(&t.encode(&text, true, false), false), text);
    }
}
