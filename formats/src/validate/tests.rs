use super::*;
use crate::gguf::{GgmlDims, Value, ValueType};
use crate::GgmlType;

fn strings(items: &[&str]) -> Value {
    Value::array(
        ValueType::String,
        items.iter().map(|s| Value::from(*s)).collect(),
    )
}

/// A 2-block model of width 8, 4 heads, ff 16 and a 6-token byte-level vocabulary.
fn model() -> (Metadata, Vec<(String, GgmlDims, GgmlType)>) {
    let meta = Metadata::from_entries(vec![
        ("general.architecture".into(), Value::from("llama")),
        ("llama.block_count".into(), Value::U32(2)),
        ("llama.embedding_length".into(), Value::U32(8)),
        ("llama.feed_forward_length".into(), Value::U32(16)),
        ("llama.attention.head_count".into(), Value::U32(4)),
        (
            "llama.attention.layer_norm_rms_epsilon".into(),
            Value::F32(1e-5),
        ),
        ("llama.context_length".into(), Value::U32(64)),
        ("tokenizer.ggml.model".into(), Value::from("gpt2")),
        (
            "tokenizer.ggml.tokens".into(),
            strings(&["a", "b", "ab", "c", "abc", "d"]),
        ),
        ("tokenizer.ggml.merges".into(), strings(&["a b", "ab c"])),
    ])
    .unwrap();
    let cfg = ModelConfig::from_metadata(&meta, Some(6)).unwrap();
    let tensors = expected_tensors(&cfg, false)
        .into_iter()
        .map(|(name, e)| match e {
            Expected::Matrix { rows, k } => {
                (name, GgmlDims(vec![k as u64, rows as u64]), GgmlType::Q8_0)
            }
            Expected::Norm { n } => (name, GgmlDims(vec![n as u64]), GgmlType::F32),
        })
        .collect();
    (meta, tensors)
}

fn shapes(tensors: &[(String, GgmlDims, GgmlType)]) -> Vec<TensorShape<'_>> {
    tensors
        .iter()
        .map(|(name, dims, ty)| TensorShape {
            name,
            dims,
            ty: *ty,
        })
        .collect()
}

fn with(meta: &Metadata, key: &str, value: Value) -> Metadata {
    let mut m = meta.clone();
    m.set(key, value);
    m
}

#[test]
fn a_consistent_model_validates() {
    let (meta, tensors) = model();
    let cfg = check_model(&meta, &shapes(&tensors)).unwrap();
    assert_eq!((cfg.n_vocab, cfg.n_layer, cfg.head_dim), (6, 2, 2));
}

#[test]
fn missing_misshapen_and_mistyped_tensors_are_named() {
    let (meta, mut tensors) = model();
    tensors.retain(|(n, _, _)| n != "blk.1.ffn_up.weight");
    for (name, dims, ty) in &mut tensors {
        if name == "blk.0.attn_k.weight" {
            dims.0 = vec![8, 3];
        }
        if name == "blk.1.ffn_norm.weight" {
            *ty = GgmlType::Q8_0;
        }
    }
    let e = check_model(&meta, &shapes(&tensors)).unwrap_err();
    assert_eq!(e.part, Part::Tensors);
    for needle in [
        "tensor blk.0.attn_k.weight: dims [8, 3], expected [8, 8]",
        "tensor blk.1.ffn_norm.weight: type Q8_0 is not supported for a norm weight",
        "tensor blk.1.ffn_up.weight: missing",
    ] {
        assert!(e.problems.contains(needle), "{needle} not in {e}");
    }
}

#[test]
fn a_block_count_the_tensors_do_not_hold_is_refused_first() {
    let (meta, tensors) = model();
    let meta = with(&meta, "llama.block_count", Value::U64(1 << 62));
    let e = check_model(&meta, &shapes(&tensors)).unwrap_err();
    assert!(
        e.problems.contains(
            "llama.block_count: 4611686018427387904, but the file has tensors for 2 blocks"
        ),
        "{e}"
    );
}

#[test]
fn invalid_hyper_parameters_are_named() {
    let (meta, tensors) = model();
    for (key, value, needle) in [
        (
            "llama.attention.layer_norm_rms_epsilon",
            Value::F32(-1.0),
            "-1 is not a non-negative number",
        ),
        (
            "llama.rope.freq_base",
            Value::F32(0.0),
            "rope.freq_base: 0 is not a positive number",
        ),
        (
            "llama.rope.freq_base",
            Value::F64(1e300),
            "rope.freq_base: inf is not a positive number",
        ),
    ] {
        let e = check_model(&with(&meta, key, value), &shapes(&tensors)).unwrap_err();
        assert_eq!(e.part, Part::Config);
        assert!(e.to_string().contains(needle), "{needle} not in {e}");
    }
}

#[test]
fn inconsistent_tokenizers_are_named() {
    let (meta, tensors) = model();
    let cases = [
        (
            "tokenizer.ggml.merges",
            strings(&["a b", "ab x"]),
            "entry 1 \"ab x\" is not \"a b\" of two tokens (`x` is not a token)",
        ),
        (
            "tokenizer.ggml.merges",
            strings(&["ab"]),
            "entry 0 \"ab\" is not \"a b\"",
        ),
        (
            "tokenizer.ggml.merges",
            strings(&[]),
            "key `tokenizer.ggml.merges` missing",
        ),
        (
            "tokenizer.ggml.tokens",
            strings(&[]),
            "key `tokenizer.ggml.tokens`: 0 tokens",
        ),
        (
            "tokenizer.ggml.tokens",
            strings(&["a", "b", "ab", "c", "abc"]),
            "5 tokens in tokenizer.ggml.tokens for a vocabulary of 6",
        ),
        (
            "tokenizer.ggml.scores",
            Value::array(ValueType::F32, vec![Value::F32(0.0)]),
            "key `tokenizer.ggml.scores`: 1 entries for 6 tokens",
        ),
        (
            "tokenizer.ggml.eos_token_id",
            Value::U32(6),
            "key `tokenizer.ggml.eos_token_id`: token id 6 out of range",
        ),
        (
            "tokenizer.ggml.model",
            Value::from("bert"),
            "`bert` is not supported",
        ),
    ];
    for (key, value, needle) in cases {
        let e = check_model(&with(&meta, key, value), &shapes(&tensors)).unwrap_err();
        assert_eq!(e.part, Part::Tokenizer, "{e}");
        assert!(e.to_string().starts_with("tokenizer: "), "{e}");
        assert!(e.to_string().contains(needle), "{needle} not in {e}");
    }
}

#[test]
fn normalizer_chains_that_grow_text_are_refused_for_sentencepiece_models() {
    let (meta, tensors) = model();
    let meta = with(&meta, "tokenizer.ggml.model", Value::from("llama"));
    let meta = with(&meta, "edge.tokenizer.version", Value::U32(1));
    let from = ["a", "b", "c", "d", "e", "f", "g"];
    let to = ["bb", "cc", "dd", "ee", "ff", "gg", "hh"];
    let grown = with(
        &meta,
        "edge.tokenizer.normalizer.replace_from",
        strings(&from),
    );
    let grown = with(&grown, "edge.tokenizer.normalizer.replace_to", strings(&to));
    let e = check_model(&grown, &shapes(&tensors)).unwrap_err();
    assert!(
        e.to_string().contains("can make a text 128 times longer"),
        "{e}"
    );
    let fine = with(
        &grown,
        "edge.tokenizer.normalizer.replace_to",
        strings(&from),
    );
    check_model(&fine, &shapes(&tensors)).unwrap();
    let uneven = with(
        &grown,
        "edge.tokenizer.normalizer.replace_to",
        strings(&to[..2]),
    );
    let e = check_model(&uneven, &shapes(&tensors)).unwrap_err();
    assert!(e.to_string().contains("lengths differ"), "{e}");
}

#[test]
fn merges_split_at_the_first_space_after_the_first_character() {
    assert_eq!(split_merge("a b"), Some(("a", "b")));
    assert_eq!(split_merge("  b"), Some((" ", "b")));
    assert_eq!(split_merge("ab"), None);
    assert_eq!(split_merge(""), None);
}
