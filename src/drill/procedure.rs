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

use crate::scenario::{Action, Candidate, Dur, Percent, Plan, Responder, Trigger};

use super::Staging;
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
    /// A step that takes time (baseline_check, a slow read) is over.
    StepFinished,
    /// Run the current step again (after a registry outage's backoff).
    RetryStep,
    Poll,
    /// Query a `wait_for` step's condition again.
    WaitFor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Monitoring,
    Observing,
    Responding,
    Running,
    Done,
}

pub(super) struct Target {
    pub(super) version: String,
    pub(super) candidates: Vec<Candidate>,
}

/// One timed piece of an `execute` step.
#[derive(Debug, Clone)]
pub(super) enum ExecAction {
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
    /// A release set's writes as one transaction (a registry that has
    /// one): `(route, candidates, target version, label)`.
    SetWrite {
        writes: Vec<(String, Vec<Candidate>, String, String)>,
    },
    /// A registry write to one route of a release set.
    RouteWrite {
        route: String,
        candidates: Vec<Candidate>,
        label: String,
    },
}

/// How urgently an action moves toward a decision.
pub(super) fn urgency(action: Action) -> u8 {
    match action {
        Action::Observe => 0,
        Action::Alert => 1,
        Action::Page => 2,
        Action::AutoRollback => 3,
    }
}

pub struct Procedure<'p> {
    pub(super) plan: &'p Plan,
    pub(super) phase: Phase,
    pub(super) record: Record,
    pub(super) observing: Option<Trigger>,
    pub(super) target: Option<Target>,
    pub(super) step: usize,
    pub(super) step_started: u64,
    pub(super) exec: VecDeque<ExecAction>,
    pub(super) exec_gen: u32,
    /// The action being followed, and a counter that retires the wake-ups
    /// of a path a more urgent trigger took over from.
    pub(super) current_action: Option<Action>,
    pub(super) respond_gen: u32,
    pub(super) phase_started: u64,
    /// Status and detail of a timed step, applied when it is over.
    pub(super) pending: Option<(StepStatus, String)>,
    pub(super) fired_new_version: bool,
    /// Failed attempts of the current step's registry calls.
    pub(super) attempts: u32,
    /// Since when the registry has been failing calls, if it is.
    pub(super) outage_since: Option<u64>,
    /// Since when metrics have been missing, if they are.
    pub(super) gap_since: Option<u64>,
    /// What a `wait_for` step's last query showed.
    pub(super) wait_last: String,
    /// A release set's rollback under way.
    pub(super) set_run: super::coordinated::SetRun,
    /// The significance of each test at one evaluation.
    pub(super) alphas: super::policy::Alphas,
}

pub(super) type Wakes = Vec<(u64, Wake)>;

/// How a step goes on: done now, or waiting for a wake-up.
pub(super) enum Next {
    Done(String),
    Wait(Wakes),
}

/// Why a step stops: it will try again at a time, or it failed.
pub(super) enum Halt {
    Retry(u64),
    Fail(String),
}

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
            attempts: 0,
            outage_since: None,
            gap_since: None,
            wait_last: String::new(),
            set_run: Default::default(),
            alphas: super::policy::Alphas::of(plan),
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
            Wake::RetryStep => {
                self.end_phase(now);
                self.run_steps(now, port)
            }
            Wake::Poll => self.poll(now, port),
            Wake::WaitFor => self.wait_for(now, port),
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

    /// The deployer shipped the release's first step now.
    pub fn note_shipped(&mut self, now: u64) {
        self.record.shipped_at.get_or_insert(now);
    }

    /// The deployer's step waits: fault `kind` holds the registry until
    /// `until`.
    pub fn note_held(
        &mut self,
        now: u64,
        what: &str,
        kind: crate::scenario::FaultKind,
        until: u64,
    ) {
        self.note(
            now,
            "deployer",
            format!(
                "{what} held: the registry takes no calls during {kind}, which ends at {}",
                crate::scenario::Dur(until)
            ),
        );
    }

    /// The same, for another change of a release set.
    pub fn note_change_halted(&mut self, now: u64, rel: &crate::scenario::ReleasePlan, share: f64) {
        self.note(
            now,
            "deployer",
            format!(
                "promotion of {} on {} to {} halted: a problem was detected",
                rel.version,
                rel.route,
                Percent(share)
            ),
        );
    }

    pub(super) fn note(&mut self, now: u64, who: &str, what: String) {
        self.record.decision_path.push(DecisionEvent {
            at_s: secs(now),
            who: who.to_string(),
            what,
        });
    }

    pub(super) fn responder(&self, role: Role) -> &'p Responder {
        let r = &self.plan.responders;
        match role {
            Role::OnCall => &r.on_call,
            Role::Product => &r.product,
            Role::PlatformLead => &r.platform_lead,
        }
    }
}
