//! Checks on what a C caller passes: pointers, strings, versioned structs, and the caller-sized
//! buffer rule (BUFFER_TOO_SMALL with the size needed).

use std::ffi::{c_char, CStr};

use super::status::{edge_status, Fail, Outcome};

/// `ptr` as a shared reference, or INVALID_ARG naming the argument.
///
/// # Safety
/// `ptr` is NULL or points to a live, properly aligned `T` for the returned lifetime.
pub(crate) unsafe fn reference<'a, T>(ptr: *const T, name: &str) -> Outcome<&'a T> {
    // SAFETY: the caller guarantees a non-null `ptr` points to a live `T`.
    unsafe { ptr.as_ref() }.ok_or_else(|| Fail::invalid(format!("{name} is NULL")))
}

/// A NUL-terminated UTF-8 string argument, or INVALID_ARG naming it (NULL or not UTF-8).
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string live for the returned lifetime.
pub(crate) unsafe fn text<'a>(ptr: *const c_char, name: &str) -> Outcome<&'a str> {
    if ptr.is_null() {
        return Err(Fail::invalid(format!("{name} is NULL")));
    }
    // SAFETY: non-null, and the caller guarantees a NUL-terminated string.
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes.to_str().map_err(|e| {
        Fail::invalid(format!(
            "{name} is not valid UTF-8 (byte {} is not)",
            e.valid_up_to()
        ))
    })
}

/// `len` elements at `ptr` as a slice (`len` 0 accepts NULL), or INVALID_ARG.
///
/// # Safety
/// When `len > 0`, `ptr` is NULL or points to `len` live `T`s.
pub(crate) unsafe fn slice<'a, T>(ptr: *const T, len: usize, name: &str) -> Outcome<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Fail::invalid(format!(
            "{name} is NULL with a length of {len}"
        )));
    }
    // SAFETY: non-null, and the caller guarantees `len` live elements.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Writes `value` to the out-parameter `ptr`, or INVALID_ARG if it is NULL.
///
/// # Safety
/// `ptr` is NULL or valid for writing a `T`.
pub(crate) unsafe fn write<T>(ptr: *mut T, value: T, name: &str) -> Outcome {
    if ptr.is_null() {
        return Err(Fail::invalid(format!("{name} is NULL")));
    }
    // SAFETY: non-null, and the caller guarantees it is writable.
    unsafe { ptr.write(value) };
    Ok(())
}

/// A struct that may grow in later versions: its first field is `struct_size`, the size the
/// caller's header gave it.
pub(crate) trait Versioned: Copy {
    /// The struct's name, for messages.
    const NAME: &'static str;
    fn set_struct_size(&mut self, size: u32);
}

/// The caller's versioned struct, or `default` when `ptr` is NULL. A `struct_size` smaller than
/// this version's struct is INVALID_ARG; fields past this version's (a newer header) are
/// ignored.
///
/// # Safety
/// `ptr` is NULL or points to a live struct of at least `struct_size` bytes.
pub(crate) unsafe fn versioned_in<T: Versioned>(ptr: *const T, default: T) -> Outcome<T> {
    if ptr.is_null() {
        return Ok(default);
    }
    // SAFETY: non-null; every version of the struct starts with its u32 `struct_size`.
    let size = unsafe { ptr.cast::<u32>().read() };
    check_size::<T>(size)?;
    // SAFETY: the struct holds at least `size_of::<T>()` bytes (checked just above).
    Ok(unsafe { ptr.read() })
}

/// Fills the caller's struct of `size` bytes with `value`, its `struct_size` set to `size`.
///
/// # Safety
/// `ptr` is NULL or valid for writing `size` bytes.
pub(crate) unsafe fn versioned_out<T: Versioned>(
    ptr: *mut T,
    size: usize,
    mut value: T,
    name: &str,
) -> Outcome {
    if ptr.is_null() {
        return Err(Fail::invalid(format!("{name} is NULL")));
    }
    let size = u32::try_from(size)
        .map_err(|_| Fail::invalid(format!("{} size {size} is out of range", T::NAME)))?;
    check_size::<T>(size)?;
    value.set_struct_size(size);
    // SAFETY: non-null and writable for `size >= size_of::<T>()` bytes (checked above).
    unsafe { ptr.write(value) };
    Ok(())
}

/// Writes a result struct into the caller's, keeping the caller's `struct_size`.
///
/// # Safety
/// `ptr` is NULL or points to a writable struct of at least its `struct_size` bytes.
pub(crate) unsafe fn versioned_result<T: Versioned>(ptr: *mut T, mut value: T) -> Outcome {
    if ptr.is_null() {
        return Ok(());
    }
    // SAFETY: non-null; every version of the struct starts with its u32 `struct_size`.
    let size = unsafe { ptr.cast::<u32>().read() };
    check_size::<T>(size)?;
    value.set_struct_size(size);
    // SAFETY: the struct holds at least `size_of::<T>()` bytes (checked just above).
    unsafe { ptr.write(value) };
    Ok(())
}

fn check_size<T: Versioned>(size: u32) -> Outcome {
    let ours = std::mem::size_of::<T>();
    if (size as usize) < ours {
        return Err(Fail::invalid(format!(
            "{}.struct_size is {size}, at least {ours} expected (set it to sizeof(struct {}))",
            T::NAME,
            T::NAME
        )));
    }
    Ok(())
}

/// Copies `text` and a terminating NUL into the caller's buffer of `capacity` bytes. The count
/// out-parameter gets the text's length (without the NUL) on success, or the capacity needed
/// (with the NUL) and BUFFER_TOO_SMALL when `capacity` is short. `buf` may be NULL with
/// `capacity` 0 to ask for the size.
///
/// # Safety
/// `buf` is NULL or writable for `capacity` bytes; `n_out` is NULL or writable.
pub(crate) unsafe fn text_out(
    bytes: &[u8],
    buf: *mut c_char,
    capacity: usize,
    n_out: *mut usize,
) -> Outcome {
    if n_out.is_null() {
        return Err(Fail::invalid("the count out-parameter is NULL"));
    }
    let needed = bytes.len() + 1;
    if capacity < needed {
        // SAFETY: non-null and writable (the caller's guarantee).
        unsafe { n_out.write(needed) };
        return Err(Fail::new(
            edge_status::EDGE_BUFFER_TOO_SMALL,
            format!("the text needs {needed} bytes (with its NUL), the buffer has {capacity}"),
        ));
    }
    if buf.is_null() {
        return Err(Fail::invalid(format!(
            "buf is NULL with a capacity of {capacity}"
        )));
    }
    // SAFETY: `buf` is writable for `capacity >= bytes.len() + 1` bytes and does not overlap
    // our own `bytes`.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), bytes.len());
        buf.add(bytes.len()).write(0);
        n_out.write(bytes.len());
    }
    Ok(())
}

/// Copies `items` into the caller's array of `capacity` elements; the count out-parameter gets
/// the count written, or the count needed with BUFFER_TOO_SMALL.
///
/// # Safety
/// `buf` is NULL or writable for `capacity` elements; `n_out` is NULL or writable.
pub(crate) unsafe fn array_out<T: Copy>(
    items: &[T],
    buf: *mut T,
    capacity: usize,
    n_out: *mut usize,
) -> Outcome {
    if n_out.is_null() {
        return Err(Fail::invalid("the count out-parameter is NULL"));
    }
    // SAFETY: non-null and writable (the caller's guarantee).
    unsafe { n_out.write(items.len()) };
    if capacity < items.len() {
        return Err(Fail::new(
            edge_status::EDGE_BUFFER_TOO_SMALL,
            format!("{} elements needed, the buffer has {capacity}", items.len()),
        ));
    }
    if items.is_empty() {
        return Ok(());
    }
    if buf.is_null() {
        return Err(Fail::invalid(format!(
            "buf is NULL with a capacity of {capacity}"
        )));
    }
    // SAFETY: `buf` is writable for `capacity >= items.len()` elements and does not overlap
    // our own `items`.
    unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), buf, items.len()) };
    Ok(())
}
