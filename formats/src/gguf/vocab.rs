//! Token texts with a meaning fixed by the file format, shared by the writer (the
//! quantizer's converter) and the reader (the runtime's tokenizer).

/// The text of the byte token for `byte`, as SentencePiece vocabularies spell it: `<0x0A>`
/// (two upper-case hex digits).
pub fn byte_token_text(byte: u8) -> String {
    format!("<0x{byte:02X}>")
}

/// `<0xAB>` -> 0xAB: the byte a byte token stands for (two hex digits, either case), or
/// None for any other text.
pub fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_tokens_parse() {
        assert_eq!(parse_byte_token("<0x0A>"), Some(10));
        assert_eq!(parse_byte_token("<0xff>"), Some(255));
        assert_eq!(parse_byte_token("<0x1>"), None);
        assert_eq!(parse_byte_token("0x0A"), None);
    }

    #[test]
    fn byte_token_text_round_trips() {
        for b in 0..=u8::MAX {
            assert_eq!(parse_byte_token(&byte_token_text(b)), Some(b));
        }
        assert_eq!(byte_token_text(10), "<0x0A>");
    }
}
