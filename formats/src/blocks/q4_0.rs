//! Q4_0: 32 values as `d * (q - 8)`, q in [0, 15], nibbles in [`super::nibbles`] order.

use super::nibbles::unpack_q4;
use super::{dequantize, Block, GgmlType, QK};
use bytemuck::{Pod, Zeroable};
use half::f16;
use std::mem::size_of;

/// Q4_0: 32 4-bit values, element j in the low nibble of byte j, element j+16 in its high
/// nibble. x = d * (q - 8).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BlockQ4_0 {
    pub d: f16,
    pub qs: [u8; QK / 2],
}

const _: () = assert!(size_of::<BlockQ4_0>() == 18);

impl Block for BlockQ4_0 {
    const TYPE: GgmlType = GgmlType::Q4_0;
    const BLOCK_SIZE: usize = QK;

    /// x = (q - 8) * d in f32, ggml `dequantize_row_q4_0`.
    #[inline]
    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (o, q) in out.iter_mut().zip(unpack_q4(&self.qs)) {
            *o = (i32::from(q) - 8) as f32 * d;
        }
    }
}

/// src (n blocks) -> dst (32 n): x = (q - 8) * d, ggml `dequantize_row_q4_0`.
/// A shorter `dst` receives a prefix.
pub fn dequantize_q4_0(src: &[BlockQ4_0], dst: &mut [f32]) {
    dequantize(src, dst)
}
