//! llama.cpp's spellings that clap cannot read as they are. Its multi-letter single-dash flags
//! (`-ngl 0` would be `-n gl`, `-cnv` would be `-c nv`) are rewritten to their long forms here,
//! from one table, before clap parses; escapes in prompt text are processed as llama.cpp does.

use std::ffi::OsString;

/// llama.cpp's multi-letter single-dash flags and the long flags they mean here.
const SINGLE_DASH: &[(&str, &str)] = &[
    ("-ngl", "--n-gpu-layers"),
    ("-cnv", "--conversation"),
    ("-sys", "--system-prompt"),
    ("-ctk", "--cache-type-k"),
    ("-ctv", "--cache-type-v"),
];

/// Flags whose next argument is free text: it is never rewritten (`-p -cnv` is a prompt).
const TEXT_VALUED: &[&str] = &[
    "-p",
    "--prompt",
    "-r",
    "--reverse-prompt",
    "--system",
    "--system-prompt",
    "-sys",
];

/// The command line with llama.cpp's single-dash flags (`-ngl 0`, `-ngl=0`) in long form.
/// Nothing after `--` and no value of a text flag is touched.
pub fn rewrite(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut verbatim = false;
    let mut previous_takes_text = false;
    for arg in args {
        let text = arg.to_str().map(str::to_owned);
        let takes_text = !verbatim
            && !previous_takes_text
            && text.as_deref().is_some_and(|t| TEXT_VALUED.contains(&t));
        let rewritten = match text.as_deref() {
            Some(t) if !verbatim && !previous_takes_text => long_form(t),
            _ => None,
        };
        if text.as_deref() == Some("--") && !previous_takes_text {
            verbatim = true;
        }
        previous_takes_text = takes_text;
        out.push(rewritten.map_or(arg, OsString::from));
    }
    out
}

/// `-ngl` -> `--n-gpu-layers`, `-ngl=3` -> `--n-gpu-layers=3`; None for anything else.
fn long_form(arg: &str) -> Option<String> {
    let (flag, value) = match arg.split_once('=') {
        Some((flag, value)) => (flag, Some(value)),
        None => (arg, None),
    };
    let (_, long) = SINGLE_DASH.iter().find(|(short, _)| *short == flag)?;
    Some(match value {
        Some(v) => format!("{long}={v}"),
        None => (*long).to_string(),
    })
}

/// llama.cpp's escapes in prompt text: `\n`, `\r`, `\t`, `\'`, `\"`, `\?`, `\\`, `\a`, `\b`,
/// `\f`, `\v` and `\xHH` (ASCII); any other backslash is kept as it is.
pub fn process_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escaped = match chars.peek() {
            Some('n') => Some('\n'),
            Some('r') => Some('\r'),
            Some('t') => Some('\t'),
            Some('\'') => Some('\''),
            Some('"') => Some('"'),
            Some('?') => Some('?'),
            Some('\\') => Some('\\'),
            Some('a') => Some('\x07'),
            Some('b') => Some('\x08'),
            Some('f') => Some('\x0c'),
            Some('v') => Some('\x0b'),
            _ => None,
        };
        if let Some(e) = escaped {
            chars.next();
            out.push(e);
            continue;
        }
        if chars.peek() == Some(&'x') {
            let rest: String = chars.clone().skip(1).take(2).collect();
            if let Some(byte) = (rest.len() == 2)
                .then(|| u8::from_str_radix(&rest, 16).ok())
                .flatten()
                .filter(u8::is_ascii)
            {
                chars.nth(2);
                out.push(char::from(byte));
                continue;
            }
        }
        out.push('\\');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(args: &[&str]) -> Vec<String> {
        rewrite(args.iter().map(OsString::from))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn single_dash_flags_become_long_flags_but_values_stay() {
        assert_eq!(
            rewritten(&["run-edge", "-ngl", "99", "-cnv", "-ctk=f16", "-p", "-cnv"]),
            [
                "run-edge",
                "--n-gpu-layers",
                "99",
                "--conversation",
                "--cache-type-k=f16",
                "-p",
                "-cnv"
            ]
        );
        assert_eq!(
            rewritten(&["run-edge", "--", "-ngl"]),
            ["run-edge", "--", "-ngl"]
        );
    }

    #[test]
    fn escapes_as_llama_cpp() {
        assert_eq!(process_escapes(r"a\nb\tc\\d\x41\q\"), "a\nb\tc\\dA\\q\\");
        assert_eq!(process_escapes(r"\x4"), "\\x4");
    }
}
