//! Traffic through the team's path: the stand-in app (an MLflow alias, an
//! alias file, a flag file) or the LiteLLM proxy itself, sent open-loop at
//! the scenario's rate sped up by the time scale, from a few threads.
//!
//! Every answer goes to the [`Recorder`] under the version that served it
//! (the same windowed metrics every live drill reads), and to the
//! [`Routing`] log, which says whether the route still sent the request
//! to the release: that is how the time until traffic is really back is
//! measured.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::live::recorder::Recorder;
use crate::scenario::golden::GoldenSet;
use crate::staging::litellm::Litellm;
use crate::staging::standin::StandIn;

/// The version recorded for an answer no version served (the proxy was
/// down, the app could not resolve its route).
pub const NO_VERSION: &str = "(none)";

/// One request as the drill saw it, for the rollback's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// When it was sent (scenario time).
    pub at_ms: u64,
    /// The route still sent traffic to the release: the stand-in's view of
    /// the route weighted it, or the proxy had the release serve it.
    pub on_release: bool,
    /// The release answered this request.
    pub served_release: bool,
    /// Something answered at all.
    pub answered: bool,
}

/// Every request's [`Mark`], in order.
#[derive(Debug, Default)]
pub struct Routing {
    pub marks: Vec<Mark>,
}

impl Routing {
    /// When traffic was really back from `from` on: the first request sent
    /// after the last one that still went to the release (or got no
    /// answer), once `settle` such requests were sent. Requests are taken
    /// by the time they were sent, whatever order they finished in.
    pub fn back_since(&self, from: u64, settle: usize) -> Option<u64> {
        let after = self.marks.iter().filter(|m| m.at_ms >= from);
        let dirty = after
            .clone()
            .filter(|m| m.on_release || !m.answered)
            .map(|m| m.at_ms)
            .max();
        let clean: Vec<u64> = after
            .filter(|m| dirty.is_none_or(|d| m.at_ms > d))
            .map(|m| m.at_ms)
            .collect();
        (clean.len() >= settle).then(|| clean.iter().copied().min().unwrap_or(from))
    }

    /// The share of requests sent at or after `from` that the release
    /// served; `None` when none was sent.
    pub fn release_share_since(&self, from: u64) -> Option<f64> {
        let sent: Vec<&Mark> = self.marks.iter().filter(|m| m.at_ms >= from).collect();
        (!sent.is_empty())
            .then(|| sent.iter().filter(|m| m.served_release).count() as f64 / sent.len() as f64)
    }

    /// The share of the last `n` requests the release served.
    pub fn release_share(&self, n: usize) -> f64 {
        let last: Vec<&Mark> = self.marks.iter().rev().take(n).collect();
        if last.is_empty() {
            return 0.0;
        }
        last.iter().filter(|m| m.served_release).count() as f64 / last.len() as f64
    }
}

/// Where requests go.
pub enum Path {
    /// The harness plays the app: resolve, then call the version's mock.
    StandIn(Box<Mutex<StandIn>>),
    /// Requests to the proxy's `/v1/chat/completions`; the serving
    /// deployment is its `x-litellm-model-id`, mapped to a version.
    Proxy {
        client: Litellm,
        model_name: String,
        golden: GoldenSet,
        /// Deployment id → version.
        versions: Mutex<Vec<(String, String)>>,
        next: AtomicU64,
    },
}

struct Answered {
    version: String,
    error: bool,
    good: bool,
    wall: Duration,
    on_release: bool,
}

impl Path {
    /// How many requests in a row must show the route off the release
    /// before traffic counts as back: the stand-in's own view of the route
    /// says it at once (a few cover requests already in flight); a proxy's
    /// answers say it only by chance, so more.
    pub fn settle(&self) -> usize {
        match self {
            Path::StandIn(_) => 3,
            Path::Proxy { .. } => 10,
        }
    }

    /// The app looks the route up again now, as the app instance of a
    /// fleet that refreshed just before a write does: the time until
    /// traffic is back is then the worst case any instance sees (a whole
    /// cache TTL or poll), not the luck of one cache's phase.
    pub fn refresh_now(&self) {
        if let Path::StandIn(app) = self {
            let mut app = app.lock().unwrap_or_else(|p| p.into_inner());
            app.forget();
            let _ = app.route();
        }
    }

    fn one(&self, release: &str) -> Answered {
        match self {
            Path::StandIn(app) => {
                let next = app.lock().unwrap_or_else(|p| p.into_inner()).next_request();
                let req = match next {
                    Ok(r) => r,
                    Err(_) => {
                        return Answered {
                            version: NO_VERSION.into(),
                            error: true,
                            good: false,
                            wall: Duration::ZERO,
                            on_release: false,
                        };
                    }
                };
                let on_release = req.route.iter().any(|(v, w)| v == release && *w > 0.0);
                let sent = req.send();
                Answered {
                    version: sent.served.unwrap_or(sent.resolved),
                    error: !(200..300).contains(&sent.status),
                    good: sent.good,
                    wall: sent.wall,
                    on_release,
                }
            }
            Path::Proxy {
                client,
                model_name,
                golden,
                versions,
                next,
            } => {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let case = &golden.cases[i % golden.cases.len()];
                let start = Instant::now();
                match client.chat(model_name, &case.prompt) {
                    Ok(a) => {
                        let version = a.model_id.as_ref().map_or(NO_VERSION.to_string(), |id| {
                            versions
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .iter()
                                .find(|(d, _)| d == id)
                                .map_or_else(|| id.clone(), |(_, v)| v.clone())
                        });
                        let ok = (200..300).contains(&a.status);
                        Answered {
                            on_release: version == release,
                            good: ok
                                && a.content.as_deref().is_some_and(|c| {
                                    crate::scenario::golden::is_good(c, &case.expect)
                                }),
                            error: !ok,
                            version,
                            wall: a.wall,
                        }
                    }
                    Err(_) => Answered {
                        version: NO_VERSION.into(),
                        error: true,
                        good: false,
                        wall: start.elapsed(),
                        on_release: false,
                    },
                }
            }
        }
    }
}

/// The traffic threads; [`Traffic::stop`] ends them.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Requests due and requests skipped (no thread could send them
    /// within a second of their time).
    due: Arc<AtomicU64>,
    skipped: Arc<AtomicU64>,
}

impl Traffic {
    /// Sends `rate` requests per wall second from `start` on. Scenario time
    /// is wall time × `scale`.
    pub fn spawn(
        path: Arc<Path>,
        rate: f64,
        start: Instant,
        scale: f64,
        release: String,
        recorder: Arc<Mutex<Recorder>>,
        routing: Arc<Mutex<Routing>>,
    ) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicU64::new(0));
        let skipped = Arc::new(AtomicU64::new(0));
        let interval = 1.0 / rate.max(1e-6);
        // Enough threads that a slow answer (half a second) does not hold
        // the arrivals back.
        let workers = ((rate * 0.5).ceil() as usize + 4).clamp(4, 32);
        let threads = (0..workers)
            .map(|_| {
                let (path, stop, next) = (path.clone(), stop.clone(), next.clone());
                let skipped = skipped.clone();
                let (recorder, routing, release) =
                    (recorder.clone(), routing.clone(), release.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let due = Duration::from_secs_f64(i as f64 * interval);
                        while let Some(wait) = due.checked_sub(start.elapsed()) {
                            if stop.load(Ordering::Relaxed) {
                                return;
                            }
                            std::thread::sleep(wait.min(Duration::from_millis(50)));
                        }
                        // A request no thread could send within a second of
                        // its time is skipped, not sent in a burst.
                        if start.elapsed() > due + Duration::from_secs(1) {
                            skipped.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        let sent_ms = (start.elapsed().as_secs_f64() * 1000.0 * scale) as u64;
                        let a = path.one(&release);
                        let at_ms = (start.elapsed().as_secs_f64() * 1000.0 * scale) as u64;
                        let reply = json!({
                            "version": a.version,
                            "error": a.error,
                            "good": a.good,
                            "latency_ms": a.wall.as_secs_f64() * 1000.0 * scale,
                        });
                        recorder
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .record(at_ms, &reply);
                        routing
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .marks
                            .push(Mark {
                                at_ms: sent_ms,
                                on_release: a.on_release,
                                served_release: a.version == release,
                                answered: a.version != NO_VERSION,
                            });
                    }
                })
            })
            .collect();
        Traffic {
            stop,
            threads,
            due: next,
            skipped,
        }
    }

    /// Stops the threads; a warning when more than 5% of the requests due
    /// could not be sent (the metrics then rest on fewer requests).
    pub fn stop(self) -> Option<String> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        let due = self.due.load(Ordering::Relaxed).max(1);
        let skipped = self.skipped.load(Ordering::Relaxed);
        (skipped * 20 > due).then(|| {
            format!(
                "traffic sent only {} of {due} requests at their time ({skipped} skipped): the path answered too slowly for the rate; lower traffic.rps or --time-scale",
                due - skipped
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(at_ms: u64, on_release: bool, answered: bool) -> Mark {
        Mark {
            at_ms,
            on_release,
            served_release: on_release,
            answered,
        }
    }

    #[test]
    fn traffic_is_back_from_the_first_of_the_clean_requests_that_last() {
        let mut r = Routing::default();
        for (at, on, ok) in [
            (10, true, true),
            (20, false, true),
            (30, true, true),
            (40, false, false),
            (60, false, true),
            (70, false, true),
            // sent before the last dirty one, finished after it
            (35, false, true),
            (50, false, true),
        ] {
            r.marks.push(mark(at, on, ok));
        }
        assert_eq!(r.back_since(0, 3), Some(50));
        assert_eq!(r.back_since(0, 4), None, "only three clean requests");
        assert_eq!(r.back_since(60, 2), Some(60));
        assert_eq!(r.release_share_since(50), Some(0.0));
        assert_eq!(r.release_share_since(25), Some(1.0 / 6.0));
        assert_eq!(r.release_share_since(80), None);
        assert!((r.release_share(2) - 0.0).abs() < 1e-9);
        assert_eq!(Routing::default().back_since(0, 1), None);
    }
}
