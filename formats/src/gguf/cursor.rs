//! A bounds-checked little-endian reader over a byte slice. Every read checks the remaining
//! length first and errors with the context, the byte offset and the shortfall.
use crate::{Error, Result};
use std::path::Path;

pub(super) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8], path: &'a Path) -> Self {
        Cursor {
            bytes,
            pos: 0,
            path,
        }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub fn path(&self) -> &'a Path {
        self.path
    }

    pub fn corrupt(&self, what: impl Into<String>) -> Error {
        Error::corrupt(self.path, what)
    }

    /// The next `n` bytes; `ctx` names what is being read ("key `x`").
    pub fn take(&mut self, n: u64, ctx: &str) -> Result<&'a [u8]> {
        let at = self.pos;
        let left = self.remaining();
        match usize::try_from(n) {
            Ok(n) if n <= left => {
                self.pos += n;
                Ok(&self.bytes[at..at + n])
            }
            _ => Err(self.corrupt(format!(
                "{ctx}: needs {n} bytes at byte offset {at}, but the file ends after {left}"
            ))),
        }
    }

    fn array<const N: usize>(&mut self, ctx: &str) -> Result<[u8; N]> {
        let s = self.take(N as u64, ctx)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u8(&mut self, ctx: &str) -> Result<u8> {
        Ok(self.array::<1>(ctx)?[0])
    }
    pub fn i8(&mut self, ctx: &str) -> Result<i8> {
        Ok(i8::from_le_bytes(self.array(ctx)?))
    }
    pub fn u16(&mut self, ctx: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(ctx)?))
    }
    pub fn i16(&mut self, ctx: &str) -> Result<i16> {
        Ok(i16::from_le_bytes(self.array(ctx)?))
    }
    pub fn u32(&mut self, ctx: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(ctx)?))
    }
    pub fn i32(&mut self, ctx: &str) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array(ctx)?))
    }
    pub fn u64(&mut self, ctx: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(ctx)?))
    }
    pub fn i64(&mut self, ctx: &str) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array(ctx)?))
    }
    pub fn f32(&mut self, ctx: &str) -> Result<f32> {
        Ok(f32::from_le_bytes(self.array(ctx)?))
    }
    pub fn f64(&mut self, ctx: &str) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array(ctx)?))
    }

    /// A GGUF string: u64 length, then that many bytes (not checked for UTF-8 here).
    pub fn raw_string(&mut self, ctx: &str) -> Result<&'a [u8]> {
        let at = self.pos;
        let len = self.u64(ctx)?;
        let left = self.remaining();
        if len > left as u64 {
            return Err(self.corrupt(format!(
                "{ctx}: string at byte offset {at} claims {len} bytes, but only {left} are left"
            )));
        }
        self.take(len, ctx)
    }

    /// A GGUF string that must be UTF-8.
    pub fn string(&mut self, ctx: &str) -> Result<&'a str> {
        let at = self.pos;
        let raw = self.raw_string(ctx)?;
        std::str::from_utf8(raw).map_err(|e| {
            self.corrupt(format!(
                "{ctx}: string at byte offset {at} is not valid UTF-8 ({e})"
            ))
        })
    }
}
