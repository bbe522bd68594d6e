//! The validated form of a coordinated release: several routes shipped as
//! one change and rolled back as a set.

use super::plan::{Plan, ReleasePlan};
use super::vocab::{Mechanism, OnPartial, RollbackScope};

/// `release.changes` with more than one route. The first change is also
/// [`Plan::release`]: detection watches it, as in a single-route drill.
#[derive(Debug, Clone)]
pub struct ReleaseSet {
    /// In release order (by `after`, then as listed).
    pub changes: Vec<SetChange>,
    pub rollback: RollbackScope,
    /// Indexes into `changes`, in the order they roll back.
    pub rollback_order: Vec<usize>,
    pub on_partial: OnPartial,
    /// `registry.related`, sorted: (prompt route, the model routes it uses).
    pub related: Vec<(String, Vec<String>)>,
}

#[derive(Debug, Clone)]
pub struct SetChange {
    pub release: ReleasePlan,
    /// `alias_remap` or `route_weight`.
    pub mechanism: Mechanism,
}

impl ReleaseSet {
    /// Whether `a` and `b` are related either way.
    pub fn related(&self, a: &str, b: &str) -> bool {
        self.related.iter().any(|(prompt, models)| {
            (prompt == a && models.iter().any(|m| m == b))
                || (prompt == b && models.iter().any(|m| m == a))
        })
    }
}

impl Plan {
    /// Every release of the drill: the one release, or each of the set's.
    pub fn releases(&self) -> Vec<&ReleasePlan> {
        match &self.release_set {
            Some(set) => set.changes.iter().map(|c| &c.release).collect(),
            None => vec![&self.release],
        }
    }

    /// The release that ships `version`, if one does.
    pub fn release_of(&self, version: &str) -> Option<&ReleasePlan> {
        if self.release.version == version {
            return Some(&self.release);
        }
        self.release_set
            .as_ref()?
            .changes
            .iter()
            .map(|c| &c.release)
            .find(|r| r.version == version)
    }
}
