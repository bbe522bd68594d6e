//! Load on the registry server: synthetic completions and route lookups
//! from keep-alive clients while rollbacks flip the route, for a fixed
//! time. Prints sustained requests per second and latency percentiles.
//!
//! `cargo bench --bench registry_load` (LOAD_SECONDS, LOAD_CLIENTS to vary)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rollback_drill::server::{self, Role, Tokens};

/// One keep-alive connection.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).unwrap();
        Client {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    fn call(&mut self, method: &str, path: &str, token: Option<&str>, body: &str) -> u16 {
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.writer.write_all(req.as_bytes()).unwrap();
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line).unwrap();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).unwrap();
        status
    }
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)] as f64 / 1000.0
}

fn main() {
    let seconds: u64 = std::env::var("LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let clients: usize = std::env::var("LOAD_CLIENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let dir = tempfile::tempdir().unwrap();
    let tokens = Tokens::from_pairs([
        ("lead".to_string(), Role::PlatformLead),
        ("view".to_string(), Role::Viewer),
    ]);
    let running = server::start(
        "127.0.0.1:0".parse().unwrap(),
        &dir.path().join("state.db"),
        tokens,
    )
    .unwrap();
    let addr = running.addr;
    let mut admin = Client::new(addr);
    let seed = r#"{"revision": 0, "change": "model", "candidates": [{"id": "r:v1", "version": "v1", "weight": 75}, {"id": "r:v2", "version": "v2", "weight": 25}]}"#;
    assert_eq!(admin.call("PUT", "/api/routes/r", Some("lead"), seed), 200);

    let stop = Arc::new(AtomicBool::new(false));
    let latencies: Arc<Mutex<Vec<u64>>> = Arc::default();
    let failures = Arc::new(AtomicU64::new(0));
    let rollbacks = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for i in 0..clients {
        let (stop, latencies, failures) = (
            Arc::clone(&stop),
            Arc::clone(&latencies),
            Arc::clone(&failures),
        );
        threads.push(std::thread::spawn(move || {
            let mut c = Client::new(addr);
            let mut mine = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let status = if (n + i as u64).is_multiple_of(10) {
                    c.call("GET", "/api/routes/r", Some("view"), "")
                } else {
                    c.call(
                        "POST",
                        "/v1/complete",
                        None,
                        r#"{"route": "r", "prompt": "hi"}"#,
                    )
                };
                mine.push(t.elapsed().as_micros() as u64);
                if status != 200 {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
            latencies.lock().unwrap().extend(mine);
        }));
    }
    // Rollbacks back and forth while the load runs.
    {
        let (stop, rollbacks) = (Arc::clone(&stop), Arc::clone(&rollbacks));
        threads.push(std::thread::spawn(move || {
            let mut c = Client::new(addr);
            let mut target = "v2";
            while !stop.load(Ordering::Relaxed) {
                let body =
                    format!(r#"{{"route": "r", "target_version": "{target}", "reason": "load"}}"#);
                if c.call("POST", "/api/rollback", Some("lead"), &body) == 200 {
                    rollbacks.fetch_add(1, Ordering::Relaxed);
                }
                target = if target == "v2" { "v1" } else { "v2" };
                std::thread::sleep(Duration::from_millis(100));
            }
        }));
    }
    let clock = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let took = clock.elapsed().as_secs_f64();
    let mut l = latencies.lock().unwrap().clone();
    l.sort_unstable();
    eprintln!(
        "registry load: {clients} keep-alive clients for {took:.1} s: {} requests ({:.0}/s), latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} rollbacks applied meanwhile; {} non-200",
        l.len(),
        l.len() as f64 / took,
        percentile(&l, 0.50),
        percentile(&l, 0.99),
        percentile(&l, 1.0),
        rollbacks.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed)
    );
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "every request answered 200"
    );
    drop(running);
}
