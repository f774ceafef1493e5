//! The Q4 nibble order, shared by Q4_0 and Q4_1: element j (0..16) of a 32-value block is
//! the low nibble of byte j, element j + 16 its high nibble.

use super::QK;

/// qs (16 bytes) -> the 32 4-bit values (0..=15) in element order.
#[inline(always)]
pub fn unpack_q4(qs: &[u8; QK / 2]) -> [u8; QK] {
    std::array::from_fn(|j| {
        if j < QK / 2 {
            qs[j] & 0x0f
        } else {
            qs[j - QK / 2] >> 4
        }
    })
}

/// q (32 values, each 0..=15, element order) -> the 16 bytes of a Q4 block. Bits above the
/// low four of each value are dropped.
#[inline(always)]
pub fn pack_q4(q: &[u8; QK]) -> [u8; QK / 2] {
    std::array::from_fn(|j| (q[j] & 0x0f) | (q[j + QK / 2] << 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_j_is_the_low_nibble_of_byte_j_and_j_plus_16_its_high_nibble() {
        let q: [u8; QK] = std::array::from_fn(|j| (j % 16) as u8);
        let qs = pack_q4(&q);
        assert_eq!(qs[0], 0x00);
        assert_eq!(qs[1], 0x11);
        assert_eq!(qs[15], 0xff);
        let q: [u8; QK] = std::array::from_fn(|j| if j < 16 { 3 } else { 12 });
        assert_eq!(pack_q4(&q), [0xc3; QK / 2]);
        assert_eq!(unpack_q4(&[0xc3; QK / 2]), q);
    }
}
