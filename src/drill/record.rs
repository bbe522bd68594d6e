//! What a procedure run leaves behind: times, the decision path, each
//! step's fate and the findings. Measurements only; verdicts are derived
//! from them later (see [`crate::outcome`]).

use serde::Serialize;

use crate::scenario::{Decision, FindingKind, Trigger};

#[derive(Debug, Clone, Default)]
pub struct Record {
    pub detected: Option<u64>,
    pub decided: Option<u64>,
    pub restored: Option<u64>,
    pub verified: Option<u64>,
    /// The trigger that fired first and the value it saw.
    pub trigger: Option<(Trigger, f64)>,
    /// The trigger behind the decision (an observe can turn into a page),
    /// and when it fired or took over: its `decide_within` runs from there.
    pub deciding_trigger: Option<Trigger>,
    pub deciding_at: Option<u64>,
    pub decision_path: Vec<DecisionEvent>,
    pub decision: Option<Decision>,
    pub decided_by: Option<String>,
    pub rollback_target: Option<String>,
    pub steps: Vec<StepRecord>,
    pub findings: Vec<Finding>,
    pub postmortem: bool,
    /// The decision was `roll_forward`: the fix ships where `execute` stands.
    pub rolled_forward: bool,
    /// The detection came from the `new_version` limits, not a trigger.
    pub new_version_alert: bool,
    /// What served after the restore, judged by the whole policy when the
    /// drill ended; `None` when nothing was restored.
    pub recovery: Option<super::recovery::Recovery>,
    /// Evaluations that saw at least `min_requests` of the release's
    /// traffic: 0 means the policy never judged the release.
    pub judged: u32,
    /// A release set's rollback, route by route in rollback order; empty
    /// for a single route.
    pub routes: Vec<RouteRollback>,
    /// The set's rollback went to the registry as one transaction (its
    /// routes' phases overlap), not route by route (they add up).
    pub set_in_one_write: bool,
    /// When the deployer shipped the release's first step: its planned
    /// time, or later when a fault held the registry then.
    pub shipped_at: Option<u64>,
}

/// One route of a release set's rollback: its own mechanism, target and
/// timed phase (from its write to every router having it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteRollback {
    pub route: String,
    pub release: String,
    pub mechanism: crate::scenario::Mechanism,
    pub target: Option<String>,
    pub status: RouteStatus,
    pub start_s: Option<f64>,
    pub end_s: Option<f64>,
    pub detail: String,
}

impl RouteRollback {
    /// Seconds its phase took, once over.
    pub fn took_s(&self) -> Option<f64> {
        Some(self.end_s? - self.start_s?)
    }
}

/// Where one route of a release set stands in its rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteStatus {
    /// Its rollback write has not been made yet.
    Pending,
    /// Serves its target on every router.
    RolledBack,
    /// Could not be rolled back (the detail says why).
    Failed,
    /// The policy did not fire on it (`rollback: per_route`): left as it is.
    Kept,
    /// Rolled back, then forward again (`on_partial: roll_all_forward`).
    RolledForward,
}

impl RouteStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteStatus::Pending => "pending",
            RouteStatus::RolledBack => "rolled_back",
            RouteStatus::Failed => "failed",
            RouteStatus::Kept => "kept",
            RouteStatus::RolledForward => "rolled_forward",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionEvent {
    pub at_s: f64,
    pub who: String,
    pub what: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Succeeded,
    Failed,
    /// The procedure never reached the step.
    NotRun,
    /// The step does not apply (e.g. `identify_target` in a roll forward).
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    pub name: String,
    pub status: StepStatus,
    pub start_s: Option<f64>,
    pub end_s: Option<f64>,
    pub detail: String,
    /// The timed parts of the step (execute's writes, waits, holds).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<PhaseRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseRecord {
    pub name: String,
    pub start_s: f64,
    pub end_s: Option<f64>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub step: String,
    pub message: String,
}

impl Record {
    /// Rewrites the latest finding of `kind` once its cost is known.
    pub fn amend_finding(&mut self, kind: crate::scenario::FindingKind, message: String) {
        if let Some(f) = self.findings.iter_mut().rev().find(|f| f.kind == kind) {
            f.message = message;
        }
    }
}

pub fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}
