//! Text inputs read with a size cap: prompt files, perplexity files, stdin (any may be a pipe
//! or a device such as /dev/zero that never ends), and the lines of an interactive chat.

use super::CliError;
use std::io::{BufRead, Read};
use std::path::Path;

/// The most bytes a prompt or perplexity text may hold (256 MiB).
pub const MAX_TEXT_BYTES: u64 = 256 << 20;

/// The most bytes one line of an interactive chat may hold (1 MiB).
pub const MAX_CHAT_LINE_BYTES: usize = 1 << 20;

/// All of `reader` as UTF-8 text, refused past `MAX_TEXT_BYTES`; `what` names the input.
pub fn read_capped(reader: impl Read, what: &str) -> Result<String, CliError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_TEXT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::msg(format!("{what}: {e}")))?;
    if bytes.len() as u64 > MAX_TEXT_BYTES {
        return Err(CliError::msg(format!(
            "{what}: more than {} MiB of text (the limit)",
            MAX_TEXT_BYTES >> 20
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        CliError::msg(format!(
            "{what}: not valid UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// The file at `path` as UTF-8 text, refused past `MAX_TEXT_BYTES`; `what` names it.
pub fn read_file_capped(path: &Path, what: &str) -> Result<String, CliError> {
    let file = std::fs::File::open(path).map_err(|e| CliError::msg(format!("{what}: {e}")))?;
    read_capped(file, what)
}

/// One line of a chat, read by [`next_chat_line`].
pub enum ChatLine {
    /// A line of text, without its line end.
    Text(String),
    /// A line that cannot be used (not UTF-8, or too long): the message says why; the line
    /// has been consumed and the chat goes on.
    Skipped(String),
}

/// The next line of `input` (None at its end). A line longer than `MAX_CHAT_LINE_BYTES` is
/// consumed to its end without being kept.
pub fn next_chat_line(input: &mut impl BufRead) -> std::io::Result<Option<ChatLine>> {
    let mut bytes = Vec::new();
    let mut too_long = false;
    let mut any = false;
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        any = true;
        let (used, ended) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            let keep = &chunk[..used - usize::from(ended)];
            if bytes.len() + keep.len() > MAX_CHAT_LINE_BYTES {
                too_long = true;
                bytes = Vec::new();
            } else {
                bytes.extend_from_slice(keep);
            }
        }
        input.consume(used);
        if ended {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if too_long {
        return Ok(Some(ChatLine::Skipped(format!(
            "the line is longer than {} MiB (the limit); it was skipped",
            MAX_CHAT_LINE_BYTES >> 20
        ))));
    }
    Ok(Some(match String::from_utf8(bytes) {
        Ok(text) => ChatLine::Text(text),
        Err(e) => ChatLine::Skipped(format!(
            "the line is not valid UTF-8 (at byte {}); it was skipped",
            e.utf8_error().valid_up_to()
        )),
    }))
}
