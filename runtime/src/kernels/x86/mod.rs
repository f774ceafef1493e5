//! x86-64 kernels, compiled for every x86-64 build and enabled at run time by
//! `is_x86_feature_detected!` (no reliance on `-C target-cpu`).

pub mod avx2;
pub mod avx512;

use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};

/// How far ahead of what they read the matvecs prefetch, in bytes. Rows read side by side
/// are interleaved streams the hardware prefetchers follow poorly: without it, SmolLM2 Q4_0
/// decode from DRAM ran at a third of the bandwidth (82 against 213 tokens/s at 1 thread; 4
/// KiB gave 171, 16 KiB 213, 32 KiB 197), and even one row after another (Q8_0, Q4_1) lost
/// 4-10% of its CPU time to load stalls.
pub(crate) const PREFETCH_AHEAD: usize = 8192;

/// Prefetches the `bytes` bytes at `p` into L1, a cache line at a time. A prefetch never
/// faults, wherever it points, so `p` may lie past the data.
#[inline]
#[target_feature(enable = "sse")]
pub(crate) fn prefetch(p: *const i8, bytes: usize) {
    for line in (0..bytes.max(1)).step_by(64) {
        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(line));
    }
}
