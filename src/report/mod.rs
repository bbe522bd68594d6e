//! Reporters: pure functions from outcomes to bytes, and the one place
//! that writes them to the report folder.
//!
//! Every format reads the same [`DrillOutcome`]s; none computes anything
//! the outcome does not already derive. `write` is the only fallible part.

pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod set;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use thiserror::Error;

use crate::outcome::DrillOutcome;
use crate::scenario::file_stem_for;

/// `8 passed, 7 failed`, or with negative controls `15 passed (7 as
/// expected failures), 0 failed`: the counts every summary shows.
pub fn counts(outcomes: &[DrillOutcome]) -> String {
    let results: Vec<_> = outcomes.iter().map(DrillOutcome::result).collect();
    let failed = results.iter().filter(|r| !r.ok()).count();
    let xfail = results
        .iter()
        .filter(|r| **r == crate::outcome::DrillResult::Xfail)
        .count();
    let passed = outcomes.len() - failed;
    match xfail {
        0 => format!("{passed} passed, {failed} failed"),
        x => format!("{passed} passed ({x} as expected failures), {failed} failed"),
    }
}

/// `15 drill(s): 15 passed (7 as expected failures), 0 failed`.
pub fn counts_line(outcomes: &[DrillOutcome]) -> String {
    format!("{} drill(s): {}", outcomes.len(), counts(outcomes))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Format {
    Junit,
    Json,
    Md,
    Html,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s.trim() {
            "junit" => Ok(Format::Junit),
            "json" => Ok(Format::Json),
            "md" | "markdown" => Ok(Format::Md),
            "html" => Ok(Format::Html),
            other => Err(format!(
                "unknown report format `{other}`: expected junit, json, md or html"
            )),
        }
    }
}

#[derive(Debug, Error)]
pub enum ReportError {
    #[error(
        "report folder {dir} is not writable: {source}; pass a writable folder with --report-dir"
    )]
    Folder {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write report {file}: {source}")]
    File {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode {what}: {message}")]
    Encode { what: &'static str, message: String },
}

/// Facts about the run that are not measurements of any drill.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub started_at: String,
    pub finished_at: String,
    pub wall_ms: u64,
    pub version: &'static str,
}

/// Writes the chosen formats and appends to `history.jsonl`. Returns the
/// files written, in order.
pub fn write(
    dir: &Path,
    formats: &[Format],
    outcomes: &[DrillOutcome],
    run: &RunInfo,
) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Folder {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    let mut put = |name: &str, bytes: Vec<u8>| -> Result<(), ReportError> {
        let file = dir.join(name);
        std::fs::write(&file, bytes).map_err(|source| ReportError::File {
            file: file.clone(),
            source,
        })?;
        written.push(file);
        Ok(())
    };
    if formats.contains(&Format::Junit) {
        put(
            "junit.xml",
            junit::render_at(outcomes, Some(&run.started_at))?,
        )?;
    }
    if formats.contains(&Format::Json) {
        for o in outcomes {
            put(
                &format!("{}.json", file_stem_for(&o.scenario)),
                json::scenario(o),
            )?;
        }
        put("results.json", json::results(outcomes, run))?;
    }
    if formats.contains(&Format::Md) {
        put("summary.md", markdown::render(outcomes).into_bytes())?;
    }
    let history_file = dir.join("history.jsonl");
    crate::history::append(&history_file, outcomes, run.version, &run.started_at).map_err(
        |source| ReportError::File {
            file: history_file.clone(),
            source,
        },
    )?;
    if formats.contains(&Format::Html) {
        // The page's SLO section reads the history, this run included, at
        // the `slo` command's defaults (99% over 30 days).
        let slo = crate::history::read(&history_file).ok().map(|past| {
            let query = crate::slo::Query {
                window_s: 30.0 * 86_400.0,
                objective: 0.99,
                change: None,
                until: run
                    .finished_at
                    .parse()
                    .unwrap_or_else(|_| jiff::Timestamp::now()),
            };
            crate::slo::compute(past.values().flatten(), &query)
        });
        put(
            "report.html",
            html::render_with_slo(outcomes, slo.as_ref()).into_bytes(),
        )?;
    }
    written.push(history_file);
    Ok(written)
}
