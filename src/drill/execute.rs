//! The `execute` step: the mechanism's time model as a queue of timed
//! actions (waits, registry writes, holds), run one after another.

use std::collections::VecDeque;

use crate::registry::{RegistryError, describe};
use crate::scenario::{
    Candidate, Dur, ExecModel, Execute, FindingKind, Mechanism, Percent, Step, format_metric,
};

use super::Staging;
use super::procedure::*;
use super::record::*;

impl<'p> Procedure<'p> {
    /// A registry write's phase: what it wrote, when it was acknowledged
    /// and when every router had it (a single route's, or one of a set's).
    pub(super) fn push_write_phase(
        &mut self,
        now: u64,
        label: &str,
        to: &str,
        ack: super::WriteAck,
    ) {
        self.push_phase(
            now,
            label,
            format!(
                "{to}; write acknowledged after {}, on every router after {}",
                Dur(ack.acked_at - now),
                Dur(ack.converged_at - now)
            ),
        );
    }

    /// Turns the mechanism's time model into timed actions and starts them.
    pub(super) fn start_execute(
        &mut self,
        now: u64,
        e: &Execute,
        port: &mut dyn Staging,
    ) -> Result<Next, Halt> {
        let current = port
            .candidates(now, &self.plan.release.route)
            .map_err(|err| self.registry_halt(now, err, "reading the route"))?;
        let rel = &self.plan.release;
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
            // SPEC section 4: restored is when the fix serves all traffic.
            let fixed = vec![Candidate {
                id: fix.id.clone(),
                version: fix.version.clone(),
                weight: 100.0,
            }];
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
            return Ok(Next::Wait(self.advance_exec(now, port)));
        }
        if let Some(set) = &self.plan.release_set {
            return self.start_set(now, set, port);
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
                    Dur(waves.saturating_mul(per_replica.0)),
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
                let took = Dur((*documents as f64 / rebuild_rate * 1000.0).ceil().min(1e15) as u64);
                VecDeque::from([
                    wait(
                        took,
                        format!("rebuild indexes: {documents} documents at {rebuild_rate}/s"),
                    ),
                    switch,
                ])
            }
        };
        Ok(Next::Wait(self.advance_exec(now, port)))
    }

    pub(super) fn push_phase(&mut self, now: u64, name: &str, detail: String) {
        self.phase_started = now;
        self.record.steps[self.step].phases.push(PhaseRecord {
            name: name.to_string(),
            start_s: secs(now),
            end_s: None,
            detail,
        });
    }

    pub(super) fn end_phase(&mut self, now: u64) {
        if let Some(p) = self.record.steps[self.step].phases.last_mut()
            && p.end_s.is_none()
        {
            p.end_s = Some(secs(now));
        }
    }

    /// Starts the next execute action, or ends the step when none is left.
    pub(super) fn advance_exec(&mut self, now: u64, port: &mut dyn Staging) -> Wakes {
        if self.phase != Phase::Running {
            return Vec::new();
        }
        self.exec_gen += 1;
        let generation = self.exec_gen;
        let rel = &self.plan.release;
        let Some(action) = self.exec.pop_front() else {
            if self.plan.release_set.is_some() {
                return self.finish_set(now, port);
            }
            // Restored means every router sends the release nothing.
            let left = port.serving_share(now, &rel.route, &rel.version);
            if left > 1e-9 {
                let message = self.fail(
                    FindingKind::PartialRollback,
                    format!(
                        "{} of the route's traffic still reaches {} after the rollback: some routers never received it; check every router, not only the registry, before calling the rollback done",
                        Percent(left),
                        rel.version
                    ),
                );
                return self.exec_failed(now, message);
            }
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
                vec![(now.saturating_add(took.0), Wake::ExecNext(generation))]
            }
            ExecAction::AddVersion { version } => {
                match port.add_version(now, &rel.route, &version) {
                    Ok(()) => self.advance_exec(now, port),
                    Err(e) => {
                        let retry = ExecAction::AddVersion {
                            version: version.clone(),
                        };
                        self.write_failed(now, retry, e, &format!("registering {version}"))
                    }
                }
            }
            ExecAction::RouteWrite {
                route,
                candidates,
                label,
            } => self.route_write(now, route, candidates, label, port),
            ExecAction::SetWrite { writes } => self.set_write(now, writes, port),
            ExecAction::Write { candidates, label } => {
                let reason = self.write_reason();
                let to = describe(&candidates);
                let actor = self.record.decided_by.clone().unwrap_or_default();
                let retry = ExecAction::Write {
                    candidates: candidates.clone(),
                    label: label.clone(),
                };
                match port.write_route(now, &rel.route, candidates, &actor, &reason) {
                    Ok(ack) => {
                        self.registry_recovered(now);
                        self.push_write_phase(now, &label, &to, ack);
                        vec![(ack.converged_at, Wake::ExecNext(generation))]
                    }
                    Err(e) => self.write_failed(now, retry, e, "the rollback write"),
                }
            }
            ExecAction::Hold { took, label } => {
                self.push_phase(now, &label, format!("{took}"));
                let mut wakes = vec![(now.saturating_add(took.0), Wake::ExecNext(generation))];
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

    /// Why the rollback writes to the registry, for its audit.
    pub(super) fn write_reason(&self) -> String {
        match &self.record.deciding_trigger {
            Some(t) => format!(
                "rollback drill: {} above {} ({})",
                t.metric, t.above, t.severity
            ),
            None => "rollback drill".to_string(),
        }
    }

    /// A refused write: wait out an outage or a config repair and try the
    /// same action again, or fail the step.
    pub(super) fn write_failed(
        &mut self,
        now: u64,
        action: ExecAction,
        err: RegistryError,
        what: &str,
    ) -> Wakes {
        let generation = self.exec_gen;
        match err {
            RegistryError::ConfigMismatch { repaired_ms } => {
                self.push_phase(
                    now,
                    "config mismatch",
                    format!("{what} was refused: the runbook's config does not match the registry; a person repairs it"),
                );
                if !self
                    .record
                    .findings
                    .iter()
                    .any(|f| f.kind == FindingKind::ConfigMismatch)
                {
                    self.fail(
                        FindingKind::ConfigMismatch,
                        format!(
                            "the runbook's config did not match the registry: {what} was refused until a person repaired the config {} later; keep the runbook's config beside the registry's and exercise it with every release",
                            Dur(repaired_ms - now)
                        ),
                    );
                }
                self.exec.push_front(action);
                vec![(repaired_ms, Wake::ExecNext(generation))]
            }
            other => match self.registry_halt(now, other, what) {
                Halt::Retry(at) => {
                    self.exec.push_front(action);
                    vec![(at, Wake::ExecNext(generation))]
                }
                Halt::Fail(message) => self.exec_failed(now, message),
            },
        }
    }

    pub(super) fn exec_failed(&mut self, now: u64, detail: String) -> Wakes {
        self.exec.clear();
        self.finish_step(now, StepStatus::Failed, detail);
        self.phase = Phase::Done;
        Vec::new()
    }

    pub(super) fn abort_condition(&self) -> Option<crate::scenario::Condition> {
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
    pub(super) fn hold_check(&mut self, now: u64, port: &mut dyn Staging) -> Wakes {
        let Some(cond) = self.abort_condition() else {
            return Vec::new();
        };
        let route = &self.plan.release.route;
        let obs = port.route_metrics(now, route, self.phase_started);
        // `abort_if` is a brake: it acts on the point estimate, as the
        // policy's triggers do, and needs no proof to stop a shift.
        let value = super::evidence::route_value(cond.metric, &obs, port.baseline(route).as_ref());
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
    pub(super) fn abort_ack(&mut self, now: u64, port: &mut dyn Staging) -> Wakes {
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
}
