//! The raw form of a coordinated release: `release.changes`, several
//! routes shipped as one change (see `raw` for the single-route form).

use schemars::JsonSchema;
use serde::Deserialize;

use super::raw::{RawBehaviourPatch, RawRelease};
use super::units::{Dur, Percent};
use super::vocab::{Mechanism, OnPartial, RollbackScope};

/// `release:` either names one route (`route`, `version`, ...) or lists
/// several as one change (`changes`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawReleaseForm {
    One(RawRelease),
    Set(RawReleaseSet),
}

/// Several routes released as one change.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawReleaseSet {
    /// When the first change is deployed; each change ships `after` it.
    pub at: Dur,
    /// In release order.
    pub changes: Vec<RawChange>,
    /// `together` (default): every route of the set rolls back;
    /// `per_route`: the routes related to a rolled-back one roll back when
    /// the policy fires on them too.
    pub rollback: Option<RollbackScope>,
    /// The routes in the order they are rolled back; default the reverse
    /// of the release order.
    pub rollback_order: Option<Vec<String>>,
    /// When a route cannot be rolled back: `stay` (default, the others stay
    /// rolled back) or `roll_all_forward` (the others go forward again).
    pub on_partial: Option<OnPartial>,
}

/// One route of a coordinated release.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawChange {
    pub route: String,
    pub version: String,
    /// Candidate id; default `<route>:<version>`.
    pub id: Option<String>,
    /// Shipped this long after the set's `at`. Default 0s (together).
    pub after: Option<Dur>,
    pub weight: Option<Percent>,
    pub steps: Option<Vec<Percent>>,
    pub step_every: Option<Dur>,
    #[serde(default)]
    pub behaviour: RawBehaviourPatch,
    pub onset: Option<Dur>,
    /// How this route rolls back: `alias_remap` or `route_weight`. Default:
    /// `alias_remap` for a model route (a value in `registry.related`),
    /// `route_weight` for any other.
    pub mechanism: Option<Mechanism>,
}

impl RawChange {
    /// The change as a single-route release at `at + after`, so it is
    /// checked like one.
    pub fn as_release(&self, at: Dur) -> RawRelease {
        RawRelease {
            route: self.route.clone(),
            version: self.version.clone(),
            id: self.id.clone(),
            at: Dur(at.0.saturating_add(self.after.unwrap_or(Dur::ZERO).0)),
            weight: self.weight,
            steps: self.steps.clone(),
            step_every: self.step_every,
            behaviour: self.behaviour.clone(),
            onset: self.onset,
        }
    }
}
