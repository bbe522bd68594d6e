//! The generator against a registry in this process, and against a
//! listener that never answers.

use std::sync::Mutex;

use super::capacity::calibrate;
use super::*;
use crate::live::Http;
use crate::server::{self, Role, Tokens};

/// Every reply the sink was given: (scenario ms, version).
#[derive(Default)]
struct Seen(Mutex<Vec<(u64, String)>>);

impl Sink for Seen {
    fn record(&self, now_ms: u64, reply: &Value) {
        let version = reply["version"].as_str().unwrap_or_default().to_string();
        self.0.lock().unwrap().push((now_ms, version));
    }
}

/// A registry with route `r` serving `v1`; dropped, it stops.
fn registry() -> (server::Running, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = Tokens::from_pairs([("lead".to_string(), Role::PlatformLead)]);
    let running = server::start(
        "127.0.0.1:0".parse().unwrap(),
        &dir.path().join("state.db"),
        tokens,
    )
    .unwrap();
    let base = format!("http://{}", running.addr);
    let mut http = Http::new(&base, Some("lead")).unwrap();
    let seed = r#"{"revision": 0, "change": "model", "candidates": [{"id": "r:v1", "version": "v1", "weight": 100}]}"#;
    assert_eq!(http.call("PUT", "/api/routes/r", Some(seed)).status, 200);
    (running, dir, base)
}

#[test]
fn paced_traffic_is_never_ahead_of_its_schedule_and_every_answer_reaches_the_sink() {
    let (_server, _dir, base) = registry();
    let target = Target::new(&base, None, "r", Duration::from_secs(10)).unwrap();
    let seen = Arc::new(Seen::default());
    let (rate, scale) = (2000.0, 60.0);
    let start = Instant::now();
    let load = Load::spawn(target, rate, start, scale, Arc::clone(&seen)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let stats = load.stop();
    let wall = start.elapsed();
    // Open loop: request i leaves at i / rate at the earliest.
    assert!(
        stats.sent as f64 <= wall.as_secs_f64() * rate + 1.0,
        "{stats:?} in {wall:?}"
    );
    assert!(stats.answered > 0, "{stats:?}");
    assert_eq!(stats.failed, 0, "{stats:?}");
    // Requests still in flight at the stop are neither answered nor failed.
    let pool = Pace::new(rate, scale).pool() as u64;
    assert!(stats.answered <= stats.sent && stats.sent <= stats.answered + pool);
    let seen = seen.0.lock().unwrap();
    assert_eq!(seen.len() as u64, stats.answered);
    let horizon = (wall.as_secs_f64() * scale * 1000.0) as u64;
    assert!(
        seen.iter().all(|(ms, v)| *ms <= horizon && v == "v1"),
        "stamped in scenario time, within {horizon} ms: {:?}",
        &seen[..seen.len().min(5)]
    );
    assert!(stats.p50_ms.is_some() && stats.p50_ms <= stats.p99_ms);
}

#[test]
fn a_registry_that_never_answers_gives_timeouts_and_late_requests_not_a_burst() {
    // Connections are accepted by the kernel; nothing ever answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", silent.local_addr().unwrap());
    let target = Target::new(&base, None, "r", Duration::from_millis(100)).unwrap();
    let seen = Arc::new(Seen::default());
    // At 100x a request more than 100 ms late is skipped.
    let (rate, scale) = (1000.0, 100.0);
    let load = Load::spawn(target, rate, Instant::now(), scale, Arc::clone(&seen)).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let stats = load.stop();
    assert_eq!(stats.answered, 0);
    assert!(
        stats.timed_out > 0 && stats.failed >= stats.timed_out,
        "{stats:?}"
    );
    // Each of the 10 connections sends one request per 100 ms timeout;
    // the other due requests are skipped, not sent in a burst later.
    assert!(stats.late > stats.sent, "{stats:?}");
    let line = stats.shortfall().expect("a shortfall to report");
    assert!(
        line.contains(&format!("{} were not sent in time", stats.late))
            && line.contains(&format!("{} timed out", stats.timed_out)),
        "{line}"
    );
    assert!(seen.0.lock().unwrap().is_empty());
    drop(silent);
}

#[test]
fn calibration_measures_a_registry_and_names_one_that_refuses() {
    let (server, _dir, base) = registry();
    let target = Target::new(&base, None, "r", Duration::from_secs(10)).unwrap();
    let c = calibrate(&target, 8).unwrap();
    assert!(c.per_s > 0.0 && c.failed == 0, "{c:?}");
    assert!(c.measured >= Duration::from_millis(200));
    drop(server);
    // The port is closed now: every connection is refused.
    let c = calibrate(&target, 8).unwrap();
    assert_eq!(c.per_s, 0.0);
    assert!(c.failed > 0, "{c:?}");
}

#[test]
fn targets_need_a_plain_http_url() {
    let t = Duration::from_secs(1);
    for bad in [
        "https://127.0.0.1:1",
        "127.0.0.1:1",
        "http://",
        "http://h:1/api",
    ] {
        assert!(
            matches!(Target::new(bad, None, "r", t), Err(LoadError::Url(_))),
            "{bad}"
        );
    }
    let err = Target::new("http://no-such-host.invalid:80", None, "r", t)
        .err()
        .expect("no address");
    assert!(
        err.to_string()
            .starts_with("registry http://no-such-host.invalid:80 has no address"),
        "{err}"
    );
    let ok = Target::new("http://127.0.0.1:9/", Some("tok"), "support", t).unwrap();
    let req = String::from_utf8(ok.request.to_vec()).unwrap();
    assert!(
        req.starts_with("POST /v1/complete HTTP/1.1\r\nHost: 127.0.0.1:9\r\n")
            && req.contains("Authorization: Bearer tok\r\n")
            && req.ends_with("Content-Length: 19\r\n\r\n{\"route\":\"support\"}"),
        "{req}"
    );
}

#[test]
fn the_pool_and_the_lag_follow_the_rate_and_the_scale() {
    assert_eq!(
        Pace::new(f64::INFINITY, 60.0),
        Pace::FullSpeed {
            pool: FULL_SPEED_POOL
        }
    );
    assert_eq!(Load::connections(6000.0), 60);
    assert_eq!(Pace::new(0.0, 60.0), Pace::Idle);
    assert_eq!(Pace::Idle.pool(), 0);
    assert_eq!(Pace::new(6000.0, 60.0).pool(), 60);
    assert_eq!(Pace::new(20.0, 1.0).pool(), 4);
    assert_eq!(Pace::new(1e7, 600.0).pool(), 256);
    let lag = |scale| match Pace::new(100.0, scale) {
        Pace::Every { lag, .. } => lag,
        other => panic!("{other:?}"),
    };
    // One scenario second, between 100 ms and 1 s of wall time.
    assert_eq!(lag(1.0), Duration::from_secs(1));
    assert_eq!(lag(4.0), Duration::from_millis(250));
    assert_eq!(lag(60.0), Duration::from_millis(100));
}

#[test]
fn a_shortfall_is_reported_past_one_percent() {
    let stats = |sent, failed, late| LoadStats {
        sent,
        answered: sent - failed,
        failed,
        late,
        elapsed: Duration::from_secs(1),
        ..LoadStats::default()
    };
    assert_eq!(stats(1000, 5, 5).shortfall(), None);
    assert_eq!(
        stats(1000, 5, 6).shortfall().as_deref(),
        Some(
            "live traffic fell short: of 1006 requests due, 6 were not sent in time (every connection busy) and 5 failed (0 timed out); 995 answered (995/s)"
        )
    );
    assert!(stats(100, 2, 0).shortfall().is_some());
}
