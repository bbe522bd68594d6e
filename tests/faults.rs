//! Chaos on the rollback path: every fault kind has a fixture that yields
//! its finding (or a measured time longer by the injected amount), the
//! preflight, and drift against history.

mod common;

use common::bin as drill_bin;

use std::collections::BTreeSet;

use common::{plan, root};
use rollback_drill::history;
use rollback_drill::outcome::{CheckStatus, DrillOutcome};
use rollback_drill::scenario::{self, FaultKind, FindingKind, Plan};
use rollback_drill::sim;

fn fixture(name: &str) -> Plan {
    scenario::load_file(&root().join("fixtures/faults").join(name)).expect("valid fixture")
}

fn without_faults(p: &Plan) -> Plan {
    let mut clean = p.clone();
    clean.faults.clear();
    clean
}

#[test]
fn every_fault_fixture_meets_its_expectation_and_every_kind_is_covered() {
    let plans = scenario::load_all(&[root().join("fixtures/faults")]).expect("valid fixtures");
    let mut kinds = BTreeSet::new();
    for p in &plans {
        let o = sim::run(p);
        let expectation = o
            .checks()
            .into_iter()
            .find(|c| c.name == "expectation")
            .unwrap();
        assert_eq!(
            expectation.status,
            CheckStatus::Passed,
            "{}: {}\nfindings: {:#?}",
            p.name,
            expectation.message,
            o.findings()
        );
        kinds.extend(p.faults.iter().map(|f| f.kind()));
    }
    let all: BTreeSet<FaultKind> = FaultKind::ALL.iter().copied().collect();
    assert_eq!(kinds, all, "a fixture per fault kind");
}

#[test]
fn findings_tell_the_team_what_to_fix() {
    let table = [
        (
            "registry-outage.yaml",
            FindingKind::RegistryUnavailable,
            "retried with backoff",
        ),
        ("retire-target.yaml", FindingKind::TargetRetired, "keep"),
        (
            "rename-route.yaml",
            FindingKind::RouteMoved,
            "update the runbook",
        ),
        (
            "config-mismatch.yaml",
            FindingKind::ConfigMismatch,
            "repaired the config 20m later",
        ),
        (
            "partial-propagation.yaml",
            FindingKind::PartialRollback,
            "check every router",
        ),
        (
            "metrics-gap.yaml",
            FindingKind::MetricsMissing,
            "alert on missing metrics",
        ),
        (
            "pager-down.yaml",
            FindingKind::PagerUnavailable,
            "escalation 15m later",
        ),
        (
            "target-also-bad.yaml",
            FindingKind::TargetUnhealthy,
            "add a baseline_check",
        ),
    ];
    for (file, kind, advice) in table {
        let o = sim::run(&fixture(file));
        let f = o
            .findings()
            .into_iter()
            .find(|f| f.kind == kind)
            .unwrap_or_else(|| panic!("{file}: no {kind} finding in {:#?}", o.findings()));
        assert!(f.message.contains(advice), "{file}: {}", f.message);
    }
}

#[test]
fn registry_outage_retries_show_in_the_step_timeline_and_the_rollback_still_restores() {
    let o = sim::run(&fixture("registry-outage.yaml"));
    let retries = common::retry_phases(&o);
    assert!(retries.len() >= 5, "{retries:#?}");
    // Capped exponential backoff: 1s, 2s, 4s ... 30s.
    let waits: Vec<f64> = retries
        .iter()
        .map(|p| p.end_s.unwrap() - p.start_s)
        .collect();
    assert_eq!(&waits[..5], &[1.0, 2.0, 4.0, 8.0, 16.0]);
    assert!(waits.iter().all(|w| *w <= 30.0));
    assert!(
        o.record.restored.unwrap() >= 20 * 60 * 1000,
        "after the outage"
    );
    assert!(o.passed(), "{:#?}", o.checks());
}

/// A frozen or cut-off registry never answers: each attempt waits for the
/// client's 10s timeout before its backoff, so attempts are 11s, 12s, 14s …
/// apart; a crashed one refuses at once, like an outage, and comes back
/// after `restart_after`.
#[test]
fn freeze_and_partition_cost_a_timeout_per_attempt_and_a_crash_restarts() {
    for name in ["registry-freeze.yaml", "network-partition.yaml"] {
        let o = sim::run(&fixture(name));
        let retries = common::retry_phases(&o);
        assert!(retries.len() >= 4, "{name}: {retries:#?}");
        let spans: Vec<f64> = retries
            .iter()
            .map(|p| p.end_s.unwrap() - p.start_s)
            .collect();
        assert_eq!(&spans[..4], &[11.0, 12.0, 14.0, 18.0], "{name}");
        assert!(
            retries[0].detail.contains("timed out after 10s"),
            "{name}: {}",
            retries[0].detail
        );
        assert!(o.record.restored.unwrap() >= 20 * 60 * 1000, "{name}");
        assert!(o.passed(), "{name}: {:#?}", o.checks());
    }
    let crash = sim::run(&fixture("registry-crash.yaml"));
    let outage = sim::run(&fixture("registry-outage.yaml"));
    assert_eq!(
        crash.record.restored, outage.record.restored,
        "down for the same 5 minutes, refusing at once: the same restore"
    );
    assert!(crash.passed(), "{:#?}", crash.checks());
}

/// Faults that only cost time: the measured time is longer by the injected
/// amount than the same drill without the fault.
#[test]
fn slow_registry_stale_cache_and_metrics_lag_cost_exactly_what_they_inject() {
    let slow = fixture("registry-slow.yaml");
    let (with, without) = (sim::run(&slow), sim::run(&without_faults(&slow)));
    let extra = with.durations().restore.unwrap() - without.durations().restore.unwrap();
    assert_eq!(
        extra,
        2.0 * 30.0,
        "identify_target's read and the write each take 30s longer"
    );

    let stale = fixture("stale-cache.yaml");
    let (with, without) = (sim::run(&stale), sim::run(&without_faults(&stale)));
    assert_eq!(
        with.durations().restore.unwrap() - without.durations().restore.unwrap(),
        60.0
    );

    let lag = fixture("metrics-lag.yaml");
    let (with, without) = (sim::run(&lag), sim::run(&without_faults(&lag)));
    assert_eq!(
        with.durations().detect.unwrap() - without.durations().detect.unwrap(),
        60.0
    );
}

#[test]
fn the_45_minute_config_mismatch_case_fails_its_restore_target_as_expected() {
    let dir = tempfile::tempdir().unwrap();
    let out = drill_bin(&[
        "run",
        "fixtures/faults/model-migration-config-mismatch-45m.yaml",
        "--report-dir",
        dir.path().to_str().unwrap(),
    ]);
    // A negative control (`expect.verdict: fail`) that fails as expected.
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("model-migration-config-mismatch-45m.json")).unwrap(),
    )
    .unwrap();
    let restore = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "restore")
        .unwrap();
    assert_eq!(restore["message"], "restore took 45m, target 10m (model)");
    assert_eq!(restore["passed"], false);
    assert_eq!(json["result"], "xfail");
    let kinds: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"config_mismatch"), "{kinds:?}");
    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(
        summary.contains("`config_mismatch`"),
        "findings appear in summary.md"
    );
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains("config_mismatch (execute)"),
        "and in the JUnit text of the expected failure"
    );
}

#[test]
fn preflight_only_reports_a_retired_target_without_running_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = drill_bin(&[
        "run",
        "fixtures/faults/retire-target.yaml",
        "--preflight-only",
        "--report-dir",
        d,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("fault-retire-target.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["total_requests"], 0, "no traffic ran");
    assert_eq!(json["findings"][0]["kind"], "target_retired");
    assert_eq!(json["findings"][0]["step"], "preflight");
    let history = std::fs::read_to_string(dir.path().join("history.jsonl")).unwrap_or_default();
    assert!(
        history.is_empty(),
        "a preflight is not a drill run: {history}"
    );
    // A scenario whose world is sound passes its preflight.
    let ok = drill_bin(&[
        "run",
        "scenarios/prompt-errors-paged-to-on-call.yaml",
        "--preflight-only",
        "--report-dir",
        d,
    ]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
}

const DRIFT_PROBE: &str = r#"
name: drift-probe
change: prompt
seed: 1
duration: 2h
registry:
  routes:
    r:
      candidates:
        - {id: r:v1, version_pin: v1, weight: 100}
  propagation: 2s
  write_latency: {WRITE}
traffic:
  rps: 100
  behaviour:
    v1: {error_rate: 0.5%, latency: {p50: 700ms, p99: 2s}, quality: 88%}
release:
  route: r
  version: v2
  at: 15m
  weight: 25%
  behaviour: {error_rate: 8%}
procedure:
  - execute: {mechanism: route_weight}
"#;

fn drift_probe(write: &str) -> DrillOutcome {
    let p = plan(&DRIFT_PROBE.replace("{WRITE}", write));
    let past =
        history::read(&root().join("fixtures/history/drift-probe-restores-in-2m.jsonl")).unwrap();
    let mut o = sim::run(&p);
    o.history = Some(past["drift-probe"].clone());
    o
}

#[test]
fn a_restore_a_minute_slower_than_the_last_five_passing_runs_is_drift() {
    let o = drift_probe("2m58s");
    assert_eq!(o.durations().restore, Some(180.0));
    let drift = o.checks().into_iter().find(|c| c.name == "drift").unwrap();
    assert_eq!(drift.status, CheckStatus::Failed);
    assert!(
        drift.message.starts_with(
            "restore took 3m, median of the last 5 passing runs 2m (+50%, tolerance 25%)"
        ),
        "{}",
        drift.message
    );
    assert!(
        drift.message.contains("the procedure changed"),
        "hashes differ from the fixture: {}",
        drift.message
    );
    assert!(!o.passed());

    let within = drift_probe("2m18s");
    assert_eq!(within.durations().restore, Some(140.0));
    let drift = within
        .checks()
        .into_iter()
        .find(|c| c.name == "drift")
        .unwrap();
    assert_eq!(drift.status, CheckStatus::Passed, "{}", drift.message);
}

#[test]
fn drift_through_the_cli_reads_history_and_tolerance_can_be_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(
        root().join("fixtures/history/drift-probe-restores-in-2m.jsonl"),
        d.join("history.jsonl"),
    )
    .unwrap();
    let scenario = d.join("drift-probe.yaml");
    std::fs::write(&scenario, DRIFT_PROBE.replace("{WRITE}", "2m58s")).unwrap();
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v = vec![
            "run".to_string(),
            scenario.display().to_string(),
            "--report-dir".into(),
            d.display().to_string(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |a: Vec<String>| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        drill_bin(&refs)
    };
    let out = run(args(&[]));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("drift: restore took 3m, median of the last 5 passing runs 2m")
    );
    // A 60% tolerance accepts +50%. The failed run above is not a passing
    // run, so the median is still 2m.
    let out = run(args(&["--drift-tolerance", "60%"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let h = history::read(&d.join("history.jsonl")).unwrap();
    assert_eq!(h["drift-probe"].len(), 7, "five from the fixture, two new");
    let table = drill_bin(&["history", "--report-dir", d.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("drift-probe: 7 run(s), 6 passed"), "{text}");
    assert!(
        text.contains("in-process: median of 6 passing run(s)"),
        "{text}"
    );
}

#[test]
fn a_corrupt_history_line_is_named_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("history.jsonl"),
        "{\"scenario\": \"x\", \"passed\": true}\nnot json\n",
    )
    .unwrap();
    let out = drill_bin(&["history", "--report-dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("history.jsonl:2: not a history record"),
        "{err}"
    );
}

#[test]
fn a_release_due_during_an_outage_ships_after_it_and_its_phases_count_from_then() {
    // Down from 10m to 20m; the release is due at 15m.
    let extra = "faults:\n  - {kind: registry_outage, at: 10m, for: 10m}";
    let held = sim::run(&common::canary(3, 100, "25%", "8%", extra));
    let on_time = sim::run(&common::canary(3, 100, "25%", "8%", ""));
    // It ships the moment the outage ends, and the decision path says why
    // it waited.
    assert_eq!(held.released, 20 * 60 * 1000 + 1);
    assert!(
        held.record.decision_path.iter().any(|e| e.who == "deployer"
            && e.what
                == "release of v13 at 25% held: the registry takes no calls during registry_outage, which ends at 20m"),
        "{:#?}",
        held.record.decision_path
    );
    // Detection counts from when the bad version served, not from the
    // planned time: the same regression is caught as fast.
    let (d_held, d_on_time) = (
        held.durations().detect.unwrap(),
        on_time.durations().detect.unwrap(),
    );
    assert!(
        (d_held - d_on_time).abs() <= 30.0,
        "detect {d_held}s held, {d_on_time}s on time"
    );
    assert!(held.passed(), "{:#?}", held.checks());
    // A fault that starts at the release's very instant comes after it.
    let same = sim::run(&common::canary(
        3,
        100,
        "25%",
        "8%",
        "faults:\n  - {kind: registry_outage, at: 15m, for: 5m}",
    ));
    assert_eq!(same.released, 15 * 60 * 1000);
}
