//! Aligned copies of tensors whose data the file places at an address their element type
//! cannot be read from (valid GGUF with a small `general.alignment`, e.g. 1). Aligned files,
//! the usual case, get no copy: their weights stay zero-copy views of the mapping.

use super::weights::MATRIX_TYPES;
use crate::{Error, Result};
use edge_formats::blocks::{
    BlockQ2_K, BlockQ3_K, BlockQ4_K, BlockQ5_0, BlockQ5_1, BlockQ5_K, BlockQ6_K,
};
use edge_formats::gguf::{GgufFile, TensorInfo};
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, GgmlType};
use half::{bf16, f16};
use std::collections::HashMap;
use std::mem::align_of;

/// The alignment a weight element of type `ty` needs (1 for types that are not weights).
fn element_alignment(ty: GgmlType) -> usize {
    match ty {
        GgmlType::F32 => align_of::<f32>(),
        GgmlType::F16 => align_of::<f16>(),
        GgmlType::BF16 => align_of::<bf16>(),
        GgmlType::Q8_0 => align_of::<BlockQ8_0>(),
        GgmlType::Q4_0 => align_of::<BlockQ4_0>(),
        GgmlType::Q4_1 => align_of::<BlockQ4_1>(),
        GgmlType::Q5_0 => align_of::<BlockQ5_0>(),
        GgmlType::Q5_1 => align_of::<BlockQ5_1>(),
        GgmlType::Q2_K => align_of::<BlockQ2_K>(),
        GgmlType::Q3_K => align_of::<BlockQ3_K>(),
        GgmlType::Q4_K => align_of::<BlockQ4_K>(),
        GgmlType::Q5_K => align_of::<BlockQ5_K>(),
        GgmlType::Q6_K => align_of::<BlockQ6_K>(),
        GgmlType::Q8_1 | GgmlType::Q8_K => 1,
    }
}

/// Owned, 8-byte-aligned copies of the misaligned weight tensors of one file, by name.
/// The heap buffers never move, so views into them stay valid while this lives.
#[derive(Default)]
pub(crate) struct Realigned {
    copies: HashMap<String, Box<[u64]>>,
}

impl Realigned {
    /// Copies every weight tensor of `file` whose data is not aligned for its type (none for
    /// an aligned file). Errors: [`Error::Model`] when a copy cannot be allocated.
    pub(crate) fn of(file: &GgufFile) -> Result<Self> {
        let mut copies = HashMap::new();
        for info in file.tensors() {
            let data = file.tensor_data(info);
            let align = element_alignment(info.ty);
            if !MATRIX_TYPES.contains(&info.ty) || (data.as_ptr() as usize).is_multiple_of(align) {
                continue;
            }
            let mut words: Vec<u64> = Vec::new();
            words
                .try_reserve_exact(data.len().div_ceil(8))
                .map_err(|_| {
                    Error::Model(format!(
                        "tensor {}: cannot allocate {} bytes to align its data",
                        info.name,
                        data.len()
                    ))
                })?;
            words.resize(data.len().div_ceil(8), 0);
            bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..data.len()].copy_from_slice(data);
            copies.insert(info.name.clone(), words.into_boxed_slice());
        }
        Ok(Realigned { copies })
    }

    /// The data of `info`: its aligned copy when it has one, else the file's bytes.
    pub(crate) fn data<'a>(&'a self, file: &'a GgufFile, info: &TensorInfo) -> &'a [u8] {
        let on_file = file.tensor_data(info);
        match self.copies.get(&info.name) {
            Some(words) => &bytemuck::cast_slice::<u64, u8>(words)[..on_file.len()],
            None => on_file,
        }
    }

    /// Tensors copied (0 for an aligned file).
    pub(crate) fn len(&self) -> usize {
        self.copies.len()
    }
}
