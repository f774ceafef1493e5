//! Q4_K: a super-block of 256 values in 8 sub-blocks of 32, `x = d * sc * q - dmin * m`
//! with q in [0, 15] and 6-bit sub-block scale sc and minimum m.

use super::{decode_prefix, dequantize, Block, GgmlType, QK_K};
use bytemuck::{Pod, Zeroable};
use half::f16;
use std::mem::size_of;

/// Q4_K: in each 64 values, element l (0..32) is the low nibble of `qs[32 c + l]` and
/// element 32 + l its high nibble; eight (scale, min) pairs packed by [`pack_scale_min_k4`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ4_K {
    /// Scale of the sub-block scales.
    pub d: f16,
    /// Scale of the sub-block minimums.
    pub dmin: f16,
    pub scales: [u8; 12],
    pub qs: [u8; QK_K / 2],
}

const _: () = assert!(size_of::<BlockQ4_K>() == 144);

/// Eight 6-bit scales and minimums (0..=63) -> the 12 bytes of Q4_K and Q5_K: pairs 0..4 in
/// bytes j and j + 4 (low six bits); pairs 4..8 as nibbles in byte j + 4, their top two
/// bits in bits 6-7 of bytes j - 4 (scale) and j (minimum).
#[inline]
pub fn pack_scale_min_k4(scales: &[u8; 8], mins: &[u8; 8]) -> [u8; 12] {
    let mut out = [0u8; 12];
    for j in 0..8 {
        let (ls, lm) = (scales[j] & 63, mins[j] & 63);
        if j < 4 {
            out[j] |= ls;
            out[j + 4] |= lm;
        } else {
            out[j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
            out[j - 4] |= (ls >> 4) << 6;
            out[j] |= (lm >> 4) << 6;
        }
    }
    out
}

/// (scale, min) of sub-block j (0..8) from the 12 packed bytes, ggml `get_scale_min_k4`.
#[inline]
pub fn scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// q (256 values, 0..=15) -> the 128 bytes of Q4_K (and the low nibbles of Q5_K).
#[inline]
pub fn pack_4bit_k(q: &[u8; QK_K]) -> [u8; QK_K / 2] {
    std::array::from_fn(|b| {
        let (c, l) = (b / 32, b % 32);
        (q[64 * c + l] & 0xf) | ((q[64 * c + 32 + l] & 0xf) << 4)
    })
}

/// The inverse of [`pack_4bit_k`].
#[inline]
pub fn unpack_4bit_k(qs: &[u8; QK_K / 2]) -> [u8; QK_K] {
    std::array::from_fn(|e| {
        let (c, r) = (e / 64, e % 64);
        (qs[32 * c + r % 32] >> (4 * (r / 32))) & 0xf
    })
}

/// y (256) <- (d * sc) * q - (dmin * m) per sub-block of 32: Q4_K and Q5_K.
#[inline]
pub(super) fn decode_scale_min(
    y: &mut [f32; QK_K],
    d: f32,
    dmin: f32,
    scales: &[u8; 12],
    q: &[u8; QK_K],
) {
    for (j, (ys, qs)) in y.chunks_exact_mut(32).zip(q.chunks_exact(32)).enumerate() {
        let (sc, m) = scale_min_k4(j, scales);
        let (dl, ml) = (d * f32::from(sc), dmin * f32::from(m));
        for (o, &v) in ys.iter_mut().zip(qs) {
            *o = dl * f32::from(v) - ml;
        }
    }
}

impl Block for BlockQ4_K {
    const TYPE: GgmlType = GgmlType::Q4_K;
    const BLOCK_SIZE: usize = QK_K;

    /// x = (d * sc) * q - (dmin * m), ggml `dequantize_row_q4_K`.
    #[inline]
    fn dequantize(&self, out: &mut [f32]) {
        let (d, dmin) = (self.d.to_f32(), self.dmin.to_f32());
        let q = unpack_4bit_k(&self.qs);
        decode_prefix(out, |y: &mut [f32; QK_K]| {
            decode_scale_min(y, d, dmin, &self.scales, &q)
        });
    }
}

/// src (n blocks) -> dst (256 n), ggml `dequantize_row_q4_K`. A shorter `dst` receives a
/// prefix.
pub fn dequantize_q4_k(src: &[BlockQ4_K], dst: &mut [f32]) {
    dequantize(src, dst)
}
