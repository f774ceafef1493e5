//! Q5_K: Q4_K with a fifth bit per value, q in [0, 31].

use super::q4_k::{decode_scale_min, pack_4bit_k, unpack_4bit_k};
use super::{decode_prefix, dequantize, Block, GgmlType, QK_K};
use bytemuck::{Pod, Zeroable};
use half::f16;
use std::mem::size_of;

/// Q5_K: the low four bits as Q4_K's `qs`, bit 4 of element e in bit e / 32 of
/// `qh[e % 32]`; scales as Q4_K's.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ5_K {
    /// Scale of the sub-block scales.
    pub d: f16,
    /// Scale of the sub-block minimums.
    pub dmin: f16,
    pub scales: [u8; 12],
    pub qh: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 2],
}

const _: () = assert!(size_of::<BlockQ5_K>() == 176);

/// q (256 values, 0..=31) -> (qh, qs).
#[inline]
pub fn pack_q5_k(q: &[u8; QK_K]) -> ([u8; QK_K / 8], [u8; QK_K / 2]) {
    let mut qh = [0u8; QK_K / 8];
    for (e, &v) in q.iter().enumerate() {
        qh[e % 32] |= ((v >> 4) & 1) << (e / 32);
    }
    (qh, pack_4bit_k(q))
}

impl Block for BlockQ5_K {
    const TYPE: GgmlType = GgmlType::Q5_K;
    const BLOCK_SIZE: usize = QK_K;

    /// x = (d * sc) * q - (dmin * m), ggml `dequantize_row_q5_K`.
    #[inline]
    fn dequantize(&self, out: &mut [f32]) {
        let (d, dmin) = (self.d.to_f32(), self.dmin.to_f32());
        let low = unpack_4bit_k(&self.qs);
        let q: [u8; QK_K] =
            std::array::from_fn(|e| low[e] | (((self.qh[e % 32] >> (e / 32)) & 1) << 4));
        decode_prefix(out, |y: &mut [f32; QK_K]| {
            decode_scale_min(y, d, dmin, &self.scales, &q)
        });
    }
}

/// src (n blocks) -> dst (256 n), ggml `dequantize_row_q5_K`. A shorter `dst` receives a
/// prefix.
pub fn dequantize_q5_k(src: &[BlockQ5_K], dst: &mut [f32]) {
    dequantize(src, dst)
}
