//! Q8_0: 32 values as `d * q`, q in [-127, 127].

use super::{dequantize, Block, GgmlType, QK};
use bytemuck::{Pod, Zeroable};
use half::f16;
use std::mem::size_of;

/// Q8_0: 32 signed bytes and one f16 scale. x = d * q.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BlockQ8_0 {
    pub d: f16,
    pub qs: [i8; QK],
}

const _: () = assert!(size_of::<BlockQ8_0>() == 34);

impl Block for BlockQ8_0 {
    const TYPE: GgmlType = GgmlType::Q8_0;
    const BLOCK_SIZE: usize = QK;

    /// x = q * d in f32, ggml `dequantize_row_q8_0`.
    #[inline]
    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (o, q) in out.iter_mut().zip(self.qs) {
            *o = f32::from(q) * d;
        }
    }
}

/// src (n blocks) -> dst (32 n): x = q * d, ggml `dequantize_row_q8_0`.
/// A shorter `dst` receives a prefix.
pub fn dequantize_q8_0(src: &[BlockQ8_0], dst: &mut [f32]) {
    dequantize(src, dst)
}
