//! `run --repeat N`: each scenario over N seeds, with a pass rate and
//! p50/p95/max of every phase in the JSON, summary.md and report.html; a
//! check fails when any seed fails it, naming the seeds and the worst
//! value; one history line per seed; the same run twice gives the same
//! JSON.

mod common;

use serde_json::Value;

const SCENARIO: &str = "scenarios/prompt-errors-paged-to-on-call.yaml";
const NAME: &str = "prompt-errors-paged-to-on-call";

fn repeat(dir: &std::path::Path) -> (Option<i32>, Vec<u8>, Value) {
    repeat_of(dir, SCENARIO, NAME)
}

fn repeat_of(dir: &std::path::Path, scenario: &str, name: &str) -> (Option<i32>, Vec<u8>, Value) {
    let out = common::bin(&[
        "run",
        scenario,
        "--repeat",
        "20",
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(dir.join(format!("{name}.json"))).unwrap();
    let json = serde_json::from_slice(&bytes).unwrap();
    (out.status.code(), bytes, json)
}

#[test]
fn twenty_seeds_give_a_pass_rate_and_spreads_everywhere() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (code, bytes, json) = repeat(a.path());
    let (_, again, _) = repeat(b.path());
    assert_eq!(bytes, again, "two runs, the same JSON");
    let r = &json["repeat"];
    assert_eq!(r["seeds"], 20);
    assert_eq!(r["first_seed"], json["seed"]);
    let per_seed = r["per_seed"].as_array().unwrap();
    assert_eq!(per_seed.len(), 20);
    let passed = per_seed.iter().filter(|s| s["passed"] == true).count();
    assert_eq!(r["passed"], passed);
    assert!((r["pass_rate"].as_f64().unwrap() - passed as f64 / 20.0).abs() < 1e-9);
    // p50 ≤ p95 ≤ max, each one of the seeds' own values.
    for phase in ["detect", "decide", "restore", "mitigate"] {
        let p = &r["phases"][phase];
        let (p50, p95, max) = (
            p["p50_s"].as_f64().unwrap(),
            p["p95_s"].as_f64().unwrap(),
            p["max_s"].as_f64().unwrap(),
        );
        assert!(p50 <= p95 && p95 <= max, "{phase}: {p}");
        let seen: Vec<f64> = per_seed
            .iter()
            .filter_map(|s| s["durations"][phase].as_f64())
            .collect();
        assert_eq!(
            seen.iter().cloned().fold(f64::MIN, f64::max),
            max,
            "{phase}"
        );
    }
    // A check that some seed failed fails, naming those seeds.
    let failing: Vec<u64> = per_seed
        .iter()
        .filter(|s| s["passed"] == false)
        .map(|s| s["seed"].as_u64().unwrap())
        .collect();
    assert!(
        !failing.is_empty(),
        "this scenario has a seed whose severity differs"
    );
    assert_eq!(code, Some(1));
    let failed: Vec<&Value> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "failed")
        .collect();
    assert!(!failed.is_empty());
    let seeds = failing
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let message = failed[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "failed for {} of 20 seeds ({seeds}); worst, seed ",
            failing.len()
        )),
        "{message}"
    );
    let summary = std::fs::read_to_string(a.path().join("summary.md")).unwrap();
    assert!(
        summary.contains(&format!(
            "| {NAME} | 20 | {:.1}% ({passed} of 20) |",
            passed as f64 * 5.0
        )),
        "{summary}"
    );
    let html = std::fs::read_to_string(a.path().join("report.html")).unwrap();
    assert!(
        html.contains("<h3>Over 20 seeds</h3>"),
        "the page shows the seeds"
    );
    assert_eq!(html.matches("<line class=\"seed\"").count(), 20);
    let history = std::fs::read_to_string(a.path().join("history.jsonl")).unwrap();
    assert_eq!(history.lines().count(), 20, "one history line per seed");
    let junit = std::fs::read_to_string(a.path().join("junit.xml")).unwrap();
    assert_eq!(
        junit.matches("<testsuite ").count(),
        1,
        "one suite per scenario"
    );
}

/// `<scenario>.json` without what the history legitimately changes: the
/// `drift` check (skipped without earlier runs, passed with them), at the
/// top and in every seed's failed checks.
fn without_drift(mut json: Value) -> Value {
    fn strip(checks: &mut Value) {
        if let Some(a) = checks.as_array_mut() {
            a.retain(|c| c["name"] != "drift" && c != "drift");
        }
    }
    strip(&mut json["checks"]);
    if let Some(seeds) = json["repeat"]["per_seed"].as_array_mut() {
        for s in seeds {
            strip(&mut s["failed_checks"]);
        }
    }
    json
}

/// A second `--repeat 20` into the same folder judges each seed's run by
/// the earlier runs of that seed, not by another seed's: it passes like
/// the first, with the same verdicts, pass rate and spreads.
#[test]
fn a_second_repeat_into_one_folder_judges_each_seed_by_its_own_runs() {
    let scenario = "scenarios/prompt-error-spike-auto-rollback.yaml";
    let name = "prompt-error-spike-auto-rollback";
    let (shared, fresh) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (first, _, _) = repeat_of(shared.path(), scenario, name);
    assert_eq!(first, Some(0));
    let (second, _, again) = repeat_of(shared.path(), scenario, name);
    let (_, _, alone) = repeat_of(fresh.path(), scenario, name);
    let drift = again["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "drift")
        .unwrap();
    assert_eq!(second, Some(0), "{drift:#}");
    assert_eq!(drift["status"], "passed", "{drift:#}");
    assert_eq!(again["repeat"]["pass_rate"], alone["repeat"]["pass_rate"]);
    assert_eq!(again["result"], alone["result"]);
    assert_eq!(without_drift(again), without_drift(alone));
}
