//! Stop strings over streamed text: which part of the text decoded so far may be handed out,
//! and where a stop string ends the generation. Text that could be the start of a stop string
//! is held back until the next tokens show whether it is.

/// Where the generated text stands against the caller's stop strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    /// A stop string starts at this byte of the held text, at the earliest position of any;
    /// `index` is which stop string.
    Found { at: usize, index: usize },
    /// No stop string in the held text; its first `safe` bytes cannot be part of one and may
    /// be handed out (a char boundary).
    Clear { safe: usize },
}

/// Scans `held` (text decoded but not handed out yet) for `stops`. Allocates nothing.
pub(crate) fn scan(held: &str, stops: &[String]) -> Scan {
    let found = stops
        .iter()
        .enumerate()
        .filter_map(|(index, s)| held.find(s.as_str()).map(|at| (at, index)))
        .min();
    if let Some((at, index)) = found {
        return Scan::Found { at, index };
    }
    let hold = stops
        .iter()
        .map(|s| longest_suffix_prefix(held, s))
        .max()
        .unwrap_or(0);
    Scan::Clear {
        safe: held.len() - hold,
    }
}

/// The length of the longest suffix of `text` that is a proper prefix of `stop`. A stop string
/// starts with a char boundary, so the suffix starts on one too.
fn longest_suffix_prefix(text: &str, stop: &str) -> usize {
    let (text, stop) = (text.as_bytes(), stop.as_bytes());
    let longest = text.len().min(stop.len().saturating_sub(1));
    (1..=longest)
        .rev()
        .find(|&k| text.ends_with(&stop[..k]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stops(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn no_stop_strings_hand_out_everything() {
        assert_eq!(scan("Once upon", &[]), Scan::Clear { safe: 9 });
    }

    #[test]
    fn a_partial_match_at_the_end_is_held_back() {
        let s = stops(&["\nUser:"]);
        assert_eq!(scan("Hello\nUs", &s), Scan::Clear { safe: 5 });
        assert_eq!(scan("Hello\nUx", &s), Scan::Clear { safe: 8 });
    }

    #[test]
    fn the_earliest_full_match_wins() {
        let s = stops(&["lazy", "fox"]);
        assert_eq!(
            scan("the quick fox and lazy dog", &s),
            Scan::Found { at: 10, index: 1 }
        );
    }

    #[test]
    fn the_longest_held_suffix_over_all_stop_strings() {
        let s = stops(&["abc", "bcd"]);
        // "ab" could start "abc", "b" could start "bcd": hold two bytes.
        assert_eq!(scan("xxab", &s), Scan::Clear { safe: 2 });
    }

    #[test]
    fn multi_byte_characters_are_held_whole() {
        let s = stops(&["été"]);
        let held = "un é";
        assert_eq!(scan(held, &s), Scan::Clear { safe: 3 });
        assert!(held.is_char_boundary(3));
    }
}
