//! Container drills on the machine's Docker engine, for real: the registry
//! runs in a throwaway container made from our own binary (imported, never
//! pulled), and container faults act on it.
//!
//! Without an engine these tests skip loudly; under CI (`CI` set) a missing
//! engine fails them instead, so they cannot pass by skipping there.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::docker::{EXE, ONE_AT_A_TIME, assert_clean, backend, engine, run_cli};
use common::{plan, root};
use rollback_drill::container::{LABEL, OWNER};
use rollback_drill::live::{self, ContainerBackend, LiveOptions};
use rollback_drill::outcome::{CheckStatus, DrillOutcome};
use rollback_drill::scenario::{FindingKind, Plan};

fn fixture(name: &str) -> Plan {
    let file = root().join("fixtures/container").join(name);
    plan(&std::fs::read_to_string(&file).expect("fixture"))
}

fn drill(backend: &Arc<ContainerBackend>, p: &Plan) -> DrillOutcome {
    let opts = LiveOptions {
        server_exe: None,
        container: Some(Arc::clone(backend)),
        ..common::live_at_60x()
    };
    live::run(p, &opts).expect("the container drill runs")
}

fn retries(o: &DrillOutcome) -> usize {
    common::retry_phases(o).len()
}

#[test]
fn a_crashed_registry_restarts_with_every_acknowledged_change() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = backend() else { return };
    let o = drill(&b, &fixture("registry-crash.yaml"));
    assert!(o.passed(), "{:#?}", o.checks());
    assert!(retries(&o) >= 3, "the retries show: {:#?}", o.steps());
    let restored = o.record.restored.expect("restored");
    assert!(
        restored >= 19 * 60_000,
        "restored at {restored} ms: after the restart at 19m, not before"
    );
    // The audit is read from the restarted server: the stage written before
    // the crash survived it, and the final rollback landed after it.
    let to: Vec<(f64, &str)> = o.audit.iter().map(|a| (a.at_s, a.to.as_str())).collect();
    assert!(
        to.iter()
            .any(|(at, t)| *at < 13.0 * 60.0 && t.contains("v13 12.5%")),
        "the first stage, acknowledged before the crash, is still there: {to:?}"
    );
    assert!(
        to.iter()
            .any(|(at, t)| *at > 19.0 * 60.0 && t.contains("v12 100%")),
        "the rollback finished after the restart: {to:?}"
    );
    assert!(
        o.findings()
            .iter()
            .any(|f| f.kind == FindingKind::RegistryUnavailable)
    );
    assert_clean(&b.engine);
}

/// A crash right after the release (at the same instant, so hardly a
/// request reaches it before): the restarted server must
/// still serve the release with its regression (it is the service's
/// behaviour, not the registry's state), so it is detected after the
/// restart and rolled back. A server that forgot it would serve 0% errors
/// and the drill would never detect anything.
#[test]
fn a_crash_before_detection_keeps_the_regression_after_the_restart() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = backend() else { return };
    let text = std::fs::read_to_string(root().join("fixtures/container/registry-crash.yaml"))
        .expect("fixture")
        .replace(
            "name: container-registry-crash",
            "name: crash-before-detection",
        )
        .replace(
            "{kind: registry_crash, at: 13m, restart_after: 6m}",
            "{kind: registry_crash, at: 10m, restart_after: 3m}",
        )
        // The procedure starts after the restart: it meets no outage.
        .replace("findings: [registry_unavailable]", "findings: []")
        // Live traffic keeps up with the scenario's 100 rps: the half
        // minute of scenario time the kill itself takes carries some 1,800
        // requests of the release, which must not be enough to detect it
        // before the crash; after the restart they pile up again.
        .replace("min_requests: 200", "min_requests: 5000");
    let o = drill(&b, &plan(&text));
    let detected = o
        .record
        .detected
        .expect("the regression is detected after the restart");
    assert!(
        detected >= 13 * 60_000,
        "detected at {detected} ms: after the restart at 13m"
    );
    assert!(o.record.restored.is_some(), "{:#?}", o.checks());
    assert!(o.passed(), "{:#?}", o.checks());
    assert_clean(&b.engine);
}

#[test]
fn a_network_partition_shows_the_retries_and_a_longer_restore() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = backend() else { return };
    let p = fixture("network-partition.yaml");
    let o = drill(&b, &p);
    assert!(retries(&o) >= 3, "the retries show: {:#?}", o.steps());
    // Without the partition the second stage would land after its 5m hold;
    // with it, not before the network is back at 19m.
    let decided = o.record.decided.expect("decided");
    let restore = o.durations().restore.expect("restored");
    assert!(
        decided + 5 * 60_000 < 19 * 60_000 && restore * 1000.0 >= (19 * 60_000 - decided) as f64,
        "restore {restore}s after deciding at {decided} ms: longer than the hold alone"
    );
    assert!(o.passed(), "{:#?}", o.checks());
    assert_clean(&b.engine);
}

#[test]
fn a_freeze_that_outlasts_the_target_fails_the_restore_check() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = backend() else { return };
    let o = drill(&b, &fixture("registry-freeze-outlasts-target.yaml"));
    let checks = o.checks();
    let restore = checks
        .iter()
        .find(|c| c.name == "restore")
        .expect("a restore check");
    assert_eq!(restore.status, CheckStatus::Failed, "{checks:#?}");
    assert!(
        restore.message.contains("target 10m"),
        "{}",
        restore.message
    );
    assert!(
        retries(&o) >= 2,
        "calls hung and were retried: {:#?}",
        o.steps()
    );
    // A paused server accepts connections but never answers: the calls
    // time out (1s of wall time, a scenario minute at 60x), not refused.
    assert!(
        common::retry_phases(&o)
            .iter()
            .any(|p| p.detail.contains("timed out after 1m")),
        "{:#?}",
        o.steps()
    );
    assert_clean(&b.engine);
}

/// A unix-socket proxy in front of the engine that logs every request line.
#[test]
fn leftovers_of_a_killed_run_are_removed_and_live_runs_are_left_alone() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some(engine) = engine() else { return };
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    // 4194305 is above any PID the kernel hands out: that run is gone.
    let dead = format!("{OWNER}={host}:4194305:1");
    let suffix = std::process::id();
    let docker = |args: &[&str]| {
        let out = Command::new("docker")
            .args(args)
            .output()
            .expect("docker CLI");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let (net, vol) = (
        format!("rd-leftover-net-{suffix}"),
        format!("rd-leftover-vol-{suffix}"),
    );
    docker(&[
        "network",
        "create",
        "--label",
        &format!("{LABEL}=true"),
        "--label",
        &dead,
        &net,
    ]);
    docker(&[
        "volume",
        "create",
        "--label",
        &format!("{LABEL}=true"),
        "--label",
        &dead,
        &vol,
    ]);
    // And one owned by another host, which must stay.
    let other = format!("rd-other-host-vol-{suffix}");
    docker(&[
        "volume",
        "create",
        "--label",
        &format!("{LABEL}=true"),
        "--label",
        &format!("{OWNER}=another-host:1:1"),
        &other,
    ]);
    // And one owned by this very process, which is running.
    let mine = format!("rd-live-owner-vol-{suffix}");
    docker(&[
        "volume",
        "create",
        "--label",
        &format!("{LABEL}=true"),
        "--label",
        &format!("{OWNER}={}", rollback_drill::container::owner()),
        &mine,
    ]);
    let swept = engine.sweep_leftovers().expect("sweep");
    assert_eq!((swept.networks, swept.volumes), (1, 1), "{swept:?}");
    let (_, n, v) = engine.labelled().expect("list");
    assert_eq!(
        (n, v),
        (0, 2),
        "the other host's volume and the running owner's are left"
    );
    docker(&["volume", "rm", &other, &mine]);
    assert_clean(&engine);
}

/// A fake engine on a unix socket that answers every request with `body`.
fn fake_engine(dir: &Path, body: &'static str) -> PathBuf {
    let path = dir.join("fake-docker.sock");
    let listener = UnixListener::bind(&path).expect("bind");
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut reader = BufReader::new(s.try_clone().expect("clone"));
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nApi-Version: 1.24\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    path
}

#[test]
fn no_engine_or_an_old_one_is_an_environment_error() {
    let args = [
        "run",
        "fixtures/container/registry-crash.yaml",
        "--backend",
        "container",
        "--report-dir",
        "/tmp/rollback-drill-no-engine",
    ];
    let out = run_cli(&args, &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("no Docker engine at unix:///nonexistent/docker.sock")
            && stderr.contains("DOCKER_HOST"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let sock = fake_engine(
        dir.path(),
        r#"{"Version":"1.12.6","ApiVersion":"1.24","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64"}"#,
    );
    let host = format!("unix://{}", sock.display());
    let out = run_cli(&args, &[("DOCKER_HOST", &host)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("speaks API 1.24") && stderr.contains("needs 1.41 or newer"),
        "{stderr}"
    );
}

#[test]
fn ctrl_c_writes_the_reports_so_far_and_cleans_up() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some(engine) = engine() else { return };
    let reports = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(EXE)
        .args([
            "run",
            "fixtures/container/registry-freeze-outlasts-target.yaml",
            "fixtures/container/registry-crash.yaml",
            "--backend",
            "container",
            "--time-scale",
            "60",
            "--report-dir",
        ])
        .arg(reports.path())
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until its first registry container runs.
    let start = Instant::now();
    while engine.labelled().expect("list").0 == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no container came up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = child.wait().expect("wait");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut stderr)
        .expect("read");
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let results: serde_json::Value = serde_json::from_slice(
        &std::fs::read(reports.path().join("results.json")).expect("results.json written"),
    )
    .expect("JSON");
    let drills = results["scenarios"].as_array().expect("scenarios");
    assert_eq!(
        drills.len(),
        1,
        "the interrupted drill only; the next never started"
    );
    assert_eq!(drills[0]["live"]["interrupted"], true);
    assert!(
        drills[0]["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .any(|c| c["name"] == "interrupted" && c["passed"] == false),
        "{:#}",
        drills[0]["checks"]
    );
    let history = std::fs::read_to_string(reports.path().join("history.jsonl")).unwrap_or_default();
    assert!(
        history.is_empty(),
        "an interrupted drill is not history: {history}"
    );
    assert!(reports.path().join("junit.xml").is_file());
    assert_clean(&engine);
}

#[test]
fn parallel_container_drills_each_get_a_registry_of_their_own() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some(engine) = engine() else { return };
    let reports = tempfile::tempdir().expect("tempdir");
    let out = run_cli(
        &[
            "run",
            "fixtures/container/registry-crash.yaml",
            "fixtures/container/network-partition.yaml",
            "--backend",
            "container",
            "--time-scale",
            "60",
            "--jobs",
            "2",
            "--report-dir",
            reports.path().to_str().expect("utf-8"),
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Two drills seeding one shared registry would collide (the second
    // finds the first's route and exits 3); each passes on its own.
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for name in ["container-registry-crash", "container-network-partition"] {
        let doc: serde_json::Value = serde_json::from_slice(
            &std::fs::read(reports.path().join(format!("{name}.json"))).expect("report"),
        )
        .expect("JSON");
        assert_eq!(doc["backend"], "container");
        let audit = doc["audit"].as_array().expect("audit");
        let rollbacks = audit
            .iter()
            .filter(|a| {
                a["to"]
                    .as_str()
                    .is_some_and(|t| t.contains("v12 100%, v13 0%"))
            })
            .count();
        assert_eq!(rollbacks, 1, "{name}: only its own rollback: {audit:#?}");
    }
    assert_clean(&engine);
}
