//! What a drill on a team's staging can do: the rollback mechanism its
//! system has, one route, the drill's own metrics. Checked with the
//! scenario, so `validate` says what `run` would refuse.

use super::Checker;
use crate::scenario::plan::Step;
use crate::scenario::staging::StagingPlan;
use crate::scenario::vocab::{Mechanism, StagingKind};
use crate::scenario::yaml::Path;

/// The mechanisms each kind's system rolls back with (none listed: any).
pub(crate) fn mechanisms_of(kind: StagingKind) -> &'static [Mechanism] {
    match kind {
        StagingKind::Builtin => &[],
        // An alias names one version: it moves back.
        StagingKind::Mlflow => &[Mechanism::AliasRemap],
        // A file's (or config's) weights are rewritten.
        StagingKind::Litellm | StagingKind::AliasFile | StagingKind::FlagFile => {
            &[Mechanism::RouteWeight]
        }
    }
}

impl Checker<'_> {
    pub(super) fn staging_fits(
        &mut self,
        staging: &StagingPlan,
        steps: &[Step],
        release_set: bool,
        metrics: bool,
    ) {
        let kind = staging.kind();
        let takes = mechanisms_of(kind);
        if takes.is_empty() {
            return;
        }
        for (i, step) in steps.iter().enumerate() {
            if let Step::Execute(e) = step
                && !takes.contains(&e.mechanism)
            {
                let names: Vec<&str> = takes.iter().map(|m| m.as_str()).collect();
                self.error(
                    &Path::root()
                        .key("procedure")
                        .index(i)
                        .key("execute")
                        .key("mechanism"),
                    format!(
                        "mechanism `{}` cannot roll back a route of staging kind `{kind}`",
                        e.mechanism
                    ),
                    format!("`{kind}` rolls back with `{}`", names.join("` or `")),
                );
            }
        }
        if release_set {
            self.error(
                &Path::root().key("release").key("changes"),
                format!(
                    "a release of several routes (`release.changes`) is not drilled on a team's staging (`staging: {{kind: {kind}}}`): it drills one route"
                ),
                "drill each route in a scenario of its own, or drill the set on the built-in registry",
            );
        }
        if metrics {
            self.error(
                &Path::root().key("metrics"),
                format!(
                    "metrics.prometheus is not read in a drill on a team's staging (`staging: {{kind: {kind}}}`): its metrics come from the drill's own traffic"
                ),
                "leave `metrics:` out of this scenario",
            );
        }
    }
}
