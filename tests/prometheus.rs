//! Live drills whose detection and verify read a real Prometheus: a
//! registry server process and a `prometheus` process (Debian's 2.42, as
//! CI installs it) scraping its `/metrics` every second, both on free
//! loopback ports and both killed when the test ends.
//!
//! Without a `prometheus` binary the tests say so loudly and return; CI
//! installs it (`.ci/run`), so there they run.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::http::{Server, request};
use serde_json::Value;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A Prometheus process, killed (by PID) on drop.
struct Prometheus {
    child: Child,
    addr: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn prometheus_installed() -> bool {
    let found = Command::new("prometheus")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!(
            "SKIPPED: no `prometheus` binary on PATH; install it (apt-get install -y prometheus) to run the Prometheus drills"
        );
    }
    found
}

impl Prometheus {
    /// Scrapes `target` (the registry server; its `/metrics` needs no
    /// token) every second, storing in `dir`.
    fn start(dir: &Path, target: &str) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: registry\n    scrape_interval: 1s\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts");
        let p = Prometheus { child, addr };
        let started = Instant::now();
        while request(&p.addr, "GET", "/-/ready", None, None, &[]).0 != 200 {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "prometheus did not become ready on {}",
                p.addr
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        p
    }
}

fn registry(dir: &Path) -> Server {
    let tokens = dir.join("tokens.yaml");
    std::fs::write(&tokens, format!("{TOKEN}: platform_lead\n")).unwrap();
    Server::start(&dir.join("state.db"), &tokens)
}

/// A token distinctive enough to search the reports for.
const TOKEN: &str = "tok-7f3a9c-never-in-a-report";

fn run_live(scenario: &Path, reg: &Server, prom: &Prometheus, reports: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollback-drill"))
        .arg("run")
        .arg(scenario)
        .args(["--backend", "http", "--time-scale", "60", "--token", TOKEN])
        .arg("--registry")
        .arg(format!("http://{}", reg.addr))
        .arg("--report-dir")
        .arg(reports)
        .env("REGISTRY_URL", format!("http://{}", reg.addr))
        .env("REGISTRY_TOKEN", TOKEN)
        .env("PROMETHEUS_URL", format!("http://{}", prom.addr))
        .output()
        .expect("the binary runs")
}

fn report(dir: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn step<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {doc:#}"))
}

/// The error-rate query adds 0.1: a mark only values read from
/// Prometheus carry. The release fails 3% of requests: read from the
/// drill's own traffic that pages (above 2%); read from Prometheus it is
/// 13% and rolls back automatically (above 5%). Verify reads the restored
/// version at about 10.5%, which only Prometheus can show.
const MARKED: &str = r#"
name: live-prometheus-marked
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
  behaviour: {error_rate: 3%}
policy:
  min_requests: 200
metrics:
  prometheus:
    url: ${PROMETHEUS_URL}
    queries:
      error_rate: 'sum(rate(rollback_drill_errors_total{version="{version}"}[{window}])) / sum(rate(rollback_drill_requests_total{version="{version}"}[{window}])) + 0.1'
procedure:
  - identify_target: {previous: true}
  - execute: {mechanism: route_weight}
  - verify: {metric: error_rate, below: 12%, every: 5s, within: 10m}
"#;

#[test]
fn detection_and_verify_read_prometheus_in_a_live_drill() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    if !prometheus_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path());
    let prom = Prometheus::start(dir.path(), &reg.addr);
    let scenario = dir.path().join("marked.yaml");
    std::fs::write(&scenario, MARKED).unwrap();
    let reports = dir.path().join("reports");
    let out = run_live(&scenario, &reg, &prom, &reports);
    let doc = report(&reports, "live-prometheus-marked");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{doc:#}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Detection: the marked value, hence auto_rollback rather than page.
    let trigger = &doc["trigger"];
    assert_eq!(trigger["action"], "auto_rollback", "{doc:#}");
    let value = trigger["value"].as_f64().unwrap();
    assert!((0.1..0.2).contains(&value), "marked value {value}");
    let path = doc["decision"]["path"].to_string();
    // Reports show the URL as written: `${PROMETHEUS_URL}`.
    assert!(
        path.contains("read from Prometheus ${PROMETHEUS_URL}"),
        "{path}"
    );
    // Verify: the restored version's marked error rate, from Prometheus.
    let verify = step(&doc, "verify");
    assert_eq!(verify["status"], "succeeded");
    let detail = verify["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("error_rate of v12 from Prometheus (sum(rate("),
        "{detail}"
    );
    let shown: f64 = detail
        .split("): ")
        .nth(1)
        .and_then(|s| s.split('%').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a percentage in {detail}"));
    assert!((10.0..12.0).contains(&shown), "{detail}");
    // Times in the report: restored within the 5m prompt target,
    // verified within the step's 10m.
    let restore = doc["durations"]["restore"].as_f64().expect("restored");
    let verified = doc["durations"]["verify"].as_f64().expect("verified");
    assert!(restore < 300.0, "restore {restore}s");
    assert!(verified <= 600.0, "verify {verified}s");
    assert_eq!(doc["backend"], "http");
}

#[test]
fn the_live_example_passes_against_prometheus_and_keeps_its_secrets() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    if !prometheus_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path());
    let prom = Prometheus::start(dir.path(), &reg.addr);
    let reports = dir.path().join("reports");
    let scenario = common::root().join("fixtures/live/prometheus-verified-rollback.yaml");
    let out = run_live(&scenario, &reg, &prom, &reports);
    let doc = report(&reports, "live-prometheus-verified-rollback");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{doc:#}",
        String::from_utf8_lossy(&out.stderr)
    );
    let http = step(&doc, "http");
    assert_eq!(http["status"], "succeeded");
    assert_eq!(
        http["detail"],
        "GET ${REGISTRY_URL}/api/routes/support-answer → 200"
    );
    assert_eq!(step(&doc, "exec")["status"], "succeeded");
    let wait = step(&doc, "wait_for");
    assert_eq!(wait["status"], "succeeded", "{wait:#}");
    assert!(wait["detail"].as_str().unwrap().starts_with("Prometheus: "));
    assert!(
        step(&doc, "verify")["detail"]
            .as_str()
            .unwrap()
            .contains("from Prometheus"),
        "{doc:#}"
    );
    // The token was sent (the registry answered 200 to it) but no report
    // file holds it.
    let mut files = 0;
    for entry in std::fs::read_dir(&reports).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(TOKEN), "{} holds the secret", path.display());
        files += 1;
    }
    assert!(files >= 5, "every report format was written");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(TOKEN));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(TOKEN));
}

#[test]
fn an_unreachable_prometheus_is_an_environment_error_naming_it() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path());
    let scenario = dir.path().join("marked.yaml");
    std::fs::write(&scenario, MARKED).unwrap();
    // Nothing listens there.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let out = Command::new(env!("CARGO_BIN_EXE_rollback-drill"))
        .arg("run")
        .arg(&scenario)
        .args(["--backend", "http", "--time-scale", "60", "--token", TOKEN])
        .arg("--registry")
        .arg(format!("http://{}", reg.addr))
        .arg("--report-dir")
        .arg(dir.path().join("reports"))
        .env("PROMETHEUS_URL", &nowhere)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("Prometheus ${PROMETHEUS_URL} is unreachable"),
        "{stderr}"
    );
    // The host came from a variable: the message names the variable, not
    // its value.
    assert!(
        stderr.contains("cannot connect to ${PROMETHEUS_URL}: "),
        "{stderr}"
    );
    assert!(!stderr.contains(&nowhere[7..]), "{stderr}");
}

#[test]
fn verify_never_passes_on_a_value_prometheus_does_not_have() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    if !prometheus_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path());
    let prom = Prometheus::start(dir.path(), &reg.addr);
    // The query selects nothing for the rollback target v12: detection on
    // v13 works, verify has no value to judge and must not pass, although
    // the drill's own traffic shows v12 healthy.
    let scenario = dir.path().join("blind.yaml");
    std::fs::write(
        &scenario,
        MARKED
            .replace("live-prometheus-marked", "live-prometheus-blind")
            .replace(
                r#"{version="{version}"}[{window}])) + 0.1"#,
                r#"{version="{version}"}[{window}]))"#,
            )
            .replace(
                r#"rollback_drill_errors_total{version="{version}"}"#,
                r#"rollback_drill_errors_total{version="{version}",version!="v12"}"#,
            )
            .replace("error_rate: 3%", "error_rate: 12%")
            .replace(
                "below: 12%, every: 5s, within: 10m",
                "below: 2%, every: 5s, within: 2m",
            ),
    )
    .unwrap();
    let reports = dir.path().join("reports");
    let out = run_live(&scenario, &reg, &prom, &reports);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = report(&reports, "live-prometheus-blind");
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    assert!(doc["durations"]["restore"].is_number(), "it did roll back");
    assert!(doc["timeline"]["verified"].is_null());
    let verify = step(&doc, "verify");
    assert_eq!(verify["status"], "failed");
    assert_eq!(
        verify["detail"],
        "not recovered within 2m: no error_rate of v12 from Prometheus ${PROMETHEUS_URL}: no sample (no data yet?)"
    );
}
