//! The read bandwidth of main memory, measured the way decode reads weights: `n_threads`
//! threads each streaming over their share of a buffer much larger than the last-level cache.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Bytes streamed per pass: at least this much, and 8 times the largest cache found.
const MIN_BUFFER_BYTES: usize = 256 << 20;
/// Passes over the buffer; the fastest counts (the first also faults the pages in).
const PASSES: usize = 4;

/// Read bandwidth in bytes per second with `n_threads` readers.
pub fn measure_read_bandwidth(n_threads: usize) -> f64 {
    let n_threads = n_threads.max(1);
    let bytes = MIN_BUFFER_BYTES.max(8 * largest_cache_bytes());
    // Written once so every page is backed by memory (not the shared zero page).
    let buffer: Vec<u64> = (0..bytes / 8).map(|i| i as u64).collect();
    let share = buffer.len().div_ceil(n_threads);
    let mut best = Duration::MAX;
    for _ in 0..PASSES {
        let start = Instant::now();
        std::thread::scope(|scope| {
            for part in buffer.chunks(share) {
                scope.spawn(move || black_box(sum(black_box(part))));
            }
        });
        best = best.min(start.elapsed());
    }
    (buffer.len() * 8) as f64 / best.as_secs_f64().max(1e-9)
}

/// Four independent sums so the loop streams rather than waits on one add chain.
fn sum(words: &[u64]) -> u64 {
    let mut acc = [0u64; 4];
    let mut chunks = words.chunks_exact(4);
    for c in &mut chunks {
        for (a, w) in acc.iter_mut().zip(c) {
            *a = a.wrapping_add(*w);
        }
    }
    let tail: u64 = chunks.remainder().iter().fold(0, |a, w| a.wrapping_add(*w));
    acc.iter().fold(tail, |a, w| a.wrapping_add(*w))
}

/// The largest CPU cache Linux reports for cpu0 (0 when unknown).
fn largest_cache_bytes() -> usize {
    let Ok(entries) = std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache") else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("size")).ok())
        .filter_map(|s| parse_cache_size(s.trim()))
        .max()
        .unwrap_or(0)
}

/// "32768K" -> 33554432; "8M" -> 8388608.
fn parse_cache_size(text: &str) -> Option<usize> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let n: usize = digits.parse().ok()?;
    let scale = match unit {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(scale)
}
