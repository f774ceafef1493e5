//! Hostile sizes: numbers in a GGUF's metadata or on the command line that used to be trusted
//! before anything checked them (issue 13, items 2 and 3). Every case runs `run-edge` on a
//! copy of tinystories-656k with one number changed (made here, in a temporary folder) and
//! expects a refusal: exit code 1 (no panic = 101, no abort = signal), one short stderr line
//! `error: ...` that names the key or flag and its value. Where a case could allocate, it runs
//! under an address-space limit (`prlimit --as`), so a refusal proves the process stayed small.

mod common;

use common::hostile;
use common::{mutated, run_edge_limited, tinystories_q8};
use edge::Model;
use edge::{KvType, Session, SessionParams};
use edge::{Sampler, SamplerParams};
use edge_formats::gguf::Value;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;

/// A refusal: exit code 1, one short `error: ` line on stderr containing every needle.
fn expect_refusal(out: &Output, needles: &[&str]) -> String {
    let line = hostile::expect_refusal(out, needles);
    assert_eq!(out.status.code(), Some(1), "{line}");
    line
}

fn model_arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn block_count_beyond_the_tensors_present_is_refused_before_anything_is_sized() {
    let dir = common::tempdir();
    for (n, file) in [
        (1u64 << 62, "2p62.gguf"),
        (1 << 40, "2p40.gguf"),
        (10_000_000, "1e7.gguf"),
        (3, "three.gguf"),
    ] {
        let path = mutated(
            dir.path(),
            file,
            &[("llama.block_count", Some(Value::U64(n)))],
        );
        let out = run_edge_limited(&["-m", model_arg(&path), "-p", "hi", "-n", "1"]);
        expect_refusal(
            &out,
            &[
                &format!("llama.block_count: {n}, "),
                "tensors for 2 blocks (blk.0 .. blk.1)",
            ],
        );
    }
}

#[test]
fn block_count_below_the_tensors_present_is_refused() {
    let dir = common::tempdir();
    let path = mutated(
        dir.path(),
        "one.gguf",
        &[("llama.block_count", Some(Value::U32(1)))],
    );
    let out = run_edge_limited(&["-m", model_arg(&path), "-p", "hi", "-n", "1"]);
    expect_refusal(&out, &["llama.block_count: 1, ", "blk.1"]);
}

#[test]
fn hyperparameters_that_contradict_the_tensors_are_refused() {
    let dir = common::tempdir();
    let huge = Value::U64(1 << 62);
    let cases: [(&str, Value, &str); 9] = [
        ("llama.embedding_length", huge.clone(), "token_embd.weight"),
        ("llama.feed_forward_length", huge.clone(), "ffn_gate.weight"),
        (
            "llama.attention.head_count",
            Value::U64(1 << 40),
            "attn_q.weight",
        ),
        (
            "llama.attention.head_count_kv",
            huge.clone(),
            "head_count_kv",
        ),
        ("llama.attention.key_length", huge.clone(), "key_length"),
        ("llama.vocab_size", huge.clone(), "token_embd.weight"),
        (
            "llama.rope.dimension_count",
            huge.clone(),
            "rope.dimension_count",
        ),
        ("llama.attention.head_count", Value::U32(0), "head_count"),
        ("llama.block_count", Value::I32(-1), "llama.block_count"),
    ];
    for (i, (key, value, needle)) in cases.into_iter().enumerate() {
        let path = mutated(dir.path(), &format!("{i}.gguf"), &[(key, Some(value))]);
        let out = run_edge_limited(&["-m", model_arg(&path), "-p", "hi", "-n", "1"]);
        expect_refusal(&out, &[needle]);
    }
}

#[test]
fn a_context_the_machine_cannot_hold_is_refused_with_the_plan_and_the_limit() {
    let model = tinystories_q8();
    // 102 GB of KV cache: over any machine's memory. 3 GB: over the address-space limit.
    for ctx in ["100000000", "3000000"] {
        let out = run_edge_limited(&["-m", model_arg(&model), "-p", "hi", "--ctx", ctx]);
        let line = expect_refusal(&out, &[&format!("context {ctx}"), "needs", "available"]);
        assert!(line.contains(" GB"), "{line}");
        let out = run_edge_limited(&[
            "perplexity",
            "-m",
            model_arg(&model),
            "-f",
            common::shared_models()
                .join("corpus/tinyshakespeare.txt")
                .to_str()
                .unwrap(),
            "-c",
            ctx,
        ]);
        expect_refusal(&out, &[&format!("context {ctx}"), "available"]);
    }
}

#[test]
fn thread_counts_beyond_a_sane_bound_are_refused() {
    for t in ["1099511627776", "100000"] {
        let out = run_edge_limited(&["-m", model_arg(&tinystories_q8()), "-p", "hi", "-t", t]);
        expect_refusal(&out, &[&format!("{t} threads")]);
    }
}

#[test]
fn a_huge_repetition_window_is_clamped_and_gives_the_output_of_the_whole_context() {
    let model = tinystories_q8();
    let run = |n: &str| {
        let out = run_edge_limited(&[
            "-m",
            model_arg(&model),
            "-p",
            "Once upon a time",
            "-n",
            "24",
            "--ctx",
            "64",
            "--temp",
            "0",
            "--repeat-penalty",
            "1.5",
            "--repeat-last-n",
            n,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "--repeat-last-n {n}: {stderr}");
        out.stdout
    };
    let whole_context = run("64");
    assert!(!whole_context.is_empty());
    for n in ["18446744073709551615", "100000000000"] {
        assert_eq!(run(n), whole_context, "--repeat-last-n {n}");
    }
}

#[test]
fn a_context_above_the_training_length_warns_with_its_memory() {
    let out = common::run_edge()
        .args(["-m", model_arg(&tinystories_q8()), "-p", "hi", "-n", "2"])
        .args(["--ctx", "1024", "--temp", "0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // 2 layers x 2 (k, v) x 1024 positions x 64 values x 4 bytes.
    assert!(
        stderr.contains(
            "warning: context 1024 is above the model's training context of 512 tokens; its \
             KV cache takes 1.0 MB"
        ),
        "{stderr}"
    );
}

#[test]
fn the_plan_made_before_allocating_is_what_the_session_holds() {
    for ty in ["q8_0", "q4_1", "f32"] {
        let path =
            common::shared_models().join(format!("llama.cpp-made/tinystories-656k.{ty}.gguf"));
        let model = Arc::new(Model::open(&path).unwrap());
        for (n_ctx, kv_type) in [(0, KvType::F32), (100, KvType::F16), (1000, KvType::F32)] {
            let params = SessionParams {
                n_ctx,
                n_threads: 1,
                kv_type,
                isa: None,
            };
            let planned = Session::plan(&model, &params).unwrap();
            let session = Session::new(model.clone(), params).unwrap();
            assert_eq!(planned, session.memory_plan(), "{}", path.display());
            assert_eq!(planned.context_warning().is_some(), n_ctx > 512);
        }
    }
}

#[test]
fn the_library_refuses_what_the_cli_refuses() {
    let model = Arc::new(Model::open(&tinystories_q8()).unwrap());
    let params = |n_ctx, n_threads| SessionParams {
        n_ctx,
        n_threads,
        kv_type: KvType::F32,
        isa: None,
    };
    let e = Session::new(model.clone(), params(0, 1 << 40)).unwrap_err();
    assert!(matches!(e, edge::Error::InvalidArgument(_)), "{e}");
    assert!(e.to_string().contains("1099511627776 threads"), "{e}");
    // Sizes that overflow u64 are refused by the plan, before the machine is asked.
    let e = Session::plan(&model, &params(usize::MAX / 2, 1)).unwrap_err();
    assert!(matches!(e, edge::Error::MemoryLimit(_)), "{e}");
    let e = Session::new(model.clone(), params(usize::MAX / 2, 1)).unwrap_err();
    assert!(matches!(e, edge::Error::MemoryLimit(_)), "{e}");

    // The repetition window: clamped to the context (or to MAX_REPEAT_LAST_N without one).
    let huge = SamplerParams {
        repeat_last_n: usize::MAX,
        ..SamplerParams::default()
    };
    let s = Sampler::for_context(huge, 2048, 512).unwrap();
    assert_eq!(s.params().repeat_last_n, 512);
    let s = Sampler::new(huge, 2048);
    assert_eq!(s.params().repeat_last_n, edge::Sampler::MAX_REPEAT_LAST_N);
}

#[test]
fn a_huge_token_budget_stops_at_the_full_context_without_sizing_anything_by_it() {
    let run = |n: &str| {
        let out = run_edge_limited(&[
            "-m",
            model_arg(&tinystories_q8()),
            "-p",
            "Once",
            "-n",
            n,
            "--ctx",
            "32",
            "--temp",
            "0",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "-n {n}: {stderr}");
        assert!(stderr.contains("context full"), "-n {n}: {stderr}");
        out.stdout
    };
    let reference = run("40");
    for n in ["18446744073709551615", "100000000000"] {
        assert_eq!(run(n), reference, "-n {n}");
    }
}
