//! The preflight: before any traffic, can this rollback work at all?
//!
//! It asks the staging world what the runbook will need — the route it
//! names, the versions it rolls back to, retention that keeps them — and
//! reports every gap as a finding. `run --preflight-only` stops here.

use crate::scenario::{FindingKind, Plan, Step, TargetChoice};
use crate::sim::registry::RegistryError;

use super::Staging;
use super::record::Finding;

pub fn preflight(plan: &Plan, port: &dyn Staging) -> Vec<Finding> {
    let route = &plan.release.route;
    let keep_last = plan.registry.keep_last;
    let mut out = Vec::new();
    let mut find = |kind, message: String| {
        out.push(Finding {
            kind,
            step: "preflight".into(),
            message,
        })
    };
    match port.candidates(0, route) {
        Err(RegistryError::RouteMoved { from, to }) => find(
            FindingKind::RouteMoved,
            format!(
                "the runbook names route {from}, which has moved to {to}: update the runbook and its config"
            ),
        ),
        Err(e) => find(
            FindingKind::RegistryUnavailable,
            format!("the registry could not be read for route {route}: {e}"),
        ),
        Ok(serving) => {
            let held = port.versions(0, route).unwrap_or_default();
            let mut targets: Vec<String> = serving.iter().map(|c| c.version.clone()).collect();
            for step in &plan.procedure {
                if let Step::IdentifyTarget(TargetChoice::Version(v)) = step {
                    targets.push(v.clone());
                }
            }
            for v in targets.iter().filter(|v| !held.contains(v)) {
                find(
                    FindingKind::TargetRetired,
                    format!(
                        "rollback target {v} is not held for route {route} (retention keep_last={keep_last}): the rollback would have nothing to go back to; keep it for the rollback window"
                    ),
                );
            }
        }
    }
    if keep_last < 2 {
        find(
            FindingKind::TargetRetired,
            format!(
                "retention keep_last={keep_last} keeps only the newest version: releasing {} would retire the version to roll back to; keep at least 2",
                plan.release.version
            ),
        );
    }
    out
}
