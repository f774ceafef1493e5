//! Safetensors reader on the test models: shapes and dtypes against config.json, the
//! tinystories-656k alias, the 6-shard tiny-random-llama folder, and the f32 conversion of
//! F32/F16/BF16 data against llama.cpp's F32 GGUF files (their tensors' hashes in the
//! manifests); plus corrupt folders and files.
mod common;

use edge_formats::gguf::GgufFile;
use edge_formats::safetensors::{Dtype, SafeTensors};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::path::Path;

fn config(folder: &Path) -> Json {
    serde_json::from_slice(&std::fs::read(folder.join("config.json")).unwrap()).unwrap()
}

fn cfg(c: &Json, key: &str) -> usize {
    c[key].as_u64().unwrap() as usize
}

/// The shape each Llama tensor must have, outermost first.
fn expected_shapes(c: &Json) -> HashMap<String, Vec<usize>> {
    let hidden = cfg(c, "hidden_size");
    let heads = cfg(c, "num_attention_heads");
    let kv_heads = cfg(c, "num_key_value_heads");
    let head_dim = c["head_dim"]
        .as_u64()
        .map_or(hidden / heads, |d| d as usize);
    let ffn = cfg(c, "intermediate_size");
    let vocab = cfg(c, "vocab_size");
    let mut m = HashMap::new();
    m.insert("model.embed_tokens.weight".to_string(), vec![vocab, hidden]);
    m.insert("lm_head.weight".to_string(), vec![vocab, hidden]);
    m.insert("model.norm.weight".to_string(), vec![hidden]);
    for i in 0..cfg(c, "num_hidden_layers") {
        let p = format!("model.layers.{i}.");
        for (n, s) in [
            ("input_layernorm.weight", vec![hidden]),
            ("post_attention_layernorm.weight", vec![hidden]),
            ("self_attn.q_proj.weight", vec![heads * head_dim, hidden]),
            ("self_attn.k_proj.weight", vec![kv_heads * head_dim, hidden]),
            ("self_attn.v_proj.weight", vec![kv_heads * head_dim, hidden]),
            ("self_attn.o_proj.weight", vec![hidden, heads * head_dim]),
            ("mlp.gate_proj.weight", vec![ffn, hidden]),
            ("mlp.up_proj.weight", vec![ffn, hidden]),
            ("mlp.down_proj.weight", vec![hidden, ffn]),
        ] {
            m.insert(format!("{p}{n}"), s);
        }
    }
    m
}

/// `lm_head`: whether `lm_head.weight` is stored or aliased (SmolLM2 stores neither).
fn check_shapes(st: &SafeTensors, c: &Json, dtype: Dtype, lm_head: bool) {
    let mut want = expected_shapes(c);
    if !lm_head {
        want.remove("lm_head.weight");
    }
    let mut names: Vec<&str> = want.keys().map(String::as_str).collect();
    names.sort_unstable();
    let got = st.names();
    let missing: Vec<_> = names.iter().filter(|n| !got.contains(n)).collect();
    let extra: Vec<_> = got.iter().filter(|n| !names.contains(n)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    for name in names {
        let v = st.tensor(name).unwrap();
        assert_eq!(v.shape.0, want[name], "{name}");
        assert_eq!(v.dtype, dtype, "{name}");
        assert_eq!(
            v.data.len(),
            want[name].iter().product::<usize>() * dtype.size()
        );
    }
}

/// The GGUF name of a tensor that llama.cpp's converter stores unpermuted (Q and K are
/// permuted, so they are left out).
fn gguf_name(hf: &str) -> Option<String> {
    let fixed = match hf {
        "model.embed_tokens.weight" => return Some("token_embd.weight".into()),
        "lm_head.weight" => return Some("output.weight".into()),
        "model.norm.weight" => return Some("output_norm.weight".into()),
        other => other,
    };
    let rest = fixed.strip_prefix("model.layers.")?;
    let (layer, part) = rest.split_once('.')?;
    let short = match part {
        "input_layernorm.weight" => "attn_norm",
        "post_attention_layernorm.weight" => "ffn_norm",
        "self_attn.v_proj.weight" => "attn_v",
        "self_attn.o_proj.weight" => "attn_output",
        "mlp.gate_proj.weight" => "ffn_gate",
        "mlp.up_proj.weight" => "ffn_up",
        "mlp.down_proj.weight" => "ffn_down",
        _ => return None,
    };
    Some(format!("blk.{layer}.{short}.weight"))
}

fn f32_sha256(st: &SafeTensors, name: &str) -> String {
    let v = st.tensor(name).unwrap();
    let mut out = vec![0f32; v.shape.n_rows() * v.shape.row_len()];
    v.rows_to_f32(0, v.shape.n_rows(), &mut out).unwrap();
    st.release(name).unwrap();
    common::sha256_hex(bytemuck::cast_slice::<f32, u8>(&out))
}

/// Every unpermuted tensor, converted to f32, hashes as in llama.cpp's F32 file.
fn check_f32_against_manifest(st: &SafeTensors, manifest: &Path) -> usize {
    let m: Json = serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    let hashes: HashMap<&str, &str> = m["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["sha256"].as_str().unwrap()))
        .collect();
    let mut checked = 0;
    for name in st.names() {
        let Some(g) = gguf_name(name) else { continue };
        let Some(want) = hashes.get(g.as_str()) else {
            continue; // output.weight of a tied model
        };
        assert_eq!(f32_sha256(st, name), *want, "{name} -> {g}");
        checked += 1;
    }
    checked
}

#[test]
fn tinystories_alias_resolves_and_matches_llamacpp_f32() {
    let folder = common::shared_models().join("tinystories-656k");
    let st = SafeTensors::open(&folder).unwrap();
    check_shapes(&st, &config(&folder), Dtype::F32, true);
    assert_eq!(st.len(), 20);
    assert!(st.is_alias("model.embed_tokens.weight"));
    assert!(!st.is_alias("lm_head.weight"));
    assert_eq!(
        st.alias_target("model.embed_tokens.weight"),
        Some("lm_head.weight")
    );
    let a = st.tensor("model.embed_tokens.weight").unwrap();
    let b = st.tensor("lm_head.weight").unwrap();
    assert_eq!(a.name, "model.embed_tokens.weight");
    assert_eq!(a.data.as_ptr(), b.data.as_ptr());
    // The data against llama.cpp's F32 GGUF, tensor by tensor (alias = token_embd).
    let gguf =
        GgufFile::open(&common::shared_models().join("llama.cpp-made/tinystories-656k.f32.gguf"))
            .unwrap();
    let mut compared = 0;
    for name in st.names() {
        let Some(g) = gguf_name(name) else { continue };
        let Some(info) = gguf.tensor(&g) else {
            continue;
        };
        let v = st.tensor(name).unwrap();
        let mut out = vec![0f32; v.shape.n_rows() * v.shape.row_len()];
        v.rows_to_f32(0, v.shape.n_rows(), &mut out).unwrap();
        assert_eq!(gguf.tensor_as::<f32>(info).unwrap(), &out[..], "{name}");
        compared += 1;
    }
    assert_eq!(compared, 2 * 7 + 2);
    // The same file opened directly.
    let single = SafeTensors::open(&folder.join("model.safetensors")).unwrap();
    assert_eq!(single.names(), st.names());
}

#[test]
fn tiny_random_llama_six_f16_shards() {
    let folder = common::shared_models().join("tiny-random-llama");
    let st = SafeTensors::open(&folder).unwrap();
    check_shapes(&st, &config(&folder), Dtype::F16, true);
    let shards: std::collections::BTreeSet<_> = st
        .names()
        .iter()
        .map(|n| st.file_of(n).unwrap().to_path_buf())
        .collect();
    assert_eq!(shards.len(), 6);
    assert_eq!(
        st.file_of("lm_head.weight").unwrap().file_name().unwrap(),
        "model-00005-of-00006.safetensors"
    );
    let checked = check_f32_against_manifest(
        &st,
        &common::shared_models().join("llama.cpp-made/tiny-random-llama.f32.manifest.json"),
    );
    assert_eq!(checked, 3 * 7 + 3);
}

#[test]
fn smollm2_bf16_converts_like_llamacpp() {
    let folder = common::smollm2_folder();
    let st = SafeTensors::open(&folder).unwrap();
    check_shapes(&st, &config(&folder), Dtype::BF16, false);
    let checked = check_f32_against_manifest(
        &st,
        &common::shared_models().join("llama.cpp-made/smollm2-135m-instruct.f32.manifest.json"),
    );
    assert_eq!(checked, 30 * 7 + 2);
}

fn copy_folder(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn open_err(path: &Path) -> String {
    match SafeTensors::open(path) {
        Ok(_) => panic!("{} accepted", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn corrupt_folders_and_files_are_named_errors() {
    let dir = common::tempdir();
    let d = dir.path();
    assert!(open_err(d).contains("model.safetensors"));

    // A shard missing: the error names the shard file.
    copy_folder(&common::shared_models().join("tiny-random-llama"), d);
    std::fs::remove_file(d.join("model-00004-of-00006.safetensors")).unwrap();
    let e = open_err(d);
    assert!(e.contains("model-00004-of-00006.safetensors"), "{e}");

    // The index names a tensor its shard does not hold.
    copy_folder(&common::shared_models().join("tiny-random-llama"), d);
    let index = d.join("model.safetensors.index.json");
    let text = std::fs::read_to_string(&index).unwrap();
    let text = text.replacen(
        "\"lm_head.weight\": \"model-00005-of-00006.safetensors\"",
        "\"lm_head.weight\": \"model-00001-of-00006.safetensors\"",
        1,
    );
    std::fs::write(&index, text).unwrap();
    let e = open_err(d);
    assert!(
        e.contains("lm_head.weight") && e.contains("model-00001"),
        "{e}"
    );

    // A truncated file: the last tensor's data lies outside.
    let src =
        std::fs::read(common::shared_models().join("tinystories-656k/model.safetensors")).unwrap();
    let file = d.join("cut.safetensors");
    std::fs::write(&file, &src[..src.len() - 1]).unwrap();
    let e = open_err(&file);
    assert!(
        e.contains("model.norm.weight") && e.contains("outside"),
        "{e}"
    );

    // An unsupported dtype names the dtype and the tensor.
    let header_len = u64::from_le_bytes(src[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&src[8..8 + header_len]).unwrap();
    let patched = header.replacen("\"dtype\":\"F32\"", "\"dtype\":\"I32\"", 1);
    assert_ne!(patched, header);
    let mut bytes = src[..8].to_vec();
    bytes.extend_from_slice(patched.as_bytes());
    bytes.extend_from_slice(&src[8 + header_len..]);
    std::fs::write(&file, &bytes).unwrap();
    let e = open_err(&file);
    assert!(e.contains("I32") && e.contains("lm_head.weight"), "{e}");
}
