//! The procedure's [`Staging`] port over HTTP: the registry's state, the
//! release, faults and the procedure's steps as calls, and metrics from
//! what the [`Recorder`] observed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::prometheus;
use super::recorder::Recorder;
use super::{Http, LiveError};
use crate::drill::{ExternalMetric, PageOutcome, Staging, TeamReply, WriteAck};
use crate::metrics::{Observation, Series, observe};
use crate::registry::{AuditEntry, RegistryError};
use crate::scenario::{Behaviour, Candidate, Dur, FaultSpec, Plan, Step, VerifyMetric, WaitFor};

mod promql;
mod set;
mod state;
use promql::set_metric;

/// What the drill did to the server's faults, for the teardown.
#[derive(Debug, Default)]
pub(super) struct Injected {
    pub outage: bool,
    pub slow: bool,
    /// `registry_slow` as the drill found it (`GET /admin/faults`).
    pub slow_before_ms: u64,
}

pub struct LivePort<'p> {
    plan: &'p Plan,
    url: String,
    http: Http,
    recorder: Arc<Mutex<Recorder>>,
    baseline: Option<Observation>,
    scale: f64,
    /// How long the procedure's registry calls wait for an answer.
    call_timeout: std::time::Duration,
    pub start: Instant,
    start_wall: jiff::Timestamp,
    /// Server faults (`/admin/faults`) this drill injected, and the added
    /// delay the registry had before (ms): the teardown ends the drill's
    /// outage and puts the delay back, so next month's drill meets the
    /// registry as it was.
    pub(super) injected: Injected,
}

fn behaviour_body(version: &str, b: &Behaviour) -> String {
    json!({
        "version": version,
        "error_rate": format!("{}%", b.error_rate * 100.0),
        "quality": format!("{}%", b.quality * 100.0),
        "p50": b.p50.to_string(),
        "p99": b.p99.to_string(),
    })
    .to_string()
}

/// A registry answer that is not a success, as the procedure sees it.
/// `timed_out_ms`: scenario time the call waited before giving up (0 when
/// it was refused at once).
fn status_error(
    status: u16,
    body: &str,
    route: &str,
    now_ms: u64,
    timed_out_ms: u64,
) -> RegistryError {
    match status {
        0 | 503 => RegistryError::Unavailable {
            until_ms: now_ms,
            timed_out_ms,
        },
        404 => RegistryError::UnknownRoute(route.to_string()),
        s => refused(s, body),
    }
}

fn refused(status: u16, body: &str) -> RegistryError {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.to_string());
    RegistryError::Refused(format!("HTTP {status}: {message}"))
}

impl<'p> LivePort<'p> {
    pub fn new(
        plan: &'p Plan,
        url: &str,
        token: Option<&str>,
        recorder: Arc<Mutex<Recorder>>,
        scale: f64,
    ) -> Result<LivePort<'p>, LiveError> {
        let http = Http::new(url, token).map_err(|e| LiveError::Registry {
            url: url.to_string(),
            what: "the URL".into(),
            message: e.to_string(),
        })?;
        Ok(LivePort {
            plan,
            url: url.to_string(),
            http,
            recorder,
            baseline: None,
            scale,
            call_timeout: std::time::Duration::from_secs(30),
            start: Instant::now(),
            start_wall: jiff::Timestamp::now(),
            injected: Injected::default(),
        })
    }

    /// From now on, registry calls give up after `timeout` (set once the
    /// registry is seeded: setup calls may take their time).
    pub fn set_call_timeout(&mut self, timeout: std::time::Duration) {
        self.call_timeout = timeout;
        self.http.set_timeout(timeout);
    }

    /// Scenario time a call that timed out waited (0 if it did not).
    fn waited_ms(&self, r: &crate::registry::client::Reply) -> u64 {
        if r.timed_out {
            (self.call_timeout.as_secs_f64() * 1000.0 * self.scale) as u64
        } else {
            0
        }
    }

    /// A short-lived connection with the call timeout.
    fn client(&self) -> Result<Http, RegistryError> {
        let mut http = Http::new(&self.url, self.http_token())
            .map_err(|e| RegistryError::Refused(e.to_string()))?;
        http.set_timeout(self.call_timeout);
        Ok(http)
    }

    /// Scenario time runs this many times faster than the wall clock.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Scenario milliseconds since the drill started.
    pub fn now_ms(&self) -> u64 {
        (self.start.elapsed().as_secs_f64() * 1000.0 * self.scale) as u64
    }

    pub(super) fn must(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&str>,
        what: &str,
    ) -> Result<Value, LiveError> {
        self.must_within(method, path, body, what, Duration::ZERO)
    }

    /// [`Self::must`], but an unavailable registry (503) is asked again
    /// for up to `patience` of wall time: the harness's own calls right
    /// after an injected outage, whose end the server times itself.
    pub(super) fn must_within(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&str>,
        what: &str,
        patience: Duration,
    ) -> Result<Value, LiveError> {
        let began = Instant::now();
        let mut r = self.http.call(method, path, body);
        while r.status == 503 && began.elapsed() < patience {
            std::thread::sleep(Duration::from_millis(20));
            r = self.http.call(method, path, body);
        }
        if !(200..300).contains(&r.status) {
            return Err(LiveError::Registry {
                url: self.url.clone(),
                what: what.to_string(),
                message: if r.status == 0 {
                    "no answer: is it running?".into()
                } else {
                    format!("HTTP {}: {}", r.status, r.body)
                },
            });
        }
        Ok(serde_json::from_str(&r.body).unwrap_or(Value::Null))
    }

    /// How every version behaves (the release regressed once `past_onset`).
    pub(super) fn send_behaviours(&mut self, past_onset: bool) -> Result<(), LiveError> {
        let plan = self.plan;
        for (version, b) in &plan.traffic.behaviour {
            self.must(
                "POST",
                "/admin/behaviour",
                Some(&behaviour_body(version, b)),
                "setting behaviours",
            )?;
        }
        let rel = &plan.release;
        let b = if past_onset {
            &rel.regressed
        } else {
            &rel.healthy
        };
        self.must(
            "POST",
            "/admin/behaviour",
            Some(&behaviour_body(&rel.version, b)),
            "setting behaviours",
        )?;
        self.send_set_behaviours()
    }

    /// The registry restarted after a crash: its routes are durable, but
    /// the synthetic endpoint forgot how each version behaves and the
    /// faults injected into it. Set them again as they were, so the
    /// release keeps its regression after the restart.
    pub fn after_restart(&mut self, past_onset: bool) -> Result<(), LiveError> {
        self.send_behaviours(past_onset)?;
        let plan = self.plan;
        for f in &plan.faults {
            if matches!(f, FaultSpec::RegistrySlow { .. }) {
                self.inject(f)?;
            }
        }
        Ok(())
    }

    /// The regression starts: the release behaves badly from now on.
    pub fn onset(&mut self) -> Result<(), LiveError> {
        let rel = &self.plan.release;
        let body = behaviour_body(&rel.version, &rel.regressed);
        self.must(
            "POST",
            "/admin/behaviour",
            Some(&body),
            "starting the regression",
        )?;
        Ok(())
    }

    /// Injects a registry fault into the server, scaled to wall time.
    pub fn inject(&mut self, fault: &FaultSpec) -> Result<(), LiveError> {
        let wall = |d: Dur| format!("{}ms", (d.0 as f64 / self.scale).round() as u64);
        let body = match fault {
            FaultSpec::RegistryOutage { for_, .. } => {
                json!({"kind": "registry_outage", "for": wall(*for_)})
            }
            FaultSpec::RegistrySlow { add } => json!({"kind": "registry_slow", "add": wall(*add)}),
            _ => return Ok(()),
        };
        self.must(
            "POST",
            "/admin/faults",
            Some(&body.to_string()),
            "injecting a fault",
        )?;
        match fault {
            FaultSpec::RegistryOutage { .. } => self.injected.outage = true,
            _ => self.injected.slow = true,
        }
        Ok(())
    }

    /// The deployer ships canary step `step`, as in the simulation.
    pub fn release_step(&mut self, now: u64, step: usize) -> Result<(), LiveError> {
        let plan = self.plan;
        self.ship(&plan.release, now, step, true)
    }

    /// The registry's audit rows of this drill (a persistent registry
    /// keeps earlier drills' rows too), in scenario seconds.
    pub fn audit(&mut self) -> Vec<AuditEntry> {
        let r = self.http.call("GET", "/api/audit", None);
        let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        let describe = |c: &Value| -> String {
            serde_json::from_value::<Vec<Candidate>>(c.clone())
                .map(|c| crate::registry::describe(&c))
                .unwrap_or_default()
        };
        v["audit"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .filter_map(|row| {
                        let at = row["at"]
                            .as_str()
                            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                            .map_or(0.0, |t| {
                                t.duration_since(self.start_wall).as_secs_f64() * self.scale
                            });
                        // Rows from before this drill's start (its seeding
                        // included) are not this drill's.
                        if at < 0.0 {
                            return None;
                        }
                        Some(AuditEntry {
                            at_s: (at * 1000.0).round() / 1000.0,
                            actor: row["actor"].as_str().unwrap_or_default().to_string(),
                            route: row["route"].as_str().unwrap_or_default().to_string(),
                            from: describe(&row["from"]),
                            to: describe(&row["to"]),
                            reason: row["reason"].as_str().unwrap_or_default().to_string(),
                            change_id: row["change_id"].as_str().map(str::to_string),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `Staging` needs `&self` for reads; the HTTP connection needs `&mut`.
/// Reads go through a short-lived connection of their own.
impl LivePort<'_> {
    fn read_route(&self, route: &str) -> Result<Value, RegistryError> {
        let mut http = self.client()?;
        let r = http.call("GET", &format!("/api/routes/{route}"), None);
        match r.status {
            200 => Ok(serde_json::from_str(&r.body).unwrap_or(Value::Null)),
            s => Err(status_error(
                s,
                &r.body,
                route,
                self.now_ms(),
                self.waited_ms(&r),
            )),
        }
    }

    fn http_token(&self) -> Option<&str> {
        self.http.token()
    }
}

impl Staging for LivePort<'_> {
    fn version_metrics(&self, now: u64, route: &str, version: &str, window: Dur) -> Observation {
        let mut obs = self
            .recorder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .version_obs(now, version, window);
        // Mapped metrics come from Prometheus; one it cannot give leaves
        // the policy blind for this evaluation (a metrics gap), never a
        // silent fallback to another source.
        for metric in VerifyMetric::ALL {
            match self.prom_metric(*metric, route, version) {
                Some((Ok(v), _)) => set_metric(&mut obs, *metric, v),
                Some((Err(_), _)) => obs.missing = true,
                None => {}
            }
        }
        obs
    }

    fn route_metrics(&self, now: u64, _route: &str, since: u64) -> Observation {
        self.recorder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .route_obs(now, since, self.plan.policy.window)
    }

    fn baseline(&self, _route: &str) -> Option<Observation> {
        self.baseline
    }

    fn read_delay(&self, _now: u64) -> Dur {
        Dur::ZERO
    }

    fn page(&self, _now: u64) -> PageOutcome {
        PageOutcome {
            delivered: true,
            escalate_after: Dur::ZERO,
        }
    }

    fn serving_share(&self, _now: u64, route: &str, version: &str) -> f64 {
        self.read_route(route)
            .ok()
            .and_then(|v| serde_json::from_value::<Vec<Candidate>>(v["candidates"].clone()).ok())
            .map_or(0.0, |cs| {
                cs.iter()
                    .filter(|c| c.version == version)
                    .map(|c| c.weight / 100.0)
                    .sum()
            })
    }

    fn candidates(&self, _now: u64, route: &str) -> Result<Vec<Candidate>, RegistryError> {
        let v = self.read_route(route)?;
        serde_json::from_value(v["candidates"].clone())
            .map_err(|e| RegistryError::Refused(e.to_string()))
    }

    fn versions(&self, _now: u64, route: &str) -> Result<Vec<String>, RegistryError> {
        let v = self.read_route(route)?;
        serde_json::from_value(v["versions"].clone())
            .map_err(|e| RegistryError::Refused(e.to_string()))
    }

    fn keep_last(&self, route: &str) -> Option<u32> {
        let v = self.read_route(route).ok()?;
        v["keep_last"].as_u64().map(|k| k as u32)
    }

    fn previous_candidates(
        &self,
        now: u64,
        route: &str,
        bad: &str,
    ) -> Result<Option<Vec<Candidate>>, RegistryError> {
        self.read_route(route)?;
        let mut http = self.client()?;
        let r = http.call("GET", "/api/audit", None);
        if r.status != 200 {
            return Err(RegistryError::Unavailable {
                until_ms: now,
                timed_out_ms: self.waited_ms(&r),
            });
        }
        let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        let rows = v["audit"].as_array().cloned().unwrap_or_default();
        let sets: Vec<Vec<Candidate>> = rows
            .iter()
            .filter(|row| row["route"] == route)
            .filter_map(|row| serde_json::from_value::<Vec<Candidate>>(row["to"].clone()).ok())
            .collect();
        Ok(crate::registry::rules::previous(
            sets.iter().map(Vec::as_slice),
            bad,
        ))
    }

    fn add_version(&mut self, _now: u64, route: &str, version: &str) -> Result<(), RegistryError> {
        let body = json!({"route": route, "version": version}).to_string();
        let r = self.http.call("POST", "/api/versions", Some(&body));
        match r.status {
            200..=299 => Ok(()),
            s => Err(status_error(
                s,
                &r.body,
                route,
                self.now_ms(),
                self.waited_ms(&r),
            )),
        }
    }

    fn replay(&mut self, _now: u64, route: &str, version: &str, requests: u64) -> Observation {
        let mut series = Series::default();
        let body = json!({"route": route, "version": version}).to_string();
        for _ in 0..requests.min(1000) {
            let r = self.http.call("POST", "/v1/complete", Some(&body));
            if let Ok(v) = serde_json::from_str::<Value>(&r.body) {
                series.record(
                    0,
                    1,
                    v["error"].as_bool().unwrap_or(false),
                    v["good"].as_bool().unwrap_or(false),
                    v["latency_ms"].as_f64().unwrap_or(0.0),
                );
            }
        }
        observe([&series], 0, 1)
    }

    fn runs_live_steps(&self) -> bool {
        true
    }

    fn team_call(&mut self, now: u64, step: &Step) -> TeamReply {
        let (ok, detail) = super::team::step(self.plan, step, self.scale);
        TeamReply {
            ok,
            detail,
            took: Dur(self.now_ms().saturating_sub(now)),
        }
    }

    fn promql(&mut self, _now: u64, wait: &WaitFor) -> Result<f64, crate::metrics::ExternalError> {
        prometheus::query(&wait.url, &wait.headers, &wait.query)
    }

    fn metric_source(&self, metric: VerifyMetric) -> Option<String> {
        let p = self.plan.metrics.as_ref()?;
        p.query(metric)?;
        Some(format!("Prometheus {}", p.url))
    }

    fn external_metric(
        &self,
        _now: u64,
        metric: VerifyMetric,
        route: &str,
        version: &str,
    ) -> Option<ExternalMetric> {
        let (value, query) = self.prom_metric(metric, route, version)?;
        let url = self
            .plan
            .metrics
            .as_ref()
            .map(|p| p.url.to_string())
            .unwrap_or_default();
        Some(ExternalMetric {
            value,
            query,
            source: format!("Prometheus {url}"),
        })
    }

    fn share_slower_than(
        &self,
        now: u64,
        _route: &str,
        version: &str,
        window: Dur,
        ms: f64,
    ) -> (f64, u64) {
        self.recorder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .slower_than(now, version, window, ms)
    }

    fn write_set(
        &mut self,
        _now: u64,
        writes: &[(String, Vec<Candidate>, String)],
        reason: &str,
        change_id: &str,
    ) -> Option<Result<WriteAck, RegistryError>> {
        Some(self.post_set(writes, reason, change_id))
    }

    fn writes_sets(&self) -> bool {
        true
    }

    fn write_route(
        &mut self,
        _now: u64,
        route: &str,
        candidates: Vec<Candidate>,
        _actor: &str,
        reason: &str,
    ) -> Result<WriteAck, RegistryError> {
        // Compare-and-set: re-read on a conflict, a few times.
        for _ in 0..3 {
            let current = self.read_route(route)?;
            let body = json!({"revision": current["revision"], "candidates": candidates, "reason": reason}).to_string();
            let r = self
                .http
                .call("PUT", &format!("/api/routes/{route}"), Some(&body));
            match r.status {
                200 => {
                    let at = self.now_ms();
                    return Ok(WriteAck {
                        acked_at: at,
                        converged_at: at,
                    });
                }
                409 => continue,
                s => {
                    return Err(status_error(
                        s,
                        &r.body,
                        route,
                        self.now_ms(),
                        self.waited_ms(&r),
                    ));
                }
            }
        }
        Err(RegistryError::Refused(format!(
            "route `{route}` kept changing under the rollback (409 three times)"
        )))
    }
}
