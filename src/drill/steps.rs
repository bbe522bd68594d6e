//! The runbook's steps: confirm, identify_target, baseline_check, verify.

use crate::registry::{RegistryError, describe};
use crate::scenario::Dur;
use crate::scenario::{Candidate, FindingKind, Percent, Step, TargetChoice, format_metric};

use super::Staging;
use super::policy::{fires, metric_value};
use super::procedure::*;
use super::record::*;

impl<'p> Procedure<'p> {
    /// Runs steps from `self.step` until one has to wait or the runbook ends.
    pub(super) fn run_steps(&mut self, now: u64, port: &mut dyn Staging) -> Wakes {
        while let Some(step) = self.plan.procedure.get(self.step) {
            if self.record.steps[self.step].start_s.is_none() {
                self.step_started = now;
                self.attempts = 0;
                self.record.steps[self.step].start_s = Some(secs(now));
            }
            let forward = self.record.rolled_forward;
            let result = match step {
                Step::IdentifyTarget(_) | Step::BaselineCheck { .. } if forward => {
                    self.finish_step(now, StepStatus::Skipped, "rolled forward instead".into());
                    continue;
                }
                s if s.live_only() && !port.runs_live_steps() => {
                    self.finish_step(now, StepStatus::Skipped, super::team::LIVE_ONLY.into());
                    continue;
                }
                Step::Http(_) | Step::Exec(_) => Ok(self.team_call(now, step, port)),
                Step::WaitFor(_) => Ok(Next::Wait(vec![(now, Wake::WaitFor)])),
                Step::Confirm => self.confirm(now, port),
                Step::IdentifyTarget(choice) => self.identify(now, choice, port),
                Step::BaselineCheck { requests } => self.baseline_check(now, *requests, port),
                Step::Execute(e) => self.start_execute(now, e, port),
                Step::Verify(v) => Ok(Next::Wait(vec![(now + v.every.0, Wake::Poll)])),
                Step::Postmortem => {
                    self.record.postmortem = true;
                    Ok(Next::Done(
                        "incident record written to the report".to_string(),
                    ))
                }
            };
            match result {
                Ok(Next::Done(detail)) => {
                    self.registry_recovered(now);
                    self.finish_step(now, StepStatus::Succeeded, detail)
                }
                Ok(Next::Wait(wakes)) => return wakes,
                Err(Halt::Retry(at)) => return vec![(at, Wake::RetryStep)],
                Err(Halt::Fail(detail)) => {
                    self.finish_step(now, StepStatus::Failed, detail);
                    self.phase = Phase::Done;
                    return Vec::new();
                }
            }
        }
        self.phase = Phase::Done;
        Vec::new()
    }

    /// What a failed registry call means for the step: a registry that is
    /// down is retried with capped exponential backoff (1s, 2s, 4s … 30s);
    /// a moved route or a retired target is a finding.
    pub(super) fn registry_halt(&mut self, now: u64, err: RegistryError, what: &str) -> Halt {
        match err {
            RegistryError::Unavailable { timed_out_ms, .. } => {
                Halt::Retry(self.retry_after_outage(now, timed_out_ms, what))
            }
            RegistryError::RouteMoved { from, to } => Halt::Fail(self.fail(
                FindingKind::RouteMoved,
                format!(
                    "route {from} has moved to {to}, but the runbook still names {from}: update the runbook and its config to {to}"
                ),
            )),
            RegistryError::VersionNotHeld { route, version } => Halt::Fail(self.fail(
                FindingKind::TargetRetired,
                format!(
                    "rollback target {version} is no longer held for route {route} (retention keep_last={}): keep it for the rollback window",
                    self.plan.registry.keep_last
                ),
            )),
            other => Halt::Fail(format!("{what}: {other}")),
        }
    }

    /// Records a failed attempt as a phase and returns when to try again.
    /// A call that hung until the client's timeout (`timed_out_ms`) fails
    /// only then.
    pub(super) fn retry_after_outage(&mut self, now: u64, timed_out_ms: u64, what: &str) -> u64 {
        self.attempts += 1;
        let backoff = (1000u64 << (self.attempts - 1).min(5)).min(30_000);
        let how = if timed_out_ms > 0 {
            format!("timed out after {}", Dur(timed_out_ms))
        } else {
            "failed".to_string()
        };
        let called = now;
        let now = now.saturating_add(timed_out_ms);
        self.push_phase(
            called,
            "registry unavailable",
            format!(
                "{what} {how} (attempt {}); retrying in {}",
                self.attempts,
                Dur(backoff)
            ),
        );
        if self.outage_since.is_none() {
            self.outage_since = Some(called);
            self.fail(
                FindingKind::RegistryUnavailable,
                format!("the registry refused calls from {}", Dur(called)),
            );
        }
        now + backoff
    }

    /// After an outage, the finding says what it cost.
    pub(super) fn registry_recovered(&mut self, now: u64) {
        let Some(since) = self.outage_since.take() else {
            return;
        };
        self.record.amend_finding(
                    FindingKind::RegistryUnavailable,
                    format!(
                "the registry refused calls from {} to {}: the runbook retried with backoff and lost {}; give it a fallback path (a pre-approved direct router change) or a registry SLO for incidents",
                Dur(since),
                Dur(now),
                Dur(now - since)
            ),
                );
    }

    pub(super) fn step_finished(&mut self, now: u64, port: &mut dyn Staging) -> Wakes {
        let Some((status, detail)) = self.pending.take() else {
            return Vec::new();
        };
        self.registry_recovered(now);
        self.finish_step(now, status, detail);
        if status == StepStatus::Failed {
            self.phase = Phase::Done;
            return Vec::new();
        }
        self.run_steps(now, port)
    }

    /// Replays requests on the rollback target: it must not fire any
    /// trigger itself. Takes as long as the replay at the traffic's rate.
    pub(super) fn baseline_check(
        &mut self,
        now: u64,
        requests: u64,
        port: &mut dyn Staging,
    ) -> Result<Next, Halt> {
        if self.target.is_none() {
            let target = self.previous_target(now, port)?;
            self.record.rollback_target = Some(target.version.clone());
            self.target = Some(target);
        }
        let version = self.target.as_ref().expect("set above").version.clone();
        let route = self.plan.release.route.clone();
        let obs = port.replay(now, &route, &version, requests);
        let baseline = port.baseline(&route);
        let mut policy = self.plan.policy.clone();
        policy.min_requests = 0;
        let took = (requests as f64 / self.plan.traffic.rps * 1000.0)
            .ceil()
            .min(1e15) as u64;
        // The replayed requests are not in the traffic's latency series:
        // their p99 is judged by its point estimate.
        let fired = fires(
            &policy,
            self.alphas.triggers,
            &obs,
            baseline.as_ref(),
            |_| (0.0, 0),
        );
        self.pending = Some(match fired {
            None => (
                StepStatus::Succeeded,
                format!(
                    "{version} healthy over {requests} replayed requests: error_rate {}, quality {}",
                    Percent(obs.error_rate),
                    Percent(obs.quality)
                ),
            ),
            Some((t, value)) => {
                let message = format!(
                    "rollback target {version} is unhealthy itself: {} {} above {} over {requests} replayed requests; fix it or pin another target before rolling back",
                    t.metric,
                    Percent(value),
                    t.above
                );
                (
                    StepStatus::Failed,
                    self.fail(FindingKind::TargetUnhealthy, message),
                )
            }
        });
        Ok(Next::Wait(vec![(
            now.saturating_add(took),
            Wake::StepFinished,
        )]))
    }

    pub(super) fn finish_step(&mut self, now: u64, status: StepStatus, detail: String) {
        let rec = &mut self.record.steps[self.step];
        rec.status = status;
        rec.end_s = Some(secs(now));
        rec.detail = detail;
        self.step += 1;
    }

    pub(super) fn fail(&mut self, kind: FindingKind, message: String) -> String {
        let step = self.plan.procedure[self.step].name().to_string();
        self.record.findings.push(Finding {
            kind,
            step,
            message: message.clone(),
        });
        message
    }

    pub(super) fn confirm(&mut self, now: u64, port: &mut dyn Staging) -> Result<Next, Halt> {
        let Some(trigger) = self.record.deciding_trigger.clone() else {
            return Ok(Next::Done("no trigger to confirm".into()));
        };
        let rel = &self.plan.release;
        let obs = port.version_metrics(now, &rel.route, &rel.version, self.plan.policy.window);
        if obs.missing {
            let again = now + self.plan.policy.evaluate_every.0;
            self.push_phase(
                now,
                "metrics missing",
                "cannot confirm without metrics; waiting".into(),
            );
            return Err(Halt::Retry(again));
        }
        let value = metric_value(trigger.metric, &obs, port.baseline(&rel.route).as_ref());
        let shown = crate::scenario::Percent(value);
        if value > trigger.above.fraction() {
            Ok(Next::Done(format!(
                "{} {shown} still above {}",
                trigger.metric, trigger.above
            )))
        } else {
            Err(Halt::Fail(self.fail(
                FindingKind::ProblemNotConfirmed,
                format!(
                    "{} is {shown}, no longer above {}: the runbook aborted; check whether the trigger's window is too short to confirm",
                    trigger.metric, trigger.above
                ),
            )))
        }
    }

    pub(super) fn identify(
        &mut self,
        now: u64,
        choice: &TargetChoice,
        port: &mut dyn Staging,
    ) -> Result<Next, Halt> {
        if self.plan.release_set.is_some() && *choice == TargetChoice::Previous {
            return self.identify_set(now, port);
        }
        let route = self.plan.release.route.clone();
        let target = match choice {
            TargetChoice::Previous => self.previous_target(now, port)?,
            TargetChoice::Version(v) => {
                let held = port
                    .versions(now, &route)
                    .map_err(|e| self.registry_halt(now, e, "reading the route's versions"))?;
                if !held.contains(v) {
                    return Err(Halt::Fail(self.fail(
                        FindingKind::TargetRetired,
                        format!("rollback target {v} is no longer held for route {route}: keep it under retention for the rollback window"),
                    )));
                }
                let id = port
                    .candidates(now, &route)
                    .ok()
                    .and_then(|cs| cs.into_iter().find(|c| &c.version == v).map(|c| c.id))
                    .unwrap_or_else(|| format!("{route}:{v}"));
                Target {
                    version: v.clone(),
                    candidates: vec![Candidate {
                        id,
                        version: v.clone(),
                        weight: 100.0,
                    }],
                }
            }
        };
        let detail = format!(
            "target {} ({})",
            target.version,
            describe(&target.candidates)
        );
        self.record.rollback_target = Some(target.version.clone());
        self.target = Some(target);
        // A slow registry makes the read take longer.
        let delay = port.read_delay(now);
        if delay > Dur::ZERO {
            self.pending = Some((
                StepStatus::Succeeded,
                format!("{detail}; read took {delay}"),
            ));
            return Ok(Next::Wait(vec![(now + delay.0, Wake::StepFinished)]));
        }
        Ok(Next::Done(detail))
    }

    pub(super) fn previous_target(
        &mut self,
        now: u64,
        port: &mut dyn Staging,
    ) -> Result<Target, Halt> {
        let rel = &self.plan.release;
        let previous = port
            .previous_candidates(now, &rel.route, &rel.version)
            .map_err(|e| self.registry_halt(now, e, "reading the route's history"))?;
        let rel = &self.plan.release;
        let Some(candidates) = previous.filter(|c| !c.is_empty()) else {
            return Err(Halt::Fail(self.fail(
                FindingKind::NoRollbackTarget,
                format!("route {} has no earlier version to roll back to", rel.route),
            )));
        };
        let held = port
            .versions(now, &rel.route)
            .map_err(|e| self.registry_halt(now, e, "reading the route's versions"))?;
        if let Some(gone) = candidates.iter().find(|c| !held.contains(&c.version)) {
            return Err(Halt::Fail(self.fail(
                FindingKind::TargetRetired,
                format!(
                    "rollback target {} was removed by retention (keep_last={}) before the rollback: keep the previous version for the whole rollback window (pin it, or raise keep_last)",
                    gone.version,
                    self.plan.registry.keep_last
                ),
            )));
        }
        let main = candidates
            .iter()
            .max_by(|a, b| a.weight.total_cmp(&b.weight))
            .expect("non-empty");
        Ok(Target {
            version: main.version.clone(),
            candidates,
        })
    }

    pub(super) fn poll(&mut self, now: u64, port: &mut dyn Staging) -> Wakes {
        let Some(Step::Verify(v)) = self.plan.procedure.get(self.step) else {
            return Vec::new();
        };
        let route = &self.plan.release.route;
        let obs = port.route_metrics(now, route, self.step_started);
        // The condition must hold with confidence on the drill's own
        // traffic: a bound, not a point estimate (see `evidence`).
        let judged = super::evidence::judge(&v.condition, &obs, port.baseline(route).as_ref());
        let mut value = judged.value;
        let mut holds = judged.holds;
        // A metric the scenario maps to Prometheus is read there instead;
        // the drill's own traffic must still be sample enough to show it.
        let external = self.external_verify_value(now, v.condition.metric, port);
        let mut source = None;
        match &external {
            Some(Ok((x, note))) => {
                value = *x;
                holds = judged.short.is_none() && v.condition.holds(value);
                source = Some(note.clone());
            }
            Some(Err(_)) => {
                value = f64::NAN;
                holds = false;
            }
            None => {}
        }
        let enough = obs.requests >= self.plan.policy.min_requests;
        let shown = format_metric(v.condition.metric, value);
        if enough && holds {
            self.record.verified = Some(now);
            let detail = match source {
                Some(note) => format!(
                    "{note} with {} requests on the route: {}",
                    obs.requests,
                    v.condition.describe()
                ),
                None => format!(
                    "{} {shown} over {} requests: {} at {}",
                    v.condition.metric,
                    obs.requests,
                    v.condition.describe(),
                    super::evidence::confidence()
                ),
            };
            self.finish_step(now, StepStatus::Succeeded, detail);
            return self.run_steps(now, port);
        }
        let deadline = self.step_started + v.within.0;
        if now >= deadline {
            let why = if let Some(Err(e)) = external {
                e
            } else if let Some(short) = judged.short.filter(|_| enough) {
                format!("{short} ({} {shown} so far)", v.condition.metric)
            } else if enough && v.condition.holds(value) {
                format!(
                    "{} {shown} over {} requests, but not {} at {}",
                    v.condition.metric,
                    obs.requests,
                    v.condition.describe(),
                    super::evidence::confidence()
                )
            } else if enough {
                let bound = v.condition.bound.as_str();
                format!(
                    "{} stayed at {shown}, not {bound} {}",
                    v.condition.metric,
                    format_metric(v.condition.metric, v.condition.limit)
                )
            } else {
                format!(
                    "only {} requests reached the route, fewer than min_requests {}",
                    obs.requests, self.plan.policy.min_requests
                )
            };
            self.check_target_health(now, port);
            self.finish_step(
                now,
                StepStatus::Failed,
                format!("not recovered within {}: {why}", v.within),
            );
            self.phase = Phase::Done;
            return Vec::new();
        }
        // The last poll lands exactly on the deadline.
        vec![((now + v.every.0).min(deadline), Wake::Poll)]
    }

    /// When verification fails, is it because the target itself is bad?
    fn check_target_health(&mut self, now: u64, port: &mut dyn Staging) {
        let Some(target) = self.record.rollback_target.clone() else {
            return;
        };
        let rel = &self.plan.release;
        let obs = port.version_metrics(now, &rel.route, &target, self.plan.policy.window);
        let window = self.plan.policy.window;
        let slow = |ms| port.share_slower_than(now, &rel.route, &target, window, ms);
        let baseline = port.baseline(&rel.route);
        if let Some((t, value)) = fires(
            &self.plan.policy,
            self.alphas.triggers,
            &obs,
            baseline.as_ref(),
            slow,
        ) {
            self.fail(
                FindingKind::TargetUnhealthy,
                format!(
                    "after the rollback {target} itself shows {} {} (above {}): the rollback target is unhealthy; add a baseline_check step before switching",
                    t.metric,
                    Percent(value),
                    t.above
                ),
            );
        }
    }
}
