//! The procedure's [`Staging`] port over a team's real system: the route
//! read and written there, the release registered there pointing at the
//! harness's mock backend, metrics from what traffic really got, and a
//! write that returns only once traffic is really on the target.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::connect::{Connected, System, clean};
use super::traffic::{Path, Routing};
use crate::drill::{PageOutcome, Staging, TeamReply, WriteAck};
use crate::live::recorder::Recorder;
use crate::metrics::Observation;
use crate::registry::{AuditEntry, RegistryError, describe};
use crate::scenario::staging::Reload;
use crate::scenario::{Candidate, Dur, Plan, Step};
use crate::staging::files::{Entry, NewEntry};
use crate::staging::mlflow::VERSION_TAG;
use crate::staging::mock::MockBackend;

/// The latest requests whose serving version says whether the release
/// still serves, when no rollback was seen complete.
const RECENT: usize = 10;

pub struct StagedPort<'p> {
    pub plan: &'p Plan,
    pub scale: f64,
    pub start: Instant,
    pub conn: RefCell<Connected>,
    pub mock: Arc<MockBackend>,
    pub recorder: Arc<Mutex<Recorder>>,
    pub routing: Arc<Mutex<Routing>>,
    /// Where traffic goes (the stand-in app, or the proxy).
    path: Arc<Path>,
    /// When traffic was seen back off the release after the latest write.
    back_at: Option<u64>,
    /// The release's entry id in the system, once registered.
    pub release_entry: Option<String>,
    /// The route as preflight found it, then after every write.
    history: Vec<Vec<Candidate>>,
    baseline: Option<Observation>,
    pub audit: Vec<AuditEntry>,
    /// LiteLLM: failure counters per deployment id, by scenario time.
    failures: RefCell<Vec<(u64, BTreeMap<String, f64>)>>,
}

impl<'p> StagedPort<'p> {
    pub fn new(
        plan: &'p Plan,
        scale: f64,
        conn: Connected,
        mock: Arc<MockBackend>,
        recorder: Arc<Mutex<Recorder>>,
        routing: Arc<Mutex<Routing>>,
        path: Arc<Path>,
    ) -> StagedPort<'p> {
        let found = plan
            .registry
            .routes
            .iter()
            .find(|r| r.name == plan.release.route)
            .map(|r| r.candidates.clone())
            .unwrap_or_default();
        StagedPort {
            plan,
            scale,
            start: Instant::now(),
            conn: RefCell::new(conn),
            mock,
            recorder,
            routing,
            path,
            back_at: None,
            release_entry: None,
            history: vec![found],
            baseline: None,
            audit: Vec::new(),
            failures: RefCell::new(Vec::new()),
        }
    }

    pub fn now_ms(&self) -> u64 {
        (self.start.elapsed().as_secs_f64() * 1000.0 * self.scale) as u64
    }

    fn wall(&self, d: Dur) -> Duration {
        Duration::from_secs_f64(d.0 as f64 / 1000.0 / self.scale)
    }

    fn refused(&self, what: &str, e: &dyn std::fmt::Display) -> RegistryError {
        let label = self.conn.borrow().label.clone();
        RegistryError::Refused(clean(self.plan, &format!("{label}: {what}: {e}")))
    }

    fn entries(&self) -> Result<Vec<Entry>, RegistryError> {
        let read = self.conn.borrow_mut().route.read();
        match read {
            Ok(Some(e)) => Ok(e),
            Ok(None) => Err(RegistryError::UnknownRoute(self.plan.release.route.clone())),
            Err(e) => Err(self.refused("reading the route", &e)),
        }
    }

    /// The system's entries as scenario candidates (weights in percent).
    fn as_candidates(&self, entries: &[Entry]) -> Vec<Candidate> {
        let rel = &self.plan.release;
        let scenario = self.history.first().cloned().unwrap_or_default();
        let total: f64 = entries.iter().map(|e| e.weight.unwrap_or(1.0)).sum();
        entries
            .iter()
            .map(|e| {
                let weight = if total > 0.0 {
                    e.weight.unwrap_or(1.0) / total * 100.0
                } else {
                    0.0
                };
                if self.release_entry.as_deref() == Some(e.id.as_str()) {
                    return Candidate {
                        id: rel.id.clone(),
                        version: rel.version.clone(),
                        weight,
                    };
                }
                let known = scenario
                    .iter()
                    .find(|c| c.id == e.id)
                    .or_else(|| scenario.iter().find(|c| c.version == e.version));
                match known {
                    Some(c) => Candidate {
                        weight,
                        ..c.clone()
                    },
                    None => Candidate {
                        id: e.id.clone(),
                        version: e.version.clone(),
                        weight,
                    },
                }
            })
            .collect()
    }

    /// The system's id of the entry serving candidate `c`.
    fn entry_id(&self, c: &Candidate, entries: &[Entry]) -> Result<String, RegistryError> {
        let rel = &self.plan.release;
        if c.version == rel.version || c.id == rel.id {
            return self.release_entry.clone().ok_or_else(|| {
                RegistryError::Refused(format!("{} is not registered yet", rel.version))
            });
        }
        if let Some(e) = entries.iter().find(|e| e.id == c.id) {
            return Ok(e.id.clone());
        }
        if let System::Mlflow { .. } = self.conn.borrow().system {
            // An alias names a version by its number.
            return Ok(c.version.clone());
        }
        entries
            .iter()
            .find(|e| e.version == c.version)
            .map(|e| e.id.clone())
            .ok_or_else(|| {
                RegistryError::Refused(format!(
                    "the route has no entry for {} ({}): was it removed during the drill?",
                    c.id, c.version
                ))
            })
    }

    /// Registers the release's version in the system, pointing at the mock.
    pub fn register_release(&mut self) -> Result<(), RegistryError> {
        let rel = &self.plan.release;
        let entry = NewEntry {
            id: rel.id.clone(),
            version: rel.version.clone(),
            base_url: self.mock.base_url(&rel.version),
            weight: 0.0,
        };
        let id = self.conn.borrow_mut().route.register(&entry);
        let id = id.map_err(|e| self.refused(&format!("registering {}", rel.version), &e))?;
        self.release_entry = Some(id);
        Ok(())
    }

    /// Runs the `reload:`, if there is one: (ok, message).
    fn reload(&self) -> Option<(bool, String)> {
        let reload = self.conn.borrow().reload.clone()?;
        Some(run_reload(self.plan, &reload))
    }

    /// Writes `candidates` into the system and runs the reload.
    fn write(
        &mut self,
        candidates: &[Candidate],
        actor: &str,
        reason: &str,
    ) -> Result<(), RegistryError> {
        let now = self.now_ms();
        let entries = self.entries().or_else(|e| match e {
            // An alias gone is written back: the write names the version.
            RegistryError::UnknownRoute(_) => Ok(Vec::new()),
            e => Err(e),
        })?;
        let before = self.as_candidates(&entries);
        // An alias names one version: the others are not written (nor
        // recorded) at 0%.
        let alias = matches!(self.conn.borrow().system, System::Mlflow { .. });
        let candidates: Vec<Candidate> = candidates
            .iter()
            .filter(|c| !alias || c.weight > 0.0)
            .cloned()
            .collect();
        let mut weights = Vec::new();
        for c in &candidates {
            weights.push((self.entry_id(c, &entries)?, c.weight));
        }
        let written = self.conn.borrow_mut().route.write(&weights);
        written.map_err(|e| self.refused("writing the route", &e))?;
        if let Some((false, msg)) = self.reload() {
            return Err(RegistryError::Refused(format!(
                "the route was written, but its reload failed: {msg}"
            )));
        }
        let to = describe(&candidates);
        self.history.push(candidates);
        self.audit.push(AuditEntry {
            at_s: (now as f64).round() / 1000.0,
            actor: actor.to_string(),
            route: self.plan.release.route.clone(),
            from: describe(&before),
            to,
            reason: reason.to_string(),
            change_id: None,
        });
        Ok(())
    }

    /// The deployer ships canary step `step`: registers the release first.
    pub fn release_step(&mut self, now: u64, step: usize) -> Result<(), RegistryError> {
        let rel = &self.plan.release;
        if step == 0 {
            self.baseline = Some(
                self.recorder
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .route_obs(now, 0, self.plan.policy.window),
            );
            self.register_release()?;
        }
        let current = self.candidates(now, &rel.route)?;
        let next = rel.canary(&current, step);
        let share = rel.schedule[step].1 * 100.0;
        self.write(
            &next,
            "deployer",
            &format!("release {} at {share}%", rel.version),
        )
    }

    /// Waits (on the wall clock) until traffic shows the route off the
    /// release, from `from` on: the scenario time it was back, or `None`
    /// when it never was within the patience (or Ctrl-C came).
    fn wait_back(&self, from: u64) -> Option<u64> {
        let refresh = self.wall(self.conn.borrow().refresh);
        let patience = refresh * 2 + Duration::from_secs(30);
        let began = Instant::now();
        loop {
            let back = self
                .routing
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .back_since(from, self.path.settle());
            if back.is_some() {
                return back;
            }
            if began.elapsed() > patience || crate::interrupt::requested() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// LiteLLM: failures of deployment `id` over `window` before `now`,
    /// from the proxy's `/metrics/` (router retries hide them from
    /// clients). Reads the counters once per call.
    fn proxy_failures(&self, now: u64, id: &str, window: Dur) -> Option<u64> {
        let conn = self.conn.borrow();
        let System::Litellm { client, .. } = &conn.system else {
            return None;
        };
        let counters = client.deployment_failures().ok()?;
        let mut log = self.failures.borrow_mut();
        log.push((now, counters));
        let start = now.saturating_sub(window.0);
        // The increments over the window, reading to reading, from the
        // last reading at or before its start (or the first one): a
        // counter that went down was reset by a restart (a `reload:`), and
        // counts again from 0.
        let from = log.iter().rposition(|(t, _)| *t <= start).unwrap_or(0);
        let mut failed = 0.0;
        let mut last = log
            .get(from)
            .and_then(|(_, c)| c.get(id).copied())
            .unwrap_or(0.0);
        for (_, c) in &log[from + 1..] {
            let v = c.get(id).copied().unwrap_or(0.0);
            failed += if v >= last { v - last } else { v };
            last = v;
        }
        Some(failed as u64)
    }
}

impl Staging for StagedPort<'_> {
    fn version_metrics(&self, now: u64, _route: &str, version: &str, window: Dur) -> Observation {
        let mut obs = self
            .recorder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .version_obs(now, version, window);
        let rel = &self.plan.release;
        let id = if version == rel.version {
            self.release_entry.clone()
        } else {
            self.history
                .first()
                .and_then(|cs| cs.iter().find(|c| c.version == version))
                .map(|c| c.id.clone())
        };
        // Requests a deployment failed and the router retried elsewhere
        // are failures of that deployment, though the client saw none. The
        // counter also holds the failures clients did see (their answer
        // names the deployment too): only the rest are added.
        let hidden = id
            .and_then(|id| self.proxy_failures(now, &id, window))
            .map(|failed| failed.saturating_sub(obs.errors));
        if let Some(failed) = hidden
            && failed > 0
        {
            let ok = obs.requests - obs.errors;
            obs.requests += failed;
            obs.errors += failed;
            obs.error_rate = obs.errors as f64 / obs.requests as f64;
            obs.quality = if ok > 0 {
                obs.good as f64 / ok as f64
            } else {
                0.0
            };
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

    fn candidates(&self, _now: u64, _route: &str) -> Result<Vec<Candidate>, RegistryError> {
        let entries = self.entries()?;
        Ok(self.as_candidates(&entries))
    }

    fn versions(&self, _now: u64, _route: &str) -> Result<Vec<String>, RegistryError> {
        let conn = self.conn.borrow();
        let mut out = Vec::new();
        if let System::Mlflow { client, entity } = &conn.system {
            let versions = client
                .versions(entity)
                .map_err(|e| self.refused("listing the versions", &e))?;
            for v in versions {
                if let Some(tag) = v.tags.get(VERSION_TAG) {
                    out.push(tag.clone());
                }
                out.push(v.version);
            }
            return Ok(out);
        }
        drop(conn);
        let entries = self.entries()?;
        Ok(self
            .as_candidates(&entries)
            .into_iter()
            .map(|c| c.version)
            .collect())
    }

    fn previous_candidates(
        &self,
        _now: u64,
        _route: &str,
        bad: &str,
    ) -> Result<Option<Vec<Candidate>>, RegistryError> {
        Ok(crate::registry::rules::previous(
            self.history.iter().map(Vec::as_slice),
            bad,
        ))
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

    /// What traffic shows, not what the system says: the share of the
    /// latest requests `version` served.
    fn serving_share(&self, _now: u64, _route: &str, version: &str) -> f64 {
        if version != self.plan.release.version {
            return 0.0;
        }
        let routing = self.routing.lock().unwrap_or_else(|p| p.into_inner());
        self.back_at
            .and_then(|t| routing.release_share_since(t))
            .unwrap_or_else(|| routing.release_share(RECENT))
    }

    fn add_version(&mut self, _now: u64, _route: &str, version: &str) -> Result<(), RegistryError> {
        Err(RegistryError::Refused(format!(
            "registering {version} for a roll-forward is not supported on a team's staging: roll back instead"
        )))
    }

    fn replay(&mut self, _now: u64, _route: &str, version: &str, requests: u64) -> Observation {
        let mut series = crate::metrics::Series::default();
        let golden = &self.plan.traffic.golden;
        for i in 0..requests.min(1000) {
            let case = &golden.cases[i as usize % golden.cases.len()];
            let body = serde_json::json!({"model": version, "messages": [{"role": "user", "content": case.prompt}]});
            let start = Instant::now();
            let r = crate::staging::http::Client::new(&self.mock.base_url(version))
                .ok()
                .and_then(|c| c.post_json("/chat/completions", &body).ok());
            let ms = start.elapsed().as_secs_f64() * 1000.0 * self.scale;
            let (error, good) = match r {
                Some(r) if r.is_success() => {
                    let content = serde_json::from_str::<serde_json::Value>(&r.body)
                        .ok()
                        .and_then(|v| {
                            v["choices"][0]["message"]["content"]
                                .as_str()
                                .map(str::to_string)
                        });
                    (
                        false,
                        content.is_some_and(|c| crate::scenario::golden::is_good(&c, &case.expect)),
                    )
                }
                _ => (true, false),
            };
            series.record(0, 1, error, good, ms);
        }
        crate::metrics::observe([&series], 0, 1)
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

    /// The rollback's write with the real mechanism, then the reload; it
    /// is acknowledged when both are done and converged when traffic
    /// shows the route off the release (a cache expired, a poll, a
    /// restart).
    fn write_route(
        &mut self,
        now: u64,
        _route: &str,
        candidates: Vec<Candidate>,
        actor: &str,
        reason: &str,
    ) -> Result<WriteAck, RegistryError> {
        let off_release = !crate::registry::rules::serves(&candidates, &self.plan.release.version);
        if off_release {
            self.path.refresh_now();
        }
        self.write(&candidates, actor, reason)?;
        let acked_at = self.now_ms().max(now);
        self.back_at = if off_release {
            self.wait_back(acked_at)
        } else {
            None
        };
        // Never back: the procedure finds the release still serving.
        let converged_at = self.back_at.unwrap_or_else(|| self.now_ms());
        Ok(WriteAck {
            acked_at,
            converged_at: converged_at.max(acked_at),
        })
    }

    fn runs_live_steps(&self) -> bool {
        true
    }

    fn team_call(&mut self, now: u64, step: &Step) -> TeamReply {
        let (ok, detail) = crate::live::team::step(self.plan, step, self.scale);
        TeamReply {
            ok,
            detail,
            took: Dur(self.now_ms().saturating_sub(now)),
        }
    }
}

/// Runs a `reload:` with its timeout on the wall clock, whatever the time
/// scale: a real restart takes as long as it takes (scaled, the fixture's
/// `10m` would be 10 s at `--time-scale 60`, shorter than a proxy restart).
pub(super) fn run_reload(plan: &crate::scenario::Plan, reload: &Reload) -> (bool, String) {
    crate::live::team::step(plan, &reload.step(), 1.0)
}
