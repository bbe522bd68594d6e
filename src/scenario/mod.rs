//! Scenario files: discovery, parsing, validation into a [`Plan`].
//!
//! Loading runs in passes, as in nextest's config: YAML text → located node
//! tree ([`yaml`]) → raw serde mirror ([`raw`], one section at a time so one
//! mistake does not hide the next) → validated plan ([`validate`]). Every
//! problem becomes a [`Diagnostic`] with file, line, column, field path and a
//! hint; a file yields either a plan or all of its diagnostics.

mod diagnostic;
pub mod golden;
pub mod plan;
mod plan_faults;
pub mod plan_set;
pub mod raw;
pub mod raw_set;
pub mod schema;
pub mod secret;
pub mod set;
pub mod staging;
pub mod template;
pub mod units;
mod validate;
pub use validate::default_policy_triggers;
pub mod vocab;
pub mod yaml;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

pub use diagnostic::Diagnostic;
pub use plan::*;
pub use plan_set::{ReleaseSet, SetChange};
pub use staging::StagingPlan;
pub use template::{Template, hide_host, redact};
pub use units::{Dur, Percent, Ratio};
pub use vocab::*;

/// Loads and validates one scenario from its text.
pub fn load_str(text: &str, file: &Path) -> Result<Plan, Vec<Diagnostic>> {
    validate::validate(text, file, &[])
}

/// Loads and validates one scenario file.
pub fn load_file(file: &Path) -> Result<Plan, Vec<Diagnostic>> {
    load_file_with(file, &[])
}

/// Loads one scenario file with `--set` fields applied before validation.
pub fn load_file_with(file: &Path, sets: &[set::FieldSet]) -> Result<Plan, Vec<Diagnostic>> {
    match std::fs::read_to_string(file) {
        Ok(text) => validate::validate(&text, file, sets),
        Err(e) => Err(vec![Diagnostic::file_level(
            file,
            format!("cannot read scenario file: {e}"),
            "check the path and its permissions",
        )]),
    }
}

/// Expands files and folders into scenario files (`*.yaml`, `*.yml`),
/// sorted, each once. A folder is searched recursively; links are followed,
/// but each real folder is searched once (a link back up the tree would
/// otherwise make the walk endless) and each real file is loaded once.
/// Entries that are neither files nor folders (a FIFO would block the
/// read for ever) are skipped with a warning on stderr.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Vec<Diagnostic>> {
    let mut walk = Walk::default();
    for path in paths {
        let meta = std::fs::metadata(path);
        match meta {
            Ok(m) if m.is_dir() => {
                let before = walk.files.len();
                let problems = walk.problems.len();
                walk.dir(path);
                if walk.files.len() == before && walk.problems.len() == problems {
                    walk.problems.push(Diagnostic::file_level(
                        path,
                        "folder holds no scenario files (*.yaml, *.yml)".into(),
                        "pass a folder of scenarios, or a scenario file",
                    ));
                }
            }
            Ok(m) if m.is_file() => walk.file(path.clone()),
            Ok(_) => walk.problems.push(Diagnostic::file_level(
                path,
                "not a regular file (a FIFO, socket or device)".into(),
                "pass scenario files or folders",
            )),
            Err(_) => walk.problems.push(Diagnostic::file_level(
                path,
                "no such file or folder".into(),
                "pass scenario files or folders that exist (default: scenarios/)",
            )),
        }
    }
    let Walk {
        mut files,
        problems,
        ..
    } = walk;
    files.sort();
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(problems)
    }
}

/// The state of one discovery: what was found, and the real folders and
/// files already met.
#[derive(Default)]
struct Walk {
    files: Vec<PathBuf>,
    problems: Vec<Diagnostic>,
    /// Canonical paths of the folders searched, and where each was met.
    dirs: HashMap<PathBuf, PathBuf>,
    /// Canonical paths of the files found.
    real_files: HashSet<PathBuf>,
}

impl Walk {
    fn file(&mut self, path: PathBuf) {
        // A file that cannot be resolved is kept: loading it names the
        // problem.
        let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if self.real_files.insert(real) {
            self.files.push(path);
        }
    }

    fn dir(&mut self, dir: &Path) {
        let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        if let Some(first) = self.dirs.get(&real) {
            eprintln!(
                "warning: {}: skipped: a link to a folder already searched ({})",
                dir.display(),
                first.display()
            );
            return;
        }
        self.dirs.insert(real, dir.to_path_buf());
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                self.problems.push(Diagnostic::file_level(
                    dir,
                    format!("cannot read folder: {e}"),
                    "check the folder's permissions",
                ));
                return;
            }
        };
        // Sorted, so which of two paths to one folder is searched does not
        // depend on the file system's order.
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let scenario_name = matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            );
            match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => self.dir(&path),
                Ok(m) if m.is_file() && scenario_name => self.file(path),
                Ok(m) if !m.is_file() && scenario_name => eprintln!(
                    "warning: {}: skipped: not a regular file (a FIFO, socket or device)",
                    path.display()
                ),
                // A dangling link named like a scenario: loading it says so.
                Err(_) if scenario_name => self.file(path),
                _ => {}
            }
        }
    }
}

/// Loads every scenario under `paths`: all plans, or every problem of every
/// file (including two files that claim the same scenario name).
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Plan>, Vec<Diagnostic>> {
    load_all_with(paths, &[])
}

/// [`load_all`] with `--set` fields applied to every scenario.
pub fn load_all_with(
    paths: &[PathBuf],
    sets: &[set::FieldSet],
) -> Result<Vec<Plan>, Vec<Diagnostic>> {
    let files = discover(paths)?;
    let mut plans = Vec::new();
    let mut problems = Vec::new();
    for file in &files {
        match load_file_with(file, sets) {
            Ok(plan) => plans.push(plan),
            Err(mut d) => problems.append(&mut d),
        }
    }
    // Reports are written per name: names must not collide as file names.
    let mut stems: BTreeMap<String, &Path> = BTreeMap::new();
    for plan in &plans {
        let stem = file_stem_for(&plan.name);
        if stem == "results" {
            problems.push(Diagnostic::file_level(
                &plan.file,
                format!("scenario name `{}` would overwrite results.json", plan.name),
                "rename the scenario",
            ));
        } else if let Some(first) = stems.insert(stem.clone(), &plan.file)
            && plans.iter().filter(|p| p.name == plan.name).count() == 1
        {
            problems.push(Diagnostic::file_level(
                &plan.file,
                format!(
                    "scenario name `{}` gives the report file {stem}.json, as a scenario in {} does",
                    plan.name,
                    first.display()
                ),
                "give the scenarios names that differ in letters, digits, `.`, `_` or `-`",
            ));
        }
    }
    let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
    for plan in &plans {
        if let Some(first) = seen.insert(&plan.name, &plan.file) {
            problems.push(Diagnostic::file_level(
                &plan.file,
                format!(
                    "scenario name `{}` is also used by {}",
                    plan.name,
                    first.display()
                ),
                "give each scenario its own `name:` (reports are written per name)",
            ));
        }
    }
    if problems.is_empty() {
        Ok(plans)
    } else {
        Err(problems)
    }
}

/// A file name for a scenario's report: its name with anything but
/// letters, digits, `.`, `_` and `-` replaced.
pub fn file_stem_for(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    match stem.trim_matches('.') {
        "" => "scenario".to_string(),
        s => s.to_string(),
    }
}
