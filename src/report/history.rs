//! `history.jsonl`: one line per drill run, appended, never rewritten.
//! The `history` command and the drift check read it back.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::outcome::DrillOutcome;

use super::RunInfo;

pub fn line(o: &DrillOutcome, run: &RunInfo) -> String {
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
        "version": run.version,
        "at": run.started_at,
        "passed": o.passed(),
        "durations": o.durations(),
        "checks": checks,
    })
    .to_string()
}

pub fn append(file: &Path, outcomes: &[DrillOutcome], run: &RunInfo) -> std::io::Result<()> {
    let mut text = String::new();
    for o in outcomes {
        text.push_str(&line(o, run));
        text.push('\n');
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    f.write_all(text.as_bytes())
}
