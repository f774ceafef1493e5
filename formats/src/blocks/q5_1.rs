//! Q5_1: 32 values as `d * q + m`, q in [0, 31], bits laid out as Q5_0's.

use super::q5_0::unpack_q5;
use super::{dequantize, Block, GgmlType, QK};
use bytemuck::{Pod, Zeroable};
use half::f16;
use std::mem::size_of;

/// Q5_1: 32 5-bit values, f16 scale and minimum. x = d * q + m.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BlockQ5_1 {
    pub d: f16,
    pub m: f16,
    /// Bit j (of the little-endian u32) is bit 4 of element j.
    pub qh: [u8; 4],
    pub qs: [u8; QK / 2],
}

const _: () = assert!(size_of::<BlockQ5_1>() == 24);

impl Block for BlockQ5_1 {
    const TYPE: GgmlType = GgmlType::Q5_1;
    const BLOCK_SIZE: usize = QK;

    /// x = q * d + m (a product then a sum, not fused), ggml `dequantize_row_q5_1`.
    #[inline]
    fn dequantize(&self, out: &mut [f32]) {
        let (d, m) = (self.d.to_f32(), self.m.to_f32());
        for (o, q) in out.iter_mut().zip(unpack_q5(self.qh, &self.qs)) {
            *o = f32::from(q) * d + m;
        }
    }
}

/// src (n blocks) -> dst (32 n): x = q * d + m, ggml `dequantize_row_q5_1`.
/// A shorter `dst` receives a prefix.
pub fn dequantize_q5_1(src: &[BlockQ5_1], dst: &mut [f32]) {
    dequantize(src, dst)
}
