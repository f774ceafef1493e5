//! Q2_K: a super-block of 256 values in 16 sub-blocks of 16, `x = d * sc * q - dmin * m`
//! with q in [0, 3] and 4-bit sub-block scale sc and minimum m.

use super::{decode_prefix, dequantize, Block, GgmlType, QK_K};
use bytemuck::{Pod, Zeroable};
use half::f16;
use std::mem::size_of;

/// Q2_K: 2-bit values in [`pack_2bit`] order; `scales[j]` holds sub-block j's scale (low
/// nibble) and minimum (high nibble).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ2_K {
    pub scales: [u8; QK_K / 16],
    pub qs: [u8; QK_K / 4],
    /// Scale of the sub-block scales.
    pub d: f16,
    /// Scale of the sub-block minimums.
    pub dmin: f16,
}

const _: () = assert!(size_of::<BlockQ2_K>() == 84);

/// q (256 values, each 0..=3) -> 64 bytes, the 2-bit order of Q2_K and Q3_K: in each half of
/// 128 values, byte l (0..32) holds elements l, l + 32, l + 64, l + 96 in bits 0-1, 2-3,
/// 4-5, 6-7. Bits above the low two of each value are dropped.
#[inline]
pub fn pack_2bit(q: &[u8; QK_K]) -> [u8; QK_K / 4] {
    std::array::from_fn(|b| {
        let (half, l) = (b / 32, b % 32);
        (0..4).fold(0u8, |acc, k| {
            acc | ((q[128 * half + 32 * k + l] & 3) << (2 * k))
        })
    })
}

/// The inverse of [`pack_2bit`]: 64 bytes -> 256 values in element order.
#[inline]
pub fn unpack_2bit(qs: &[u8; QK_K / 4]) -> [u8; QK_K] {
    std::array::from_fn(|e| {
        let (half, r) = (e / 128, e % 128);
        (qs[32 * half + r % 32] >> (2 * (r / 32))) & 3
    })
}

impl Block for BlockQ2_K {
    const TYPE: GgmlType = GgmlType::Q2_K;
    const BLOCK_SIZE: usize = QK_K;

    /// x = (d * sc) * q - (dmin * m) per sub-block, ggml `dequantize_row_q2_K`.
    #[inline]
    fn dequantize(&self, out: &mut [f32]) {
        let (d, dmin) = (self.d.to_f32(), self.dmin.to_f32());
        let q = unpack_2bit(&self.qs);
        decode_prefix(out, |y: &mut [f32; QK_K]| {
            for (j, (ys, qs)) in y.chunks_exact_mut(16).zip(q.chunks_exact(16)).enumerate() {
                let sc = self.scales[j];
                let dl = d * f32::from(sc & 0xf);
                let ml = dmin * f32::from(sc >> 4);
                for (o, &v) in ys.iter_mut().zip(qs) {
                    *o = dl * f32::from(v) - ml;
                }
            }
        });
    }
}

/// src (n blocks) -> dst (256 n), ggml `dequantize_row_q2_K`. A shorter `dst` receives a
/// prefix.
pub fn dequantize_q2_k(src: &[BlockQ2_K], dst: &mut [f32]) {
    dequantize(src, dst)
}
