//! The rollback procedure as a state machine: detect → decide → execute →
//! verify.
//!
//! Monitoring evaluates the policy every `evaluate_every` on the released
//! version. A firing trigger is *detected*; its action leads to a decision
//! (at once for `auto_rollback`, through people for `page`, `alert` and
//! `observe`, with escalation when a responder lacks authority). A
//! `rollback` decision runs the runbook's steps in order; `roll_forward`
//! runs them too but ships the fixed version where `execute` stands. The
//! `execute` step is a queue of timed actions (waits, registry writes,
//! holds) built from the mechanism's time model. A step that fails ends the
//! procedure: that is an outcome to report, never an error.

use std::collections::VecDeque;

use crate::scenario::{
    Action, Bound, Candidate, Decision, Dur, ExecModel, Execute, FindingKind, Mechanism, Percent,
    Plan, Responder, Severity, Step, TargetChoice, Trigger, VerifyMetric, format_metric,
};
use crate::sim::registry::describe;

use super::Staging;
use super::policy::{fires, metric_value, new_version_breach};
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
    /// A responder acknowledges (ignored if a more urgent path took over).
    Ack(Role, u32),
    Decide(Role, u32),
    ObserveEnd,
    /// The current execute action (of this generation) is over.
    ExecNext(u32),
    /// Check a gradual rollback's `abort_if` during a hold.
    HoldCheck(u32),
    /// The platform lead answers a paused gradual rollback.
    AbortAck,
    /// A step that takes time (baseline_check) is over.
    StepFinished,
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

/// One timed piece of an `execute` step.
#[derive(Debug, Clone)]
enum ExecAction {
    /// Time passes (image pull, rebuild, re-baseline, shipping a fix).
    Wait { took: Dur, label: String },
    /// A registry write; over once every router has it.
    Write {
        candidates: Vec<Candidate>,
        label: String,
    },
    /// A gradual stage held, with `abort_if` checked meanwhile.
    Hold { took: Dur, label: String },
    /// Registers a new version before it is routed to (roll forward).
    AddVersion { version: String },
}

/// How urgently an action moves toward a decision.
fn urgency(action: Action) -> u8 {
    match action {
        Action::Observe => 0,
        Action::Alert => 1,
        Action::Page => 2,
        Action::AutoRollback => 3,
    }
}

pub struct Procedure<'p> {
    plan: &'p Plan,
    phase: Phase,
    record: Record,
    observing: Option<Trigger>,
    target: Option<Target>,
    step: usize,
    step_started: u64,
    exec: VecDeque<ExecAction>,
    exec_gen: u32,
    /// The action being followed, and a counter that retires the wake-ups
    /// of a path a more urgent trigger took over from.
    current_action: Option<Action>,
    respond_gen: u32,
    phase_started: u64,
    /// Status and detail of a timed step, applied when it is over.
    pending: Option<(StepStatus, String)>,
    fired_new_version: bool,
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
            exec: VecDeque::new(),
            exec_gen: 0,
            current_action: None,
            respond_gen: 0,
            phase_started: 0,
            pending: None,
            fired_new_version: false,
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
            Wake::Ack(role, generation) if generation == self.respond_gen => {
                self.respond(now, role)
            }
            Wake::Decide(role, generation) if generation == self.respond_gen => {
                self.decide(now, role, port)
            }
            Wake::Ack(..) | Wake::Decide(..) => Vec::new(),
            Wake::ObserveEnd => self.observe_end(now, port),
            Wake::ExecNext(generation) if generation == self.exec_gen => {
                self.end_phase(now);
                self.advance_exec(now, port)
            }
            Wake::HoldCheck(generation) if generation == self.exec_gen => {
                self.hold_check(now, port)
            }
            Wake::ExecNext(_) | Wake::HoldCheck(_) => Vec::new(),
            Wake::AbortAck => self.abort_ack(now, port),
            Wake::StepFinished => self.step_finished(now, port),
            Wake::Poll => self.poll(now, port),
        }
    }

    /// The deployer did not promote the release to `share` because a
    /// problem had been detected.
    pub fn note_promotion_halted(&mut self, now: u64, share: f64) {
        self.note(
            now,
            "deployer",
            format!(
                "promotion of {} to {} halted: a problem was detected",
                self.plan.release.version,
                Percent(share)
            ),
        );
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
        if !matches!(
            self.phase,
            Phase::Monitoring | Phase::Observing | Phase::Responding
        ) {
            return Vec::new();
        }
        let next = vec![(now + self.plan.policy.evaluate_every.0, Wake::Evaluate)];
        let rel = &self.plan.release;
        let obs = port.version_metrics(now, &rel.route, &rel.version, self.plan.policy.window);
        let baseline = port.baseline(&rel.route);
        self.fired_new_version = false;
        let fired = fires(&self.plan.policy, &obs, baseline.as_ref())
            .map(|(t, v)| (t.clone(), v))
            .or_else(|| self.new_version_alert(now, &obs, baseline.as_ref(), port));
        let Some((trigger, value)) = fired else {
            return next;
        };
        // While people respond, only a more urgent action takes over.
        if self.phase != Phase::Monitoring
            && self
                .current_action
                .is_some_and(|a| urgency(trigger.action) <= urgency(a))
        {
            return next;
        }
        self.current_action = Some(trigger.action);
        self.respond_gen += 1;
        if self.record.detected.is_none() {
            self.record.detected = Some(now);
        } else {
            self.record.new_version_alert = false;
        }
        self.record.new_version_alert |= self.fired_new_version;
        self.record.trigger = Some((trigger.clone(), value));
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
                self.record.deciding_at = Some(now);
                self.start_rollback(now, "policy (auto_rollback)", port)
            }
            // Evaluation goes on while people respond, so a more urgent
            // trigger can take over.
            Action::Page => {
                self.record.deciding_trigger = Some(trigger);
                self.record.deciding_at = Some(now);
                let mut wakes = self.page(now);
                wakes.extend(next);
                wakes
            }
            Action::Alert => {
                self.record.deciding_trigger = Some(trigger);
                self.record.deciding_at = Some(now);
                self.phase = Phase::Responding;
                self.note(now, "policy", "team and product alerted".into());
                let mut wakes = self.respond(now, Role::Product);
                wakes.extend(next);
                wakes
            }
            Action::Observe => {
                let watch = trigger.observe_for.unwrap_or_default();
                self.note(now, "policy", format!("observing for {watch}"));
                self.record.deciding_at = Some(now);
                self.observing = Some(trigger);
                self.phase = Phase::Observing;
                let mut wakes = next;
                wakes.push((now + watch.0, Wake::ObserveEnd));
                wakes
            }
        }
    }

    /// While the release is young, the stricter `new_version` limits raise
    /// an alert even when no trigger fires; a breach counts only when it
    /// holds with high confidence (z = 4), so sampling noise does not alert.
    fn new_version_alert(
        &mut self,
        now: u64,
        obs: &crate::sim::traffic::Observation,
        baseline: Option<&crate::sim::traffic::Observation>,
        port: &dyn Staging,
    ) -> Option<(Trigger, f64)> {
        let rel = &self.plan.release;
        let nv = &self.plan.policy.new_version;
        if now >= rel.at.0 + nv.for_.0 || obs.requests < self.plan.policy.min_requests {
            return None;
        }
        let slow = |ms: f64| {
            port.share_slower_than(now, &rel.route, &rel.version, self.plan.policy.window, ms)
        };
        let (metric, limit) = new_version_breach(nv, obs, baseline, slow)?;
        self.fired_new_version = true;
        let value = metric_value(metric, obs, baseline);
        Some((
            Trigger {
                metric,
                above: Percent(limit),
                severity: Severity::Medium,
                action: Action::Alert,
                decide_within: None,
                observe_for: None,
            },
            value,
        ))
    }

    fn page(&mut self, now: u64) -> Wakes {
        self.phase = Phase::Responding;
        self.note(now, "policy", "paged on_call".into());
        vec![(
            now + self.plan.responders.on_call.ack_after.0,
            Wake::Ack(Role::OnCall, self.respond_gen),
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
            self.current_action = Some(Action::Page);
            self.respond_gen += 1;
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
            return vec![(
                now + lead.ack_after.0,
                Wake::Ack(Role::PlatformLead, self.respond_gen),
            )];
        }
        vec![(
            now + responder.decide_after.0,
            Wake::Decide(role, self.respond_gen),
        )]
    }

    fn decide(&mut self, now: u64, role: Role, port: &mut dyn Staging) -> Wakes {
        let responder = self.responder(role);
        match responder.decision {
            Decision::Rollback => self.start_rollback(now, role.as_str(), port),
            Decision::RollForward => {
                self.record.rolled_forward = true;
                self.start_rollback(now, role.as_str(), port)
            }
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
        let decision = if self.record.rolled_forward {
            Decision::RollForward
        } else {
            Decision::Rollback
        };
        self.record.decided = Some(now);
        self.record.decision = Some(decision);
        self.record.decided_by = Some(who.to_string());
        self.note(now, who, format!("decided {decision}"));
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
                phases: Vec::new(),
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
            let forward = self.record.rolled_forward;
            let result = match step {
                Step::IdentifyTarget(_) | Step::BaselineCheck { .. } if forward => {
                    self.finish_step(now, StepStatus::Skipped, "rolled forward instead".into());
                    continue;
                }
                Step::Confirm => self.confirm(now, port),
                Step::IdentifyTarget(choice) => self.identify(now, choice, port).map(Some),
                Step::BaselineCheck { requests } => match self.baseline_check(now, *requests, port)
                {
                    Ok(wakes) => return wakes,
                    Err(e) => Err(e),
                },
                Step::Execute(e) => match self.start_execute(now, e, port) {
                    Ok(wakes) => return wakes,
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

    fn step_finished(&mut self, now: u64, port: &mut dyn Staging) -> Wakes {
        let Some((status, detail)) = self.pending.take() else {
            return Vec::new();
        };
        self.finish_step(now, status, detail);
        if status == StepStatus::Failed {
            self.phase = Phase::Done;
            return Vec::new();
        }
        self.run_steps(now, port)
    }

    /// Replays requests on the rollback target: it must not fire any
    /// trigger itself. Takes as long as the replay at the traffic's rate.
    fn baseline_check(
        &mut self,
        now: u64,
        requests: u64,
        port: &mut dyn Staging,
    ) -> Result<Wakes, String> {
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
        let took = (requests as f64 / self.plan.traffic.rps * 1000.0).ceil() as u64;
        self.pending = Some(match fires(&policy, &obs, baseline.as_ref()) {
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
        Ok(vec![(now + took, Wake::StepFinished)])
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

    /// Turns the mechanism's time model into timed actions and starts them.
    fn start_execute(
        &mut self,
        now: u64,
        e: &Execute,
        port: &mut dyn Staging,
    ) -> Result<Wakes, String> {
        let rel = &self.plan.release;
        let current = port
            .candidates(now, &rel.route)
            .map_err(|err| err.to_string())?;
        let bad_share = current
            .iter()
            .filter(|c| c.version == rel.version)
            .map(|c| c.weight)
            .sum::<f64>();
        if self.record.rolled_forward {
            let fix = self
                .deciding_responder()
                .and_then(|r| r.roll_forward.clone())
                .expect("validated: roll_forward decisions carry their fix");
            let fixed: Vec<Candidate> = current
                .iter()
                .map(|c| {
                    if c.version == rel.version {
                        Candidate {
                            id: fix.id.clone(),
                            version: fix.version.clone(),
                            weight: c.weight,
                        }
                    } else {
                        c.clone()
                    }
                })
                .collect();
            self.record.rollback_target = Some(fix.version.clone());
            self.exec = VecDeque::from([
                ExecAction::Wait {
                    took: fix.ship_after,
                    label: format!("build and ship {}", fix.version),
                },
                ExecAction::AddVersion {
                    version: fix.version.clone(),
                },
                ExecAction::Write {
                    candidates: fixed,
                    label: format!("{} replaces {}", fix.version, rel.version),
                },
            ]);
            return Ok(self.advance_exec(now, port));
        }
        if self.target.is_none() {
            let target = self.previous_target(now, port)?;
            self.record.rollback_target = Some(target.version.clone());
            self.target = Some(target);
        }
        let target = self.target.as_ref().expect("set above");
        // The release at `share` percent, the target candidates sharing the rest.
        let weights = |share: f64| -> Vec<Candidate> {
            let total: f64 = target.candidates.iter().map(|c| c.weight).sum();
            let mut out: Vec<Candidate> = target
                .candidates
                .iter()
                .map(|c| Candidate {
                    weight: c.weight / total * (100.0 - share),
                    ..c.clone()
                })
                .collect();
            out.push(Candidate {
                id: rel.id.clone(),
                version: rel.version.clone(),
                weight: share,
            });
            out
        };
        let switch = match e.mechanism {
            Mechanism::AliasRemap => {
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
            _ => weights(0.0),
        };
        let switch = ExecAction::Write {
            candidates: switch,
            label: format!("switch to {}", target.version),
        };
        let wait = |took: Dur, label: String| ExecAction::Wait { took, label };
        self.exec = match &e.model {
            ExecModel::Switch => VecDeque::from([switch]),
            ExecModel::Gradual { stages, hold, .. } => {
                let mut actions = VecDeque::new();
                for (i, stage) in stages.iter().enumerate() {
                    let share = bad_share * stage;
                    actions.push_back(ExecAction::Write {
                        candidates: weights(share),
                        label: format!(
                            "stage {}: {} at {}",
                            i + 1,
                            rel.version,
                            Percent(share / 100.0)
                        ),
                    });
                    if i + 1 < stages.len() {
                        actions.push_back(ExecAction::Hold {
                            took: *hold,
                            label: format!("hold stage {}", i + 1),
                        });
                    }
                }
                actions
            }
            ExecModel::Redeploy {
                replicas,
                surge,
                per_replica,
                image_pull,
            } => {
                let waves = u64::from(replicas.div_ceil(*surge));
                let mut actions = VecDeque::new();
                if *image_pull > Dur::ZERO {
                    actions.push_back(wait(*image_pull, "pull the previous build's image".into()));
                }
                actions.push_back(wait(
                    Dur(waves * per_replica.0),
                    format!("redeploy {replicas} replicas, {surge} at a time: {waves} waves of {per_replica}"),
                ));
                actions.push_back(switch);
                actions
            }
            ExecModel::RevertSet { rebaseline } => VecDeque::from([
                switch,
                wait(
                    *rebaseline,
                    "re-baseline against the reverted eval set".into(),
                ),
            ]),
            ExecModel::RestoreData {
                documents,
                rebuild_rate,
            } => {
                let took = Dur((*documents as f64 / rebuild_rate * 1000.0).ceil() as u64);
                VecDeque::from([
                    wait(
                        took,
                        format!("rebuild indexes: {documents} documents at {rebuild_rate}/s"),
                    ),
                    switch,
                ])
            }
        };
        Ok(self.advance_exec(now, port))
    }

    fn deciding_responder(&self) -> Option<&'p Responder> {
        let by = self.record.decided_by.as_deref()?;
        [Role::OnCall, Role::Product, Role::PlatformLead]
            .into_iter()
            .find(|r| r.as_str() == by)
            .map(|r| self.responder(r))
    }

    fn push_phase(&mut self, now: u64, name: &str, detail: String) {
        self.phase_started = now;
        self.record.steps[self.step].phases.push(PhaseRecord {
            name: name.to_string(),
            start_s: secs(now),
            end_s: None,
            detail,
        });
    }

    fn end_phase(&mut self, now: u64) {
        if let Some(p) = self.record.steps[self.step].phases.last_mut()
            && p.end_s.is_none()
        {
            p.end_s = Some(secs(now));
        }
    }

    /// Starts the next execute action, or ends the step when none is left.
    fn advance_exec(&mut self, now: u64, port: &mut dyn Staging) -> Wakes {
        if self.phase != Phase::Running {
            return Vec::new();
        }
        self.exec_gen += 1;
        let generation = self.exec_gen;
        let rel = &self.plan.release;
        let Some(action) = self.exec.pop_front() else {
            self.record.restored = Some(now);
            let phases = &self.record.steps[self.step].phases;
            let detail = phases
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", then ");
            let total = Dur(now - self.step_started);
            let how = match self.plan.procedure.get(self.step) {
                _ if self.record.rolled_forward => "roll_forward".to_string(),
                Some(Step::Execute(e)) => e.mechanism.to_string(),
                _ => String::new(),
            };
            self.finish_step(
                now,
                StepStatus::Succeeded,
                format!("{how}: {detail}: {total} in all"),
            );
            return self.run_steps(now, port);
        };
        match action {
            ExecAction::Wait { took, label } => {
                self.push_phase(now, &label, format!("{took}"));
                vec![(now + took.0, Wake::ExecNext(generation))]
            }
            ExecAction::AddVersion { version } => match port.add_version(now, &rel.route, &version)
            {
                Ok(()) => self.advance_exec(now, port),
                Err(e) => self.exec_failed(now, format!("registry refused {version}: {e}")),
            },
            ExecAction::Write { candidates, label } => {
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
                        self.push_phase(
                            now,
                            &label,
                            format!(
                                "{to}; write acknowledged after {}, on every router after {}",
                                Dur(ack.acked_at - now),
                                Dur(ack.converged_at - now)
                            ),
                        );
                        vec![(ack.converged_at, Wake::ExecNext(generation))]
                    }
                    Err(e) => {
                        let message = self.fail(
                            FindingKind::RegistryUnavailable,
                            format!("registry write failed: {e}"),
                        );
                        self.exec_failed(now, message)
                    }
                }
            }
            ExecAction::Hold { took, label } => {
                self.push_phase(now, &label, format!("{took}"));
                let mut wakes = vec![(now + took.0, Wake::ExecNext(generation))];
                if self.abort_condition().is_some() {
                    wakes.push((
                        now + self.plan.policy.evaluate_every.0,
                        Wake::HoldCheck(generation),
                    ));
                }
                wakes
            }
        }
    }

    fn exec_failed(&mut self, now: u64, detail: String) -> Wakes {
        self.exec.clear();
        self.finish_step(now, StepStatus::Failed, detail);
        self.phase = Phase::Done;
        Vec::new()
    }

    fn abort_condition(&self) -> Option<crate::scenario::Condition> {
        match self.plan.procedure.get(self.step) {
            Some(Step::Execute(Execute {
                model: ExecModel::Gradual { abort_if, .. },
                ..
            })) => *abort_if,
            _ => None,
        }
    }

    /// During a hold: if `abort_if` fires on the route's traffic since the
    /// hold began, the shift pauses and the platform lead is paged.
    fn hold_check(&mut self, now: u64, port: &mut dyn Staging) -> Wakes {
        let Some(cond) = self.abort_condition() else {
            return Vec::new();
        };
        let obs = port.route_metrics(now, &self.plan.release.route, self.phase_started);
        let value = match cond.metric {
            VerifyMetric::ErrorRate => obs.error_rate,
            VerifyMetric::Quality => obs.quality,
            VerifyMetric::LatencyP50 => obs.p50_ms,
            VerifyMetric::LatencyP99 => obs.p99_ms,
        };
        if obs.requests >= self.plan.policy.min_requests && cond.holds(value) {
            self.end_phase(now);
            self.exec_gen += 1;
            let shown = format_metric(cond.metric, value);
            self.push_phase(
                now,
                "paused by abort_if",
                format!("{} {shown}: {}", cond.metric, cond.describe()),
            );
            self.note(
                now,
                "procedure",
                format!(
                    "gradual rollback paused: abort_if {} ({shown}); escalated to platform_lead",
                    cond.describe()
                ),
            );
            let lead = &self.plan.responders.platform_lead;
            return vec![(now + lead.ack_after.0, Wake::AbortAck)];
        }
        vec![(
            now + self.plan.policy.evaluate_every.0,
            Wake::HoldCheck(self.exec_gen),
        )]
    }

    /// The platform lead, paged by a paused gradual rollback, finishes it
    /// in one step: the remaining stages are skipped.
    fn abort_ack(&mut self, now: u64, port: &mut dyn Staging) -> Wakes {
        self.end_phase(now);
        self.note(
            now,
            "platform_lead",
            "acknowledged the paused rollback: finishing it at once".into(),
        );
        let last = self
            .exec
            .iter()
            .rev()
            .find(|a| matches!(a, ExecAction::Write { .. }))
            .cloned();
        self.exec.clear();
        if let Some(ExecAction::Write { candidates, .. }) = last {
            self.exec.push_back(ExecAction::Write {
                candidates,
                label: "platform_lead: release to 0% at once".into(),
            });
        }
        self.advance_exec(now, port)
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
