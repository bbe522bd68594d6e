//! Live drills against a real registry server process, on the wall clock
//! sped up 60×: they agree with the simulation, and a registry outage
//! injected through /admin/faults is retried through.
//!
//! These tests take real time (about 15–25 s each) and run one at a time.

mod common;

use std::sync::Mutex;

use common::{plan, root};
use rollback_drill::live;
use rollback_drill::outcome::DrillOutcome;
use rollback_drill::scenario::Plan;
use rollback_drill::sim;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn live(p: &Plan) -> DrillOutcome {
    live::run(p, &common::live_at_60x()).unwrap_or_else(|e| panic!("the live drill runs: {e}"))
}

/// Within 10% or one evaluation interval, whichever is larger.
fn agree(name: &str, what: &str, sim: Option<f64>, live: Option<f64>, interval: f64) {
    let (s, l) = (
        sim.unwrap_or_else(|| panic!("{name}: no simulated {what}")),
        live.unwrap_or_else(|| panic!("{name}: no live {what}")),
    );
    let tolerance = (0.10 * s.abs()).max(interval);
    assert!(
        (s - l).abs() <= tolerance,
        "{name}: {what} simulated {s}s, live {l}s (tolerance {tolerance}s)"
    );
}

/// A 50% canary on 100 rps (6,000 real requests a wall second at 60×, see
/// `tests/live_load.rs`); `min_requests: 1000` makes every evaluation rest
/// on enough requests that the simulated and live runs take the same path
/// (at n = 1000 the error-rate triggers sit over 2.5 sigma from the true
/// rates), even on a machine too busy to send the full rate.
const DRILL: &str = r#"
name: {NAME}
change: prompt
seed: 3
duration: 1h
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
  at: 10m
  weight: 50%
  behaviour: {error_rate: {ERRORS}}
policy:
  min_requests: 1000
procedure:
  - identify_target: {previous: true}
  - execute: {mechanism: route_weight}
  - verify: {metric: error_rate, below: 1.5%, every: 5s, within: 5m}
{FAULTS}
"#;

fn drill(name: &str, errors: &str, faults: &str) -> Plan {
    plan(
        &DRILL
            .replace("{NAME}", name)
            .replace("{ERRORS}", errors)
            .replace("{FAULTS}", faults),
    )
}

#[test]
fn simulated_and_live_drills_agree_on_decide_and_restore() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // An auto-rolled-back spike and a paged error rate.
    for p in [
        drill("live-spike", "10%", ""),
        drill("live-paged", "3.5%", ""),
    ] {
        let (s, l) = (sim::run(&p), live(&p));
        let interval = p.policy.evaluate_every.secs_f64();
        agree(
            &p.name,
            "decide",
            s.durations().decide,
            l.durations().decide,
            interval,
        );
        agree(
            &p.name,
            "restore",
            s.durations().restore,
            l.durations().restore,
            interval,
        );
        assert_eq!(
            s.record.trigger.as_ref().map(|t| t.0.action),
            l.record.trigger.as_ref().map(|t| t.0.action),
            "{}: the same path",
            p.name
        );
        assert!(l.live.is_some_and(|i| i.time_scale == 60.0));
        assert!(
            l.total_requests > 1000,
            "{}: real traffic flowed ({})",
            p.name,
            l.total_requests
        );
        assert!(
            l.audit
                .iter()
                .any(|a| a.reason.starts_with("rollback drill")),
            "{:?}",
            l.audit
        );
    }
}

#[test]
fn a_registry_outage_injected_into_the_server_is_retried_through() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let p = drill(
        "live-outage",
        "12%",
        "faults:\n  - {kind: registry_outage, at: 10m, for: 20m}",
    );
    let o = live(&p);
    let retries = common::retry_phases(&o);
    assert!(
        retries.len() >= 3,
        "the report shows the retries: {:#?}",
        o.steps()
    );
    assert!(
        o.record.restored.is_some(),
        "and the rollback still restores: {:#?}",
        o.checks()
    );
    assert!(
        o.record.restored.unwrap() >= 18 * 60 * 1000 - 5_000,
        "after the outage"
    );
    assert!(
        o.findings()
            .iter()
            .any(|f| f.kind == rollback_drill::scenario::FindingKind::RegistryUnavailable)
    );
}

#[test]
fn a_release_during_an_outage_waits_for_it_instead_of_ending_the_drill() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // Down from 5m to 15m; the deployer ships at 10m. Its calls wait for
    // the registry (as they do for a paused container) and the drill goes
    // on: the release lands after the outage and is rolled back.
    let p = drill(
        "live-release-in-outage",
        "12%",
        "faults:\n  - {kind: registry_outage, at: 5m, for: 10m}",
    );
    let o = live(&p);
    let released = o
        .audit
        .iter()
        .find(|a| a.reason.starts_with("release v13"))
        .unwrap_or_else(|| panic!("the release is in the audit: {:#?}", o.audit));
    assert!(released.at_s >= 15.0 * 60.0, "{released:?}");
    // Its phases count from when it shipped, not from its planned 10m.
    assert!(o.released >= 15 * 60 * 1000, "{}", o.released);
    assert!(o.record.restored.is_some(), "{:#?}", o.checks());
}

#[test]
fn live_flags_are_checked() {
    use std::process::Command;
    let run = common::bin;
    let out = run(&["run", "--time-scale", "60"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("add --backend http"));
    let out = run(&[
        "run",
        "--backend",
        "container",
        "--registry",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not apply to --backend container"));
    // Container faults need a container: the http backend refuses them.
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "run",
        "fixtures/container/registry-crash.yaml",
        "--backend",
        "http",
        "--time-scale",
        "60",
        "--report-dir",
        dir.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("fault `registry_crash` cannot be injected in a drill on the http backend")
            && stderr.contains("--backend container"),
        "{stderr}"
    );
    let out = run(&[
        "run",
        "--backend",
        "http",
        "--registry",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(out.status.code(), Some(2), "a registry needs a token");
    // A URL the client cannot speak to is bad input, named with the fix.
    let out = run(&[
        "run",
        "scenarios/prompt-error-spike-auto-rollback.yaml",
        "--backend",
        "http",
        "--registry",
        "https://registry.staging:8443",
        "--token",
        "t",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "--registry: registry URL `https://registry.staging:8443` must start with http://"
        ) && stderr.contains("TLS-terminating proxy"),
        "{stderr}"
    );
    // An unreachable registry is an environment error naming it.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rollback-drill"))
        .args([
            "run",
            "scenarios/prompt-error-spike-auto-rollback.yaml",
            "--backend",
            "http",
            "--registry",
            "http://127.0.0.1:9",
            "--token",
            "t",
            "--report-dir",
        ])
        .arg(dir.path())
        .current_dir(root())
        .env_remove("ROLLBACK_DRILL_TOKEN")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("registry http://127.0.0.1:9 is unreachable")
    );
}

/// A registry that takes connections and never answers was waited on for
/// the whole call timeout (62 s once) before exit 3, with a message that
/// did not say it had answered nothing. The first contact now waits at
/// most 10 s and says what it waited for.
#[test]
fn a_silent_registry_is_named_after_a_bounded_wait() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let held = std::thread::spawn(move || {
        // Accept and hold every connection, answering nothing.
        let mut open = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < until {
            match listener.accept() {
                Ok((c, _)) => open.push(c),
                Err(_) if open.len() > 4 => break,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
        open.len()
    });
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{addr}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rollback-drill"))
        .args([
            "run",
            "scenarios/prompt-error-spike-auto-rollback.yaml",
            "--backend",
            "http",
            "--registry",
            &url,
            "--token",
            "abcdefgh",
            "--report-dir",
        ])
        .arg(dir.path())
        .current_dir(root())
        .env_remove("ROLLBACK_DRILL_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "registry {url} is unreachable or refused GET /healthz: no answer within 10s"
        )),
        "{stderr}"
    );
    drop(held);
}
