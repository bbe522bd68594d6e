//! The live traffic generator against the registry server, next to `oha`
//! on the same server, endpoint and body: achieved requests a second,
//! latency percentiles, errors. Then the generator paced as a 100 rps
//! drill at `--time-scale 60` asks (6,000 a second).
//!
//! `cargo install oha --locked`, then `cargo bench --bench load`
//! (LOAD_SECONDS to vary; without `oha` on PATH its line says skipped).

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rollback_drill::live::{FULL_SPEED_POOL, Http, Load, LoadStats, Sink, Target};
use rollback_drill::server::{self, Role, Tokens};
use serde_json::Value;

const BODY: &str = r#"{"route":"r"}"#;

/// Counts the served versions, as the drill's recorder reads them.
#[derive(Default)]
struct Count(AtomicU64);

impl Sink for Count {
    fn record(&self, _now_ms: u64, reply: &Value) {
        if reply["version"].is_string() {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn ms(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{v:.2} ms"))
}

/// Ours at `rate` (infinite: full speed over `FULL_SPEED_POOL`).
fn ours(base: &str, rate: f64, seconds: u64) -> (LoadStats, u64) {
    let target = Target::new(base, None, "r", Duration::from_secs(10)).expect("a target");
    let sink = Arc::new(Count::default());
    let load = if rate.is_finite() {
        Load::spawn(target, rate, Instant::now(), 60.0, Arc::clone(&sink))
    } else {
        Load::full_speed(target, FULL_SPEED_POOL, Arc::clone(&sink))
    }
    .expect("the generator starts");
    std::thread::sleep(Duration::from_secs(seconds));
    let stats = load.stop();
    (stats, sink.0.load(Ordering::Relaxed))
}

/// `oha`'s requests a second, or `None` (and a loud line) without it.
fn oha(url: &str, seconds: u64) -> Option<f64> {
    let version = Command::new("oha").arg("--version").output();
    let Some(version) = version.ok().filter(|o| o.status.success()) else {
        println!("load: oha not installed: skipped (cargo install oha --locked)");
        return None;
    };
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let out = Command::new("oha")
        .args(["-z", &format!("{seconds}s")])
        .args(["-c", &FULL_SPEED_POOL.to_string()])
        .args(["--no-tui", "--output-format", "json"])
        .args(["-m", "POST", "-H", "Content-Type: application/json"])
        .args(["-d", BODY, url])
        .output()
        .expect("oha runs");
    assert!(
        out.status.success(),
        "oha failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("oha's JSON summary");
    let rps = v["summary"]["requestsPerSec"]
        .as_f64()
        .expect("requestsPerSec");
    let codes = &v["statusCodeDistribution"];
    let ok = codes["200"].as_u64().unwrap_or(0);
    let all: u64 = codes
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
    // oha counts the requests its deadline cut off as errors.
    let kinds = v["errorDistribution"].as_object();
    let errors: u64 = kinds.map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
    let kinds: Vec<&str> = kinds.map_or(Vec::new(), |m| m.keys().map(String::as_str).collect());
    let pct = |k: &str| v["latencyPercentiles"][k].as_f64().map(|s| s * 1000.0);
    println!(
        "load: {version:<12} {FULL_SPEED_POOL} connections, {seconds} s: {rps:.0} requests/s, latency p50 {}, p99 {}, {} non-200, {errors} errors {kinds:?}",
        ms(pct("p50")),
        ms(pct("p99")),
        all - ok
    );
    Some(rps)
}

fn main() {
    let seconds: u64 = std::env::var("LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let tokens = Tokens::from_pairs([("lead".to_string(), Role::PlatformLead)]);
    let running = server::start(
        "127.0.0.1:0".parse().unwrap(),
        &dir.path().join("state.db"),
        tokens,
    )
    .unwrap();
    let base = format!("http://{}", running.addr);
    let mut admin = Http::new(&base, Some("lead")).unwrap();
    let seed = r#"{"revision": 0, "change": "model", "candidates": [{"id": "r:v1", "version": "v1", "weight": 75}, {"id": "r:v2", "version": "v2", "weight": 25}]}"#;
    assert_eq!(admin.call("PUT", "/api/routes/r", Some(seed)).status, 200);

    let (full, recorded) = ours(&base, f64::INFINITY, seconds);
    let rate = full.answered_per_s();
    println!(
        "load: rollback-drill {FULL_SPEED_POOL} connections, {seconds} s: {rate:.0} requests/s, latency p50 {}, p99 {}, {} failed ({} timed out)",
        ms(full.p50_ms),
        ms(full.p99_ms),
        full.failed,
        full.timed_out
    );
    assert_eq!(recorded, full.answered, "every answer reached the sink");
    if let Some(theirs) = oha(&format!("{base}/v1/complete"), seconds) {
        println!("load: ratio ours/oha = {:.2}", rate / theirs);
    }
    // As a drill paces it: 100 rps at --time-scale 60.
    let (paced, _) = ours(&base, 6000.0, seconds);
    println!(
        "load: paced at 6000/s (100 rps at --time-scale 60), {seconds} s: {:.0} answered/s, {} late, {} failed, latency p50 {}, p99 {}",
        paced.answered_per_s(),
        paced.late,
        paced.failed,
        ms(paced.p50_ms),
        ms(paced.p99_ms)
    );
    assert_eq!(full.failed + paced.failed, 0, "every request answered 200");
    drop(running);
}
