//! Streaming GGUF writer. STUB: API only; to be implemented.
use super::{GgmlDims, Value};
use crate::{GgmlType, Result};
use std::io::Write;

/// A tensor to be written: its info is in the header before any data.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    pub name: String,
    pub dims: GgmlDims,
    pub ty: GgmlType,
}

/// Writes header and all tensor infos first, then tensor data in spec order, one tensor at a
/// time, each padded to the alignment. Never holds a whole tensor.
pub struct GgufWriter<W: Write> {
    out: W,
}

impl<W: Write> GgufWriter<W> {
    /// Writes the header, metadata (in the order given) and every tensor info.
    pub fn new(_out: W, _metadata: &[(String, Value)], _tensors: &[TensorSpec]) -> Result<Self> {
        todo!()
    }
    /// Appends bytes to the current tensor's data.
    pub fn write_data(&mut self, _bytes: &[u8]) -> Result<()> {
        todo!()
    }
    /// Ends the current tensor: checks its size against the spec and pads.
    pub fn end_tensor(&mut self) -> Result<()> {
        todo!()
    }
    /// Checks every tensor was written and returns the sink (flushed).
    pub fn finish(self) -> Result<W> {
        Ok(self.out)
    }
}
