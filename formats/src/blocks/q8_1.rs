//! Q8_1: Q8_0 plus `s = d * sum(q)`, the block sum the Q4_1 dot product needs for its
//! offset term. ggml uses it for activations only.

use super::{dequantize, Block, GgmlType, QK};
use bytemuck::{Pod, Zeroable};
use half::f16;
use std::mem::size_of;

/// Q8_1: like Q8_0 plus `s = d * sum(qs)`, which Q4_1 dot products need for the offset term.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BlockQ8_1 {
    pub d: f16,
    pub s: f16,
    pub qs: [i8; QK],
}

const _: () = assert!(size_of::<BlockQ8_1>() == 36);

impl Block for BlockQ8_1 {
    const TYPE: GgmlType = GgmlType::Q8_1;
    const BLOCK_SIZE: usize = QK;

    /// x = q * d in f32 (`s` is not needed), ggml `dequantize_row_q8_1`.
    #[inline]
    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (o, q) in out.iter_mut().zip(self.qs) {
            *o = f32::from(q) * d;
        }
    }
}

/// src (n blocks) -> dst (32 n): x = q * d. A shorter `dst` receives a prefix.
pub fn dequantize_q8_1(src: &[BlockQ8_1], dst: &mut [f32]) {
    dequantize(src, dst)
}
