//! The registry around a live drill: reaching it, seeding the routes it
//! lacks, recording the state the drill found, and the teardown that puts
//! every route back as it was, so the same drill can run against the same
//! persistent registry next month and take the same path.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::LivePort;
use crate::drill::{StepRecord, StepStatus};
use crate::live::LiveError;
use crate::registry::describe;
use crate::scenario::Candidate;

/// One route as the registry holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteState {
    pub route: String,
    pub revision: u64,
    pub candidates: Vec<Candidate>,
    pub versions: Vec<String>,
    pub keep_last: u32,
}

/// The longest the first contact with a registry waits to connect and
/// for its answer to start.
pub const REACH_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl RouteState {
    fn same_state(&self, other: &RouteState) -> bool {
        self.candidates == other.candidates
            && self.versions == other.versions
            && self.keep_last == other.keep_last
    }
}

/// How long the teardown keeps trying while the registry does not answer
/// (a fault may still hold it), on the wall clock.
const TEARDOWN_PATIENCE: Duration = Duration::from_secs(30);

impl LivePort<'_> {
    fn unreachable(&self, what: &str, message: String) -> LiveError {
        LiveError::Registry {
            url: self.url.clone(),
            what: what.to_string(),
            message,
        }
    }

    /// Whether the registry answers at all: exit 3 when it does not. The
    /// first contact waits at most [`REACH_WAIT`] to connect and for the
    /// first byte of the answer, so a registry that takes connections and
    /// never answers is named within seconds, not after the call timeout.
    pub fn reach(&mut self) -> Result<(), LiveError> {
        let usual = self.http.timeout();
        self.http.set_timeout(REACH_WAIT.min(usual));
        let r = self.http.call("GET", "/healthz", None);
        self.http.set_timeout(usual);
        match r.status {
            200 => Ok(()),
            0 if r.timed_out => Err(self.unreachable(
                "GET /healthz",
                format!(
                    "no answer within {}s (it may take connections and never answer): is it a rollback-drill registry, and is --registry its address?",
                    REACH_WAIT.min(usual).as_secs_f64()
                ),
            )),
            0 => Err(self.unreachable(
                "GET /healthz",
                "no answer: is it running, and is --registry its address?".into(),
            )),
            s => Err(self.unreachable("GET /healthz", format!("HTTP {s}: {}", r.body))),
        }
    }

    /// A route as the registry holds it now; `None` when it has no such
    /// route.
    pub fn route_state(&mut self, route: &str) -> Result<Option<RouteState>, LiveError> {
        let path = format!("/api/routes/{route}");
        let r = self.http.call("GET", &path, None);
        let what = format!("GET {path}");
        match r.status {
            200 => {}
            404 => return Ok(None),
            0 => return Err(self.unreachable(&what, "no answer: is it running?".into())),
            s => return Err(self.unreachable(&what, format!("HTTP {s}: {}", r.body))),
        }
        let parsed = serde_json::from_str::<Value>(&r.body).ok().and_then(|v| {
            Some(RouteState {
                route: route.to_string(),
                revision: v["revision"].as_u64()?,
                candidates: serde_json::from_value(v["candidates"].clone()).ok()?,
                versions: serde_json::from_value(v["versions"].clone()).ok()?,
                keep_last: v["keep_last"].as_u64()? as u32,
            })
        });
        parsed.map(Some).ok_or_else(|| {
            self.unreachable(
                &what,
                format!(
                    "the answer is not a route of a rollback-drill registry (revision, candidates, versions, keep_last): {}",
                    excerpt(&r.body)
                ),
            )
        })
    }

    /// Ends the outage this drill injected and puts `registry_slow` back
    /// as the drill found it; `None` when it injected neither.
    fn undo_faults(&mut self) -> Option<Result<(), LiveError>> {
        let done = std::mem::take(&mut self.injected);
        let mut bodies = Vec::new();
        if done.outage {
            bodies.push(json!({"kind": "registry_outage", "for": "0ms"}));
        }
        if done.slow {
            bodies.push(
                json!({"kind": "registry_slow", "add": format!("{}ms", done.slow_before_ms)}),
            );
        }
        if bodies.is_empty() {
            return None;
        }
        Some(bodies.iter().try_for_each(|body| {
            self.must(
                "POST",
                "/admin/faults",
                Some(&body.to_string()),
                "undoing the faults the drill injected",
            )
            .map(drop)
        }))
    }

    /// Reads every scenario route, changing nothing: a registry that
    /// refuses the token or stops answering is exit 3 before the preflight
    /// (which would otherwise report it as a finding, exit 1).
    pub fn read_routes(&mut self) -> Result<(), LiveError> {
        for route in &self.plan.registry.routes {
            self.route_state(&route.name)?;
        }
        Ok(())
    }

    /// Creates the scenario's routes that the registry lacks, at the
    /// scenario's starting state: candidates, the versions held (oldest
    /// first) and retention. Routes that exist are left alone: the
    /// preflight compares them with the scenario.
    pub fn seed_absent(&mut self) -> Result<(), LiveError> {
        let plan = self.plan;
        for route in &plan.registry.routes {
            if self.route_state(&route.name)?.is_some() {
                continue;
            }
            let body = json!({
                "revision": 0,
                "change": plan.change,
                "candidates": route.candidates,
                "versions": route.versions,
                "keep_last": plan.registry.keep_last,
                "reason": "drill seed",
            });
            self.must(
                "PUT",
                &format!("/api/routes/{}", route.name),
                Some(&body.to_string()),
                "seeding the route",
            )?;
        }
        Ok(())
    }

    /// The state of every scenario route the registry holds: what the
    /// teardown puts back (and the delay its faults add, read aside).
    pub fn found(&mut self) -> Result<Vec<RouteState>, LiveError> {
        let r = self.http.call("GET", "/admin/faults", None);
        if r.status == 200 {
            let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            self.injected.slow_before_ms = v["registry_slow"]["add_ms"].as_u64().unwrap_or(0);
        }
        let mut out = Vec::new();
        for route in &self.plan.registry.routes {
            if let Some(state) = self.route_state(&route.name)? {
                out.push(state);
            }
        }
        Ok(out)
    }

    /// Sets how every version behaves and starts the drill's clock.
    pub fn start(&mut self) -> Result<(), LiveError> {
        self.send_behaviours(false)?;
        self.start = Instant::now();
        self.start_wall = jiff::Timestamp::now();
        Ok(())
    }

    /// Puts every route back as `found`: one write per route that changed
    /// (candidates, versions and retention at once, compare-and-set on its
    /// revision). Retries while the registry does not answer, for a while.
    pub fn teardown(&mut self, found: &[RouteState]) -> StepRecord {
        let start_s = self.now_ms() as f64 / 1000.0;
        let mut restored = Vec::new();
        let mut failed: Option<String> = None;
        // Faults first: a registry left slow or down would hold every
        // read below, and next month's drill.
        match self.undo_faults() {
            Some(Ok(())) => restored.push("the faults the drill injected undone".to_string()),
            Some(Err(e)) => failed = Some(format!("the injected faults could not be undone: {e}")),
            None => {}
        }
        for want in found {
            // Each route gets the whole patience of its own.
            match self.put_back(want, Instant::now()) {
                Ok(true) => restored.push(format!(
                    "{} to {} (versions {}; keep_last {})",
                    want.route,
                    describe(&want.candidates),
                    want.versions.join(", "),
                    want.keep_last
                )),
                Ok(false) => {}
                // The other routes are still put back.
                Err(e) => {
                    let line = format!("route {} could not be put back: {e}", want.route);
                    failed = Some(match failed {
                        Some(earlier) => format!("{earlier}; {line}"),
                        None => line,
                    });
                }
            }
        }
        let detail = match (&failed, restored.is_empty()) {
            (Some(e), _) => format!(
                "{e}; the registry is left as the drill ended: put it back by hand before the next drill"
            ),
            (None, true) => "the registry was already as the drill found it".to_string(),
            (None, false) => format!("put back as the drill found it: {}", restored.join("; ")),
        };
        StepRecord {
            name: "teardown".into(),
            status: if failed.is_some() {
                StepStatus::Failed
            } else {
                StepStatus::Succeeded
            },
            start_s: Some(start_s),
            end_s: Some(self.now_ms() as f64 / 1000.0),
            detail,
            phases: Vec::new(),
        }
    }

    /// `true` when the route had to be written back.
    fn put_back(&mut self, want: &RouteState, began: Instant) -> Result<bool, LiveError> {
        loop {
            let attempt = self.route_state(&want.route).and_then(|now| {
                let Some(now) = now else {
                    return Err(self.unreachable(
                        &format!("GET /api/routes/{}", want.route),
                        "the route is gone".into(),
                    ));
                };
                if now.same_state(want) {
                    return Ok(None);
                }
                let body = json!({
                    "revision": now.revision,
                    "candidates": want.candidates,
                    "versions": want.versions,
                    "keep_last": want.keep_last,
                    "reason": "drill teardown: back to the state the drill found",
                });
                let path = format!("/api/routes/{}", want.route);
                let r = self.http.call("PUT", &path, Some(&body.to_string()));
                Ok(Some(r))
            });
            let retry = match attempt {
                Ok(None) => return Ok(false),
                Ok(Some(r)) if (200..300).contains(&r.status) => return Ok(true),
                // Another writer moved it meanwhile: read it again.
                Ok(Some(r)) if r.status == 409 => true,
                Ok(Some(r)) if r.status == 0 || r.status == 503 => true,
                Ok(Some(r)) => {
                    return Err(self.unreachable(
                        &format!("PUT /api/routes/{}", want.route),
                        format!("HTTP {}: {}", r.status, excerpt(&r.body)),
                    ));
                }
                Err(e) => {
                    if began.elapsed() >= TEARDOWN_PATIENCE {
                        return Err(e);
                    }
                    true
                }
            };
            if retry && began.elapsed() >= TEARDOWN_PATIENCE {
                return Err(self.unreachable(
                    &format!("PUT /api/routes/{}", want.route),
                    format!("still unavailable after {}s", TEARDOWN_PATIENCE.as_secs()),
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

fn excerpt(body: &str) -> String {
    let mut s: String = body.chars().take(200).collect();
    if body.chars().count() > 200 {
        s.push('…');
    }
    s
}
