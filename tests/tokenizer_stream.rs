//! The streaming decoder: characters split across byte-level tokens come out whole, once.

mod common;

use edge::tokenizer::{StreamDecoder, Tokenizer};
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
