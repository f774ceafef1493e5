//! Q4_1: 32 values as `d * q + m`, q in [0, 15], nibbles in [`super::nibbles`] order.

use super::nibbles::unpack_q4;
use super::{dequantize, Block, GgmlType, QK};
use bytemuck::{Pod, Zeroable};
use half::f16;
use std::mem::size_of;

/// Q4_1: nibbles as Q4_0, x = d * q + m.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BlockQ4_1 {
    pub d: f16,
    pub m: f16,
    pub qs: [u8; QK / 2],
}

const _: () = assert!(size_of::<BlockQ4_1>() == 20);

impl Block for BlockQ4_1 {
    const TYPE: GgmlType = GgmlType::Q4_1;
    const BLOCK_SIZE: usize = QK;

    /// x = q * d + m (a product then a sum, not fused), ggml `dequantize_row_q4_1`.
    #[inline]
    fn dequantize(&self, out: &mut [f32]) {
        let (d, m) = (self.d.to_f32(), self.m.to_f32());
        for (o, q) in out.iter_mut().zip(unpack_q4(&self.qs)) {
            *o = f32::from(q) * d + m;
        }
    }
}

/// src (n blocks) -> dst (32 n): x = q * d + m, ggml `dequantize_row_q4_1`.
/// A shorter `dst` receives a prefix.
pub fn dequantize_q4_1(src: &[BlockQ4_1], dst: &mut [f32]) {
    dequantize(src, dst)
}
