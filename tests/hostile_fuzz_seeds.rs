//! Seeds for the fuzz targets above the readers (issue 13, Build): `model_load` (a GGUF file:
//! config, weights, tokenizer and chat template) and `quantize_plan` (a Hugging Face folder:
//! config.json, tokenizer.json and model.safetensors, framed into one input). A tiny valid
//! model, and the blow-up cases of items 2-4 made from it.
//! `cargo test --release --test hostile_fuzz_seeds -- --ignored` (re)writes fuzz/seeds/<target>/
//! (scripts/fuzz does when they are missing); the non-ignored test checks what the seeds stand
//! for: the tiny model loads and quantizes, and every blow-up is refused.
mod common;

use edge_formats::gguf::{GgmlDims, GgufWriter, TensorSpec, Value, ValueType};
use edge_formats::GgmlType;
use serde_json::json;
use std::path::{Path, PathBuf};

/// Separates the three files of a `quantize_plan` input (fuzz/fuzz_targets/quantize_plan.rs).
const PART_SEPARATOR: &[u8] = b"\n\0\0--edge-fuzz-part--\0\0\n";

const N_EMBD: u64 = 8;
const N_FF: u64 = 16;

/// The tiny model's tokens: `<unk>`, `<s>`, `</s>`, the 256 byte tokens, then a few pieces.
fn tokens() -> Vec<String> {
    let mut t: Vec<String> = ["<unk>", "<s>", "</s>"].map(String::from).to_vec();
    t.extend((0..=255u8).map(edge_formats::gguf::vocab::byte_token_text));
    t.extend(["▁", "a", "b", "ab", "▁a", "<|im_start|>", "<|im_end|>"].map(String::from));
    t
}

const MERGES: [&str; 2] = ["a b", "▁ a"];

const CHATML: &str = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

fn strings(items: &[&str]) -> Value {
    Value::array(
        ValueType::String,
        items.iter().map(|s| Value::from(*s)).collect(),
    )
}

fn tiny_metadata() -> Vec<(String, Value)> {
    let tokens = tokens();
    let n = tokens.len();
    let token_refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let types: Vec<Value> = (0..n)
        .map(|i| {
            Value::I32(match i {
                0 => 2,
                1 | 2 => 3,
                3..=258 => 6,
                _ if i >= n - 2 => 3,
                _ => 1,
            })
        })
        .collect();
    let added = [0u32, 1, 2, n as u32 - 2, n as u32 - 1];
    let u = |v: u64| Value::U64(v);
    vec![
        ("general.architecture".into(), Value::from("llama")),
        ("llama.block_count".into(), u(1)),
        ("llama.context_length".into(), u(64)),
        ("llama.embedding_length".into(), u(N_EMBD)),
        ("llama.feed_forward_length".into(), u(N_FF)),
        ("llama.attention.head_count".into(), u(2)),
        ("llama.attention.head_count_kv".into(), u(2)),
        ("llama.rope.freq_base".into(), Value::F32(10000.0)),
        (
            "llama.attention.layer_norm_rms_epsilon".into(),
            Value::F32(1e-5),
        ),
        ("tokenizer.ggml.model".into(), Value::from("llama")),
        ("tokenizer.ggml.tokens".into(), strings(&token_refs)),
        (
            "tokenizer.ggml.scores".into(),
            Value::array(ValueType::F32, vec![Value::F32(0.0); n]),
        ),
        (
            "tokenizer.ggml.token_type".into(),
            Value::array(ValueType::I32, types),
        ),
        ("tokenizer.ggml.merges".into(), strings(&MERGES)),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
        ("tokenizer.ggml.unknown_token_id".into(), Value::U32(0)),
        ("tokenizer.chat_template".into(), Value::from(CHATML)),
        ("edge.tokenizer.version".into(), Value::U32(1)),
        ("edge.tokenizer.byte_fallback".into(), Value::Bool(true)),
        ("edge.tokenizer.normalizer.prepend".into(), Value::from("▁")),
        (
            "edge.tokenizer.normalizer.replace_from".into(),
            strings(&[" "]),
        ),
        (
            "edge.tokenizer.normalizer.replace_to".into(),
            strings(&["▁"]),
        ),
        (
            "edge.tokenizer.added_token_ids".into(),
            Value::array(
                ValueType::U32,
                added.iter().map(|&i| Value::U32(i)).collect(),
            ),
        ),
        (
            "edge.tokenizer.added_token_special".into(),
            Value::array(ValueType::Bool, vec![Value::Bool(true); added.len()]),
        ),
        (
            "edge.tokenizer.added_token_normalized".into(),
            Value::array(ValueType::Bool, vec![Value::Bool(false); added.len()]),
        ),
    ]
}

/// (GGUF name, Hugging Face name, ggml dims) of the tiny model's tensors.
fn tiny_tensors() -> Vec<(String, String, Vec<u64>)> {
    let v = tokens().len() as u64;
    let (e, f) = (N_EMBD, N_FF);
    let mut t = vec![
        ("token_embd.weight", "model.embed_tokens.weight", vec![e, v]),
        ("output_norm.weight", "model.norm.weight", vec![e]),
    ]
    .into_iter()
    .map(|(g, h, d)| (g.to_string(), h.to_string(), d))
    .collect::<Vec<_>>();
    for (g, h, d) in [
        ("attn_norm", "input_layernorm", vec![e]),
        ("attn_q", "self_attn.q_proj", vec![e, e]),
        ("attn_k", "self_attn.k_proj", vec![e, e]),
        ("attn_v", "self_attn.v_proj", vec![e, e]),
        ("attn_output", "self_attn.o_proj", vec![e, e]),
        ("ffn_norm", "post_attention_layernorm", vec![e]),
        ("ffn_gate", "mlp.gate_proj", vec![e, f]),
        ("ffn_up", "mlp.up_proj", vec![e, f]),
        ("ffn_down", "mlp.down_proj", vec![f, e]),
    ] {
        t.push((
            format!("blk.0.{g}.weight"),
            format!("model.layers.0.{h}.weight"),
            d,
        ));
    }
    t
}

/// Small deterministic weights.
fn values(n: u64, salt: usize) -> Vec<f32> {
    (0..n as usize)
        .map(|i| (((i * 7 + salt * 13) % 17) as f32 - 8.0) / 32.0)
        .collect()
}

fn gguf(meta: &[(String, Value)], block_count: Option<u64>) -> Vec<u8> {
    let mut meta = meta.to_vec();
    if let Some(n) = block_count {
        for (k, v) in &mut meta {
            if k == "llama.block_count" {
                *v = Value::U64(n);
            }
        }
    }
    let tensors = tiny_tensors();
    let specs: Vec<TensorSpec> = tensors
        .iter()
        .map(|(name, _, dims)| TensorSpec {
            name: name.clone(),
            dims: GgmlDims(dims.clone()),
            ty: GgmlType::F32,
        })
        .collect();
    let mut w = GgufWriter::new(Vec::new(), &meta, &specs).unwrap();
    for (i, (_, _, dims)) in tensors.iter().enumerate() {
        let n = dims.iter().product();
        w.write_tensor(bytemuck::cast_slice(&values(n, i))).unwrap();
    }
    w.finish().unwrap()
}

fn edited(edits: &[(&str, Value)]) -> Vec<(String, Value)> {
    let mut meta = tiny_metadata();
    for (key, value) in edits {
        meta.retain(|(k, _)| k != key);
        meta.push((key.to_string(), value.clone()));
    }
    meta
}

/// `model_load` seeds: the tiny model, then one blow-up each (items 2-4 of issue 13). Chat
/// templates that exhaust their fuel or their memory budget are not among them: instrumented,
/// the first take 12 s per mutant and the second (a doubling string) cut the executions per
/// second fivefold (228 -> 41); runtime/tests/hostile_inputs.rs and tests/hostile_suite.rs
/// cover them.
fn model_load_seeds() -> Vec<(&'static str, Vec<u8>, bool)> {
    let growth_from = ["a", "b", "c", "d", "e", "f", "g"];
    let growth_to = ["bb", "cc", "dd", "ee", "ff", "gg", "hh"];
    vec![
        ("tiny.gguf", gguf(&tiny_metadata(), None), true),
        (
            "block-count-2e62.gguf",
            gguf(&tiny_metadata(), Some(1 << 62)),
            false,
        ),
        (
            "block-count-1e7.gguf",
            gguf(&tiny_metadata(), Some(10_000_000)),
            false,
        ),
        (
            "heads-overflow.gguf",
            gguf(
                &edited(&[
                    ("llama.attention.head_count", Value::U64(536870920)),
                    ("llama.attention.head_count_kv", Value::U64(4)),
                    ("llama.attention.key_length", Value::U64(1 << 40)),
                ]),
                None,
            ),
            false,
        ),
        (
            "context-huge.gguf",
            gguf(
                &edited(&[("llama.context_length", Value::U64(u64::MAX))]),
                None,
            ),
            true,
        ),
        (
            "normalizer-growth.gguf",
            gguf(
                &edited(&[
                    (
                        "edge.tokenizer.normalizer.replace_from",
                        strings(&growth_from),
                    ),
                    ("edge.tokenizer.normalizer.replace_to", strings(&growth_to)),
                ]),
                None,
            ),
            false,
        ),
    ]
}

fn safetensors(tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, shape, data) in tensors {
        let end = offset + 4 * data.len();
        header.insert(
            name.clone(),
            json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let header = serde_json::Value::Object(header).to_string();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    for (_, _, data) in tensors {
        out.extend_from_slice(bytemuck::cast_slice(data));
    }
    out
}

fn tiny_config() -> serde_json::Value {
    json!({
        "architectures": ["LlamaForCausalLM"], "hidden_act": "silu", "hidden_size": N_EMBD,
        "intermediate_size": N_FF, "max_position_embeddings": 64, "num_attention_heads": 2,
        "num_hidden_layers": 1, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "tie_word_embeddings": true, "vocab_size": tokens().len(),
    })
}

fn tiny_tokenizer_json() -> serde_json::Value {
    let vocab: serde_json::Map<String, serde_json::Value> = tokens()
        .into_iter()
        .enumerate()
        .map(|(i, t)| (t, json!(i)))
        .collect();
    let n = tokens().len();
    let added = |id: usize, content: &str| {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    json!({
        "version": "1.0",
        "added_tokens": [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>"),
                         added(n - 2, "<|im_start|>"), added(n - 1, "<|im_end|>")],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        "pre_tokenizer": null,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>",
                  "continuing_subword_prefix": null, "end_of_word_suffix": null,
                  "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
                  "vocab": vocab, "merges": MERGES},
    })
}

fn tiny_safetensors() -> Vec<u8> {
    let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = tiny_tensors()
        .into_iter()
        .enumerate()
        .map(|(i, (_, hf, dims))| {
            let n = dims.iter().product();
            let shape = dims.iter().rev().map(|&d| d as usize).collect();
            (hf, shape, values(n, i))
        })
        .collect();
    safetensors(&tensors)
}

fn framed(config: &serde_json::Value, tokenizer: &serde_json::Value, weights: &[u8]) -> Vec<u8> {
    let mut out = serde_json::to_vec(config).unwrap();
    out.extend_from_slice(PART_SEPARATOR);
    out.extend_from_slice(&serde_json::to_vec(tokenizer).unwrap());
    out.extend_from_slice(PART_SEPARATOR);
    out.extend_from_slice(weights);
    out
}

/// `quantize_plan` seeds: the tiny folder, then one blow-up each.
fn quantize_plan_seeds() -> Vec<(&'static str, Vec<u8>, bool)> {
    let weights = tiny_safetensors();
    let tok = tiny_tokenizer_json();
    let config_with = |edits: &[(&str, serde_json::Value)]| {
        let mut c = tiny_config();
        for (k, v) in edits {
            c[*k] = v.clone();
        }
        c
    };
    let mut growing = tiny_tokenizer_json();
    let steps = growing["normalizer"]["normalizers"].as_array_mut().unwrap();
    for (from, to) in [
        ("a", "bb"),
        ("b", "cc"),
        ("c", "dd"),
        ("d", "ee"),
        ("e", "ff"),
        ("f", "gg"),
        ("g", "hh"),
    ] {
        steps.push(json!({"type": "Replace", "pattern": {"String": from}, "content": to}));
    }
    let mut far_id = tiny_tokenizer_json();
    far_id["model"]["vocab"]["ab"] = json!(4_000_000_000u64);
    let mut unknown_merge = tiny_tokenizer_json();
    unknown_merge["model"]["merges"] = json!(["a b", "qqq zzz"]);
    vec![
        ("tiny-folder", framed(&tiny_config(), &tok, &weights), true),
        (
            "heads-wrap",
            framed(
                &config_with(&[
                    ("num_attention_heads", json!(536870920u32)),
                    ("num_key_value_heads", json!(4)),
                    ("head_dim", json!(16)),
                ]),
                &tok,
                &weights,
            ),
            false,
        ),
        (
            "layers-u32-max",
            framed(
                &config_with(&[("num_hidden_layers", json!(u32::MAX))]),
                &tok,
                &weights,
            ),
            false,
        ),
        (
            "rope-1e300",
            framed(
                &config_with(&[("rope_theta", json!(1e300))]),
                &tok,
                &weights,
            ),
            false,
        ),
        (
            "normalizer-growth",
            framed(&tiny_config(), &growing, &weights),
            false,
        ),
        (
            "vocab-id-4e9",
            framed(&tiny_config(), &far_id, &weights),
            false,
        ),
        (
            "merge-of-unknown",
            framed(&tiny_config(), &unknown_merge, &weights),
            false,
        ),
    ]
}

fn seeds_dir(target: &str) -> PathBuf {
    common::workspace().join("fuzz/seeds").join(target)
}

#[test]
#[ignore = "writes fuzz/seeds; run by scripts/fuzz when they are missing"]
fn write_fuzz_seeds() {
    for (target, seeds) in [
        ("model_load", model_load_seeds()),
        ("quantize_plan", quantize_plan_seeds()),
    ] {
        let dir = seeds_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes, _) in seeds {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

/// A folder from a framed `quantize_plan` input.
fn unframe(bytes: &[u8], dir: &Path) {
    let find = |from: usize| {
        bytes[from..]
            .windows(PART_SEPARATOR.len())
            .position(|w| w == PART_SEPARATOR)
            .map(|p| from + p)
            .unwrap()
    };
    let a = find(0);
    let b = find(a + PART_SEPARATOR.len());
    std::fs::write(dir.join("config.json"), &bytes[..a]).unwrap();
    std::fs::write(
        dir.join("tokenizer.json"),
        &bytes[a + PART_SEPARATOR.len()..b],
    )
    .unwrap();
    std::fs::write(
        dir.join("model.safetensors"),
        &bytes[b + PART_SEPARATOR.len()..],
    )
    .unwrap();
}

#[test]
fn the_seeds_load_or_are_refused_as_they_should() {
    let dir = common::tempdir();
    for (name, bytes, loads) in model_load_seeds() {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let model = edge::TextModel::open(&path);
        assert_eq!(model.is_ok(), loads, "{name}: {:?}", model.err());
        if name == "tiny.gguf" {
            let model = model.unwrap();
            let ids = model.tokenizer().encode("ab a", true, true);
            assert_eq!(model.tokenizer().decode(&ids, false), "ab a");
            let text = model
                .chat_template()
                .unwrap()
                .render(&[edge::ChatMessage::user("hi")], true)
                .unwrap();
            assert!(text.ends_with("<|im_start|>assistant\n"), "{text}");
        }
    }
    for (name, bytes, plans) in quantize_plan_seeds() {
        let folder = dir.path().join(name);
        std::fs::create_dir(&folder).unwrap();
        unframe(&bytes, &folder);
        let result = edge_quantize::run(&edge_quantize::Options {
            input: folder.clone(),
            output: Some(dir.path().join(format!("{name}.gguf"))),
            file_type: edge_quantize::plan::FileType::parse("f16").unwrap(),
            pure: false,
            output_ty: None,
            threads: Some(1),
            verbose: false,
        });
        assert_eq!(result.is_ok(), plans, "{name}: {:?}", result.err());
    }
}

#[test]
fn committed_seeds_are_current() {
    for (target, seeds) in [
        ("model_load", model_load_seeds()),
        ("quantize_plan", quantize_plan_seeds()),
    ] {
        let dir = seeds_dir(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue; // not written yet in this checkout
        };
        let mut committed: Vec<String> = entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        committed.sort();
        let mut made: Vec<String> = seeds.iter().map(|(n, _, _)| n.to_string()).collect();
        made.sort();
        assert_eq!(
            committed, made,
            "{target}: run the ignored write_fuzz_seeds"
        );
        for (name, bytes, _) in seeds {
            assert_eq!(
                std::fs::read(dir.join(name)).unwrap(),
                bytes,
                "{target}/{name}"
            );
        }
    }
}
