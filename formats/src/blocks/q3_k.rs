//! Q3_K: a super-block of 256 values in 16 sub-blocks of 16, `x = d * (sc - 32) * (q - 4)`
//! with q in [0, 7] (two bits in `qs`, the third in `hmask`) and 6-bit scales sc.

use super::q2_k::unpack_2bit;
use super::{decode_prefix, dequantize, Block, GgmlType, QK_K};
use bytemuck::{Pod, Zeroable};
use half::f16;
use std::mem::size_of;

/// Q3_K: bit 2 of element e is bit e / 32 of `hmask[e % 32]`; bits 0-1 in the 2-bit order of
/// [`super::q2_k::pack_2bit`]; sixteen 6-bit scales packed by [`pack_q3_scales`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ3_K {
    pub hmask: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 4],
    pub scales: [u8; 12],
    pub d: f16,
}

const _: () = assert!(size_of::<BlockQ3_K>() == 110);

/// Sixteen 6-bit values (0..=63) -> 12 bytes: the low nibble of value j in byte j % 8 (low
/// half for j < 8, high half after), its top two bits in byte 8 + j % 4 at bit 2 * (j / 4).
#[inline]
pub fn pack_q3_scales(s: &[u8; 16]) -> [u8; 12] {
    let mut out = [0u8; 12];
    for (j, &v) in s.iter().enumerate() {
        out[j % 8] |= (v & 0xf) << (4 * (j / 8));
        out[8 + j % 4] |= ((v >> 4) & 3) << (2 * (j / 4));
    }
    out
}

/// The inverse of [`pack_q3_scales`].
#[inline]
pub fn unpack_q3_scales(p: &[u8; 12]) -> [u8; 16] {
    std::array::from_fn(|j| {
        let low = (p[j % 8] >> (4 * (j / 8))) & 0xf;
        let high = (p[8 + j % 4] >> (2 * (j / 4))) & 3;
        low | (high << 4)
    })
}

/// q (256 values, 0..=7) -> (hmask, qs).
#[inline]
pub fn pack_q3(q: &[u8; QK_K]) -> ([u8; QK_K / 8], [u8; QK_K / 4]) {
    let mut hmask = [0u8; QK_K / 8];
    for (e, &v) in q.iter().enumerate() {
        hmask[e % 32] |= ((v >> 2) & 1) << (e / 32);
    }
    (hmask, super::q2_k::pack_2bit(q))
}

impl Block for BlockQ3_K {
    const TYPE: GgmlType = GgmlType::Q3_K;
    const BLOCK_SIZE: usize = QK_K;

    /// x = (d * (sc - 32)) * (q - 4), ggml `dequantize_row_q3_K`.
    #[inline]
    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        let scales = unpack_q3_scales(&self.scales);
        let low = unpack_2bit(&self.qs);
        decode_prefix(out, |y: &mut [f32; QK_K]| {
            for (e, o) in y.iter_mut().enumerate() {
                let dl = d * (i32::from(scales[e / 16]) - 32) as f32;
                let high = (self.hmask[e % 32] >> (e / 32)) & 1;
                let q = i32::from(low[e]) - if high != 0 { 0 } else { 4 };
                *o = dl * q as f32;
            }
        });
    }
}

/// src (n blocks) -> dst (256 n), ggml `dequantize_row_q3_K`. A shorter `dst` receives a
/// prefix.
pub fn dequantize_q3_k(src: &[BlockQ3_K], dst: &mut [f32]) {
    dequantize(src, dst)
}
