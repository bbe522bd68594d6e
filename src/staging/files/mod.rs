//! Rewriters of the files a team's route lives in, keeping every byte they
//! do not mean to change: comments, key order, quoting, other keys.
//!
//! Each format ([`alias_file`], [`flag_file`], [`litellm_config`]) reads
//! the route's entries from a located tree ([`tree`]) and edits by byte
//! span: a weight's scalar is replaced in place, a release's entry is
//! inserted after the last one in the same style. Nothing is re-serialised.
//! [`RouteFile`] is the one face the engine needs; [`Snapshot`] holds the
//! bytes preflight found, which teardown writes back.

pub mod alias_file;
pub mod flag_file;
pub mod insert;
pub mod litellm_config;
pub mod tree;

use std::ops::Range;
use std::path::{Path, PathBuf};

pub use tree::ParseError;

/// One entry of a route: a candidate, a flag variant, a deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// What weights are keyed by: the candidate's `id`, the variant's name,
    /// the deployment's `model_info.id`.
    pub id: String,
    /// The version it serves: `version_pin`, the variant's name, the
    /// deployment's `litellm_params.model`.
    pub version: String,
    /// `None` where the file leaves it out (a flagd weight defaults to 1,
    /// a LiteLLM deployment without weights is picked uniformly).
    pub weight: Option<f64>,
}

/// A release's new entry, pointing at the mock backend.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    pub id: String,
    pub version: String,
    /// The mock's OpenAI base URL for the version.
    pub base_url: String,
    pub weight: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// The file parses but does not have the expected shape.
    #[error("{}:{line}:{column}: {message}\n  hint: {hint}", path.display())]
    Shape {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        hint: String,
    },
}

/// A shape problem at byte `at` of `text`, located once the path is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub at: usize,
    pub message: String,
    pub hint: String,
}

impl Problem {
    pub fn new(at: usize, message: impl Into<String>, hint: impl Into<String>) -> Problem {
        Problem {
            at,
            message: message.into(),
            hint: hint.into(),
        }
    }

    fn located(self, path: &Path, text: &str) -> FileError {
        let (line, column) = tree::line_col(text, self.at);
        FileError::Shape {
            path: path.to_path_buf(),
            line,
            column,
            message: self.message,
            hint: self.hint,
        }
    }
}

/// Parse errors become problems at their place.
impl From<(ParseError, &str)> for Problem {
    fn from((e, text): (ParseError, &str)) -> Problem {
        let at = text
            .split_inclusive('\n')
            .take(e.line.saturating_sub(1))
            .map(str::len)
            .sum::<usize>()
            + e.column.saturating_sub(1);
        Problem::new(at.min(text.len()), e.message, "fix the file's syntax")
    }
}

/// Replaces byte ranges (not overlapping) of `text`.
pub fn apply(text: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = text.to_string();
    for (range, with) in edits {
        out.replace_range(range, &with);
    }
    out
}

/// A weight as text: whole numbers without a fraction.
pub fn weight_text(w: f64) -> String {
    if w.fract() == 0.0 && w.abs() < 1e15 {
        format!("{}", w as i64)
    } else {
        format!("{w}")
    }
}

/// The byte just past the end of the line holding `at` (after its `\n`),
/// and whether the file ended without one.
pub fn after_line(text: &str, at: usize) -> (usize, bool) {
    match text[at..].find('\n') {
        Some(i) => (at + i + 1, false),
        None => (text.len(), true),
    }
}

/// The column (0-based, in bytes) of `at` on its line.
pub fn column_of(text: &str, at: usize) -> usize {
    at - text[..at].rfind('\n').map_or(0, |i| i + 1)
}

/// The column of the `- ` that opens the sequence item starting at `at`.
pub fn dash_column(text: &str, at: usize) -> usize {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..at]
        .rfind('-')
        .map_or(column_of(text, at), |i| i)
}

/// A YAML scalar: plain where that reads back as the same string, else
/// double-quoted (JSON's escaping is valid YAML).
pub fn yaml_scalar(s: &str, flow: bool) -> String {
    let plain = !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./@:".contains(c))
        // A flow collection would read `a:b` as a key.
        && (!flow || !s.contains(':'))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        s.to_string()
    } else {
        serde_json::Value::from(s).to_string()
    }
}

/// The bytes of a file as preflight found them: teardown writes them back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

impl Snapshot {
    pub fn take(path: &Path) -> Result<Snapshot, FileError> {
        let bytes = std::fs::read(path).map_err(|source| FileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Snapshot {
            path: path.to_path_buf(),
            bytes,
        })
    }

    /// Whether the file on disk holds exactly these bytes.
    pub fn is_on_disk(&self) -> bool {
        std::fs::read(&self.path).is_ok_and(|b| b == self.bytes)
    }

    /// Writes the bytes back (atomically, keeping the file's mode).
    pub fn restore(&self) -> Result<(), FileError> {
        write_atomic(&self.path, &self.bytes)
    }
}

/// Replaces a file's content through a temporary file in the same folder
/// and a rename, so a poller never reads half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let err = |source| FileError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(err)?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(tmp.path(), meta.permissions()).map_err(err)?;
    }
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// The file formats a route can live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A gateway alias file (`aliases: NAME: candidates: [...]`).
    AliasFile,
    /// A flagd flag definition (`flags: NAME: {variants, targeting}`).
    FlagFile,
    /// A LiteLLM proxy `config.yaml` (`model_list` of deployments).
    LitellmConfig,
}

/// One route in one file: an alias, a flag or a model group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteFile {
    pub format: Format,
    pub path: PathBuf,
    /// The alias, flag or model group.
    pub route: String,
}

impl RouteFile {
    pub fn new(format: Format, path: impl Into<PathBuf>, route: impl Into<String>) -> RouteFile {
        RouteFile {
            format,
            path: path.into(),
            route: route.into(),
        }
    }

    fn text(&self) -> Result<String, FileError> {
        std::fs::read_to_string(&self.path).map_err(|source| FileError::Read {
            path: self.path.clone(),
            source,
        })
    }

    fn locate<T>(&self, text: &str, r: Result<T, Problem>) -> Result<T, FileError> {
        r.map_err(|p| p.located(&self.path, text))
    }

    /// The route's entries; `None` if the file has no such route (it was
    /// renamed or removed: `route_moved`).
    pub fn read(&self) -> Result<Option<Vec<Entry>>, FileError> {
        let text = self.text()?;
        let r = match self.format {
            Format::AliasFile => alias_file::entries(&text, &self.route),
            Format::FlagFile => flag_file::entries(&text, &self.route),
            Format::LitellmConfig => litellm_config::entries(&text, &self.route),
        };
        self.locate(&text, r)
    }

    /// The split's variants that the flag does not define (a flag file
    /// only; empty for the other formats).
    pub fn missing_variants(&self) -> Result<Vec<String>, FileError> {
        if self.format != Format::FlagFile {
            return Ok(Vec::new());
        }
        let text = self.text()?;
        let r = flag_file::missing_variants(&text, &self.route);
        self.locate(&text, r)
    }

    pub fn snapshot(&self) -> Result<Snapshot, FileError> {
        Snapshot::take(&self.path)
    }

    /// Rewrites the weights of the entries named (by [`Entry::id`]); only
    /// those bytes change.
    pub fn set_weights(&self, weights: &[(String, f64)]) -> Result<(), FileError> {
        let text = self.text()?;
        let r = match self.format {
            Format::AliasFile => alias_file::set_weights(&text, &self.route, weights),
            Format::FlagFile => flag_file::set_weights(&text, &self.route, weights),
            Format::LitellmConfig => litellm_config::set_weights(&text, &self.route, weights),
        };
        let new = self.locate(&text, r)?;
        write_atomic(&self.path, new.as_bytes())
    }

    /// Adds the release's entry after the route's last one.
    pub fn add(&self, entry: &NewEntry) -> Result<(), FileError> {
        let text = self.text()?;
        let r = match self.format {
            Format::AliasFile => alias_file::add(&text, &self.route, entry),
            Format::FlagFile => flag_file::add(&text, &self.route, entry),
            Format::LitellmConfig => litellm_config::add(&text, &self.route, entry),
        };
        let new = self.locate(&text, r)?;
        write_atomic(&self.path, new.as_bytes())
    }
}

/// The ids of `expected` that `entries` lacks (a removed candidate,
/// variant or deployment: the rollback target may be gone).
pub fn missing<'a>(expected: &[&'a str], entries: &[Entry]) -> Vec<&'a str> {
    expected
        .iter()
        .copied()
        .filter(|id| !entries.iter().any(|e| e.id == *id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_quoted_only_when_needed() {
        assert_eq!(yaml_scalar("support-v2", false), "support-v2");
        assert_eq!(
            yaml_scalar("http://127.0.0.1:1/v1", false),
            "http://127.0.0.1:1/v1"
        );
        assert_eq!(
            yaml_scalar("http://127.0.0.1:1/v1", true),
            "\"http://127.0.0.1:1/v1\""
        );
        assert_eq!(yaml_scalar("yes", false), "\"yes\"");
        assert_eq!(yaml_scalar("2", false), "\"2\"");
        assert_eq!(yaml_scalar("a b", false), "\"a b\"");
        assert_eq!(weight_text(25.0), "25");
        assert_eq!(weight_text(2.5), "2.5");
    }

    #[test]
    fn a_snapshot_puts_the_bytes_back() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("f.yaml");
        std::fs::write(&path, "a: 1 # kept\n").expect("written");
        let snap = Snapshot::take(&path).expect("read");
        write_atomic(&path, b"a: 2\n").expect("rewritten");
        assert!(!snap.is_on_disk());
        snap.restore().expect("restored");
        assert!(snap.is_on_disk());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a: 1 # kept\n");
    }

    #[test]
    fn edits_apply_from_the_back() {
        let out = apply("a=1, b=2", vec![(2..3, "10".into()), (7..8, "20".into())]);
        assert_eq!(out, "a=10, b=20");
    }
}
