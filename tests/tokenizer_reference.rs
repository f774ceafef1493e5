//! The tokenizer against the `tokenizers` library's ids (../shared/models/reference/tokenizer),
//! built from the metadata our quantizer's converter produces for each model folder.

mod common;

use common::tokenizer::{check_cases, reference};
use edge::Tokenizer;
use edge_quantize::convert::tokenizer::tokenizer_metadata;
use std::path::Path;

fn converted(folder: &Path) -> Tokenizer {
    let entries = tokenizer_metadata(folder).unwrap_or_else(|e| panic!("{e}"));
    Tokenizer::from_entries(&entries).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn smollm2_converted_metadata_matches_reference() {
    let tokenizer = converted(&common::smollm2_folder());
    assert_eq!(tokenizer.n_vocab(), 49152);
    check_cases(&tokenizer, &reference("smollm2-135m-instruct"), true);
}

#[test]
fn tinystories_converted_metadata_matches_reference() {
    let tokenizer = converted(&common::shared_models().join("tinystories-656k"));
    assert_eq!(tokenizer.n_vocab(), 2048);
    check_cases(&tokenizer, &reference("tinystories-656k"), false);
}

#[test]
fn tinystories_decode_drops_prefix_space_and_skips_specials() {
    let tokenizer = converted(&common::shared_models().join("tinystories-656k"));
    let ids = tokenizer.encode("Once upon a time", true, true);
    assert_eq!(ids, [1, 80, 147, 201, 282, 57]); // reference/tinystories-656k/public-0.json
    assert_eq!(tokenizer.decode(&ids, false), "Once upon a time");
    assert_eq!(
        tokenizer.decode(&ids, true),
        "<|start_story|>Once upon a time"
    );
}

#[test]
fn special_ids_and_end_of_generation() {
    let smol = converted(&common::smollm2_folder());
    assert_eq!(
        (smol.bos(), smol.eos(), smol.add_bos_default()),
        (Some(1), Some(2), false)
    );
    // <|im_end|> (EOS) and <|endoftext|> end generation, as in llama.cpp; <|im_start|> does not.
    assert!(smol.is_eog(2) && smol.is_eog(0) && !smol.is_eog(1) && !smol.is_eog(19556));
    assert!(smol.is_special(1) && !smol.is_special(19556));
    assert_eq!(smol.token_text(19556), Some("Hello"));

    let stories = converted(&common::shared_models().join("tinystories-656k"));
    assert_eq!(
        (stories.bos(), stories.eos(), stories.add_bos_default()),
        (Some(1), Some(2), true)
    );
    assert!(stories.is_eog(2) && !stories.is_eog(1));
    // tokenizers 0.23.3, add_special_tokens=False: `<|end_story|>` counts after a space only.
    assert_eq!(stories.encode("Hello", false, true), [80, 1288, 67]);
    let ids = stories.encode("I am <|end_story|> x<|end_story|>", false, true);
    assert_eq!(ids, [80, 954, 65, 2, 80, 76, 208, 183, 209, 210]);
}

#[test]
fn tinystories_whole_corpus_is_one_word_and_matches_tokenizers() {
    // Reference: tokenizers 0.23.3, `Tokenizer.from_file(tokenizer.json).encode(corpus).ids`
    // (BOS first): 501466 ids, sha256 of their compact JSON below.
    let tokenizer = converted(&common::shared_models().join("tinystories-656k"));
    let corpus =
        std::fs::read_to_string(common::shared_models().join("corpus/tinyshakespeare.txt"))
            .unwrap();
    let ids = tokenizer.encode(&corpus, true, true);
    assert_eq!(
        &ids[..20],
        [1, 80, 31, 126, 308, 28, 119, 61, 78, 102, 21, 3, 27, 57, 196, 81, 558, 1647, 682, 92]
    );
    assert_eq!(ids.len(), 501466);
    let json = serde_json::to_string(&ids).unwrap();
    assert_eq!(
        common::sha256_hex(json.as_bytes()),
        "e37bb312c804d716845229c221f10158550725feabbf027e123e46e95c1193fe"
    );
}

/// The model folder a reference file names: SmolLM2 from the fetched cache, the rest from
/// ../shared/models.
fn model_folder(model: &str) -> std::path::PathBuf {
    match model {
        "smollm2-135m-instruct" => common::smollm2_folder(),
        other => common::shared_models().join(other),
    }
}

/// Every file in reference/tokenizer (a glob: a new reference is tested without a new test),
/// through the GGUF our quantizer writes for its model. `decoded` must match for SmolLM2 only:
/// the SentencePiece-style models' decoder chain in the `tokenizers` library puts a space
/// before each added or unknown token (../shared/models/README.md).
#[test]
fn every_reference_file_matches_through_our_gguf() {
    let dir = common::reference().join("tokenizer");
    let mut models: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    models.sort();
    assert!(models.len() >= 3, "reference files: {models:?}");
    for model in &models {
        let gguf = common::quantized(&model_folder(model), edge_formats::GgmlType::Q8_0);
        let file = edge_formats::gguf::GgufFile::open(&gguf).unwrap();
        let tokenizer =
            Tokenizer::from_metadata(file.metadata()).unwrap_or_else(|e| panic!("{model}: {e}"));
        check_cases(
            &tokenizer,
            &reference(model),
            model == "smollm2-135m-instruct",
        );
    }
}

/// The first byte of a character whose UTF-8 holds byte `b` (None for bytes that valid UTF-8
/// never holds: 0xC0, 0xC1, 0xF5..=0xFF).
fn char_with_byte(b: u8) -> Option<char> {
    let cp = match b {
        0x00..=0x7F => u32::from(b),
        0x80..=0xBF => 0x800 + u32::from(b - 0x80), // E0 A0 b
        0xC2..=0xDF => u32::from(b & 0x1F) << 6,    // b 80
        0xE0 => 0x800,                              // E0 A0 80
        0xE1..=0xEF => u32::from(b & 0x0F) << 12,   // b 80 80 (ED: U+D000, not a surrogate)
        0xF0 => 0x10000,                            // F0 90 80 80
        0xF1..=0xF4 => u32::from(b & 0x07) << 18,   // b 80 80 80
        _ => return None,
    };
    char::from_u32(cp)
}

/// tiny-random-llama-256 has the 256 byte tokens `<0x00>`..`<0xFF>` at ids 2048..2303. Encoding:
/// every byte of a character the vocabulary has no token for falls back to its own byte token,
/// for every byte value valid UTF-8 can hold. Decoding: every byte token gives its byte, joined
/// into whole characters, and a byte that is not valid UTF-8 alone gives U+FFFD.
#[test]
fn every_byte_value_falls_back_to_its_own_token() {
    let tokenizer = common::tokenizer::tiny_random_256();
    let byte_token = |b: u8| 2048 + u32::from(b);
    for b in 0u8..=255 {
        assert_eq!(
            tokenizer.token_text(byte_token(b)),
            Some(format!("<0x{b:02X}>").as_str())
        );
    }
    let mut fell_back = [false; 256];
    for b in 0u8..=255 {
        let Some(c) = char_with_byte(b) else { continue };
        if c == ' ' || tokenizer.token_id(&c.to_string()).is_some() {
            continue; // the vocabulary has a token for it (space becomes `▁`)
        }
        let text = format!("x{c}");
        let ids = tokenizer.encode(&text, false, false);
        let mut utf8 = [0u8; 4];
        let tail: Vec<u32> = c.encode_utf8(&mut utf8).bytes().map(byte_token).collect();
        assert!(
            ids.ends_with(&tail),
            "{c:?}: ids {ids:?} do not end with its byte tokens {tail:?}"
        );
        assert_eq!(tokenizer.decode(&ids, false), text, "{c:?}");
        fell_back[usize::from(b)] = true;
    }
    let missing: Vec<u8> = (0x80u8..=0xF4)
        .filter(|&b| !matches!(b, 0xC0 | 0xC1) && !fell_back[usize::from(b)])
        .collect();
    assert!(
        missing.is_empty(),
        "bytes never seen as byte tokens: {missing:x?}"
    );
    assert!(fell_back[0] && fell_back[0x7F], "NUL and DEL fall back");

    let x = tokenizer.encode("x", false, false);
    let x_text = tokenizer.decode(&x, false);
    for b in 0u8..=255 {
        let ids: Vec<u32> = x.iter().copied().chain([byte_token(b)]).collect();
        let expected = if b < 0x80 {
            format!("{x_text}{}", char::from(b))
        } else {
            format!("{x_text}\u{FFFD}")
        };
        assert_eq!(tokenizer.decode(&ids, false), expected, "byte {b:#04x}");
    }
}
