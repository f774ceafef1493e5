//! GPT-2's reversible byte <-> printable-character map (`bytes_to_unicode` in OpenAI's
//! encoder.py, also the Hugging Face `ByteLevel` pre-tokenizer and decoder): printable bytes
//! `!`..`~`, `¡`..`¬`, `®`..`ÿ` stand for themselves, the other 68 bytes map to U+0100.. in order.

/// The character standing for `byte`.
pub(crate) fn byte_to_char(byte: u8) -> char {
    if is_self_mapped(byte) {
        return char::from(byte);
    }
    let rank = (0..byte).filter(|&b| !is_self_mapped(b)).count() as u32;
    // 256 + rank < 256 + 68: always a valid scalar value.
    char::from_u32(256 + rank).unwrap_or(char::REPLACEMENT_CHARACTER)
}

fn is_self_mapped(b: u8) -> bool {
    matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// The table of all 256 characters, indexed by byte.
pub(crate) fn byte_chars() -> [char; 256] {
    let mut table = ['\0'; 256];
    for (b, slot) in table.iter_mut().enumerate() {
        *slot = byte_to_char(b as u8);
    }
    table
}

/// The byte a character stands for, if it is one of the 256.
pub(crate) fn char_to_byte(c: char) -> Option<u8> {
    let cp = c as u32;
    if cp < 256 && is_self_mapped(cp as u8) {
        return Some(cp as u8);
    }
    if (256..256 + 68).contains(&cp) {
        let rank = (cp - 256) as usize;
        return (0..=255u8).filter(|&b| !is_self_mapped(b)).nth(rank);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_known_values() {
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(byte_to_char(b'a'), 'a');
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(b)), Some(b));
        }
        assert_eq!(char_to_byte('€'), None);
    }
}
