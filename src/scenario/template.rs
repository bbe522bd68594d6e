//! Text with `${ENV_NAME}` references: how secrets reach a team's staging.
//!
//! A scenario file is checked into a repository, so tokens and private URLs
//! stay out of it: a field written `Bearer ${STAGING_TOKEN}` names an
//! environment variable that is read only when a live drill runs. The plan
//! keeps the text as written; reports show that form and never the value.
//! A `$` not followed by `{` is an ordinary character.

use std::fmt;

/// One piece of a template: literal text or a variable reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Env(String),
}

/// A string as written in the scenario, with its `${…}` references parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    raw: String,
    pieces: Vec<Piece>,
}

/// Why a template does not parse; `at` is the byte offset of the `${`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    Unterminated { at: usize },
    BadName { name: String },
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Unterminated { at } => {
                write!(f, "`${{` at character {} is never closed by `}}`", at + 1)
            }
            TemplateError::BadName { name } => {
                write!(f, "`${{{name}}}` does not name an environment variable")
            }
        }
    }
}

impl TemplateError {
    pub fn hint(&self) -> &'static str {
        match self {
            TemplateError::Unterminated { .. } => {
                "write a secret as `${NAME}`, e.g. `Bearer ${STAGING_TOKEN}`"
            }
            TemplateError::BadName { .. } => {
                "a variable name is letters, digits and `_`, not starting with a digit, e.g. `${STAGING_TOKEN}`"
            }
        }
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Template {
    pub fn parse(raw: &str) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut rest = raw;
        let mut offset = 0;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                pieces.push(Piece::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(TemplateError::Unterminated { at: offset + start });
            };
            let name = &after[..end];
            if !is_name(name) {
                return Err(TemplateError::BadName {
                    name: name.to_string(),
                });
            }
            pieces.push(Piece::Env(name.to_string()));
            let used = start + 2 + end + 1;
            offset += used;
            rest = &rest[used..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Template {
            raw: raw.to_string(),
            pieces,
        })
    }

    /// The text as written, `${…}` and all: what reports show.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The variables it reads, in order, each once.
    pub fn env_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for p in &self.pieces {
            if let Piece::Env(n) = p
                && !names.contains(&n.as_str())
            {
                names.push(n);
            }
        }
        names
    }

    /// The literal text before the first reference.
    pub fn literal_prefix(&self) -> &str {
        match self.pieces.first() {
            Some(Piece::Text(t)) => t,
            _ => "",
        }
    }

    /// The text with every variable's value put in; the first unset
    /// variable is the error.
    pub fn expand(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
        let mut out = String::with_capacity(self.raw.len());
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Env(n) => out.push_str(&lookup(n).ok_or_else(|| n.clone())?),
            }
        }
        Ok(out)
    }

    /// Expanded from the process environment.
    pub fn expand_env(&self) -> Result<String, String> {
        self.expand(|n| std::env::var(n).ok())
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Replaces every value of `names` found in `text`, in every form it can
/// be echoed in, by its `${NAME}` form (see [`super::secret::Secrets`]), so
/// output a command or a server echoed back cannot carry a secret into a
/// report.
pub fn redact(text: &str, names: &[&str]) -> String {
    super::secret::Secrets::from_env(names.iter().copied()).redact(text)
}

/// Percent-encodes a value for a URL (RFC 3986 unreserved characters are
/// kept, every other byte is `%XX`).
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A connection error names the host it tried; when that host came from
/// a variable, name the URL as written instead.
pub fn hide_host(message: &str, url: &Template, expanded: &str) -> String {
    if url.env_names().is_empty() {
        return message.to_string();
    }
    let host = expanded
        .strip_prefix("http://")
        .and_then(|r| r.split(['/', '?']).next())
        .unwrap_or("");
    if host.is_empty() {
        message.to_string()
    } else {
        message.replace(host, url.raw())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references_and_keeps_the_raw_text() {
        let t = Template::parse("Bearer ${TOKEN} and $5 and ${TOKEN}${B_2}").unwrap();
        assert_eq!(t.raw(), "Bearer ${TOKEN} and $5 and ${TOKEN}${B_2}");
        assert_eq!(t.env_names(), ["TOKEN", "B_2"]);
        let lookup = |n: &str| Some(format!("<{n}>"));
        assert_eq!(
            t.expand(lookup).unwrap(),
            "Bearer <TOKEN> and $5 and <TOKEN><B_2>"
        );
        assert_eq!(t.expand(|_| None), Err("TOKEN".to_string()));
        assert_eq!(t.literal_prefix(), "Bearer ");
    }

    #[test]
    fn rejects_unterminated_and_bad_names() {
        assert_eq!(
            Template::parse("http://${HOST/x"),
            Err(TemplateError::Unterminated { at: 7 })
        );
        for bad in ["${}", "${1A}", "${A-B}", "${ A}"] {
            assert!(
                matches!(Template::parse(bad), Err(TemplateError::BadName { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn redaction_puts_the_reference_back() {
        // SAFETY: tests in this module are the only users of this name.
        unsafe { std::env::set_var("ROLLBACK_DRILL_TEMPLATE_TEST", "s3cr3t") };
        assert_eq!(
            redact("token s3cr3t refused", &["ROLLBACK_DRILL_TEMPLATE_TEST"]),
            "token ${ROLLBACK_DRILL_TEMPLATE_TEST} refused"
        );
    }
}
