//! `rollback-drill slo` over a history with a known mix of runs
//! (`fixtures/history/slo-month.jsonl`), against figures computed by hand:
//!
//! - prompt, restore, simulated: 20 runs in the window (restores of 100 to
//!   118 s and one of 400 s, target 300 s): 19 within, attainment 95%; at a
//!   95% objective one miss is allowed and one happened: budget left 0%;
//!   p50 109 s, p95 118 s, p99 400 s (nearest rank);
//! - prompt, restore, live (http): 4 runs (120, 130, 140, 500 s): 3 within,
//!   75%; 0.2 misses allowed, 1 happened: budget 1 − 1/0.2 = −400%;
//! - model, restore, simulated: 10 runs of 3 s, target 600 s: 100%, budget
//!   100%;
//! - two misses of 900 s before the window and one after `--until` (dated
//!   2099, so no window ending at the wall clock takes it either) are left
//!   out; a line without a change type and a live line without a backend
//!   (written before backends were recorded) are counted in `left_out`;
//!   a negative control (`result: xfail`, a 800 s restore) is counted in
//!   `left_out_xfail`, not against the SLO.

mod common;

use serde_json::Value;

/// `slo` at a 95% objective up to 2026-11-30, unless `extra` says otherwise.
fn slo(dir: &std::path::Path, extra: &[&str]) -> (std::process::Output, Value) {
    std::fs::copy(
        common::root().join("fixtures/history/slo-month.jsonl"),
        dir.join("history.jsonl"),
    )
    .unwrap();
    let _ = std::fs::remove_file(dir.join("slo.json"));
    let mut args = vec![
        "slo",
        "--report-dir",
        dir.to_str().unwrap(),
        "--window",
        "30d",
    ];
    for (flag, default) in [("--objective", "95%"), ("--until", "2026-11-30T00:00:00Z")] {
        if !extra.contains(&flag) {
            args.extend([flag, default]);
        }
    }
    args.extend_from_slice(extra);
    let out = common::bin(&args);
    let json = serde_json::from_slice(&std::fs::read(dir.join("slo.json")).unwrap()).unwrap();
    (out, json)
}

fn series<'a>(json: &'a Value, change: &str, phase: &str, backend: &str) -> &'a Value {
    json["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["change"] == change && s["phase"] == phase && s["backend"] == backend)
        .unwrap_or_else(|| panic!("no series {change} {phase} {backend}: {json:#}"))
}

fn close(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 1e-9)
}

/// Exactly this number, not one a rounding error away.
fn exact(v: &Value, want: f64) -> bool {
    v.as_f64() == Some(want)
}

#[test]
fn attainment_and_budget_are_the_hand_computed_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (out, json) = slo(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0));
    let sim = series(&json, "prompt", "restore", "in-process");
    assert_eq!(
        (sim["runs"].as_u64(), sim["within"].as_u64()),
        (Some(20), Some(19))
    );
    assert!(close(&sim["attainment"], 0.95), "{sim:#}");
    assert!(exact(&sim["error_budget_remaining"], 0.0), "{sim:#}");
    assert!(
        close(&sim["p50_s"], 109.0) && close(&sim["p95_s"], 118.0) && close(&sim["p99_s"], 400.0),
        "{sim:#}"
    );
    assert_eq!(sim["worst_misses"][0]["at"], "2026-11-20T09:00:00Z");
    assert_eq!(sim["worst_misses"][0]["seed"], 42, "{sim:#}");
    assert_eq!(sim["worst_misses"].as_array().unwrap().len(), 1, "{sim:#}");
    let live = series(&json, "prompt", "restore", "http");
    assert_eq!(
        (live["runs"].as_u64(), live["within"].as_u64()),
        (Some(4), Some(3))
    );
    assert!(close(&live["attainment"], 0.75), "{live:#}");
    assert!(exact(&live["error_budget_remaining"], -4.0), "{live:#}");
    let model = series(&json, "model", "restore", "in-process");
    assert!(exact(&model["attainment"], 1.0) && exact(&model["error_budget_remaining"], 1.0));
    assert_eq!(json["left_out"], 2, "no change type, no backend");
    assert_eq!(json["left_out_xfail"], 1, "the negative control");
    let table = String::from_utf8_lossy(&out.stdout);
    for want in [
        "95.00%",
        "-400.00%",
        "75.00%",
        "worst misses, prompt restore (http)",
        "prompt-error-spike seed 42 at 2026-11-20T09:00:00Z: 6m40s, target 5m",
        "1 negative control run(s) (expect.verdict: fail) in the window: left out",
        "2 run(s) in the window name no change type or no backend",
    ] {
        assert!(table.contains(want), "{want}:\n{table}");
    }
    // A window ending in mid-2027 holds none of the fixture's runs (the
    // latest is dated 2099, after it): none count, and `slo` says how to
    // reach the runs there are.
    let (out, json) = slo(dir.path(), &["--until", "2027-06-01T00:00:00Z"]);
    let runs: u64 = json["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["runs"].as_u64().unwrap())
        .sum();
    assert_eq!(runs, 0);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("no run of history.jsonl is in the window; the latest ran at 2099-12-01T09:00:00Z: pass `--until 2099-12-01T09:00:00Z`"),
        "{table}"
    );
}

/// The run dated after `--until` lies so far ahead that a window ending at
/// the wall clock never takes it: its 999 s restore is no miss.
#[test]
fn a_window_ending_now_never_takes_the_run_after_until() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        common::root().join("fixtures/history/slo-month.jsonl"),
        dir.path().join("history.jsonl"),
    )
    .unwrap();
    let reports = dir.path().to_str().unwrap();
    let out = common::bin(&["slo", "--report-dir", reports, "--objective", "95%"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let json: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("slo.json")).unwrap()).unwrap();
    for s in json["series"].as_array().unwrap() {
        assert!(s["max_s"].as_f64().is_none_or(|m| m < 999.0), "{s:#}");
    }
}

#[test]
fn one_change_type_and_a_stricter_objective() {
    let dir = tempfile::tempdir().unwrap();
    let (_, json) = slo(dir.path(), &["--change", "prompt", "--objective", "90%"]);
    assert!(
        json["series"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["change"] == "prompt")
    );
    // 10% of 20 runs: two misses allowed, one spent.
    let sim = series(&json, "prompt", "restore", "in-process");
    assert!(exact(&sim["error_budget_remaining"], 0.5), "{sim:#}");
    let prom = std::fs::read_to_string(dir.path().join("slo.prom")).unwrap();
    assert!(prom.contains(
        "rollback_drill_error_budget_remaining{change=\"prompt\",phase=\"restore\",backend=\"in-process\"} 0.5\n"
    ), "{prom}");
}

#[test]
fn slo_prom_passes_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = slo(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0));
    let prom = std::fs::read_to_string(dir.path().join("slo.prom")).unwrap();
    assert!(prom.contains(
        "rollback_drill_slo_attainment{change=\"prompt\",phase=\"restore\",backend=\"http\"} 0.75"
    ), "{prom}");
    assert!(prom.contains(
        "rollback_drill_phase_seconds_bucket{change=\"prompt\",phase=\"restore\",backend=\"in-process\",le=\"300.0\"} 19\n"
    ), "{prom}");
    assert!(prom.contains(
        "rollback_drill_phase_seconds_bucket{change=\"prompt\",phase=\"restore\",backend=\"in-process\",le=\"1.0\"} 0\n"
    ), "{prom}");
    assert!(prom.contains(
        "rollback_drill_phase_seconds_bucket{change=\"prompt\",phase=\"restore\",backend=\"in-process\",le=\"+Inf\"} 20\n"
    ), "{prom}");
    // Budget left 0%: exactly 0, not a rounding error above it.
    assert!(prom.contains(
        "rollback_drill_error_budget_remaining{change=\"prompt\",phase=\"restore\",backend=\"in-process\"} 0\n"
    ), "{prom}");
    assert!(prom.ends_with("# EOF\n"));
    let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is missing under CI"
        );
        eprintln!("SKIPPED: promtool not installed (Debian's prometheus package has it)");
        return;
    };
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(prom.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// report.html shows the history's SLOs: one row per change type, phase
/// and backend held to a target, with every run of the window on a strip
/// against the target line.
#[test]
fn report_html_has_an_slo_section_from_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().to_str().unwrap();
    for _ in 0..2 {
        let out = common::bin(&[
            "run",
            "scenarios/prompt-error-spike-auto-rollback.yaml",
            "--report-dir",
            reports,
        ]);
        assert_eq!(out.status.code(), Some(0));
    }
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    let at = html
        .find("<section class=\"run slo\">")
        .expect("an SLO section");
    let section = &html[at..at + html[at..].find("</section>").unwrap()];
    let row = section
        .lines()
        .find(|l| {
            l.contains("data-change=\"prompt\" data-phase=\"restore\" data-backend=\"in-process\"")
        })
        .unwrap_or_else(|| panic!("{section}"));
    assert!(row.contains("data-met=\"true\""), "{row}");
    assert!(row.contains("<td class=\"num\">2</td>"), "two runs: {row}");
    assert_eq!(row.matches("<line class=\"run\"").count(), 2, "{row}");
    assert_eq!(row.matches("<line class=\"target\"").count(), 1, "{row}");
}
