//! `Model::open` on broken files (every problem reported at once, naming keys, tensors,
//! shapes and types) and `Session` semantics (context full, bad ids, truncate, batch vs
//! single steps, thread count), on llama.cpp's tinystories-656k F32 file and edits of it.

mod common;

use edge::Error;
use edge::Model;
use edge::{KvType, Session, SessionParams};
use edge_formats::gguf::{GgmlDims, GgufFile, GgufWriter, TensorSpec, Value};
use edge_formats::GgmlType;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn tinystories_f32() -> PathBuf {
    common::shared_models().join("llama.cpp-made/tinystories-656k.f32.gguf")
}

/// A tensor for `rewrite`: its spec and data.
struct Tensor {
    spec: TensorSpec,
    data: Vec<u8>,
}

/// Writes a copy of `src` with its metadata and tensors passed through the edit functions.
fn rewrite(
    src: &Path,
    dst: &Path,
    edit_meta: impl Fn(&mut Vec<(String, Value)>),
    edit_tensors: impl Fn(&mut Vec<Tensor>),
) {
    let file = GgufFile::open(src).unwrap();
    let mut meta: Vec<(String, Value)> = file.metadata().entries().to_vec();
    edit_meta(&mut meta);
    let mut tensors: Vec<Tensor> = file
        .tensors()
        .iter()
        .map(|t| Tensor {
            spec: TensorSpec {
                name: t.name.clone(),
                dims: t.dims.clone(),
                ty: t.ty,
            },
            data: file.tensor_data(t).to_vec(),
        })
        .collect();
    edit_tensors(&mut tensors);
    let specs: Vec<TensorSpec> = tensors.iter().map(|t| t.spec.clone()).collect();
    let out = std::io::BufWriter::new(std::fs::File::create(dst).unwrap());
    let mut w = GgufWriter::new(out, &meta, &specs).unwrap();
    for t in &tensors {
        w.write_tensor(&t.data).unwrap();
    }
    w.finish().unwrap();
}

fn open_err(path: &Path) -> String {
    match Model::open(path) {
        Ok(_) => panic!("{} opened", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn all_missing_and_mistyped_keys_in_one_error() {
    let dir = common::tempdir();
    let path = dir.path().join("keys.gguf");
    rewrite(
        &tinystories_f32(),
        &path,
        |meta| {
            meta.retain(|(k, _)| k != "llama.block_count" && k != "llama.context_length");
            for (k, v) in meta.iter_mut() {
                if k == "llama.attention.layer_norm_rms_epsilon" {
                    *v = Value::from("small");
                }
            }
        },
        |_| {},
    );
    let e = open_err(&path);
    for needle in [
        "keys.gguf",
        "llama.block_count: missing",
        "llama.context_length: missing",
        "llama.attention.layer_norm_rms_epsilon: expected a float32 or float64, found string",
    ] {
        assert!(e.contains(needle), "`{needle}` not in: {e}");
    }
}

#[test]
fn unsupported_architecture_is_named() {
    let dir = common::tempdir();
    let path = dir.path().join("arch.gguf");
    rewrite(
        &tinystories_f32(),
        &path,
        |meta| {
            for (k, v) in meta.iter_mut() {
                if k == "general.architecture" {
                    *v = Value::from("mamba");
                }
            }
        },
        |_| {},
    );
    let e = open_err(&path);
    assert!(e.contains("unsupported architecture `mamba`"), "{e}");
}

#[test]
fn all_tensor_problems_in_one_error() {
    let dir = common::tempdir();
    let path = dir.path().join("tensors.gguf");
    rewrite(
        &tinystories_f32(),
        &path,
        |_| {},
        |tensors| {
            tensors.retain(|t| t.spec.name != "blk.1.ffn_up.weight");
            for t in tensors.iter_mut() {
                if t.spec.name == "blk.0.attn_k.weight" {
                    // (32, 128) instead of (64, 128)
                    t.spec.dims = GgmlDims(vec![128, 32]);
                    t.data.truncate(128 * 32 * 4);
                }
                if t.spec.name == "blk.1.ffn_gate.weight" {
                    // Same bytes as 1-row-per-36-byte Q8_1 blocks would need: make it Q8_1.
                    let n_blocks = t.data.len() / 4 / 32;
                    t.spec.ty = GgmlType::Q8_1;
                    t.data = vec![0; n_blocks * 36];
                }
            }
        },
    );
    let e = open_err(&path);
    for needle in [
        "tensor blk.1.ffn_up.weight: missing",
        "tensor blk.0.attn_k.weight: dims [128, 32], expected [128, 64]",
        "tensor blk.1.ffn_gate.weight: type Q8_1 is not supported",
    ] {
        assert!(e.contains(needle), "`{needle}` not in: {e}");
    }
}

fn session(n_ctx: usize, n_threads: usize) -> Session {
    session_of(&tinystories_f32(), n_ctx, n_threads)
}

fn session_of(path: &Path, n_ctx: usize, n_threads: usize) -> Session {
    let model = Arc::new(Model::open(path).unwrap());
    Session::new(
        model,
        SessionParams {
            n_ctx,
            n_threads,
            ..Default::default()
        },
    )
    .unwrap()
}

const PROMPT: [u32; 6] = [1, 80, 147, 201, 282, 57];

#[test]
fn context_full_and_bad_ids_are_clear_errors() {
    let mut s = session(8, 1);
    assert_eq!(s.n_ctx(), 8);
    assert!(matches!(s.forward(2048), Err(Error::InvalidArgument(_))));
    assert!(matches!(
        s.forward_batch(&[]),
        Err(Error::InvalidArgument(_))
    ));
    // A batch with one bad id runs nothing.
    assert!(matches!(
        s.forward_batch(&[1, 2, 99999]),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(s.pos(), 0);
    // A batch that does not fit runs nothing.
    let e = s.forward_batch(&[1; 9]).unwrap_err();
    assert!(matches!(e, Error::ContextFull(_)), "{e}");
    assert_eq!(s.pos(), 0);
    s.forward_batch(&[1; 7]).unwrap();
    s.forward(5).unwrap();
    assert_eq!(s.pos(), 8);
    let e = s.forward(5).unwrap_err();
    assert!(matches!(e, Error::ContextFull(_)), "{e}");
    assert!(e.to_string().contains("n_ctx 8"), "{e}");
    s.reset();
    assert_eq!(s.pos(), 0);
    s.forward(1).unwrap();
}

#[test]
fn batch_single_steps_threads_and_truncate_agree_exactly() {
    // Q8_0 weights: a batch gives the bits of its tokens one by one. (F32 weights do not on
    // x86: a batch of 2+ tokens takes llama.cpp's batch arithmetic, `float_gemm`; see
    // `f32_batches_stay_near_single_steps`.)
    let q8 = common::shared_models().join("llama.cpp-made/tinystories-656k.q8_0.gguf");
    let session = |n_ctx, n_threads| session_of(&q8, n_ctx, n_threads);
    let mut one = session(32, 1);
    let batch = one.forward_batch(&PROMPT).unwrap().to_vec();
    one.reset();
    let mut single = Vec::new();
    for &t in &PROMPT {
        single = one.forward(t).unwrap().to_vec();
    }
    assert_eq!(batch, single, "forward_batch vs forward one by one");

    let mut two = session(32, 2);
    assert_eq!(two.n_threads(), 2);
    assert_eq!(
        two.forward_batch(&PROMPT).unwrap(),
        &batch[..],
        "1 vs 2 threads"
    );
    // Go on, then cut back to the prompt minus its last token and redo it.
    let after = two.forward(313).unwrap().to_vec();
    two.forward(598).unwrap();
    two.truncate(PROMPT.len() - 1);
    assert_eq!(two.pos(), PROMPT.len() - 1);
    assert_eq!(
        two.forward(PROMPT[5]).unwrap(),
        &batch[..],
        "after truncate"
    );
    assert_eq!(
        two.forward(313).unwrap(),
        &after[..],
        "after truncate, next step"
    );
    two.truncate(100);
    assert_eq!(two.pos(), PROMPT.len() + 1);
}

#[test]
fn f32_batches_stay_near_single_steps() {
    // On x86 a batch of F32 weights takes llama.cpp's batch order (one 8-lane accumulator per
    // output, against the dot's 4 x 8): the same products summed in another order, so the
    // logits move by f32 roundings only; 1 thread still gives the bits of 2.
    let mut one = session(32, 1);
    let batch = one.forward_batch(&PROMPT).unwrap().to_vec();
    one.reset();
    let mut single = Vec::new();
    for &t in &PROMPT {
        single = one.forward(t).unwrap().to_vec();
    }
    let worst = batch
        .iter()
        .zip(&single)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let largest = single.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(
        worst <= 1e-4 * largest,
        "batch vs single steps: {worst} of {largest}"
    );
    let mut two = session(32, 2);
    let same = two.forward_batch(&PROMPT).unwrap();
    assert!(
        batch
            .iter()
            .zip(same)
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "1 vs 2 threads"
    );
}

#[test]
fn memory_plan_adds_up() {
    let model = Arc::new(Model::open(&tinystories_f32()).unwrap());
    assert_eq!(
        (
            model.n_layer(),
            model.n_embd(),
            model.n_head(),
            model.n_head_kv()
        ),
        (2, 128, 8, 4)
    );
    assert_eq!(
        (model.n_vocab(), model.head_dim(), model.n_ff()),
        (2048, 16, 384)
    );
    for (kv_type, size) in [(KvType::F32, 4), (KvType::F16, 2)] {
        let s = Session::new(
            model.clone(),
            SessionParams {
                n_ctx: 0,
                n_threads: 1,
                kv_type,
                isa: None,
            },
        )
        .unwrap();
        let plan = s.memory_plan();
        assert_eq!(plan.n_ctx, model.n_ctx_train().min(4096));
        assert_eq!(plan.kv_type, kv_type);
        let kv = 2 * model.n_layer() * plan.n_ctx * model.n_head_kv() * model.head_dim() * size;
        assert_eq!(plan.kv_bytes, kv as u64);
        // All weights of this F32 file: every tensor once (tied output).
        let file = GgufFile::open(&tinystories_f32()).unwrap();
        let all: u64 = file.tensors().iter().map(|t| t.n_bytes).sum();
        assert_eq!(plan.weights_bytes, all);
        assert!(plan.scratch_bytes >= (model.n_head() * plan.n_ctx * 4) as u64);
        assert_eq!(
            plan.total(),
            plan.weights_bytes + plan.kv_bytes + plan.scratch_bytes
        );
    }
}

#[test]
fn prompts_longer_than_a_batch_give_the_bits_of_single_steps() {
    // Several full batches and a partial one, on quantized weights (the AVX2 Q4_0 kernel runs
    // eight rows per pass) and both cache types: a batch shares weight reads, never results.
    // The exception: over an f16 cache a batch of 64+ tokens takes ggml's tiled flash
    // attention as llama.cpp does (f32 arithmetic, q not rounded; forward/attention.rs), so
    // there the prompt is cut below 64 for the exact check, and the whole prompt is checked
    // against single steps within LOGIT_TOLERANCE and against 1 thread exactly.
    let n = 2 * edge::internals::MAX_BATCH + 5;
    assert!(
        n >= 64,
        "the whole prompt takes the tiled path over an f16 cache"
    );
    let prompt: Vec<u32> = (0..n as u32).map(|i| (i * 37 + 11) % 2048).collect();
    for ty in ["q4_0", "q8_0"] {
        let path =
            common::shared_models().join(format!("llama.cpp-made/tinystories-656k.{ty}.gguf"));
        let model = Arc::new(Model::open(&path).unwrap());
        for kv_type in [KvType::F32, KvType::F16] {
            let exact_len = if kv_type == KvType::F16 { 63 } else { n };
            let session = |n_threads| {
                let params = SessionParams {
                    n_ctx: 128,
                    n_threads,
                    kv_type,
                    isa: None,
                };
                Session::new(model.clone(), params).unwrap()
            };
            let mut s = session(2);
            let batch = s.forward_batch(&prompt[..exact_len]).unwrap().to_vec();
            assert_eq!(s.pos(), exact_len);
            let next = s.forward(7).unwrap().to_vec();
            s.reset();
            let mut single = Vec::new();
            for &t in &prompt[..exact_len] {
                single = s.forward(t).unwrap().to_vec();
            }
            let same =
                |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(
                same(&batch, &single),
                "{ty} {kv_type:?}: batch vs single steps"
            );
            assert!(
                same(s.forward(7).unwrap(), &next),
                "{ty} {kv_type:?}: the step after"
            );
            if exact_len == n {
                continue;
            }
            // the tiled path: within the f16 rounding of single steps, 1 thread = 2 threads
            s.reset();
            let tiled = s.forward_batch(&prompt).unwrap().to_vec();
            s.reset();
            for &t in &prompt {
                single = s.forward(t).unwrap().to_vec();
            }
            let worst = tiled
                .iter()
                .zip(&single)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst <= LOGIT_TOLERANCE,
                "{ty}: tiled batch vs single steps differ by {worst}"
            );
            let mut one = session(1);
            assert!(
                same(one.forward_batch(&prompt).unwrap(), &tiled),
                "{ty}: tiled batch, 1 vs 2 threads"
            );
        }
    }
}

/// Largest logit difference allowed between a 64+ token prompt over an f16 cache (tiled
/// attention) and its tokens one by one (one-token attention). The two attentions differ by
/// the f16 rounding of q and of the value accumulator (2^-11 relative per key; within 1% of
/// the outputs over 69 keys, tests/kernels_attention.rs), and the next layer's 8-bit
/// activation quantization turns such a change into whole quantization steps (1/127 of a
/// block's largest value): measured 0.17 (Q4_0) and 0.11 (Q8_0) on logits up to 10, and the
/// tiled logits are the closer ones to an f32 cache's. Bound: 5% of the largest logit.
const LOGIT_TOLERANCE: f32 = 0.5;

#[test]
fn long_context_decode_splits_the_keys_the_same_on_any_thread_count() {
    // From 512 keys a decoded token's attention over an f16 cache runs in fixed chunks of 256
    // keys merged in order (forward/attention.rs `splits`): 1 thread gives the bits of 2, and
    // the steps stay within LOGIT_TOLERANCE of an f32 cache's (measured 0.28; unsplit 0.26).
    let path = common::shared_models().join("llama.cpp-made/tinystories-656k.q8_0.gguf");
    let model = Arc::new(Model::open(&path).unwrap());
    let prompt: Vec<u32> = (0..600u32).map(|i| (i * 53 + 5) % 2048).collect();
    let run = |n_threads, kv_type| {
        let params = SessionParams {
            n_ctx: 640,
            n_threads,
            kv_type,
            isa: None,
        };
        let mut s = Session::new(model.clone(), params).unwrap();
        s.forward_batch(&prompt).unwrap();
        (0..3u32)
            .map(|t| s.forward(100 + t).unwrap().to_vec())
            .collect::<Vec<_>>()
    };
    let (one, two) = (run(1, KvType::F16), run(2, KvType::F16));
    for (a, b) in one.iter().zip(&two) {
        assert!(
            a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()),
            "1 vs 2 threads"
        );
    }
    let wide = run(1, KvType::F32);
    let worst = one
        .iter()
        .flatten()
        .zip(wide.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= LOGIT_TOLERANCE, "f16 split vs f32 cache: {worst}");
}

#[test]
fn forward_outputs_gives_each_scored_position_the_logits_of_its_prefix() {
    // llama-perplexity's request: one batch, logits from `first_out` on. On Q8_0 weights over
    // an f32 cache every kernel of a batch gives its dot's bits, so the row at position p is
    // the bits of the prompt [0, p]'s last logits. 600 tokens are two llama.cpp ubatches
    // (512 + 88), and the outputs start inside a step of MAX_BATCH.
    let path = common::shared_models().join("llama.cpp-made/tinystories-656k.q8_0.gguf");
    let model = Arc::new(Model::open(&path).unwrap());
    let prompt: Vec<u32> = (0..600u32).map(|i| (i * 53 + 5) % 2048).collect();
    let params = SessionParams {
        n_ctx: 640,
        n_threads: 2,
        kv_type: KvType::F32,
        isa: None,
    };
    let mut s = Session::new(model.clone(), params).unwrap();
    // The logit rows a batch scores count in the memory plan once reserved.
    let before = s.memory_plan().scratch_bytes;
    s.reserve_logit_rows().unwrap();
    let rows_bytes = (edge::internals::MAX_BATCH * s.logits().len() * 4) as u64;
    assert_eq!(s.memory_plan().scratch_bytes, before + rows_bytes);
    let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
    for first_out in [500, prompt.len() - 1] {
        s.reset();
        let mut rows: Vec<(usize, Vec<f32>)> = Vec::new();
        s.forward_outputs(&prompt, first_out, |p, logits| {
            rows.push((p, logits.to_vec()))
        })
        .unwrap();
        assert_eq!(s.pos(), prompt.len());
        let positions: Vec<usize> = rows.iter().map(|(p, _)| *p).collect();
        assert_eq!(positions, (first_out..prompt.len()).collect::<Vec<_>>());
        for (p, logits) in rows.iter().filter(|(p, _)| {
            [first_out, first_out + 1, 511, 512, 519, prompt.len() - 1].contains(p)
        }) {
            s.reset();
            let prefix = s.forward_batch(&prompt[..=*p]).unwrap();
            assert!(same(prefix, logits), "first_out {first_out}: position {p}");
        }
    }
    // Nothing runs on a bad request.
    s.reset();
    let mut called = false;
    let e = s.forward_outputs(&[], 0, |_, _| called = true).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    let e = s
        .forward_outputs(&[1; 641], 0, |_, _| called = true)
        .unwrap_err();
    assert!(matches!(e, Error::ContextFull(_)), "{e}");
    let e = s
        .forward_outputs(&[1, 99999], 0, |_, _| called = true)
        .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    assert!(!called);
    assert_eq!(s.pos(), 0);
}
