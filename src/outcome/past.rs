//! A past run of a scenario, as `history.jsonl` gives it back: what the
//! drift check and the SLO figures judge new runs by. Reading and writing
//! the file is `crate::history`'s.

use serde::{Deserialize, Serialize};

use super::{CheckStatus, Durations};
use crate::backend::BackendKind;

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
    /// Where the run ran; `None` on lines written before backends were
    /// recorded (simulated or live, nobody knows): left out of `drift` and
    /// `slo`, still shown by `history`.
    #[serde(default)]
    pub backend: Option<BackendKind>,
    /// `pass`, `xfail` (a negative control that failed as expected) or
    /// `fail`; `None` on lines written before results were recorded.
    #[serde(default)]
    pub result: Option<crate::outcome::DrillResult>,
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
