//! Verdicts you can trust: detection keeps its speed while its false-alarm
//! budget covers the whole drill.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::root;
use rollback_drill::scenario::{self, Plan};
use rollback_drill::sim;

/// Extra seeds each shipped and fixture drill is detected under, beside
/// its own.
const SEEDS: std::ops::RangeInclusive<u64> = 1..=10;

fn regressions() -> Vec<Plan> {
    let dirs: Vec<PathBuf> = [
        "scenarios",
        "fixtures/faults",
        "fixtures/failing",
        "fixtures/container",
    ]
    .iter()
    .map(|d| root().join(d))
    .collect();
    scenario::load_all(&dirs)
        .expect("shipped scenarios and fixtures are valid")
        .into_iter()
        // A healthy release has nothing to detect (its detections are false
        // alarms, counted by `benches/false_alarms.rs`).
        .filter(|p| p.expect.rollback_expected())
        .collect()
}

/// Seconds from onset to detection of every shipped and fixture drill, per
/// seed (`None`: nothing detected).
fn detection_times() -> BTreeMap<String, BTreeMap<String, Option<f64>>> {
    let mut table = BTreeMap::new();
    for plan in regressions() {
        let mut row = BTreeMap::new();
        for seed in std::iter::once(plan.seed).chain(SEEDS) {
            let mut p = plan.clone();
            p.seed = seed;
            row.insert(seed.to_string(), sim::run(&p).durations().detect);
        }
        table.insert(plan.name.clone(), row);
    }
    table
}

/// `tests/data/detect-before.json` was written by the detection of the
/// Wilson z = 4 bound (`DETECT_TABLE=write cargo test --test verdicts`):
/// the new bound may detect no later than one `evaluate_every` after it,
/// and must detect whatever it detected.
#[test]
fn every_regression_detects_within_one_interval_of_the_table_made_before() {
    let file = root().join("tests/data/detect-before.json");
    let now = detection_times();
    if std::env::var("DETECT_TABLE").as_deref() == Ok("write") {
        let json = serde_json::to_string_pretty(&now).unwrap();
        std::fs::write(&file, json + "\n").unwrap();
    }
    let before: BTreeMap<String, BTreeMap<String, Option<f64>>> =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("the table exists"))
            .expect("the table is JSON");
    let every: BTreeMap<String, f64> = regressions()
        .iter()
        .map(|p| (p.name.clone(), p.policy.evaluate_every.secs_f64()))
        .collect();
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        now.keys().collect::<Vec<_>>(),
        "the same drills as when the table was made"
    );
    assert!(
        before
            .values()
            .flat_map(|row| row.values())
            .filter(|t| t.is_some())
            .count()
            > 100,
        "the table holds the detections it compares"
    );
    let mut late = Vec::new();
    for (name, row) in &before {
        for (seed, was) in row {
            let is = now[name][seed];
            let Some(was) = was else { continue };
            match is {
                Some(is) if is <= was + every[name] + 1e-9 => {}
                _ => late.push(format!("{name} seed {seed}: was {was}s, now {is:?}")),
            }
        }
    }
    assert!(
        late.is_empty(),
        "detected later than before:\n{}",
        late.join("\n")
    );
}

fn check<'a>(
    checks: &'a [rollback_drill::outcome::Check],
    name: &str,
) -> &'a rollback_drill::outcome::Check {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("a `{name}` check"))
}

/// A regression at 30% errors rolled back by the policy to v12, which runs
/// at 0.5% errors; `{VERIFY}` is the verify step, `{TARGET}` the target's
/// behaviour.
const ROLLBACK: &str = r#"
name: verdicts
change: prompt
seed: {SEED}
duration: 2h
registry:
  routes:
    support-answer:
      candidates:
        - {id: p:v12, version_pin: v12, weight: 100}
  propagation: 2s
  write_latency: 1s
traffic:
  rps: 100
  behaviour:
    v12: {error_rate: 0.5%, latency: {p50: 700ms, p99: 2s}, quality: 88%}
release:
  route: support-answer
  version: v13
  at: 15m
  weight: 25%
  behaviour: {RELEASE}
procedure:
  - confirm: {}
  - identify_target: {previous: true}
  - execute: {mechanism: route_weight}
  - verify: {VERIFY}
{EXTRA}
"#;

fn rollback(seed: u64, release: &str, verify: &str, extra: &str) -> Plan {
    common::plan(
        &ROLLBACK
            .replace("{SEED}", &seed.to_string())
            .replace("{RELEASE}", release)
            .replace("{VERIFY}", verify)
            .replace("{EXTRA}", extra),
    )
}

#[test]
fn verify_on_thin_evidence_fails_for_every_seed_and_a_real_recovery_passes() {
    for seed in 0..50 {
        let o = sim::run(&rollback(
            seed,
            "{error_rate: 30%}",
            "{metric: error_rate, below: 0.001%, every: 5s, within: 5m}",
            "",
        ));
        let checks = o.checks();
        let verify = check(&checks, "verify");
        assert!(!verify.passed, "seed {seed}: {}", verify.message);
        assert!(
            verify.message.contains("need") && verify.message.contains("at 99.9%"),
            "seed {seed}: says how much evidence it lacked: {}",
            verify.message
        );
        let o = sim::run(&rollback(
            seed,
            "{error_rate: 30%}",
            "{metric: error_rate, below: 1%, every: 5s, within: 5m}",
            "",
        ));
        let checks = o.checks();
        let verify = check(&checks, "verify");
        assert!(verify.passed, "seed {seed}: {}", verify.message);
        assert!(o.passed(), "seed {seed}: {checks:#?}");
    }
}

#[test]
fn a_bad_rollback_target_fails_recovered_even_when_verify_watches_latency() {
    for seed in 0..50 {
        let o = sim::run(&rollback(
            seed,
            "{error_rate: 30%}",
            "{metric: latency_p99, below: 3s, every: 5s, within: 5m}",
            "faults:\n  - {kind: target_also_bad, behaviour: {error_rate: 9%}}",
        ));
        let checks = o.checks();
        assert!(
            check(&checks, "verify").passed,
            "seed {seed}: latency recovers"
        );
        let recovered = check(&checks, "recovered");
        assert!(!recovered.passed, "seed {seed}: {}", recovered.message);
        assert!(
            recovered.message.contains("v12") && recovered.message.contains("error_rate"),
            "seed {seed}: names the version and the metric: {}",
            recovered.message
        );
        assert!(!o.passed());
    }
}

#[test]
fn a_roll_forward_fix_that_errors_fails_recovered() {
    let shipped =
        std::fs::read_to_string(root().join("scenarios/prompt-missing-variable-roll-forward.yaml"))
            .unwrap();
    let bad_fix = shipped
        .replace(
            "behaviour: {error_rate: 0.3%}",
            "behaviour: {error_rate: 60%}",
        )
        .replace(
            "verify: {metric: error_rate, below: 1%, every: 10s, within: 5m}",
            "verify: {metric: latency_p99, below: 3s, every: 10s, within: 5m}",
        );
    assert_ne!(bad_fix, shipped);
    for seed in 0..50 {
        let mut p = common::plan(&bad_fix);
        p.seed = seed;
        let o = sim::run(&p);
        let checks = o.checks();
        let recovered = check(&checks, "recovered");
        assert!(!recovered.passed, "seed {seed}: {}", recovered.message);
        assert!(
            recovered.message.contains("checkout-assistant@v31.1")
                && recovered.message.contains("error_rate"),
            "seed {seed}: {}",
            recovered.message
        );
    }
    // The shipped fix recovers.
    let o = sim::run(&common::plan(&shipped));
    let checks = o.checks();
    assert!(check(&checks, "recovered").passed, "{checks:#?}");
}

#[test]
fn a_regression_nobody_handled_fails_even_when_no_rollback_is_expected() {
    let fixture = std::fs::read_to_string(root().join("fixtures/faults/pager-down.yaml")).unwrap();
    let down = fixture
        .replace(
            "{kind: pager_down, for: 15m}",
            "{kind: pager_down, for: 3h}",
        )
        .replace(
            "expect:\n  rollback: true\n  findings: [pager_unavailable]\n  verdict: fail",
            "expect:\n  rollback: false",
        );
    assert!(down.contains("for: 3h") && !down.contains("verdict: fail"));
    let o = sim::run(&common::plan(&down));
    let checks = o.checks();
    let handled = check(&checks, "handled");
    assert!(!handled.passed, "{checks:#?}");
    assert!(
        handled.message.contains("error_rate above") && handled.message.contains("pager down"),
        "names the trigger and what stopped the procedure: {}",
        handled.message
    );
    assert!(!o.passed());

    // On-call decides to investigate: the same.
    let o = sim::run(&rollback(
        1,
        "{error_rate: 3%}",
        "{metric: error_rate, below: 1%, every: 5s, within: 5m}",
        "responders:\n  on_call: {ack_after: 1m, decision: investigate, authority: [prompt]}\nexpect:\n  rollback: false",
    ));
    let checks = o.checks();
    let handled = check(&checks, "handled");
    assert!(
        !handled.passed && handled.message.contains("decided `investigate`"),
        "{}\n{:#?}",
        handled.message,
        o.decision_path()
    );

    // A healthy release, where nothing fires, passes without a rollback.
    let healthy =
        scenario::load_file(&root().join("scenarios/healthy-release-not-rolled-back.yaml"))
            .unwrap();
    let o = sim::run(&healthy);
    let checks = o.checks();
    assert!(check(&checks, "handled").passed, "{checks:#?}");
    assert!(o.passed());
}

#[test]
fn verify_reads_the_relative_metrics_against_the_baseline() {
    // A latency regression rolled back: p99 back to baseline.
    let latency = |seed, verify: &str, extra: &str| {
        rollback(seed, "{latency: {p50: 2s, p99: 9s}}", verify, extra)
    };
    for seed in 0..10 {
        let o = sim::run(&latency(
            seed,
            "{metric: latency_p99_increase, below: 10%, every: 5s, within: 5m}",
            "",
        ));
        let checks = o.checks();
        assert!(check(&checks, "verify").passed, "seed {seed}: {checks:#?}");
        // The target itself is 50% slower: not back to baseline.
        let o = sim::run(&latency(
            seed,
            "{metric: latency_p99_increase, below: 10%, every: 5s, within: 5m}",
            "faults:\n  - {kind: target_also_bad, behaviour: {latency: {p50: 1s, p99: 3s}}}",
        ));
        let checks = o.checks();
        let verify = check(&checks, "verify");
        assert!(!verify.passed, "seed {seed}: {}", verify.message);
        assert!(
            verify.message.contains("latency_p99_increase"),
            "{}",
            verify.message
        );
    }
    let quality = |seed, extra: &str| {
        rollback(
            seed,
            "{quality: 50%}",
            "{metric: quality_drop, below: 5%, every: 5s, within: 5m}",
            extra,
        )
    };
    for seed in 0..10 {
        let o = sim::run(&quality(seed, ""));
        let checks = o.checks();
        assert!(check(&checks, "verify").passed, "seed {seed}: {checks:#?}");
        let o = sim::run(&quality(
            seed,
            "faults:\n  - {kind: target_also_bad, behaviour: {quality: 70%}}",
        ));
        let checks = o.checks();
        assert!(!check(&checks, "verify").passed, "seed {seed}: {checks:#?}");
    }
}

#[test]
fn negative_controls_that_fail_as_expected_pass_the_run_and_read_as_xfail() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let out = common::bin(&[
        "run",
        "fixtures/faults",
        "--report-dir",
        reports.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xfail = stdout.lines().filter(|l| l.starts_with("xfail ")).count();
    assert!(xfail >= 7, "the intended failures show as xfail:\n{stdout}");
    assert!(
        stdout.contains("as expected failures), 0 failed"),
        "{stdout}"
    );
    // Their failed checks stay visible.
    assert!(
        stdout.contains("        restore: ") || stdout.contains("        decide: "),
        "{stdout}"
    );
    let md = std::fs::read_to_string(reports.join("summary.md")).unwrap();
    assert!(md.contains("xfail (expected fail)"), "{md}");
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(
        !junit.contains("<failure"),
        "an expected failure is a passing case"
    );
    assert!(junit.contains("expected failure (xfail)"), "and says why");
    assert!(junit.contains(r#"<property name="result" value="xfail"/>"#));
    let html = std::fs::read_to_string(reports.join("report.html")).unwrap();
    assert!(html.contains("XFAIL (expected fail)"));
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("results.json")).unwrap())
            .unwrap();
    assert_eq!(results["passed"], true);
    assert!(results["counts"]["xfail"].as_u64().unwrap() >= 7);
    let kinds: Vec<&str> = results["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["result"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"xfail") && kinds.contains(&"pass"),
        "{kinds:?}"
    );
    let history = std::fs::read_to_string(reports.join("history.jsonl")).unwrap();
    assert!(
        history
            .lines()
            .any(|l| l.contains(r#""passed":true,"result":"xfail""#)),
        "{history}"
    );
}

#[test]
fn a_negative_control_that_passes_or_fails_otherwise_fails_the_run() {
    let healthy =
        std::fs::read_to_string(root().join("scenarios/healthy-release-not-rolled-back.yaml"))
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Expected to fail, but passes.
    let passes = healthy.replace("  verdict: pass", "  verdict: fail");
    assert_ne!(passes, healthy);
    std::fs::write(dir.path().join("passes.yaml"), passes).unwrap();
    let out = common::bin(&[
        "run",
        dir.path().to_str().unwrap(),
        "--report-dir",
        dir.path().join("r").to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("expected verdict fail, the checks say pass"),
        "{stdout}"
    );

    // Expected to fail with one finding, fails with another besides.
    let fixture = std::fs::read_to_string(root().join("fixtures/faults/pager-down.yaml")).unwrap();
    let other = fixture.replace(
        "findings: [pager_unavailable]",
        "findings: [metrics_missing]",
    );
    assert_ne!(other, fixture);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("other.yaml"), other).unwrap();
    let out = common::bin(&[
        "run",
        dir.path().to_str().unwrap(),
        "--report-dir",
        dir.path().join("r").to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("but also found `pager_unavailable`"),
        "{stdout}"
    );
}

#[test]
fn a_release_whose_metrics_arrive_after_the_drill_is_not_a_healthy_one() {
    let fixture = std::fs::read_to_string(root().join("fixtures/faults/metrics-lag.yaml")).unwrap();
    let late = fixture
        .replace(
            "{kind: metrics_lag, lag: 1m}",
            "{kind: metrics_lag, lag: 4h}",
        )
        .replace("  rollback: true\n  verdict: pass", "  rollback: false");
    assert!(late.contains("lag: 4h") && late.contains("rollback: false"));
    let o = sim::run(&common::plan(&late));
    let checks = o.checks();
    assert!(o.record.detected.is_none(), "nothing could fire");
    let handled = check(&checks, "handled");
    assert!(!handled.passed, "{checks:#?}");
    assert!(
        handled.message.contains("never judged"),
        "{}",
        handled.message
    );
    assert!(!o.passed());
}

#[test]
fn abort_if_reads_the_relative_metrics_too() {
    let shipped =
        std::fs::read_to_string(root().join("scenarios/model-minor-latency-gradual-rollback.yaml"))
            .unwrap();
    let paused = |abort_if: &str| {
        let yaml = shipped.replace("abort_if: {metric: error_rate, above: 2%}", abort_if);
        assert_ne!(yaml, shipped);
        let o = sim::run(&common::plan(&yaml));
        o.steps()
            .iter()
            .flat_map(|s| s.phases.iter())
            .any(|p| p.name == "paused by abort_if")
    };
    // The release's p99 (4.5s) keeps the route's p99 far above baseline
    // while it still serves: the shift pauses.
    assert!(paused(
        "abort_if: {metric: latency_p99_increase, above: 20%}"
    ));
    assert!(!paused(
        "abort_if: {metric: latency_p99_increase, above: 500%}"
    ));
    // Quality never drops here.
    assert!(!paused("abort_if: {metric: quality_drop, above: 5%}"));
}

#[test]
fn the_relative_verify_metrics_validate_as_percentages() {
    let yaml = |verify: &str| {
        ROLLBACK
            .replace("{SEED}", "1")
            .replace("{RELEASE}", "{error_rate: 30%}")
            .replace("{VERIFY}", verify)
            .replace("{EXTRA}", "")
    };
    for ok in [
        "{metric: latency_p99_increase, below: 10%, every: 5s, within: 5m}",
        "{metric: quality_drop, below: 5%, every: 5s, within: 5m}",
        "{metric: latency_p99_increase, below: 150%, every: 5s, within: 5m}",
    ] {
        assert!(
            scenario::load_str(&yaml(ok), std::path::Path::new("t.yaml")).is_ok(),
            "{ok}"
        );
    }
    let diags = scenario::load_str(
        &yaml("{metric: quality_drop, below: 2s, every: 5s, within: 5m}"),
        std::path::Path::new("t.yaml"),
    )
    .unwrap_err();
    let text: Vec<String> = diags.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|d| d.contains("procedure") && d.contains("relative to the baseline")),
        "{text:#?}"
    );
    // Derived from quality and p99: never a Prometheus query of its own.
    let mapped = ROLLBACK
        .replace("{SEED}", "1")
        .replace("{RELEASE}", "{error_rate: 30%}")
        .replace("{VERIFY}", "{metric: quality_drop, below: 5%, every: 5s, within: 5m}")
        .replace(
            "{EXTRA}",
            "metrics:\n  prometheus:\n    url: http://prometheus:9090\n    queries: {quality_drop: 'q{version=\"{version}\"}'}",
        );
    let diags = scenario::load_str(&mapped, std::path::Path::new("t.yaml")).unwrap_err();
    let text: Vec<String> = diags.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|d| d.contains("`quality_drop` is derived, not queried")),
        "{text:#?}"
    );
}
