//! A global allocator that forwards to the system allocator and calls a hook on every
//! allocation (alloc, alloc_zeroed, realloc), for the zero-allocation tests. Each test binary
//! decides in its hook which threads count: `#[global_allocator] static GLOBAL: Counting =
//! Counting(count);`. The hook runs inside the allocator: it must not allocate.

use std::alloc::{GlobalAlloc, Layout, System};

/// The counting allocator; `.0` is the hook.
pub struct Counting(pub fn());

// SAFETY: forwards every call to the system allocator unchanged; the hook only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        (self.0)();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        (self.0)();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        (self.0)();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}
