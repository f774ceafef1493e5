//! The streaming decoder: characters split across byte-level tokens come out whole, once.

mod common;

use edge::{StreamDecoder, Tokenizer};
use edge_quantize::convert::tokenizer::tokenizer_metadata;

fn smollm2() -> Tokenizer {
    Tokenizer::from_entries(&tokenizer_metadata(&common::smollm2_folder()).unwrap()).unwrap()
}

#[test]
fn multibyte_characters_split_across_tokens_stream_whole() {
    let tokenizer = smollm2();
    for text in ["日本語のテキスト", "emoji 🙂👍🏽 done", "ünïcödé, naïve café"]
    {
        let ids = tokenizer.encode(text, false, true);
        let mut decoder = tokenizer.stream_decoder(false);
        let mut streamed = String::new();
        let mut held_bytes = false;
        for &id in &ids {
            // A token that ends mid-character emits nothing yet and holds the bytes.
            let bytes = tokenizer.token_bytes(id, false);
            let out = decoder.push(&tokenizer, id);
            held_bytes |= decoder.pending_bytes() > 0;
            assert!(
                !out.contains('\u{FFFD}'),
                "{text:?}: broken UTF-8 emitted for {id}"
            );
            if std::str::from_utf8(bytes).is_err() && decoder.pending_bytes() > 0 {
                assert!(streamed.len() + out.len() < text.len());
            }
            streamed.push_str(&out);
        }
        assert_eq!(decoder.pending_bytes(), 0);
        assert_eq!(decoder.flush(), "");
        assert_eq!(streamed, text);
        if text.starts_with('日') || text.starts_with('e') {
            assert!(
                held_bytes,
                "{text:?}: expected tokens that split a character"
            );
        }
    }
}

#[test]
fn stream_specials_follow_render_flag_and_flush_reports_unfinished() {
    let tokenizer = smollm2();
    let ids = tokenizer.encode("<|im_start|>user\nHi<|im_end|>\n", false, true);
    assert_eq!(ids, [1, 4093, 198, 26843, 2, 198]);
    let collect = |render: bool| {
        let mut decoder = StreamDecoder::new(render);
        let mut out = String::new();
        for &id in &ids {
            decoder.push_into(&tokenizer, id, &mut out);
        }
        out
    };
    assert_eq!(collect(true), "<|im_start|>user\nHi<|im_end|>\n");
    assert_eq!(collect(false), "user\nHi\n");
    // The first byte of '日' alone: held, then flushed as U+FFFD.
    let first_byte = (0..tokenizer.n_vocab() as u32)
        .find(|&id| tokenizer.token_bytes(id, false) == [0xE6])
        .unwrap();
    let mut decoder = StreamDecoder::new(false);
    assert_eq!(decoder.push(&tokenizer, first_byte), "");
    assert_eq!(decoder.pending_bytes(), 1);
    assert_eq!(decoder.flush(), "\u{FFFD}");
}

/// tiny-random-llama-256 spells characters it has no token for as `<0xXX>` byte tokens: the
/// streaming decoder prints each such character once, whole, when its last byte token
/// arrives, and a byte that cannot start or continue a character as U+FFFD (a lone byte, as the
/// `tokenizers` library's ByteFallback decoder gives).
#[test]
fn byte_tokens_join_into_whole_characters() {
    let tokenizer = common::tokenizer::tiny_random_256();
    let byte_token = |b: u8| 2048 + u32::from(b);
    for c in ['é', '日', '€', '🙂', '\u{10FFFF}'] {
        let mut utf8 = [0u8; 4];
        let ids: Vec<u32> = c.encode_utf8(&mut utf8).bytes().map(byte_token).collect();
        assert!(ids.len() >= 2);
        assert!(
            tokenizer
                .encode(&format!("x{c}"), false, false)
                .ends_with(&ids),
            "{c:?} is spelled with byte tokens"
        );
        let mut decoder = tokenizer.stream_decoder(false);
        let (last, first) = ids.split_last().unwrap();
        for &id in first {
            assert_eq!(decoder.push(&tokenizer, id), "", "{c:?}: partial character");
        }
        assert_eq!(decoder.push(&tokenizer, *last), c.to_string());
        assert_eq!(decoder.pending_bytes(), 0);
        assert_eq!(decoder.flush(), "");
    }
    // A lone continuation byte, then a lead byte cut off by a normal token.
    let a = tokenizer.encode("a", false, false);
    let mut decoder = tokenizer.stream_decoder(false);
    let mut out = decoder.push(&tokenizer, byte_token(0x80));
    out += &decoder.push(&tokenizer, byte_token(0xE6));
    for &id in &a {
        out += &decoder.push(&tokenizer, id);
    }
    out += &decoder.flush();
    let a_text: String = a
        .iter()
        .map(|&id| tokenizer.stream_decoder(false).push(&tokenizer, id))
        .collect();
    assert_eq!(out, format!("\u{FFFD}\u{FFFD}{a_text}"));
}
