//! Live traffic: an open-loop generator that sends the scenario's synthetic
//! requests (`POST /v1/complete`) at the scenario's rate sped up by the time
//! scale, over a pool of keep-alive connections, on a tokio runtime of its
//! own (the rest of the live driver is blocking).
//!
//! Open loop: request `i` is due at `i / rate` seconds after the drill's
//! start whatever the registry does, so a slow answer does not slow the
//! arrivals down (a closed loop would hide a regression's latency behind a
//! lower rate). Concurrency is bounded by the pool: each connection task
//! takes the next due request, so a stalled connection's share goes to
//! the others. A request that no connection could send within `lag` of its
//! time is skipped and counted `late`: after a stall (a frozen registry)
//! traffic resumes at its rate instead of a burst of stale requests that
//! would all land in the same few ticks.

mod capacity;
mod latency;
mod wire;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use capacity::check;
use latency::Latency;

/// Where each reply goes, stamped with scenario milliseconds.
pub trait Sink: Send + Sync + 'static {
    fn record(&self, now_ms: u64, reply: &Value);
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("registry URL `{0}` must be http://HOST:PORT (no TLS, no path)")]
    Url(String),
    #[error("registry {url} has no address: {message}")]
    Resolve { url: String, message: String },
    #[error("cannot start the traffic generator: {0}")]
    Runtime(std::io::Error),
}

/// The synthetic endpoint of one route, and how long a call may take.
#[derive(Clone)]
pub struct Target {
    addr: SocketAddr,
    /// The whole request, prepared once: every request is the same.
    request: Arc<[u8]>,
    timeout: Duration,
}

impl Target {
    /// `base` is `http://HOST:PORT`; `token`, when given, is sent as a
    /// bearer token (a team's registry may want one on its model endpoint).
    pub fn new(
        base: &str,
        token: Option<&str>,
        route: &str,
        timeout: Duration,
    ) -> Result<Target, LoadError> {
        let host = base
            .strip_prefix("http://")
            .map(|h| h.trim_end_matches('/'))
            .filter(|h| !h.is_empty() && !h.contains('/'))
            .ok_or_else(|| LoadError::Url(base.to_string()))?;
        let resolve = |message: String| LoadError::Resolve {
            url: base.to_string(),
            message,
        };
        let addr = host
            .to_socket_addrs()
            .map_err(|e| resolve(e.to_string()))?
            .next()
            .ok_or_else(|| resolve("no address found".into()))?;
        let body = serde_json::json!({ "route": route }).to_string();
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let request = format!(
            "POST /v1/complete HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        Ok(Target {
            addr,
            request: request.into_bytes().into(),
            timeout,
        })
    }
}

/// What the generator did, for the drill's stderr line and the benches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadStats {
    /// Requests written to a connection.
    pub sent: u64,
    /// Sent and answered 200 with a JSON body (handed to the sink).
    pub answered: u64,
    /// Sent and not answered so: refused, another status, a bad body, or
    /// no answer within the timeout (`timed_out` of them).
    pub failed: u64,
    pub timed_out: u64,
    /// Due, but not sent: no connection was free within `lag` of its time.
    pub late: u64,
    pub elapsed: Duration,
    /// Reply latency of the answered requests, milliseconds.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl LoadStats {
    pub fn answered_per_s(&self) -> f64 {
        self.answered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// A line for stderr when more than 1% of the due requests were not
    /// sent in time or failed: live windows then hold fewer requests than
    /// the simulation's.
    pub fn shortfall(&self) -> Option<String> {
        let due = self.sent + self.late;
        let missing = self.late + self.failed;
        (missing * 100 > due).then(|| {
            format!(
                "live traffic fell short: of {due} requests due, {} were not sent in time (every connection busy) and {} failed ({} timed out); {} answered ({:.0}/s)",
                self.late,
                self.failed,
                self.timed_out,
                self.answered,
                self.answered_per_s()
            )
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Pace {
    /// Every connection of the pool sends back to back (calibration,
    /// benches).
    FullSpeed {
        pool: usize,
    },
    Every {
        per_s: f64,
        lag: Duration,
    },
    Idle,
}

/// Connections for full-speed bursts: enough to saturate a registry on a
/// small machine without queueing inside it.
pub const FULL_SPEED_POOL: usize = 32;

impl Pace {
    fn new(rate: f64, scale: f64) -> Pace {
        if rate == f64::INFINITY {
            Pace::FullSpeed {
                pool: FULL_SPEED_POOL,
            }
        } else if rate > 0.0 {
            // One scenario tick late is still in its tick; never under
            // 100 ms, the scheduling jitter of a busy machine.
            let lag = Duration::from_secs_f64((1.0 / scale.max(1e-6)).clamp(0.1, 1.0));
            Pace::Every { per_s: rate, lag }
        } else {
            Pace::Idle
        }
    }

    /// Bounded concurrency: a connection per 100 requests a second (each
    /// then has 10 ms per answer; loopback answers take under 1 ms), at
    /// least 4 and at most 256.
    fn pool(self) -> usize {
        match self {
            Pace::FullSpeed { pool } => pool,
            Pace::Every { per_s, .. } => ((per_s / 100.0).ceil() as usize).clamp(4, 256),
            Pace::Idle => 0,
        }
    }
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// The next request to send (open loop: its due time follows).
    next: AtomicU64,
    sent: AtomicU64,
    answered: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
    late: AtomicU64,
    latency: Latency,
}

/// A running generator; [`Load::stop`] ends it and gives its figures.
pub struct Load {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
    began: Instant,
}

impl Load {
    /// Sends `rate` requests per wall second (`f64::INFINITY`: as fast as
    /// the pool goes) to `target` from `start` on, each answer stamped
    /// with scenario time (`start.elapsed() × scale`) and given to `sink`.
    pub fn spawn<S: Sink>(
        target: Target,
        rate: f64,
        start: Instant,
        scale: f64,
        sink: Arc<S>,
    ) -> Result<Load, LoadError> {
        Load::start(target, Pace::new(rate, scale), start, scale, sink)
    }

    /// Sends to `target` as fast as `connections` keep-alive connections
    /// go, stamped as at time scale 1.
    pub fn full_speed<S: Sink>(
        target: Target,
        connections: usize,
        sink: Arc<S>,
    ) -> Result<Load, LoadError> {
        let pace = Pace::FullSpeed { pool: connections };
        Load::start(target, pace, Instant::now(), 1.0, sink)
    }

    /// The connections a drill sending `rate` requests a second uses.
    pub fn connections(rate: f64) -> usize {
        Pace::new(rate, 1.0).pool()
    }

    fn start<S: Sink>(
        target: Target,
        pace: Pace,
        start: Instant,
        scale: f64,
        sink: Arc<S>,
    ) -> Result<Load, LoadError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(LoadError::Runtime)?;
        let shared = Arc::new(Shared::default());
        let sh = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("live-traffic".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let tasks: Vec<_> = (0..pace.pool())
                        .map(|_| {
                            let run = Connection {
                                shared: Arc::clone(&sh),
                                target: target.clone(),
                                pace,
                                start,
                                scale,
                            };
                            tokio::spawn(run.run(Arc::clone(&sink)))
                        })
                        .collect();
                    while !sh.stop.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    // In-flight requests are dropped: sent, neither
                    // answered nor failed.
                    for t in tasks {
                        t.abort();
                    }
                });
            })
            .map_err(LoadError::Runtime)?;
        Ok(Load {
            shared,
            thread: Some(thread),
            began: Instant::now(),
        })
    }

    /// Requests answered so far.
    pub fn answered(&self) -> u64 {
        self.shared.answered.load(Ordering::Relaxed)
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    pub fn stop(mut self) -> LoadStats {
        self.halt();
        let s = &self.shared;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LoadStats {
            sent: get(&s.sent),
            answered: get(&s.answered),
            failed: get(&s.failed),
            timed_out: get(&s.timed_out),
            late: get(&s.late),
            elapsed: self.began.elapsed(),
            p50_ms: s.latency.quantile_ms(0.50),
            p99_ms: s.latency.quantile_ms(0.99),
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.halt();
    }
}

/// One connection task of the pool.
struct Connection {
    shared: Arc<Shared>,
    target: Target,
    pace: Pace,
    start: Instant,
    scale: f64,
}

impl Connection {
    async fn run<S: Sink>(self, sink: Arc<S>) {
        let sh = &*self.shared;
        let mut conn: Option<wire::Conn> = None;
        while !sh.stop.load(Ordering::Relaxed) {
            if let Pace::Every { per_s, lag } = self.pace {
                let i = sh.next.fetch_add(1, Ordering::Relaxed);
                let due = self.start + Duration::from_secs_f64(i as f64 / per_s);
                let now = Instant::now();
                if now > due + lag {
                    sh.late.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if due > now {
                    tokio::time::sleep_until(due.into()).await;
                }
            }
            sh.sent.fetch_add(1, Ordering::Relaxed);
            let began = Instant::now();
            let answer =
                tokio::time::timeout(self.target.timeout, send(&mut conn, &self.target)).await;
            match answer {
                Ok(Ok(Some(reply))) => {
                    sh.latency.record(began.elapsed());
                    sh.answered.fetch_add(1, Ordering::Relaxed);
                    let now_ms = self.start.elapsed().as_secs_f64() * 1000.0 * self.scale;
                    sink.record(now_ms as u64, &reply);
                }
                Ok(Ok(None)) => {
                    sh.failed.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Err(_)) => {
                    sh.failed.fetch_add(1, Ordering::Relaxed);
                    conn = None;
                    if matches!(self.pace, Pace::FullSpeed { .. }) {
                        // A refused connection must not spin a core.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                Err(_) => {
                    sh.failed.fetch_add(1, Ordering::Relaxed);
                    sh.timed_out.fetch_add(1, Ordering::Relaxed);
                    // The answer may still come: not on this connection.
                    conn = None;
                }
            }
        }
    }
}

/// One request on the task's connection (opened if needed; a kept-alive
/// one the server closed meanwhile is reopened once). The reply's JSON
/// when it is a 200 with a JSON body.
async fn send(conn: &mut Option<wire::Conn>, target: &Target) -> std::io::Result<Option<Value>> {
    let reused = conn.is_some();
    let first = call(conn, target).await;
    let (status, reply) = match first {
        Err(_) if reused => call(conn, target).await?,
        other => other?,
    };
    Ok((status == 200).then_some(reply).flatten())
}

async fn call(
    conn: &mut Option<wire::Conn>,
    target: &Target,
) -> std::io::Result<(u16, Option<Value>)> {
    let c = match conn {
        Some(c) => c,
        None => conn.insert(wire::Conn::open(target.addr).await?),
    };
    let result = c.call(&target.request).await;
    let out = result.map(|(status, body)| (status, serde_json::from_slice(body).ok()));
    if out.is_err() || c.closing() {
        *conn = None;
    }
    out
}

#[cfg(test)]
mod tests;
