//! GGUF reader. STUB: API only; to be implemented.
use super::{GgmlDims, Value};
use crate::{GgmlType, Result};
use std::path::{Path, PathBuf};

/// Metadata in file order, with lookup by key and typed getters that widen integers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    entries: Vec<(String, Value)>,
}

impl Metadata {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub fn entries(&self) -> &[(String, Value)] {
        &self.entries
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub dims: GgmlDims,
    pub ty: GgmlType,
    /// Offset of the data relative to the start of the data section.
    pub offset: u64,
    /// Size of the data in bytes (from dims and type).
    pub n_bytes: u64,
}

/// Everything before the tensor data, parsed and checked against the file length.
#[derive(Clone, Debug)]
pub struct GgufHeader {
    pub metadata: Metadata,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Absolute byte offset of the data section.
    pub data_offset: u64,
}

impl GgufHeader {
    /// Parses and validates a whole GGUF image (used by [`GgufFile::open`] and the fuzzer).
    pub fn parse(_bytes: &[u8], _path: &Path) -> Result<Self> {
        todo!()
    }
}

/// A GGUF file mapped into memory.
pub struct GgufFile {
    pub path: PathBuf,
    pub header: GgufHeader,
    mmap: memmap2::Mmap,
}

impl GgufFile {
    pub fn open(_path: &Path) -> Result<Self> {
        todo!()
    }
    pub fn metadata(&self) -> &Metadata {
        &self.header.metadata
    }
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.header.tensors
    }
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.header.tensors.iter().find(|t| t.name == name)
    }
    /// The tensor's bytes, zero-copy from the mapping.
    pub fn tensor_data(&self, info: &TensorInfo) -> &[u8] {
        let start = (self.header.data_offset + info.offset) as usize;
        &self.mmap[start..start + info.n_bytes as usize]
    }
}
