//! The tokenizer against the `tokenizers` library's ids (../shared/models/reference/tokenizer),
//! built from the metadata our quantizer's converter produces for each model folder.

mod common;

use common::tokenizer::{check_cases, reference};
use edge::tokenizer::Tokenizer;
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
