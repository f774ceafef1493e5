//! Streaming GGUF v3 writer, in the layout of llama.cpp's gguf.cpp / gguf-py: header,
//! metadata, tensor infos (offsets from sizes, each aligned), zero padding to the alignment,
//! then each tensor's data followed by zero padding to the alignment.
use super::reader::{align_up, alignment_of, tensor_n_bytes};
use super::{GgmlDims, Value, ValueType, ALIGNMENT_KEY, MAGIC, MAX_ARRAY_DEPTH, MAX_DIMS, VERSION};
use crate::{Error, GgmlType, Result};
use std::collections::HashSet;
use std::io::Write;

/// A tensor to be written: its info is in the header before any data.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    pub name: String,
    pub dims: GgmlDims,
    pub ty: GgmlType,
}

impl TensorSpec {
    /// Bytes of this tensor's data, or why the spec is invalid.
    pub fn n_bytes(&self) -> Result<u64> {
        tensor_n_bytes(self.ty, &self.dims)
            .map_err(|e| Error::Write(format!("tensor `{}`: {e}", self.name)))
    }
}

/// Writes header and all tensor infos first, then tensor data in spec order, one tensor at a
/// time, each padded to the alignment. Never holds a whole tensor.
pub struct GgufWriter<W: Write> {
    out: W,
    alignment: u64,
    /// (name, n_bytes) of every tensor, in order.
    sizes: Vec<(String, u64)>,
    /// Index of the tensor being written.
    current: usize,
    /// Bytes of the current tensor written so far.
    written: u64,
    /// Bytes written to `out` so far.
    position: u64,
}

const ZEROS: [u8; 64] = [0; 64];

impl<W: Write> GgufWriter<W> {
    /// Writes the header, metadata (in the order given) and every tensor info. The alignment
    /// is `general.alignment` (which must then be a u32 power of two) or 32.
    pub fn new(out: W, metadata: &[(String, Value)], tensors: &[TensorSpec]) -> Result<Self> {
        let alignment = writer_alignment(metadata)?;
        let mut header = Vec::new();
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
        header.extend_from_slice(&(metadata.len() as u64).to_le_bytes());

        let mut keys = HashSet::new();
        for (key, value) in metadata {
            if !keys.insert(key.as_str()) {
                return Err(Error::Write(format!("duplicate metadata key `{key}`")));
            }
            put_string(&mut header, key);
            header.extend_from_slice(&value.type_of().id().to_le_bytes());
            encode_value(&mut header, value, key, 0)?;
        }

        let mut sizes = Vec::with_capacity(tensors.len());
        let mut names = HashSet::new();
        let mut offset = 0u64;
        for t in tensors {
            if !names.insert(t.name.as_str()) {
                return Err(Error::Write(format!("duplicate tensor name `{}`", t.name)));
            }
            if t.dims.0.len() > MAX_DIMS as usize {
                return Err(Error::Write(format!(
                    "tensor `{}`: {} dims (at most {MAX_DIMS})",
                    t.name,
                    t.dims.0.len()
                )));
            }
            let n_bytes = t.n_bytes()?;
            put_string(&mut header, &t.name);
            header.extend_from_slice(&(t.dims.0.len() as u32).to_le_bytes());
            for d in &t.dims.0 {
                header.extend_from_slice(&d.to_le_bytes());
            }
            header.extend_from_slice(&t.ty.id().to_le_bytes());
            header.extend_from_slice(&offset.to_le_bytes());
            offset = align_up(n_bytes, alignment)
                .and_then(|n| offset.checked_add(n))
                .ok_or_else(|| Error::Write("total tensor data size overflows u64".into()))?;
            sizes.push((t.name.clone(), n_bytes));
        }

        let mut w = GgufWriter {
            out,
            alignment,
            sizes,
            current: 0,
            written: 0,
            position: 0,
        };
        w.put(&header)?;
        w.pad()?;
        Ok(w)
    }

    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Name and size of the tensor whose data is expected next; None when all are written.
    pub fn current_tensor(&self) -> Option<(&str, u64)> {
        self.sizes.get(self.current).map(|(n, s)| (n.as_str(), *s))
    }

    /// Bytes written to the sink so far.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Appends bytes to the current tensor's data.
    pub fn write_data(&mut self, bytes: &[u8]) -> Result<()> {
        let Some((name, size)) = self.sizes.get(self.current) else {
            return Err(Error::Write(format!(
                "data written after all {} tensors were ended",
                self.sizes.len()
            )));
        };
        let total = self.written + bytes.len() as u64;
        if total > *size {
            return Err(Error::Write(format!(
                "tensor `{name}`: {total} bytes written, more than its {size} bytes"
            )));
        }
        self.put(bytes)?;
        self.written = total;
        Ok(())
    }

    /// Ends the current tensor: checks its size against the spec and pads.
    pub fn end_tensor(&mut self) -> Result<()> {
        let Some((name, size)) = self.sizes.get(self.current) else {
            return Err(Error::Write(format!(
                "end_tensor called after all {} tensors were ended",
                self.sizes.len()
            )));
        };
        if self.written != *size {
            return Err(Error::Write(format!(
                "tensor `{name}`: {} bytes written, expected {size}",
                self.written
            )));
        }
        self.pad()?;
        self.current += 1;
        self.written = 0;
        Ok(())
    }

    /// `write_data(bytes)` then `end_tensor()`.
    pub fn write_tensor(&mut self, bytes: &[u8]) -> Result<()> {
        self.write_data(bytes)?;
        self.end_tensor()
    }

    /// Checks every tensor was written and returns the sink (flushed).
    pub fn finish(mut self) -> Result<W> {
        if let Some((name, _)) = self.sizes.get(self.current) {
            return Err(Error::Write(format!(
                "finish called before tensor `{name}` ({} of {}) was ended",
                self.current + 1,
                self.sizes.len()
            )));
        }
        self.out.flush().map_err(Error::WriteIo)?;
        Ok(self.out)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(Error::WriteIo)?;
        self.position += bytes.len() as u64;
        Ok(())
    }

    /// Zero bytes up to the next multiple of the alignment.
    fn pad(&mut self) -> Result<()> {
        let target = align_up(self.position, self.alignment)
            .ok_or_else(|| Error::Write("file size overflows u64".into()))?;
        let mut left = target - self.position;
        while left > 0 {
            let n = left.min(ZEROS.len() as u64) as usize;
            self.put(&ZEROS[..n])?;
            left -= n as u64;
        }
        Ok(())
    }
}

/// llama.cpp reads `general.alignment` as a u32, so the writer accepts only that type.
fn writer_alignment(metadata: &[(String, Value)]) -> Result<u64> {
    let Some((_, value)) = metadata.iter().find(|(k, _)| k == ALIGNMENT_KEY) else {
        return Ok(super::DEFAULT_ALIGNMENT);
    };
    if value.type_of() != ValueType::U32 {
        return Err(Error::Write(format!(
            "key `{ALIGNMENT_KEY}` must be a uint32, found {}",
            value.type_description()
        )));
    }
    let m = super::Metadata::from_entries(vec![(ALIGNMENT_KEY.to_string(), value.clone())])?;
    alignment_of(&m).map_err(Error::Write)
}

fn put_string(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// A value without its type tag (arrays: element type, count, elements).
fn encode_value(buf: &mut Vec<u8>, value: &Value, key: &str, depth: usize) -> Result<()> {
    match value {
        Value::U8(v) => buf.push(*v),
        Value::I8(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::U16(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::I16(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::U32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::I32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::F32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::U64(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::I64(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::F64(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::Bool(v) => buf.push(u8::from(*v)),
        Value::String(s) => put_string(buf, s),
        Value::Array(array) => {
            let elem = &array.elem_type();
            if depth >= MAX_ARRAY_DEPTH {
                return Err(Error::Write(format!(
                    "key `{key}`: arrays nested deeper than {MAX_ARRAY_DEPTH}"
                )));
            }
            buf.extend_from_slice(&elem.id().to_le_bytes());
            buf.extend_from_slice(&(array.len() as u64).to_le_bytes());
            for (i, item) in array.iter().enumerate() {
                if item.type_of() != *elem {
                    return Err(Error::Write(format!(
                        "key `{key}`: element {i} of an array of {elem} is a {}",
                        item.type_description()
                    )));
                }
                encode_value(buf, &item, key, depth + 1)?;
            }
        }
    }
    Ok(())
}
