//! Q6_K: a super-block of 256 values in 16 sub-blocks of 16, `x = d * sc * (q - 32)` with
//! q in [0, 63] and signed 8-bit scales sc.

use super::{decode_prefix, dequantize, Block, GgmlType, QK_K};
use bytemuck::{Pod, Zeroable};
use half::f16;
use std::mem::size_of;

/// Q6_K: in each half of 128 values, quarter k (0..4) element l (0..32): low four bits in
/// `ql[64 h + 32 (k % 2) + l]` (low nibble for k < 2, high after), top two bits in bits
/// 2k..2k+2 of `qh[32 h + l]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ6_K {
    pub ql: [u8; QK_K / 2],
    pub qh: [u8; QK_K / 4],
    pub scales: [i8; QK_K / 16],
    pub d: f16,
}

const _: () = assert!(size_of::<BlockQ6_K>() == 210);

/// q (256 values, 0..=63) -> (ql, qh).
#[inline]
pub fn pack_q6_k(q: &[u8; QK_K]) -> ([u8; QK_K / 2], [u8; QK_K / 4]) {
    let mut ql = [0u8; QK_K / 2];
    let mut qh = [0u8; QK_K / 4];
    for (e, &v) in q.iter().enumerate() {
        let (h, k, l) = (e / 128, (e % 128) / 32, e % 32);
        ql[64 * h + 32 * (k % 2) + l] |= (v & 0xf) << (4 * (k / 2));
        qh[32 * h + l] |= ((v >> 4) & 3) << (2 * k);
    }
    (ql, qh)
}

/// The inverse of [`pack_q6_k`].
#[inline]
pub fn unpack_q6_k(ql: &[u8; QK_K / 2], qh: &[u8; QK_K / 4]) -> [u8; QK_K] {
    std::array::from_fn(|e| {
        let (h, k, l) = (e / 128, (e % 128) / 32, e % 32);
        let low = (ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0xf;
        low | (((qh[32 * h + l] >> (2 * k)) & 3) << 4)
    })
}

impl Block for BlockQ6_K {
    const TYPE: GgmlType = GgmlType::Q6_K;
    const BLOCK_SIZE: usize = QK_K;

    /// x = (d * sc) * (q - 32), ggml `dequantize_row_q6_K`.
    #[inline]
    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        let q = unpack_q6_k(&self.ql, &self.qh);
        decode_prefix(out, |y: &mut [f32; QK_K]| {
            for (e, o) in y.iter_mut().enumerate() {
                let dl = d * f32::from(self.scales[e / 16]);
                *o = dl * (i32::from(q[e]) - 32) as f32;
            }
        });
    }
}

/// src (n blocks) -> dst (256 n), ggml `dequantize_row_q6_K`. A shorter `dst` receives a
/// prefix.
pub fn dequantize_q6_k(src: &[BlockQ6_K], dst: &mut [f32]) {
    dequantize(src, dst)
}
