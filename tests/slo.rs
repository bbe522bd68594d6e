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
//! - two misses of 900 s before the window and one after `--until` are
//!   left out, and a line without a change type is counted as left out.

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
    assert!(close(&sim["error_budget_remaining"], 0.0), "{sim:#}");
    assert!(
        close(&sim["p50_s"], 109.0) && close(&sim["p95_s"], 118.0) && close(&sim["p99_s"], 400.0),
        "{sim:#}"
    );
    assert_eq!(sim["worst_misses"][0]["at"], "2026-11-20T09:00:00Z");
    let live = series(&json, "prompt", "restore", "http");
    assert_eq!(
        (live["runs"].as_u64(), live["within"].as_u64()),
        (Some(4), Some(3))
    );
    assert!(close(&live["attainment"], 0.75), "{live:#}");
    assert!(close(&live["error_budget_remaining"], -4.0), "{live:#}");
    let model = series(&json, "model", "restore", "in-process");
    assert!(close(&model["attainment"], 1.0) && close(&model["error_budget_remaining"], 1.0));
    assert_eq!(json["left_out"], 1);
    let table = String::from_utf8_lossy(&out.stdout);
    for want in [
        "95.00%",
        "-400.00%",
        "75.00%",
        "worst misses, prompt restore (http)",
    ] {
        assert!(table.contains(want), "{want}:\n{table}");
    }
    // Without the window's end fixed the runs are months old: none count.
    let (_, json) = slo(dir.path(), &["--until", "2027-06-01T00:00:00Z"]);
    let runs: u64 = json["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["runs"].as_u64().unwrap())
        .sum();
    assert_eq!(runs, 0);
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
    assert!(close(&sim["error_budget_remaining"], 0.5), "{sim:#}");
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
        "rollback_drill_phase_seconds_bucket{change=\"prompt\",phase=\"restore\",backend=\"in-process\",le=\"300\"} 19"
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
