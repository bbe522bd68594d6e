//! Regressions found by review: each of these once panicked, looped or
//! gave a wrong verdict.

mod common;

use common::{plan, root};
use rollback_drill::outcome::CheckStatus;
use rollback_drill::scenario::{self, FindingKind};
use rollback_drill::sim;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(root().join("fixtures/faults").join(name)).unwrap()
}

#[test]
fn a_roll_forward_through_a_config_mismatch_restores_once_repaired() {
    let yaml = fixture("pager-down.yaml")
        .replace("name: fault-pager-down", "name: rf-mismatch")
        .replace("  - {kind: pager_down, for: 15m}", "  - {kind: config_mismatch, fix_after: 2m}")
        .replace(
            "procedure:",
            "responders:\n  on_call: {decision: roll_forward, roll_forward: {version: claude-sonnet-4-6-fix, ship_after: 3m}}\n\nprocedure:",
        );
    let o = sim::run(&plan(&yaml));
    assert!(o.record.restored.is_some(), "{:#?}", o.steps());
    let restore = o.durations().restore.unwrap();
    assert!(
        (300.0..=310.0).contains(&restore),
        "ship 3m, repair 2m, write: {restore}"
    );
    assert_eq!(
        o.audit.last().unwrap().to,
        "claude-sonnet-4-6-fix 100%",
        "the fix serves all traffic"
    );
}

#[test]
fn metrics_lag_longer_than_the_window_still_detects() {
    let yaml = fixture("metrics-lag.yaml").replace("lag: 1m", "lag: 6m");
    let o = sim::run(&plan(&yaml));
    let detect = o.durations().detect.expect("detected despite the lag");
    assert!((360.0..=420.0).contains(&detect), "{detect}");
}

#[test]
fn preflight_findings_count_for_expect_findings() {
    let yaml = fixture("retire-target.yaml")
        .replace("behaviour: {error_rate: 8%}", "behaviour: {}")
        .replace(
            "  findings: [target_retired]\n  verdict: fail",
            "  findings: [target_retired]",
        );
    let o = sim::run(&plan(&yaml));
    assert!(o.record.detected.is_none(), "a healthy release");
    let e = o
        .checks()
        .into_iter()
        .find(|c| c.name == "expectation")
        .unwrap();
    assert_eq!(e.status, CheckStatus::Passed, "{}", e.message);
    assert!(
        o.findings()
            .iter()
            .any(|f| f.kind == FindingKind::TargetRetired && f.step == "preflight")
    );
}

#[test]
fn verify_polls_at_its_deadline() {
    let yaml = fixture("target-also-bad.yaml").replace("within: 5m", "within: 12s");
    let o = sim::run(&plan(&yaml));
    let verify = o.steps().iter().find(|s| s.name == "verify").unwrap();
    assert_eq!(
        verify.end_s.unwrap() - verify.start_s.unwrap(),
        12.0,
        "{verify:?}"
    );
}

#[test]
fn names_that_collide_as_report_files_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let base =
        std::fs::read_to_string(root().join("scenarios/prompt-errors-paged-to-on-call.yaml"))
            .unwrap();
    for (file, name) in [("a.yaml", "a b"), ("b.yaml", "a/b"), ("c.yaml", "results")] {
        let text = base.replace(
            "name: prompt-errors-paged-to-on-call",
            &format!("name: \"{name}\""),
        );
        std::fs::write(dir.path().join(file), text).unwrap();
    }
    let problems = scenario::load_all(&[dir.path().to_path_buf()]).unwrap_err();
    let text: Vec<String> = problems.iter().map(|d| d.message.clone()).collect();
    assert!(
        text.iter()
            .any(|m| m.contains("gives the report file a-b.json")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|m| m.contains("would overwrite results.json")),
        "{text:?}"
    );
}

#[test]
fn hostile_numbers_are_rejected_not_panicking() {
    let base = std::fs::read_to_string(root().join("scenarios/agent-code-tool-loop-redeploy.yaml"))
        .unwrap();
    for (from, to, message) in [
        (
            "rps: ",
            "rps: 1e17 #",
            "rps must be above 0 and at most 1,000,000",
        ),
        ("duration: ", "duration: 3000h #", "longer than 30 days"),
        ("replicas: 6", "replicas: 4294967295", "at most 100,000"),
    ] {
        let text = base.replacen(from, to, 1);
        let problems = scenario::load_str(&text, std::path::Path::new("x.yaml")).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|d| d.message.contains(message) || d.hint.contains(message)),
            "{from}: {problems:?}"
        );
    }
}

#[test]
fn a_name_too_long_for_a_file_is_invalid_input_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let base =
        std::fs::read_to_string(root().join("scenarios/prompt-errors-paged-to-on-call.yaml"))
            .unwrap();
    let file = dir.path().join("long.yaml");
    let text = base.replace(
        "name: prompt-errors-paged-to-on-call",
        &format!("name: {}", "n".repeat(65_536)),
    );
    std::fs::write(&file, text).unwrap();
    let reports = dir.path().join("reports");
    for args in [
        vec!["list", file.to_str().unwrap()],
        vec!["validate", file.to_str().unwrap()],
        vec![
            "run",
            file.to_str().unwrap(),
            "--report-dir",
            reports.to_str().unwrap(),
        ],
    ] {
        let out = common::bin(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(".yaml:1:1: name: the scenario name is too long for its report file"),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.len() < 2_000,
            "the name is not repeated whole: {stderr}"
        );
    }
    assert!(!reports.exists(), "nothing was run");
}
