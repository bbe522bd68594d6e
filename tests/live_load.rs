//! Live traffic that keeps up: a 100 rps drill on `--backend http` sends
//! the scenario's rate sped up by the time scale, so it takes the
//! simulated path with the default `min_requests` and the simulated
//! traffic; and a time scale the registry cannot serve is named before
//! the drill runs.
//!
//! The drill runs at `--time-scale 60` (6,000 requests a wall second) in a
//! release test build — `.ci/run` runs this file with `cargo test
//! --release` — and at 30× in a debug build, whose registry server costs
//! about 250 µs of CPU per request, so on a 2-core machine it cannot answer
//! 6,000 a second with any margin. The old one-thread client, capped at 400
//! a second, fails this test at 30× too.
//!
//! Both run the CLI as a user does and read its JSON report; they take a
//! few seconds of wall time each and run one at a time.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Mutex;

use serde_json::Value;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A 10% canary on 100 rps whose errors trip the default critical trigger
/// soon after the release; default policy (`min_requests: 50`, 30 s
/// evaluations, 5m window). Its release sees 10 requests a scenario
/// second: 300 by the first evaluation after the release.
const DRILL: &str = r#"
name: live-load-canary
change: prompt
seed: 11
duration: 30m
registry:
  routes:
    support-answer:
      candidates:
        - {id: p:v12, version_pin: v12, weight: 100}
  propagation: 0s
  write_latency: 0s
traffic:
  rps: 100
  behaviour:
    v12: {error_rate: 0.5%, latency: {p50: 700ms, p99: 2s}, quality: 88%}
release:
  route: support-answer
  version: v13
  at: 5m
  weight: 10%
  behaviour: {error_rate: 10%}
procedure:
  - identify_target: {previous: true}
  - execute: {mechanism: route_weight}
  - verify: {metric: error_rate, below: 1.5%, every: 5s, within: 5m}
"#;

/// Runs `rollback-drill run FILE ARGS --format json` into a fresh report
/// folder; the scenario's document from `results.json`, and the output.
fn run(file: &Path, args: &[&str]) -> (Value, Output) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rollback-drill"))
        .arg("run")
        .arg(file)
        .args(args)
        .args(["--format", "json", "--report-dir"])
        .arg(dir.path())
        .current_dir(common::root())
        .output()
        .expect("the binary runs");
    let results = std::fs::read(dir.path().join("results.json")).unwrap_or_else(|e| {
        panic!(
            "no results.json ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let v: Value = serde_json::from_slice(&results).unwrap();
    (v["scenarios"][0].clone(), out)
}

fn scenario_file(dir: &Path, yaml: &str) -> std::path::PathBuf {
    let file = dir.join("drill.yaml");
    std::fs::write(&file, yaml).unwrap();
    file
}

/// 60× where the registry server is an optimised build, 30× in debug.
const SCALE: &str = if cfg!(debug_assertions) { "30" } else { "60" };

#[test]
fn a_100_rps_drill_at_60x_takes_the_simulated_path_with_the_simulated_traffic() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), DRILL);
    let (sim, sim_out) = run(&file, &[]);
    let (live, live_out) = run(&file, &["--backend", "http", "--time-scale", SCALE]);
    let stderr = String::from_utf8_lossy(&live_out.stderr);
    assert_eq!(sim["passed"], true, "the drill itself is sound: {sim:#}");
    assert_eq!(
        live_out.status.code(),
        sim_out.status.code(),
        "same verdict; live stderr:\n{stderr}"
    );
    assert_eq!(live["backend"], "http");
    assert_eq!(live["live"]["time_scale"], SCALE.parse::<f64>().unwrap());
    // The same trigger, by metric, action and severity.
    for field in ["metric", "action", "severity"] {
        assert!(sim["trigger"][field].is_string(), "{:#}", sim["trigger"]);
        assert_eq!(
            live["trigger"][field], sim["trigger"][field],
            "trigger {field}; live stderr:\n{stderr}"
        );
    }
    // Detected within one evaluation interval (the default 30 s).
    let at = |v: &Value| {
        v["timeline"]["detected"]
            .as_f64()
            .unwrap_or_else(|| panic!("not detected: {:#}", v["timeline"]))
    };
    let (s, l) = (at(&sim), at(&live));
    assert!(
        (s - l).abs() <= 30.0,
        "detected at {s} s simulated, {l} s live"
    );
    // The live windows held the simulated traffic.
    let total = |v: &Value| v["total_requests"].as_u64().expect("total_requests");
    let (s, l) = (total(&sim), total(&live));
    assert!(
        l as f64 >= 0.8 * s as f64,
        "live total_requests {l}, under 80% of the simulated {s}; stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("warning: live traffic cannot hold"),
        "{SCALE}x holds on this machine: {stderr}"
    );
}

#[test]
fn a_time_scale_the_registry_cannot_serve_is_named_before_the_drill() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), DRILL);
    // 100 rps at 100,000x needs 10 million requests a wall second: no
    // registry answers that, and a window holds a handful of requests of
    // the 10% canary. (The whole drill is 18 ms of wall time.)
    let (live, out) = run(&file, &["--backend", "http", "--time-scale", "100000"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("warning: live traffic cannot hold policy.min_requests"))
        .unwrap_or_else(|| panic!("no capacity warning:\n{stderr}"));
    assert!(
        line.starts_with("live-load-canary: warning: live traffic cannot hold policy.min_requests at --time-scale 100000: the scenario's 100 rps needs 10,000,000/s, the registry answered ")
            && line.contains("requests of v13 at its 10% first share, under min_requests 50 (the simulation's hold 3,000)"),
        "{line}"
    );
    // The largest scale it names holds 50 requests of the 10% share per
    // 5m window: 80% of the measured rate × 0.1 × 300 s / 50.
    let figure = |prefix: &str, upto: char| -> f64 {
        let from = line.find(prefix).expect(prefix) + prefix.len();
        line[from..]
            .split(upto)
            .next()
            .unwrap()
            .replace(',', "")
            .parse()
            .unwrap()
    };
    let measured = figure("the registry answered ", '/');
    let largest = figure("the largest time scale that holds them is ", ' ');
    let want = (measured * 0.8 * 0.1 * 300.0 / 50.0).floor();
    assert!(
        (largest - want).abs() <= 1.0 && largest > 30.0,
        "largest {largest}, from {measured}/s: want {want}"
    );
    // The drill still ran.
    assert_eq!(live["backend"], "http");
}
