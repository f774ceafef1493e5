//! A small pool of parked worker threads for the decode loop. `run(f)` calls f on the caller
//! and on every worker that wakes up in time, and returns when all calls that started have
//! returned. f takes its work from a shared counter (see `ChunkCounter`), so a worker the OS
//! has not scheduled yet simply does nothing: the caller never waits for a sleeping thread,
//! which keeps 2 threads useful on a loaded machine. No allocation per call (rayon's injector
//! queue allocates now and then, which convention 7 forbids).
//!
//! Handshake: the caller publishes the job, opens `state` (Release), bumps `generation` and
//! unparks each worker. A worker spins on `generation` for a short while, then parks; on a
//! new generation it joins by incrementing the active count in `state` unless the job is
//! already closed, reads the job (Acquire), runs it and leaves (decrement, Release). After its
//! own call the caller closes `state` and waits for the active count to reach 0.

use std::cell::UnsafeCell;
use std::hint::spin_loop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long an idle worker spins before parking: long enough to cover the gap between two
/// matvecs of one token, short enough not to burn a core between tokens.
const WORKER_SPIN: Duration = Duration::from_micros(200);
/// How many spins the caller makes before it starts yielding while it waits.
const CALLER_SPINS: u32 = 1 << 12;
/// The bit of `state` that says the current job takes no more workers.
const CLOSED: usize = 1 << (usize::BITS - 1);

/// A type-erased job: `call(ctx)`.
#[derive(Clone, Copy)]
struct Job {
    call: unsafe fn(*const ()),
    ctx: *const (),
}

struct Shared {
    /// Bumped once per job (and on shutdown); workers wait for it to change.
    generation: AtomicUsize,
    /// CLOSED bit | number of workers running the current job.
    state: AtomicUsize,
    /// Set by a worker whose job panicked.
    panicked: AtomicBool,
    /// Workers that have started running (`new` waits for all: a thread's start-up
    /// allocates, and must not fall into the decode loop).
    started: AtomicUsize,
    shutdown: AtomicBool,
    /// Written by the caller only while `state` is CLOSED with no active worker; read by a
    /// worker only after it joined the open job.
    job: UnsafeCell<Option<Job>>,
}

// SAFETY: `job` is written only by the thread that owns the pool (through `&mut ThreadPool`)
// while `state` is closed with no worker inside, and published by the Release store that
// opens `state`, which a worker Acquires when it joins. Everything else is atomic.
unsafe impl Sync for Shared {}
// SAFETY: the raw `ctx` pointer inside `job` is only dereferenced under the protocol above,
// while the caller keeps the closure it points to alive.
unsafe impl Send for Shared {}

/// n_threads - 1 worker threads plus the calling thread.
pub struct ThreadPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPool")
            .field("n_threads", &self.n_threads())
            .finish()
    }
}

/// The job panicked on some thread.
#[derive(Debug)]
pub struct JobPanicked;

impl ThreadPool {
    /// Starts `n_threads - 1` workers (none for 0 or 1).
    pub fn new(n_threads: usize) -> std::io::Result<ThreadPool> {
        let shared = Arc::new(Shared {
            generation: AtomicUsize::new(0),
            state: AtomicUsize::new(CLOSED),
            panicked: AtomicBool::new(false),
            started: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            job: UnsafeCell::new(None),
        });
        let mut pool = ThreadPool {
            shared,
            workers: Vec::with_capacity(n_threads.saturating_sub(1)),
        };
        for index in 1..n_threads.max(1) {
            let shared = Arc::clone(&pool.shared);
            let handle = thread::Builder::new()
                .name(format!("edge-worker-{index}"))
                .spawn(move || worker_loop(&shared))?;
            // On error, dropping `pool` stops the workers started so far.
            pool.workers.push(handle);
        }
        while pool.shared.started.load(Ordering::Acquire) < pool.workers.len() {
            thread::yield_now();
        }
        Ok(pool)
    }

    /// Threads that may run a job, the caller included.
    pub fn n_threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Calls f on this thread and on every worker that wakes up before this thread's own
    /// call returns; returns when every call that started has returned (f is never used
    /// after `run` returns). f must take its work from shared state (e.g. a `ChunkCounter`)
    /// so that it does not matter how many threads join. Allocates nothing. A panic in any
    /// call is reported after all calls have finished.
    pub fn run<F: Fn() + Sync>(&mut self, f: F) -> Result<(), JobPanicked> {
        if self.workers.is_empty() {
            return catch_unwind(AssertUnwindSafe(&f)).map_err(|_| JobPanicked);
        }
        /// Calls the closure behind `ctx`.
        ///
        /// # Safety
        /// `ctx` must point to a live `F`.
        unsafe fn trampoline<F: Fn() + Sync>(ctx: *const ()) {
            // SAFETY: guaranteed by the caller (see `run`).
            let f = unsafe { &*(ctx as *const F) };
            f()
        }
        let shared = &*self.shared;
        // SAFETY: `state` is CLOSED with no active worker (the previous `run` waited for
        // that, and we hold &mut self), so nobody reads `job` while we write it.
        unsafe {
            *shared.job.get() = Some(Job {
                call: trampoline::<F>,
                ctx: &f as *const F as *const (),
            });
        }
        shared.state.store(0, Ordering::Release);
        shared.generation.fetch_add(1, Ordering::Release);
        for w in &self.workers {
            w.thread().unpark();
        }
        let mine = catch_unwind(AssertUnwindSafe(&f));
        // Take no more workers, then wait for those inside (even if our call panicked:
        // they still use `f`).
        shared.state.fetch_or(CLOSED, Ordering::AcqRel);
        let mut spins = 0u32;
        while shared.state.load(Ordering::Acquire) != CLOSED {
            if spins < CALLER_SPINS {
                spins += 1;
                spin_loop();
            } else {
                thread::yield_now();
            }
        }
        let theirs = shared.panicked.swap(false, Ordering::Relaxed);
        if mine.is_err() || theirs {
            Err(JobPanicked)
        } else {
            Ok(())
        }
    }
}

/// Joins the open job: increments the active count unless the job is closed.
fn try_join(state: &AtomicUsize) -> bool {
    let mut s = state.load(Ordering::Relaxed);
    loop {
        if s & CLOSED != 0 {
            return false;
        }
        match state.compare_exchange_weak(s, s + 1, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(now) => s = now,
        }
    }
}

fn worker_loop(shared: &Shared) {
    shared.started.fetch_add(1, Ordering::Release);
    let mut seen = 0usize;
    loop {
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            let g = shared.generation.load(Ordering::Acquire);
            if g != seen {
                seen = g;
                break;
            }
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(64) || start.elapsed() < WORKER_SPIN {
                spin_loop();
            } else {
                // A missed wake-up is impossible: unpark before park makes park return.
                thread::park();
            }
        }
        if shared.shutdown.load(Ordering::Acquire) {
            return;
        }
        if !try_join(&shared.state) {
            continue;
        }
        // SAFETY: we joined an open job: the caller wrote `job` before the Release store
        // that opened `state` (Acquired by our join) and does not write it again until we
        // leave.
        let job = unsafe { *shared.job.get() };
        if let Some(job) = job {
            // SAFETY: the caller keeps the closure alive until every joined worker left.
            let result = catch_unwind(AssertUnwindSafe(|| unsafe { (job.call)(job.ctx) }));
            if result.is_err() {
                shared.panicked.store(true, Ordering::Relaxed);
            }
        }
        shared.state.fetch_sub(1, Ordering::Release);
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.generation.fetch_add(1, Ordering::Release);
        for w in self.workers.drain(..) {
            w.thread().unpark();
            let _ = w.join();
        }
    }
}

/// Hands out chunk indices 0..n_chunks, each once, to whichever threads ask.
#[derive(Debug)]
pub struct ChunkCounter {
    next: AtomicUsize,
    n_chunks: usize,
}

impl ChunkCounter {
    pub fn new(n_chunks: usize) -> Self {
        ChunkCounter {
            next: AtomicUsize::new(0),
            n_chunks,
        }
    }

    /// The next chunk not yet taken, or None when all are.
    pub fn take(&self) -> Option<usize> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.n_chunks).then_some(i)
    }
}

/// Rows per chunk when `rows` rows are shared by `n_threads`: about 4 chunks per thread
/// (so a late or slow thread costs little), a multiple of 16 rows (whole cache lines of
/// output), at least 16.
pub fn chunk_rows(rows: usize, n_threads: usize) -> usize {
    rows.div_ceil(4 * n_threads.max(1))
        .next_multiple_of(16)
        .max(16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn every_chunk_runs_once_per_job() {
        for n in [1, 2, 3, 5] {
            let mut pool = ThreadPool::new(n).unwrap();
            assert_eq!(pool.n_threads(), n);
            for round in 0..200u64 {
                let hits: Vec<AtomicU64> = (0..37).map(|_| AtomicU64::new(0)).collect();
                let chunks = ChunkCounter::new(hits.len());
                pool.run(|| {
                    while let Some(i) = chunks.take() {
                        hits[i].fetch_add(round + 1, Ordering::Relaxed);
                    }
                })
                .unwrap();
                for h in &hits {
                    assert_eq!(h.load(Ordering::Relaxed), round + 1);
                }
            }
        }
    }

    #[test]
    fn a_panicking_job_is_reported_and_the_pool_survives() {
        let mut pool = ThreadPool::new(3).unwrap();
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let chunks = ChunkCounter::new(50);
        let r = pool.run(|| {
            while let Some(i) = chunks.take() {
                if i == 7 {
                    panic!("boom");
                }
            }
        });
        std::panic::set_hook(prev);
        assert!(r.is_err());
        let count = AtomicU64::new(0);
        let chunks = ChunkCounter::new(10);
        pool.run(|| {
            while chunks.take().is_some() {
                count.fetch_add(1, Ordering::Relaxed);
            }
        })
        .unwrap();
        assert_eq!(count.load(Ordering::Relaxed), 10);
    }

    #[test]
    fn chunks_are_whole_cache_lines() {
        for rows in [1, 15, 16, 17, 100, 576, 1536, 49152] {
            for n in 1..=5 {
                let c = chunk_rows(rows, n);
                assert!(c >= 16 && c.is_multiple_of(16));
                assert!(rows.div_ceil(c) <= 4 * n || c == 16, "rows {rows} n {n}");
            }
        }
    }
}
