//! Q5_0: 32 values as `d * (q - 16)`, q in [0, 31]: the low four bits in [`super::nibbles`]
//! order, the fifth bit of element j in bit j of `qh` (a little-endian u32).

use super::nibbles::unpack_q4;
use super::{dequantize, Block, GgmlType, QK};
use bytemuck::{Pod, Zeroable};
use half::f16;
use std::mem::size_of;

/// Q5_0: 32 5-bit values and one f16 scale. x = d * (q - 16).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BlockQ5_0 {
    pub d: f16,
    /// Bit j (of the little-endian u32) is bit 4 of element j.
    pub qh: [u8; 4],
    pub qs: [u8; QK / 2],
}

const _: () = assert!(size_of::<BlockQ5_0>() == 22);

/// (qh, qs) -> the 32 5-bit values (0..=31) in element order; shared with Q5_1.
#[inline(always)]
pub fn unpack_q5(qh: [u8; 4], qs: &[u8; QK / 2]) -> [u8; QK] {
    let high = u32::from_le_bytes(qh);
    let low = unpack_q4(qs);
    std::array::from_fn(|j| low[j] | ((((high >> j) & 1) as u8) << 4))
}

/// q (32 values, each 0..=31, element order) -> (qh, qs) of a Q5 block. Bits above the low
/// five of each value are dropped.
#[inline(always)]
pub fn pack_q5(q: &[u8; QK]) -> ([u8; 4], [u8; QK / 2]) {
    let high = q
        .iter()
        .enumerate()
        .fold(0u32, |h, (j, &v)| h | (u32::from((v >> 4) & 1) << j));
    (high.to_le_bytes(), super::nibbles::pack_q4(q))
}

impl Block for BlockQ5_0 {
    const TYPE: GgmlType = GgmlType::Q5_0;
    const BLOCK_SIZE: usize = QK;

    /// x = (q - 16) * d in f32, ggml `dequantize_row_q5_0`.
    #[inline]
    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (o, q) in out.iter_mut().zip(unpack_q5(self.qh, &self.qs)) {
            *o = (i32::from(q) - 16) as f32 * d;
        }
    }
}

/// src (n blocks) -> dst (32 n): x = (q - 16) * d, ggml `dequantize_row_q5_0`.
/// A shorter `dst` receives a prefix.
pub fn dequantize_q5_0(src: &[BlockQ5_0], dst: &mut [f32]) {
    dequantize(src, dst)
}
