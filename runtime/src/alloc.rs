//! Fallible allocation of the large buffers (KV cache, run-state buffers, logits, sampler
//! scratch): a refusal by the allocator is `Error::OutOfMemory`, never an abort.

use crate::{Error, Result};
use bytemuck::Zeroable;
use std::alloc::Layout;

fn out_of_memory<T>(what: &'static str, n: usize) -> Error {
    Error::OutOfMemory {
        what,
        bytes: (n as u64).saturating_mul(std::mem::size_of::<T>() as u64),
    }
}

/// `n` zeroed elements (like `vec![0; n]`: the pages are only touched when written).
pub fn zeroed<T: Zeroable>(what: &'static str, n: usize) -> Result<Vec<T>> {
    if n == 0 || std::mem::size_of::<T>() == 0 {
        return Ok(std::iter::repeat_with(T::zeroed).take(n).collect());
    }
    let layout = Layout::array::<T>(n).map_err(|_| out_of_memory::<T>(what, n))?;
    // SAFETY: `layout` has a non-zero size (n > 0 and T is not zero-sized).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        return Err(out_of_memory::<T>(what, n));
    }
    // SAFETY: `ptr` comes from the global allocator with the layout of `[T; n]`, which is the
    // layout `Vec<T>` uses for capacity n; all n elements are initialized to zero bytes, a
    // valid `T` (`Zeroable`).
    Ok(unsafe { Vec::from_raw_parts(ptr, n, n) })
}

/// An empty vector with room for exactly `capacity` elements.
pub fn with_capacity<T>(what: &'static str, capacity: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(capacity)
        .map_err(|_| out_of_memory::<T>(what, capacity))?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_errors_not_aborts() {
        // Over isize::MAX bytes (layout error) and a size no allocator grants.
        for n in [usize::MAX / 2, 1 << 60] {
            let e = zeroed::<f32>("KV cache", n).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::OutOfMemory {
                        what: "KV cache",
                        ..
                    }
                ),
                "{e}"
            );
            assert!(with_capacity::<u32>("history", n).is_err());
        }
    }

    #[test]
    fn zeroed_is_zero_and_exact() {
        let v = zeroed::<f32>("x", 1000).unwrap();
        assert_eq!((v.len(), v.capacity()), (1000, 1000));
        assert!(v.iter().all(|&x| x == 0.0));
        assert!(zeroed::<half::f16>("x", 0).unwrap().is_empty());
        let v = with_capacity::<u8>("x", 77).unwrap();
        assert_eq!((v.len(), v.capacity()), (0, 77));
    }
}
