//! Shared helpers for integration tests: plans from YAML text, and the
//! drill template the detection tests vary.

#![allow(dead_code)]

pub mod docker;
pub mod http;
pub mod servers;

use std::path::{Path, PathBuf};

use rollback_drill::scenario::{self, Plan};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the built `rollback-drill` from the crate root.
pub fn bin(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rollback-drill"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the rollback-drill binary runs")
}

/// The retries a drill's report shows: every "registry unavailable" phase
/// of every step, in order.
pub fn retry_phases(
    o: &rollback_drill::outcome::DrillOutcome,
) -> Vec<&rollback_drill::drill::PhaseRecord> {
    o.steps()
        .iter()
        .flat_map(|s| s.phases.iter())
        .filter(|p| p.name == "registry unavailable")
        .collect()
}

/// A live drill at 60× on a registry server process it starts itself,
/// as `run --backend http` without `--registry` does.
pub fn live_at_60x() -> rollback_drill::live::LiveOptions {
    rollback_drill::live::LiveOptions {
        registry: None,
        token: None,
        time_scale: 60.0,
        server_exe: Some(env!("CARGO_BIN_EXE_rollback-drill").into()),
        container: None,
        container_wanted: false,
        preflight_only: false,
        compare_simulated: false,
    }
}

pub fn plan(yaml: &str) -> Plan {
    match scenario::load_str(yaml, Path::new("test.yaml")) {
        Ok(p) => p,
        Err(diags) => panic!(
            "test scenario invalid:\n{}",
            diags
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// A prompt canary drill; `{RPS}`, `{ERRORS}`, `{WEIGHT}`, `{SEED}` and
/// `{EXTRA}` are filled in by the caller.
pub const CANARY: &str = r#"
name: canary
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
  rps: {RPS}
  behaviour:
    v12: {error_rate: 0.5%, latency: {p50: 700ms, p99: 2s}, quality: 88%}
release:
  route: support-answer
  version: v13
  at: 15m
  weight: {WEIGHT}
  behaviour: {error_rate: {ERRORS}}
procedure:
  - confirm: {}
  - identify_target: {previous: true}
  - execute: {mechanism: route_weight}
  - verify: {metric: error_rate, below: 1%, every: 5s, within: 5m}
{EXTRA}
"#;

pub fn canary(seed: u64, rps: u32, weight: &str, errors: &str, extra: &str) -> Plan {
    plan(
        &CANARY
            .replace("{SEED}", &seed.to_string())
            .replace("{RPS}", &rps.to_string())
            .replace("{WEIGHT}", weight)
            .replace("{ERRORS}", errors)
            .replace("{EXTRA}", extra),
    )
}
