//! The rollback procedure as a state machine: detect → decide → execute →
//! verify.
//!
//! Monitoring evaluates the policy every `evaluate_every` on the released
//! version. A firing trigger is *detected*; its action leads to a decision
//! (at once for `auto_rollback`, through people for `page`, `alert` and
//! `observe`, with escalation when a responder lacks authority). A
//! `rollback` decision runs the runbook's steps in order. A step that fails
//! ends the procedure: that is an outcome to report, never an error.

use crate::scenario::{
    Action, Bound, Candidate, Decision, FindingKind, Mechanism, Plan, Responder, Step,
    TargetChoice, Trigger, VerifyMetric, format_metric,
};
use crate::sim::registry::describe;

use super::Staging;
use super::policy::{fires, metric_value};
use super::record::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    OnCall,
    Product,
    PlatformLead,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::OnCall => "on_call",
            Role::Product => "product",
            Role::PlatformLead => "platform_lead",
        }
    }
}

/// Why the driver wakes the procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Wake {
    Evaluate,
    Ack(Role),
    Decide(Role),
    ObserveEnd,
    StepDone,
    Poll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Monitoring,
    Observing,
    Responding,
    Running,
    Done,
}

struct Target {
    version: String,
    candidates: Vec<Candidate>,
}

pub struct Procedure<'p> {
    plan: &'p Plan,
    phase: Phase,
    record: Record,
    observing: Option<Trigger>,
    target: Option<Target>,
    step: usize,
    step_started: u64,
}

type Wakes = Vec<(u64, Wake)>;

impl<'p> Procedure<'p> {
    pub fn new(plan: &'p Plan) -> Procedure<'p> {
        Procedure {
            plan,
            phase: Phase::Monitoring,
            record: Record::default(),
            observing: None,
            target: None,
            step: 0,
            step_started: 0,
        }
    }

    /// The first evaluation, one interval after the release.
    pub fn first_wake(&self) -> (u64, Wake) {
        (
            self.plan.release.at.0 + self.plan.policy.evaluate_every.0,
            Wake::Evaluate,
        )
    }

    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    pub fn record(&self) -> &Record {
        &self.record
    }

    pub fn into_record(self) -> Record {
        self.record
    }

    pub fn on_wake(&mut self, now: u64, wake: Wake, port: &mut dyn Staging) -> Wakes {
        match wake {
            Wake::Evaluate => self.evaluate(now, port),
            Wake::Ack(role) => self.respond(now, role),
            Wake::Decide(role) => self.decide(now, role, port),
            Wake::ObserveEnd => self.observe_end(now, port),
            Wake::StepDone => self.step_done(now, port),
            Wake::Poll => self.poll(now, port),
        }
    }

    fn note(&mut self, now: u64, who: &str, what: String) {
        self.record.decision_path.push(DecisionEvent {
            at_s: secs(now),
            who: who.to_string(),
            what,
        });
    }

    fn responder(&self, role: Role) -> &'p Responder {
        let r = &self.plan.responders;
        match role {
            Role::OnCall => &r.on_call,
            Role::Product => &r.product,
            Role::PlatformLead => &r.platform_lead,
        }
    }

    fn evaluate(&mut self, now: u64, port: &mut dyn Staging) -> Wakes {
        if !matches!(self.phase, Phase::Monitoring | Phase::Observing) {
            return Vec::new();
        }
        let next = vec![(now + self.plan.policy.evaluate_every.0, Wake::Evaluate)];
        let rel = &self.plan.release;
        let obs = port.version_metrics(now, &rel.route, &rel.version, self.plan.policy.window);
        let baseline = port.baseline(&rel.route);
        let Some((trigger, value)) = fires(&self.plan.policy, &obs, baseline.as_ref()) else {
            return next;
        };
        if self.phase == Phase::Observing && trigger.action == Action::Observe {
            return next;
        }
        let trigger = trigger.clone();
        if self.record.detected.is_none() {
            self.record.detected = Some(now);
            self.record.trigger = Some((trigger.clone(), value));
        }
        self.note(
            now,
            "policy",
            format!(
                "{} {} above {} on {} ({} requests): {} → {}",
                trigger.metric,
                crate::scenario::Percent(value),
                trigger.above,
                rel.version,
                obs.requests,
                trigger.severity,
                trigger.action
            ),
        );
        self.observing = None;
        match trigger.action {
            Action::AutoRollback => {
                self.record.deciding_trigger = Some(trigger);
                self.start_rollback(now, "policy (auto_rollback)", port)
            }
            Action::Page => {
                self.record.deciding_trigger = Some(trigger);
                self.page(now)
            }
            Action::Alert => {
                self.record.deciding_trigger = Some(trigger);
                self.phase = Phase::Responding;
                self.note(now, "policy", "team and product alerted".into());
                self.respond(now, Role::Product)
            }
            Action::Observe => {
                let watch = trigger.observe_for.unwrap_or_default();
                self.note(now, "policy", format!("observing for {watch}"));
                self.observing = Some(trigger);
                self.phase = Phase::Observing;
                let mut wakes = next;
                wakes.push((now + watch.0, Wake::ObserveEnd));
                wakes
            }
        }
    }

    fn page(&mut self, now: u64) -> Wakes {
        self.phase = Phase::Responding;
        self.note(now, "policy", "paged on_call".into());
        vec![(
            now + self.plan.responders.on_call.ack_after.0,
            Wake::Ack(Role::OnCall),
        )]
    }

    fn observe_end(&mut self, now: u64, port: &mut dyn Staging) -> Wakes {
        let Some(trigger) = self.observing.take() else {
            return Vec::new();
        };
        if self.phase != Phase::Observing {
            return Vec::new();
        }
        let rel = &self.plan.release;
        let obs = port.version_metrics(now, &rel.route, &rel.version, self.plan.policy.window);
        let value = metric_value(trigger.metric, &obs, port.baseline(&rel.route).as_ref());
        if value > trigger.above.fraction() && obs.requests >= self.plan.policy.min_requests {
            self.note(
                now,
                "policy",
                format!(
                    "{} still {} after observing: escalating to a page",
                    trigger.metric,
                    crate::scenario::Percent(value)
                ),
            );
            self.record.deciding_trigger = Some(trigger);
            self.page(now)
        } else {
            self.note(
                now,
                "policy",
                format!(
                    "{} resolved while observed: keep monitoring",
                    trigger.metric
                ),
            );
            self.phase = Phase::Monitoring;
            Vec::new()
        }
    }

    /// A responder has looked: decide, or escalate for lack of authority.
    fn respond(&mut self, now: u64, role: Role) -> Wakes {
        let responder = self.responder(role);
        if role != Role::Product {
            self.note(now, role.as_str(), "acknowledged".into());
        }
        if !responder.authority.contains(&self.plan.change) {
            if role == Role::PlatformLead {
                self.note(
                    now,
                    role.as_str(),
                    format!("has no authority for {}", self.plan.change),
                );
                self.record.findings.push(Finding {
                    kind: FindingKind::NoDecision,
                    step: "decide".into(),
                    message: format!(
                        "nobody may roll back a {} change: give platform_lead authority for it",
                        self.plan.change
                    ),
                });
                self.phase = Phase::Done;
                return Vec::new();
            }
            self.note(
                now,
                role.as_str(),
                format!(
                    "has no authority for {}: escalated to platform_lead",
                    self.plan.change
                ),
            );
            let lead = &self.plan.responders.platform_lead;
            return vec![(now + lead.ack_after.0, Wake::Ack(Role::PlatformLead))];
        }
        vec![(now + responder.decide_after.0, Wake::Decide(role))]
    }

    fn decide(&mut self, now: u64, role: Role, port: &mut dyn Staging) -> Wakes {
        let responder = self.responder(role);
        match responder.decision {
            Decision::Rollback => self.start_rollback(now, role.as_str(), port),
            other => {
                self.note(now, role.as_str(), format!("decided {other}: no rollback"));
                self.record.decision = Some(other);
                self.record.decided_by = Some(role.as_str().to_string());
                self.phase = Phase::Done;
                Vec::new()
            }
        }
    }

    fn start_rollback(&mut self, now: u64, who: &str, port: &mut dyn Staging) -> Wakes {
        self.record.decided = Some(now);
        self.record.decision = Some(Decision::Rollback);
        self.record.decided_by = Some(who.to_string());
        self.note(now, who, "decided rollback".into());
        self.phase = Phase::Running;
        self.record.steps = self
            .plan
            .procedure
            .iter()
            .map(|s| StepRecord {
                name: s.name().to_string(),
                status: StepStatus::NotRun,
                start_s: None,
                end_s: None,
                detail: String::new(),
            })
            .collect();
        self.step = 0;
        self.run_steps(now, port)
    }

    /// Runs steps from `self.step` until one has to wait or the runbook ends.
    fn run_steps(&mut self, now: u64, port: &mut dyn Staging) -> Wakes {
        while let Some(step) = self.plan.procedure.get(self.step) {
            self.step_started = now;
            self.record.steps[self.step].start_s = Some(secs(now));
            let result = match step {
                Step::Confirm => self.confirm(now, port),
                Step::IdentifyTarget(choice) => self.identify(now, choice, port).map(Some),
                Step::Execute(e) => match self.execute(now, e.mechanism, port) {
                    Ok(wake) => return vec![(wake, Wake::StepDone)],
                    Err(e) => Err(e),
                },
                Step::Verify(v) => return vec![(now + v.every.0, Wake::Poll)],
                Step::Postmortem => {
                    self.record.postmortem = true;
                    Ok(Some("incident record written to the report".to_string()))
                }
            };
            match result {
                Ok(detail) => {
                    self.finish_step(now, StepStatus::Succeeded, detail.unwrap_or_default())
                }
                Err(detail) => {
                    self.finish_step(now, StepStatus::Failed, detail);
                    self.phase = Phase::Done;
                    return Vec::new();
                }
            }
        }
        self.phase = Phase::Done;
        Vec::new()
    }

    fn finish_step(&mut self, now: u64, status: StepStatus, detail: String) {
        let rec = &mut self.record.steps[self.step];
        rec.status = status;
        rec.end_s = Some(secs(now));
        rec.detail = detail;
        self.step += 1;
    }

    fn fail(&mut self, kind: FindingKind, message: String) -> String {
        let step = self.plan.procedure[self.step].name().to_string();
        self.record.findings.push(Finding {
            kind,
            step,
            message: message.clone(),
        });
        message
    }

    fn confirm(&mut self, now: u64, port: &mut dyn Staging) -> Result<Option<String>, String> {
        let Some(trigger) = self.record.deciding_trigger.clone() else {
            return Ok(Some("no trigger to confirm".into()));
        };
        let rel = &self.plan.release;
        let obs = port.version_metrics(now, &rel.route, &rel.version, self.plan.policy.window);
        let value = metric_value(trigger.metric, &obs, port.baseline(&rel.route).as_ref());
        let shown = crate::scenario::Percent(value);
        if value > trigger.above.fraction() {
            Ok(Some(format!(
                "{} {shown} still above {}",
                trigger.metric, trigger.above
            )))
        } else {
            Err(self.fail(
                FindingKind::ProblemNotConfirmed,
                format!(
                    "{} is {shown}, no longer above {}: the runbook aborted; check whether the trigger's window is too short to confirm",
                    trigger.metric, trigger.above
                ),
            ))
        }
    }

    fn identify(
        &mut self,
        now: u64,
        choice: &TargetChoice,
        port: &mut dyn Staging,
    ) -> Result<String, String> {
        let route = self.plan.release.route.clone();
        let target = match choice {
            TargetChoice::Previous => self.previous_target(now, port)?,
            TargetChoice::Version(v) => {
                let held = port.versions(now, &route).map_err(|e| e.to_string())?;
                if !held.contains(v) {
                    return Err(self.fail(
                        FindingKind::TargetRetired,
                        format!("rollback target {v} is no longer held for route {route}: keep it under retention for the rollback window"),
                    ));
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
        Ok(detail)
    }

    fn previous_target(&mut self, now: u64, port: &mut dyn Staging) -> Result<Target, String> {
        let rel = &self.plan.release;
        let previous = port
            .previous_candidates(now, &rel.route, &rel.version)
            .map_err(|e| e.to_string())?;
        let Some(candidates) = previous.filter(|c| !c.is_empty()) else {
            return Err(self.fail(
                FindingKind::NoRollbackTarget,
                format!("route {} has no earlier version to roll back to", rel.route),
            ));
        };
        let held = port.versions(now, &rel.route).map_err(|e| e.to_string())?;
        if let Some(gone) = candidates.iter().find(|c| !held.contains(&c.version)) {
            return Err(self.fail(
                FindingKind::TargetRetired,
                format!(
                    "rollback target {} was removed by retention keep_last={}: keep at least {} versions for the rollback window",
                    gone.version,
                    self.plan.registry.keep_last,
                    self.plan.registry.keep_last + 1
                ),
            ));
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

    /// Writes the rollback; returns when every router will have it.
    fn execute(
        &mut self,
        now: u64,
        mechanism: Mechanism,
        port: &mut dyn Staging,
    ) -> Result<u64, String> {
        if self.target.is_none() {
            let target = self.previous_target(now, port)?;
            self.record.rollback_target = Some(target.version.clone());
            self.target = Some(target);
        }
        let target = self.target.as_ref().expect("set above");
        let rel = &self.plan.release;
        let candidates = match mechanism {
            Mechanism::RouteWeight => {
                let mut c = target.candidates.clone();
                c.push(Candidate {
                    id: rel.id.clone(),
                    version: rel.version.clone(),
                    weight: 0.0,
                });
                c
            }
            _ => {
                let main = target
                    .candidates
                    .iter()
                    .find(|c| c.version == target.version)
                    .expect("target is among its candidates");
                vec![Candidate {
                    weight: 100.0,
                    ..main.clone()
                }]
            }
        };
        let reason = match &self.record.deciding_trigger {
            Some(t) => format!(
                "rollback drill: {} above {} ({})",
                t.metric, t.above, t.severity
            ),
            None => "rollback drill".to_string(),
        };
        let to = describe(&candidates);
        let actor = self.record.decided_by.clone().unwrap_or_default();
        match port.write_route(now, &rel.route, candidates, &actor, &reason) {
            Ok(ack) => {
                self.record.steps[self.step].detail = format!(
                    "{mechanism}: {to}; acknowledged at {}s, on every router at {}s",
                    secs(ack.acked_at),
                    secs(ack.converged_at)
                );
                Ok(ack.converged_at)
            }
            Err(e) => Err(self.fail(
                FindingKind::RegistryUnavailable,
                format!("registry write failed: {e}"),
            )),
        }
    }

    fn step_done(&mut self, now: u64, port: &mut dyn Staging) -> Wakes {
        if self.phase != Phase::Running {
            return Vec::new();
        }
        self.record.restored = Some(now);
        let detail = std::mem::take(&mut self.record.steps[self.step].detail);
        self.finish_step(now, StepStatus::Succeeded, detail);
        self.run_steps(now, port)
    }

    fn poll(&mut self, now: u64, port: &mut dyn Staging) -> Wakes {
        let Some(Step::Verify(v)) = self.plan.procedure.get(self.step) else {
            return Vec::new();
        };
        let obs = port.route_metrics(now, &self.plan.release.route, self.step_started);
        let value = match v.condition.metric {
            VerifyMetric::ErrorRate => obs.error_rate,
            VerifyMetric::Quality => obs.quality,
            VerifyMetric::LatencyP50 => obs.p50_ms,
            VerifyMetric::LatencyP99 => obs.p99_ms,
        };
        let enough = obs.requests >= self.plan.policy.min_requests;
        let shown = format_metric(v.condition.metric, value);
        if enough && v.condition.holds(value) {
            self.record.verified = Some(now);
            let detail = format!(
                "{} {shown} over {} requests: {}",
                v.condition.metric,
                obs.requests,
                v.condition.describe()
            );
            self.finish_step(now, StepStatus::Succeeded, detail);
            return self.run_steps(now, port);
        }
        if now + v.every.0 > self.step_started + v.within.0 {
            let why = if enough {
                let bound = match v.condition.bound {
                    Bound::Below => "below",
                    Bound::Above => "above",
                };
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
            self.finish_step(
                now,
                StepStatus::Failed,
                format!("not recovered within {}: {why}", v.within),
            );
            self.phase = Phase::Done;
            return Vec::new();
        }
        vec![(now + v.every.0, Wake::Poll)]
    }
}
