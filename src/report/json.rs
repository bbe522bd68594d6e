//! `<scenario>.json` and `results.json`.
//!
//! The per-scenario document holds only what the drill measured and derived,
//! so the same scenario, seed and binary give the same bytes. Wall-clock
//! facts live under `run` in `results.json` only.

use serde::Serialize;
use serde_json::{Value, json};

use crate::outcome::{DrillOutcome, timeline_secs};

use super::RunInfo;

pub const SCHEMA_VERSION: u32 = 1;

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The per-scenario document as a JSON value.
pub fn value(o: &DrillOutcome) -> Value {
    let r = &o.record;
    let trigger = r.trigger.as_ref().map(|(t, value)| {
        json!({
            "metric": t.metric,
            "severity": t.severity,
            "action": t.action,
            "value": round6(*value),
            "threshold": round6(t.above.fraction()),
            "source": if r.new_version_alert { "policy.new_version" } else { "policy.triggers" },
        })
    });
    let mut doc = json!({
        "schema_version": SCHEMA_VERSION,
        "scenario": o.scenario,
        "description": o.description,
        "file": o.file,
        "change": o.change,
        "seed": o.seed,
        "passed": o.passed(),
        "result": o.result(),
        "route": o.route,
        "release_version": o.release_version,
        "mechanism": o.mechanism,
        "rollback_target": r.rollback_target,
        "timeline": {
            "released": timeline_secs(Some(o.released)),
            "onset": timeline_secs(Some(o.onset)),
            "detected": timeline_secs(r.detected),
            "decided": timeline_secs(r.decided),
            "restored": timeline_secs(r.restored),
            "verified": timeline_secs(r.verified),
            "ended": timeline_secs(Some(o.ended)),
        },
        "durations": o.durations(),
        "target_s": o.restore_target.secs_f64(),
        "impacted_requests": o.impacted_requests,
        "total_requests": o.total_requests,
        "trigger": trigger,
        "decision": {
            "decision": r.decision,
            "by": r.decided_by,
            "path": o.decision_path(),
        },
        "recovery": r.recovery,
        "checks": o.checks(),
        "findings": o.findings(),
        "steps": o.steps(),
        "audit": o.audit,
        "incident": o.incident(),
        "hashes": {"scenario": o.scenario_hash, "procedure": o.procedure_hash},
    });
    if let Some(set) = super::set::json(o) {
        doc["release_set"] = set;
    }
    if let Some(repeat) = &o.repeat {
        doc["repeat"] = repeat.json();
    }
    if let Some(live) = &o.live {
        doc["backend"] = json!(live.backend);
        doc["live"] = json!({
            "time_scale": live.time_scale,
            "wall_seconds": (live.wall_s * 1000.0).round() / 1000.0,
            "note": "timeline and durations are scenario seconds: wall seconds × time_scale",
        });
        if live.interrupted {
            doc["live"]["interrupted"] = json!(true);
        }
    }
    doc
}

fn pretty(v: &impl Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(v).expect("JSON values always serialize");
    bytes.push(b'\n');
    bytes
}

pub fn scenario(o: &DrillOutcome) -> Vec<u8> {
    pretty(&value(o))
}

pub fn results(outcomes: &[DrillOutcome], run: &RunInfo) -> Vec<u8> {
    let results: Vec<_> = outcomes.iter().map(DrillOutcome::result).collect();
    let passed = results.iter().filter(|r| r.ok()).count();
    let xfail = results
        .iter()
        .filter(|r| **r == crate::outcome::DrillResult::Xfail)
        .count();
    pretty(&json!({
        "schema_version": SCHEMA_VERSION,
        "passed": passed == outcomes.len(),
        "counts": {"scenarios": outcomes.len(), "passed": passed, "xfail": xfail, "failed": outcomes.len() - passed},
        "run": {
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "wall_ms": run.wall_ms,
            "version": run.version,
        },
        "scenarios": outcomes.iter().map(value).collect::<Vec<_>>(),
    }))
}
