//! One problem in a scenario file, located and with a hint.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::yaml::Mark;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Field path such as `procedure[3].execute.mechanism`.
    pub path: String,
    pub message: String,
    pub hint: String,
}

impl Diagnostic {
    pub fn new(file: &Path, mark: Mark, path: String, message: String, hint: String) -> Diagnostic {
        Diagnostic {
            file: file.to_path_buf(),
            line: mark.line,
            column: mark.column,
            path,
            message,
            hint,
        }
    }

    /// A problem with the file as a whole (unreadable, duplicate name).
    pub fn file_level(file: &Path, message: String, hint: &str) -> Diagnostic {
        Diagnostic::new(
            file,
            Mark { line: 1, column: 1 },
            "(document)".into(),
            message,
            hint.into(),
        )
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.path,
            self.message
        )?;
        if !self.hint.is_empty() {
            write!(f, "\n  hint: {}", self.hint)?;
        }
        Ok(())
    }
}
