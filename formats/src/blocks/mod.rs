//! What a ggml tensor type is on disk. DESIGN convention 5: `#[repr(C)]` blocks, `Pod`,
//! sizes pinned by const asserts.
//!
//! - The type table ([`TYPES`], written once by `type_table!` below): id, name, block type,
//!   llama `file_type`. [`GgmlType`] and every fact about it (block size, block bytes, ...)
//!   come from it.
//! - One file per block type: the block struct, its size assert, its block size and its
//!   scalar decoder (ggml `dequantize_row_*`, exact): [`q4_0`], [`q4_1`], [`q5_0`], [`q5_1`],
//!   [`q8_0`], [`q8_1`] (blocks of 32); the K-quants [`q2_k`], [`q3_k`], [`q4_k`], [`q5_k`],
//!   [`q6_k`] and their activation type [`q8_k`] (super-blocks of 256); and [`float`] for
//!   f32 / f16 / bf16. Each file also holds its bit layout (`pack_*` / `unpack_*`), which the
//!   encoders in edge-quantize use.
//! - [`nibbles`]: where the Q4 nibble order is written, for decoders and encoders.
//! - [`dequantize`] (typed slices, any type) and [`dequantize_row`] (the little-endian bytes
//!   a GGUF file holds).
//!
//! Adding a type: its block file (implementing [`Block`]) and one row in `type_table!`.

pub mod float;
pub mod nibbles;
pub mod q2_k;
pub mod q3_k;
pub mod q4_0;
pub mod q4_1;
pub mod q4_k;
pub mod q5_0;
pub mod q5_1;
pub mod q5_k;
pub mod q6_k;
pub mod q8_0;
pub mod q8_1;
pub mod q8_k;

pub use float::{bf16_bits_to_f32, dequantize_bf16, dequantize_f16, f16_bits_to_f32};
pub use q2_k::{dequantize_q2_k, BlockQ2_K};
pub use q3_k::{dequantize_q3_k, BlockQ3_K};
pub use q4_0::{dequantize_q4_0, BlockQ4_0};
pub use q4_1::{dequantize_q4_1, BlockQ4_1};
pub use q4_k::{dequantize_q4_k, BlockQ4_K};
pub use q5_0::{dequantize_q5_0, BlockQ5_0};
pub use q5_1::{dequantize_q5_1, BlockQ5_1};
pub use q5_k::{dequantize_q5_k, BlockQ5_K};
pub use q6_k::{dequantize_q6_k, BlockQ6_K};
pub use q8_0::{dequantize_q8_0, BlockQ8_0};
pub use q8_1::{dequantize_q8_1, BlockQ8_1};
pub use q8_k::{dequantize_q8_k, BlockQ8_K};

use bytemuck::Pod;
use half::{bf16, f16};
use std::mem::size_of;

/// Elements per block of Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and Q8_1 (ggml's QK4_0 ... QK8_1).
pub const QK: usize = 32;

/// Elements per super-block of the K-quants and Q8_K (ggml's QK_K).
pub const QK_K: usize = 256;

/// One storage unit of a ggml type: a quant block, or a single float for F32 / F16 / BF16.
/// Its size in bytes is `size_of::<Self>()`.
pub trait Block: Pod {
    /// The type whose tensors are a sequence of these.
    const TYPE: GgmlType;
    /// Elements per block: 1 for floats, 32 for Q4_0 ... Q8_1, 256 for K-quants.
    const BLOCK_SIZE: usize;
    /// out (BLOCK_SIZE) <- this block as f32, ggml's `dequantize_row_*` for one block.
    /// A shorter `out` receives the first `out.len()` values.
    fn dequantize(&self, out: &mut [f32]);
}

/// src (n blocks) -> dst (n * B::BLOCK_SIZE): every block's values as f32, in order.
/// Writes `min(dst.len(), n * B::BLOCK_SIZE)` values: a shorter `dst` receives a prefix.
pub fn dequantize<B: Block>(src: &[B], dst: &mut [f32]) {
    for (block, out) in src.iter().zip(dst.chunks_mut(B::BLOCK_SIZE)) {
        block.dequantize(out);
    }
}

/// Runs `decode` on `out` when it holds a whole block of N values, else on a scratch block
/// whose first `out.len()` values are copied out (the [`Block::dequantize`] contract).
#[inline]
fn decode_prefix<const N: usize>(out: &mut [f32], decode: impl FnOnce(&mut [f32; N])) {
    match <&mut [f32; N]>::try_from(&mut *out) {
        Ok(whole) => decode(whole),
        Err(_) => {
            let mut scratch = [0.0f32; N];
            decode(&mut scratch);
            let n = out.len().min(N);
            out[..n].copy_from_slice(&scratch[..n]);
        }
    }
}

/// One row of the type table: what a type is on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeInfo {
    /// The type; its discriminant is the ggml type id of a GGUF tensor info.
    pub ty: GgmlType,
    /// The name llama.cpp prints and the manifests use: "F32", "Q4_0", ...
    pub name: &'static str,
    /// Elements per block (1 for plain floats).
    pub block_size: usize,
    /// Bytes per block.
    pub block_bytes: usize,
    /// `general.file_type` (llama_ftype) of a model whose 2-D weights have this type.
    pub file_type: Option<u32>,
    /// Whether weight tensors are stored in it (Q8_1 is for activations only).
    pub weight: bool,
}

/// Writes [`GgmlType`], its table rows and the byte-level decoder from one row per type.
macro_rules! type_table {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $id:literal, $name:literal, $block:ty, $file_type:expr, $weight:literal;
    )*) => {
        /// ggml tensor types (the `type` field of a GGUF tensor info). Only the ones we read or
        /// write have variants; any other id is rejected with its number.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        #[allow(non_camel_case_types)] // ggml's spelling: Q4_K, Q8_K
        pub enum GgmlType {
            $($(#[$doc])* $variant = $id,)*
        }

        impl GgmlType {
            /// Every type, in table order.
            pub const ALL: [GgmlType; [$(GgmlType::$variant),*].len()] = [$(GgmlType::$variant),*];

            /// This type's row of the table.
            pub const fn info(self) -> &'static TypeInfo {
                match self {
                    $(GgmlType::$variant => {
                        const ROW: TypeInfo = TypeInfo {
                            ty: GgmlType::$variant,
                            name: $name,
                            block_size: <$block as Block>::BLOCK_SIZE,
                            block_bytes: size_of::<$block>(),
                            file_type: $file_type,
                            weight: $weight,
                        };
                        &ROW
                    })*
                }
            }
        }

        // Each block type names the row it belongs to.
        $(const _: () = assert!(<$block as Block>::TYPE as u32 == $id);)*

        /// src (the GGUF bytes of n elements of `ty`) -> dst (n f32): ggml's `dequantize_row_*`
        /// and exact f16 / bf16 widening. `dst.len()` must be a whole number of blocks of `ty`
        /// and `src.len()` exactly the bytes they take.
        pub fn dequantize_row(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), RowError> {
            check_row(ty, dst.len(), src.len())?;
            match ty {
                $(GgmlType::$variant => dequantize_le::<$block>(src, dst),)*
            }
            Ok(())
        }
    };
}

type_table! {
    // variant = id, name, block, llama file_type, weight type
    /// 32-bit IEEE float.
    F32 = 0, "F32", f32, Some(0), true;
    /// IEEE half.
    F16 = 1, "F16", f16, Some(1), true;
    /// bfloat16: the upper half of an f32.
    BF16 = 30, "BF16", bf16, Some(32), true;
    /// 32 x 8-bit, one f16 scale.
    Q8_0 = 8, "Q8_0", BlockQ8_0, Some(7), true;
    /// 32 x 4-bit, one f16 scale.
    Q4_0 = 2, "Q4_0", BlockQ4_0, Some(2), true;
    /// 32 x 4-bit, f16 scale and minimum.
    Q4_1 = 3, "Q4_1", BlockQ4_1, Some(3), true;
    /// 32 x 8-bit, f16 scale and block sum: activations only.
    Q8_1 = 9, "Q8_1", BlockQ8_1, None, false;
    /// 32 x 5-bit, one f16 scale.
    Q5_0 = 6, "Q5_0", BlockQ5_0, Some(8), true;
    /// 32 x 5-bit, f16 scale and minimum.
    Q5_1 = 7, "Q5_1", BlockQ5_1, Some(9), true;
    /// 256 x 2-bit in 16 sub-blocks with 4-bit scales and minimums.
    Q2_K = 10, "Q2_K", BlockQ2_K, Some(10), true;
    /// 256 x 3-bit in 16 sub-blocks with 6-bit scales (file type: llama-quantize's Q3_K_M).
    Q3_K = 11, "Q3_K", BlockQ3_K, Some(12), true;
    /// 256 x 4-bit in 8 sub-blocks with 6-bit scales and minimums (file type: Q4_K_M).
    Q4_K = 12, "Q4_K", BlockQ4_K, Some(15), true;
    /// 256 x 5-bit in 8 sub-blocks with 6-bit scales and minimums (file type: Q5_K_M).
    Q5_K = 13, "Q5_K", BlockQ5_K, Some(17), true;
    /// 256 x 6-bit in 16 sub-blocks with 8-bit scales.
    Q6_K = 14, "Q6_K", BlockQ6_K, Some(18), true;
    /// 256 x 8-bit, f32 scale and 16 block sums: activations of K-quant dot products only.
    Q8_K = 15, "Q8_K", BlockQ8_K, None, false;
}

/// The table: one row per type, in the order of [`GgmlType::ALL`].
pub const TYPES: [TypeInfo; GgmlType::ALL.len()] = {
    let mut rows = [*GgmlType::F32.info(); GgmlType::ALL.len()];
    let mut i = 0;
    while i < rows.len() {
        rows[i] = *GgmlType::ALL[i].info();
        i += 1;
    }
    rows
};

/// The first `N` weight types of the table (a build error when there are not exactly `N`).
const fn weight_types<const N: usize>() -> [GgmlType; N] {
    let mut out = [GgmlType::F32; N];
    let (mut i, mut n) = (0, 0);
    while i < TYPES.len() {
        if TYPES[i].weight {
            assert!(
                n < N,
                "more weight types in the table than WEIGHT_TYPES holds"
            );
            out[n] = TYPES[i].ty;
            n += 1;
        }
        i += 1;
    }
    assert!(
        n == N,
        "fewer weight types in the table than WEIGHT_TYPES holds"
    );
    out
}

impl GgmlType {
    /// The types a weight tensor is stored in: all but Q8_1 and Q8_K, which ggml uses only
    /// for activations.
    pub const WEIGHT_TYPES: [GgmlType; 13] = weight_types();

    /// The type with ggml type id `id`, if we support it.
    pub fn from_id(id: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.id() == id)
    }

    /// The ggml type id stored in a GGUF tensor info.
    pub const fn id(self) -> u32 {
        self as u32
    }

    /// Elements per block (1 for plain floats).
    pub const fn block_size(self) -> usize {
        self.info().block_size
    }

    /// Bytes per block.
    pub const fn block_bytes(self) -> usize {
        self.info().block_bytes
    }

    /// Bytes of a row of `n` elements, or None when `n` is not a whole number of blocks
    /// or the size overflows.
    pub fn row_bytes(self, n: u64) -> Option<u64> {
        let bs = self.block_size() as u64;
        if !n.is_multiple_of(bs) {
            return None;
        }
        (n / bs).checked_mul(self.block_bytes() as u64)
    }

    /// The name llama.cpp prints and the manifests use: "F32", "Q4_0", ...
    pub const fn name(self) -> &'static str {
        self.info().name
    }

    /// Parses the lowercase CLI spelling or the upper-case name: "q4_0", "Q4_0", "bf16".
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
    }

    /// `general.file_type` (llama_ftype) for a model whose 2-D weights have this type.
    pub const fn file_type(self) -> Option<u32> {
        self.info().file_type
    }
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a row could not be converted between f32 and a type's bytes. The caller adds the
/// tensor name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// The element count is not a whole number of blocks of `ty`.
    #[error("{ty}: {len} elements is not a multiple of the block size {block}")]
    NotBlockMultiple {
        ty: GgmlType,
        len: usize,
        block: usize,
    },
    /// The byte buffer does not have exactly the size `n_elements` of `ty` take.
    #[error("{ty}: {n_elements} elements take {expected} bytes, the buffer has {actual}")]
    BufferSize {
        ty: GgmlType,
        n_elements: usize,
        expected: usize,
        actual: usize,
    },
    /// No codec for this type.
    #[error("{ty}: no codec for this tensor type")]
    Unsupported { ty: GgmlType },
}

/// Checks that `n_elements` of `ty` are whole blocks and take exactly `n_bytes`.
pub fn check_row(ty: GgmlType, n_elements: usize, n_bytes: usize) -> Result<(), RowError> {
    let block = ty.block_size();
    if !n_elements.is_multiple_of(block) {
        return Err(RowError::NotBlockMultiple {
            ty,
            len: n_elements,
            block,
        });
    }
    let expected = (n_elements / block).saturating_mul(ty.block_bytes());
    if n_bytes != expected {
        return Err(RowError::BufferSize {
            ty,
            n_elements,
            expected,
            actual: n_bytes,
        });
    }
    Ok(())
}

/// src (little-endian blocks of `B`, any alignment) -> dst, block by block.
fn dequantize_le<B: Block>(src: &[u8], dst: &mut [f32]) {
    for (bytes, out) in src
        .chunks_exact(size_of::<B>())
        .zip(dst.chunks_exact_mut(B::BLOCK_SIZE))
    {
        // Blocks are little-endian on disk and in memory on every target we build for.
        let block: B = bytemuck::pod_read_unaligned(bytes);
        block.dequantize(out);
    }
}

#[cfg(test)]
mod tests;
