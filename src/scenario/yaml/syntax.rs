//! Pointing a YAML syntax error at the mistake, where the parser's own
//! position is a line late.
//!
//! A key written without its colon (`rps 50`) is a plain scalar that the
//! parser reads on into the next line; it fails only at the next `:`,
//! with "mapping values are not allowed in this context" one line below
//! the mistake. When the line above the error is such a scalar, the error
//! names that line and the fix.

use super::{Mark, SyntaxError};

/// A better-placed error for the parser's `message` at `at`, if the
/// line above holds a key without its colon.
pub fn missing_colon(text: &str, at: Mark, message: &str) -> Option<SyntaxError> {
    if !message.contains("mapping values are not allowed") || at.line < 2 {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    let (index, line) = lines[..at.line - 1]
        .iter()
        .enumerate()
        .rev()
        .find(|(_, l)| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        })?;
    let indent = line.len() - line.trim_start().len();
    let body = line.trim_start();
    let (dash, entry) = match body.strip_prefix("- ") {
        Some(rest) => (2, rest.trim_start()),
        None => (0, body),
    };
    let entry = entry.split(" #").next().unwrap_or(entry).trim_end();
    // A plain scalar: no colon, no quote, no flow or block indicator.
    if entry.is_empty()
        || entry.contains(':')
        || entry.starts_with(['"', '\'', '{', '[', '|', '>', '&', '*', '!', '%', '@', '`'])
    {
        return None;
    }
    let fixed = match entry.split_once(char::is_whitespace) {
        Some((key, value)) => format!("{key}: {}", value.trim_start()),
        None => format!("{entry}:"),
    };
    Some(SyntaxError {
        mark: Mark {
            line: index + 1,
            column: indent + dash + 1,
        },
        message: format!("`{entry}` is not `key: value`: the `:` after the key is missing"),
        hint: format!("write `{fixed}`").into(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::parse;

    #[test]
    fn a_key_without_its_colon_is_named_on_its_own_line() {
        let text = "name: x\ntraffic:\n  rps 50\n  behaviour:\n    v1: {}\n";
        let e = parse(text).unwrap_err();
        assert_eq!((e.mark.line, e.mark.column), (3, 3), "{e:?}");
        assert_eq!(
            e.message,
            "`rps 50` is not `key: value`: the `:` after the key is missing"
        );
        assert_eq!(e.hint, "write `rps: 50`");
        // In a sequence.
        let e = parse("steps:\n  - execute\n    mechanism: x\n").unwrap_err();
        assert_eq!((e.mark.line, e.mark.column), (2, 5), "{e:?}");
        assert_eq!(e.hint, "write `execute:`");
    }

    #[test]
    fn other_syntax_errors_keep_the_parsers_position() {
        let e = parse("a: 1\nb: \"x: 1\n  c: 2\n").unwrap_err();
        assert!(!e.message.contains("is not `key: value`"), "{e:?}");
        let e = parse("a: b: c\n").unwrap_err();
        assert_eq!(e.mark.line, 1, "{e:?}");
    }
}
