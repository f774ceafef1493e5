//! DESIGN convention 7: after `Session::new` and one warm-up token, decoding (forward +
//! sample + accept) allocates nothing, with one thread and with the default thread count.
//! A counting global allocator counts every allocation made by the threads decoding runs on:
//! the test's own thread and the session's workers (named `edge-worker-N`). Other threads of
//! the process are not counted: libtest's main thread does its own bookkeeping concurrently,
//! and the quantizer (`common::quantized`) leaves rayon threads whose epoch GC may allocate.

mod common;

use common::counting_alloc::Counting;
use edge::Model;
use edge::{KvType, Session, SessionParams};
use edge::{Sampler, SamplerParams};
use edge_formats::GgmlType;
use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set while `count` runs on this thread: allocations made by the check itself are not
    /// counted (and cannot recurse).
    static IN_COUNT: Cell<bool> = const { Cell::new(false) };
    /// Set on the thread that runs the decode loop.
    static DECODER: Cell<bool> = const { Cell::new(false) };
}

/// Counts one allocation if it comes from the decoding thread or a session worker.
fn count() {
    if IN_COUNT.with(|c| c.replace(true)) {
        return;
    }
    let worker = || {
        std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("edge-worker"))
    };
    if DECODER.with(Cell::get) || worker() {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
    IN_COUNT.with(|c| c.set(false));
}

#[global_allocator]
static GLOBAL: Counting = Counting(count);

const STEPS: usize = 64;

/// Allocations made by STEPS decode steps after a warm-up token.
fn decode_allocations(
    gguf: &Path,
    n_threads: usize,
    kv_type: KvType,
    sampler: SamplerParams,
) -> usize {
    DECODER.with(|d| d.set(true));
    let model = Arc::new(Model::open(gguf).unwrap());
    let params = SessionParams {
        n_ctx: STEPS + 8,
        n_threads,
        kv_type,
        ..Default::default()
    };
    let mut session = Session::new(model.clone(), params).unwrap();
    let mut sampler = Sampler::new(sampler, model.n_vocab());
    let mut token = 1u32;
    // warm-up
    let logits = session.forward(token).unwrap();
    token = sampler.sample(logits);
    sampler.accept(token);

    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..STEPS {
        let logits = session.forward(token).unwrap();
        token = sampler.sample(logits);
        sampler.accept(token);
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(session.pos(), STEPS + 1);
    after - before
}

fn check_all(name: &str, gguf: &Path) {
    let default_threads = edge::default_threads();
    for n_threads in [1, default_threads.max(2)] {
        for (kv, sampler) in [
            (KvType::F32, SamplerParams::greedy()),
            (KvType::F16, SamplerParams::default()),
        ] {
            let n = decode_allocations(gguf, n_threads, kv, sampler);
            assert_eq!(
                n, 0,
                "{name}: {n} allocations in {STEPS} decode steps ({n_threads} threads, {kv} KV cache, temp {})",
                sampler.temp
            );
        }
    }
}

#[test]
fn decoding_allocates_nothing() {
    check_all(
        "llama.cpp tinystories-656k q8_0",
        &common::shared_models().join("llama.cpp-made/tinystories-656k.q8_0.gguf"),
    );
    check_all(
        "llama.cpp tinystories-656k q4_1",
        &common::shared_models().join("llama.cpp-made/tinystories-656k.q4_1.gguf"),
    );
    let ours = common::quantized(
        &common::shared_models().join("tinystories-656k"),
        GgmlType::Q8_0,
    );
    check_all("our tinystories-656k q8_0", &ours);
    let smol = common::quantized(&common::smollm2_folder(), GgmlType::Q4_0);
    check_all("our SmolLM2 q4_0", &smol);
}
