//! `Sampler::sample` and `accept` allocate nothing after `Sampler::new` (DESIGN convention 7).
//! A counting global allocator counts only the allocations of the thread that samples: other
//! threads of the process (libtest's main thread does its own bookkeeping concurrently) are
//! not the sampler's and used to make this test flaky.

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::Counting;
use edge::{Sampler, SamplerParams};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set on the thread whose allocations are counted (const-initialized: reading it
    /// allocates nothing, so the allocator may read it).
    static SAMPLER_THREAD: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if SAMPLER_THREAD.with(Cell::get) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting(count);

#[test]
fn sample_and_accept_allocate_nothing() {
    let n_vocab = 49152;
    let logits: Vec<f32> = (0..n_vocab)
        .map(|i| ((i * 7919) % 1000) as f32 / 100.0)
        .collect();
    let configs = [
        SamplerParams::default(),
        SamplerParams::greedy(),
        SamplerParams {
            top_k: 0,
            top_p: 0.9,
            repeat_penalty: 1.3,
            ..Default::default()
        },
        SamplerParams {
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            ..Default::default()
        },
    ];
    for params in configs {
        let mut s = Sampler::new(params, n_vocab);
        SAMPLER_THREAD.with(|c| c.set(true));
        let before = ALLOCS.load(Ordering::Relaxed);
        for _ in 0..100 {
            let t = s.sample(&logits);
            s.accept(t);
        }
        s.reset();
        let after = ALLOCS.load(Ordering::Relaxed);
        SAMPLER_THREAD.with(|c| c.set(false));
        assert_eq!(
            after - before,
            0,
            "{params:?}: {} allocations",
            after - before
        );
    }
}
