//! `history.jsonl`: one line per drill run, appended, never rewritten.
//!
//! The `drift` check reads the runs of the same scenario back before a new
//! run is appended, and `rollback-drill history` summarises them.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::backend::BackendKind;
use crate::outcome::{CheckStatus, DrillOutcome, Durations};

mod table;
pub use table::table;

/// One past run, as read back from `history.jsonl`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryRun {
    pub scenario: String,
    #[serde(default)]
    pub scenario_hash: String,
    #[serde(default)]
    pub procedure_hash: String,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub at: String,
    pub passed: bool,
    #[serde(default)]
    pub durations: Durations,
    #[serde(default)]
    pub checks: Vec<HistoryCheck>,
    /// Where the run ran (lines written before backends were recorded
    /// were all simulated).
    #[serde(default)]
    pub backend: BackendKind,
    /// Live runs: how much faster than the wall clock scenario time ran;
    /// `None` for simulated (virtual-clock) runs.
    #[serde(default)]
    pub time_scale: Option<f64>,
    /// The change type (older lines: unknown).
    #[serde(default)]
    pub change: Option<crate::scenario::ChangeType>,
    /// The phase targets that run was held to, in seconds.
    #[serde(default)]
    pub targets: RunTargets,
}

/// The targets of one run, in seconds; `None` where a phase had none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RunTargets {
    pub detect: Option<f64>,
    pub decide: Option<f64>,
    pub restore: Option<f64>,
    pub mitigate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryCheck {
    pub name: String,
    pub status: CheckStatus,
    #[serde(default)]
    pub measured_s: Option<f64>,
}

pub fn line(o: &DrillOutcome, version: &str, at: &str) -> String {
    let checks: Vec<_> = o
        .checks()
        .iter()
        .map(|c| json!({"name": c.name, "status": c.status, "measured_s": c.measured_s}))
        .collect();
    json!({
        "scenario": o.scenario,
        "scenario_hash": o.scenario_hash,
        "procedure_hash": o.procedure_hash,
        "seed": o.seed,
        "version": version,
        "at": at,
        "passed": o.passed(),
        "durations": o.durations(),
        "checks": checks,
        "backend": o.backend(),
        "time_scale": o.live.map(|l| l.time_scale),
        "change": o.change,
        "targets": RunTargets {
            detect: o.targets.detect.map(crate::scenario::Dur::secs_f64),
            decide: o.targets.decide.map(crate::scenario::Dur::secs_f64),
            restore: Some(o.restore_target.secs_f64()),
            mitigate: o.targets.mitigate.map(crate::scenario::Dur::secs_f64),
        },
    })
    .to_string()
}

pub fn append(
    file: &Path,
    outcomes: &[DrillOutcome],
    version: &str,
    at: &str,
) -> std::io::Result<()> {
    let mut text = String::new();
    // An interrupted drill measured too little to count as a run.
    for o in outcomes
        .iter()
        .filter(|o| o.ran && !o.live.is_some_and(|l| l.interrupted))
    {
        text.push_str(&line(o, version, at));
        text.push('\n');
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    f.write_all(text.as_bytes())
}

/// A problem reading the history: the line and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot read {file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}: not a history record ({message}); remove or repair that line")]
    Line {
        file: String,
        line: usize,
        message: String,
    },
}

/// Every run in the file, oldest first, grouped by scenario. A missing file
/// is an empty history.
pub fn read(file: &Path) -> Result<BTreeMap<String, Vec<HistoryRun>>, HistoryError> {
    let name = file.display().to_string();
    let f = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => return Err(HistoryError::Io { file: name, source }),
    };
    let mut runs: BTreeMap<String, Vec<HistoryRun>> = BTreeMap::new();
    for (i, l) in std::io::BufReader::new(f).lines().enumerate() {
        let l = l.map_err(|source| HistoryError::Io {
            file: name.clone(),
            source,
        })?;
        if l.trim().is_empty() {
            continue;
        }
        let run: HistoryRun = serde_json::from_str(&l).map_err(|e| HistoryError::Line {
            file: name.clone(),
            line: i + 1,
            message: e.to_string(),
        })?;
        runs.entry(run.scenario.clone()).or_default().push(run);
    }
    Ok(runs)
}

/// The median of some values (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}
