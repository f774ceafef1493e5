//! The KV cache: its element type, its shape and its storage. Shared by `forward` (which
//! fills and reads it) and `session` (which sizes it); depends on neither.

use crate::{Error, Result};
use half::f16;

/// Element type of the KV cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KvType {
    /// 32-bit floats (the default).
    #[default]
    F32,
    /// 16-bit floats: half the memory, as llama.cpp's `-ctk f16 -ctv f16`.
    F16,
}

impl KvType {
    /// "f32" or "f16".
    pub fn name(self) -> &'static str {
        match self {
            KvType::F32 => "f32",
            KvType::F16 => "f16",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            KvType::F32 => 4,
            KvType::F16 => 2,
        }
    }
}

impl std::fmt::Display for KvType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for KvType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Ok(KvType::F32),
            "f16" => Ok(KvType::F16),
            _ => Err(Error::InvalidArgument(format!(
                "KV cache type `{s}`: expected f32 or f16"
            ))),
        }
    }
}

/// Keys and values of every layer and position, f32 or f16.
/// Layout of each of `k` and `v`: (n_layer, n_head_kv, n_ctx, head_dim), so the keys of one
/// head are contiguous over positions.
#[derive(Clone, Debug)]
pub enum KvCache {
    F32 { k: Vec<f32>, v: Vec<f32> },
    F16 { k: Vec<f16>, v: Vec<f16> },
}

/// The shape of the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvShape {
    pub n_layer: usize,
    pub n_head_kv: usize,
    pub n_ctx: usize,
    pub head_dim: usize,
}

impl KvShape {
    /// Elements of one of k or v.
    pub fn n_elements(&self) -> usize {
        self.n_layer * self.n_head_kv * self.n_ctx * self.head_dim
    }

    /// Start of the (layer, head) plane of n_ctx * head_dim elements.
    pub(crate) fn plane(&self, layer: usize, head: usize) -> usize {
        (layer * self.n_head_kv + head) * self.n_ctx * self.head_dim
    }
}

impl KvCache {
    /// A zeroed cache; an allocation the system refuses is `Error::OutOfMemory`.
    pub fn new(shape: KvShape, ty: KvType) -> crate::Result<KvCache> {
        let n = shape.n_elements();
        Ok(match ty {
            KvType::F32 => KvCache::F32 {
                k: crate::alloc::zeroed("KV cache", n)?,
                v: crate::alloc::zeroed("KV cache", n)?,
            },
            KvType::F16 => KvCache::F16 {
                k: crate::alloc::zeroed("KV cache", n)?,
                v: crate::alloc::zeroed("KV cache", n)?,
            },
        })
    }

    /// The element type.
    pub fn kv_type(&self) -> KvType {
        match self {
            KvCache::F32 { .. } => KvType::F32,
            KvCache::F16 { .. } => KvType::F16,
        }
    }

    /// Bytes of k and v together.
    pub fn n_bytes(&self) -> usize {
        let n_elements = match self {
            KvCache::F32 { k, v } => k.len() + v.len(),
            KvCache::F16 { k, v } => k.len() + v.len(),
        };
        n_elements * self.kv_type().size()
    }

    /// Stores the new key and value rows of `layer` at `pos`.
    // k (n_head_kv * head_dim), v (n_head_kv * head_dim) -> cache[layer, :, pos, :]
    pub fn store(&mut self, shape: &KvShape, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        let hd = shape.head_dim;
        for head in 0..shape.n_head_kv {
            let at = shape.plane(layer, head) + pos * hd;
            let (src_k, src_v) = (&k[head * hd..][..hd], &v[head * hd..][..hd]);
            match self {
                KvCache::F32 { k, v } => {
                    k[at..at + hd].copy_from_slice(src_k);
                    v[at..at + hd].copy_from_slice(src_v);
                }
                KvCache::F16 { k, v } => {
                    for (d, s) in k[at..at + hd].iter_mut().zip(src_k) {
                        *d = f16::from_f32(*s);
                    }
                    for (d, s) in v[at..at + hd].iter_mut().zip(src_v) {
                        *d = f16::from_f32(*s);
                    }
                }
            }
        }
    }
}
