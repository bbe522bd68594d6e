//! People: responders acknowledge, decide or escalate; a decision starts
//! the runbook.

use crate::scenario::{Decision, FindingKind, Responder};

use super::Staging;
use super::procedure::*;
use super::record::*;

impl<'p> Procedure<'p> {
    /// A responder has looked: decide, or escalate for lack of authority.
    pub(super) fn respond(&mut self, now: u64, role: Role) -> Wakes {
        let responder = self.responder(role);
        if role != Role::Product {
            self.note(now, role.as_str(), "acknowledged".into());
        }
        if let Some(routes) = self.lacks_coordinated(role, responder) {
            return self.escalate_coordinated(now, role, routes);
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
                        "nobody may roll back {} {} change: give platform_lead authority for it",
                        self.plan.change.article(),
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

    pub(super) fn decide(&mut self, now: u64, role: Role, port: &mut dyn Staging) -> Wakes {
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

    pub(super) fn start_rollback(&mut self, now: u64, who: &str, port: &mut dyn Staging) -> Wakes {
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

    pub(super) fn deciding_responder(&self) -> Option<&'p Responder> {
        let by = self.record.decided_by.as_deref()?;
        [Role::OnCall, Role::Product, Role::PlatformLead]
            .into_iter()
            .find(|r| r.as_str() == by)
            .map(|r| self.responder(r))
    }
}
