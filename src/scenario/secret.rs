//! Keeping `${NAME}` values out of everything the harness writes.
//!
//! A value read from the environment can come back in a command's stderr,
//! a server's error body or a connection error, and in more than one form:
//! as written, percent-encoded (it was part of a URL) or JSON-escaped (it
//! was part of a body). [`Secrets`] replaces every such form by `${NAME}`.
//! [`Secrets::excerpt`] does it in the one safe order: redact the whole
//! text, then cut it to its tail, then flatten control characters, so a cut
//! can never leave part of a value behind and a value holding a tab is
//! still found. Escaping for a report format comes after, in the reporter.
//!
//! Values that cannot be redacted safely are refused before a live drill
//! starts ([`problem`]): a line break would let a value inject a header
//! into an `http` step, and a value shorter than [`MIN_LEN`] characters
//! would turn every occurrence of those letters in a message into
//! `${NAME}`.

use super::template::percent_encode;

/// The shortest value a `${NAME}` may hold in a live run.
pub const MIN_LEN: usize = 8;

/// The longest stderr or body excerpt a message quotes.
pub const EXCERPT: usize = 300;

/// Why a variable's value is refused, if it is.
pub fn problem(value: &str) -> Option<&'static str> {
    if value.contains(['\r', '\n']) {
        Some("holds a line break (CR or LF), which would inject headers into an `http` step")
    } else if value.chars().count() < MIN_LEN {
        Some("is shorter than 8 characters, too short to redact from reports without mangling them")
    } else {
        None
    }
}

/// The values of some variables, each with the forms it can be echoed in.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// (form, name), longest form first.
    forms: Vec<(String, String)>,
}

impl Secrets {
    /// The values of `names` in the process environment (unset ones are
    /// skipped: nothing of theirs was sent).
    pub fn from_env<'a>(names: impl IntoIterator<Item = &'a str>) -> Secrets {
        Secrets::of(
            names
                .into_iter()
                .filter_map(|n| std::env::var(n).ok().map(|v| (n.to_string(), v))),
        )
    }

    /// Secrets from (name, value) pairs.
    pub fn of(pairs: impl IntoIterator<Item = (String, String)>) -> Secrets {
        let mut forms: Vec<(String, String)> = Vec::new();
        for (name, value) in pairs {
            if value.is_empty() {
                continue;
            }
            for form in echoes(&value) {
                if !forms.iter().any(|(f, _)| *f == form) {
                    forms.push((form, name.clone()));
                }
            }
        }
        forms.sort_by_key(|(f, _)| std::cmp::Reverse(f.len()));
        Secrets { forms }
    }

    /// The text with every form of every value replaced by `${NAME}`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (form, name) in &self.forms {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), &format!("${{{name}}}"));
            }
        }
        out
    }

    /// The last [`EXCERPT`] characters of `text` (where a command puts
    /// its error), redacted before the cut and flattened to one line after
    /// it; `…` marks a cut.
    pub fn excerpt(&self, text: &str) -> String {
        let clean = self.redact(text);
        let clean = clean.trim();
        let count = clean.chars().count();
        let cut: String = clean.chars().skip(count.saturating_sub(EXCERPT)).collect();
        let flat = flatten(&cut);
        if count > EXCERPT {
            format!("…{flat}")
        } else {
            flat
        }
    }

    /// The first [`EXCERPT`] characters of `text` (where a server puts
    /// its error), in the same order: redact, cut, flatten.
    pub fn excerpt_start(&self, text: &str) -> String {
        let clean = self.redact(text);
        let clean = clean.trim();
        let cut: String = clean.chars().take(EXCERPT).collect();
        let flat = flatten(&cut);
        if clean.chars().nth(EXCERPT).is_some() {
            format!("{flat}…")
        } else {
            flat
        }
    }
}

fn flatten(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The forms a value can come back in: as it is, percent-encoded (upper
/// and lower hex, `+` or `%20` for a space) and JSON-escaped.
fn echoes(value: &str) -> Vec<String> {
    let upper = percent_encode(value);
    let lower = lower_hex(&upper);
    let json = serde_json::to_string(value).unwrap_or_default();
    // Without its quotes (the value is never empty here).
    let json = json[1..json.len() - 1].to_string();
    let mut out = vec![value.to_string(), upper.clone(), lower.clone(), json];
    if value.contains(' ') {
        out.push(upper.replace("%20", "+"));
        out.push(lower.replace("%20", "+"));
    }
    // `/` may be left alone by a URL encoder, and escaped by a JSON one.
    out.push(value.replace('/', "\\/"));
    out.sort();
    out.dedup();
    out
}

fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut after_percent = 0;
    for c in encoded.chars() {
        if after_percent > 0 {
            out.push(c.to_ascii_lowercase());
            after_percent -= 1;
        } else {
            if c == '%' {
                after_percent = 2;
            }
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(value: &str) -> Secrets {
        Secrets::of([("TOKEN".to_string(), value.to_string())])
    }

    #[test]
    fn every_echoed_form_is_redacted() {
        let s = one("ab/c d+e\"f&g\th12");
        for echoed in [
            "ab/c d+e\"f&g\th12",
            "ab%2Fc%20d%2Be%22f%26g%09h12",
            "ab%2fc%20d%2be%22f%26g%09h12",
            "ab%2Fc+d%2Be%22f%26g%09h12",
            "ab/c d+e\\\"f&g\\th12",
            "ab\\/c d+e\"f&g\th12",
        ] {
            let out = s.redact(&format!("got <{echoed}> back"));
            assert_eq!(out, "got <${TOKEN}> back", "{echoed}");
        }
    }

    #[test]
    fn refuses_line_breaks_and_short_values() {
        assert!(problem("abc\r\nX-Evil: 1").unwrap().contains("line break"));
        assert!(problem("abc\ndefghij").is_some());
        assert!(problem("short").unwrap().contains("shorter than 8"));
        assert_eq!(problem("a-long-enough-token"), None);
        // Characters, not bytes.
        assert!(problem("ééééééé").is_some());
    }

    #[test]
    fn a_cut_never_leaves_the_tail_of_a_token() {
        // The case that leaked: a 43-character token at the end of 300+
        // characters of output, cut before redaction, left its last 20.
        let token = "tok_0123456789abcdefghijklmnopqrstuvwxyzABC";
        let text = format!("{}{token}", "x".repeat(290));
        let out = one(token).excerpt(&text);
        assert!(!out.contains(&token[23..]), "{out}");
        assert!(out.ends_with("${TOKEN}"), "{out}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Whatever the output's length, wherever the value sits in it and
        /// in whichever form, no four characters of the value survive the
        /// excerpt (the filler shares no character with the value).
        #[test]
        fn no_part_of_a_secret_survives_any_cut(
            value in "[A-Za-z0-9_/+=]{8,64}",
            before in 0usize..420,
            after in 0usize..420,
            form in 0usize..3,
            sep in prop::sample::select(vec![" ", "\t", "\n", "."]),
        ) {
            // A name of one character: no part of `${X}` looks like the value.
            let s = Secrets::of([("X".to_string(), value.clone())]);
            let echoed = match form {
                0 => value.clone(),
                1 => percent_encode(&value),
                _ => serde_json::to_string(&value).unwrap().trim_matches('"').to_string(),
            };
            let text = format!("{}{sep}{echoed}{sep}{}", "-".repeat(before), "-".repeat(after));
            for out in [s.excerpt(&text), s.excerpt_start(&text)] {
            let chars: Vec<char> = value.chars().collect();
            for w in chars.windows(4) {
                let piece: String = w.iter().collect();
                prop_assert!(!out.contains(&piece), "{piece:?} left in {out:?}");
            }
            prop_assert!(out.chars().count() <= EXCERPT + 1);
            prop_assert!(!out.contains(['\n', '\t']));
            }
        }
    }
}
