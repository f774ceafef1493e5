//! Q8_K: the activation type K-quant dot products read: 256 values as `d * q` with an f32
//! scale and the sum of each 16 values.

use super::{decode_prefix, dequantize, Block, GgmlType, QK_K};
use bytemuck::{Pod, Zeroable};
use std::mem::size_of;

/// Q8_K: 256 signed bytes, an f32 scale, and `bsums[j]` = the sum of q over values
/// 16 j .. 16 j + 16. x = d * q.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ8_K {
    pub d: f32,
    pub qs: [i8; QK_K],
    pub bsums: [i16; QK_K / 16],
}

const _: () = assert!(size_of::<BlockQ8_K>() == 292);

impl Block for BlockQ8_K {
    const TYPE: GgmlType = GgmlType::Q8_K;
    const BLOCK_SIZE: usize = QK_K;

    /// x = d * q, ggml `dequantize_row_q8_K`.
    #[inline]
    fn dequantize(&self, out: &mut [f32]) {
        decode_prefix(out, |y: &mut [f32; QK_K]| {
            for (o, &q) in y.iter_mut().zip(&self.qs) {
                *o = self.d * f32::from(q);
            }
        });
    }
}

/// src (n blocks) -> dst (256 n), ggml `dequantize_row_q8_K`. A shorter `dst` receives a
/// prefix.
pub fn dequantize_q8_k(src: &[BlockQ8_K], dst: &mut [f32]) {
    dequantize(src, dst)
}
