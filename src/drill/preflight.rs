//! The preflight: before any traffic, can this rollback work at all?
//!
//! It asks the staging world what the runbook will need — the route it
//! names, the versions it rolls back to, retention that keeps them — and
//! whether the world is in the state the scenario starts from (a live
//! registry that a team or last month's drill changed is drift). Every gap
//! is a finding. `run --preflight-only` stops here, on any backend.

use crate::registry::{RegistryError, describe};
use crate::scenario::{FindingKind, Plan, Step, TargetChoice};

use super::Staging;
use super::record::Finding;

pub fn preflight(plan: &Plan, port: &dyn Staging) -> Vec<Finding> {
    let keep_last = plan.registry.keep_last;
    let mut out = Vec::new();
    let mut find = |kind, message: String| {
        out.push(Finding {
            kind,
            step: "preflight".into(),
            message,
        })
    };
    // Every route of a release set is rolled back, so each needs its target.
    for rel in plan.releases() {
        let route = &rel.route;
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
                // What the rollback would go back to from what serves now,
                // and from the scenario's starting state: a route that
                // moved and lost its target is named for both.
                let start = plan
                    .registry
                    .routes
                    .iter()
                    .find(|r| &r.name == route)
                    .map(|r| r.candidates.as_slice());
                let mut targets = Vec::new();
                for from in std::iter::once(serving.as_slice()).chain(start) {
                    let found = if route == &plan.release.route {
                        self::targets(plan, from)
                    } else {
                        from.iter().map(|c| c.version.clone()).collect()
                    };
                    for v in found {
                        if !targets.contains(&v) {
                            targets.push(v);
                        }
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
    }
    starting_state(plan, port, &mut find);
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

/// Differences between the registry and the scenario's starting state:
/// another routing (`route_moved`), versions or retention that differ
/// (`config_mismatch`). Versions the runbook rolls back to are the
/// `target_retired` check's; a route the registry cannot read is reported
/// above for the release's route.
fn starting_state(plan: &Plan, port: &dyn Staging, find: &mut impl FnMut(FindingKind, String)) {
    for want in &plan.registry.routes {
        let name = &want.name;
        let have = match port.candidates(0, name) {
            Ok(have) => have,
            Err(RegistryError::UnknownRoute(_)) => {
                find(
                    FindingKind::RouteMoved,
                    format!(
                        "route {name} does not exist in the registry: the runbook names a route that is gone; restore it or update the scenario"
                    ),
                );
                continue;
            }
            Err(_) => continue,
        };
        if have != want.candidates {
            find(
                FindingKind::RouteMoved,
                format!(
                    "route {name} routes {}, the scenario starts from {}: the route has moved since the runbook was written; put it back or update the scenario",
                    describe(&have),
                    describe(&want.candidates)
                ),
            );
        }
        let held = port.versions(0, name).unwrap_or_default();
        let targets = if *name == plan.release.route {
            targets(plan, &want.candidates)
        } else {
            want.candidates.iter().map(|c| c.version.clone()).collect()
        };
        let missing: Vec<&str> = want
            .versions
            .iter()
            .map(String::as_str)
            .filter(|v| !held.iter().any(|h| h == v) && !targets.iter().any(|t| t == v))
            .collect();
        let extra: Vec<&str> = held
            .iter()
            .map(String::as_str)
            .filter(|v| !want.versions.iter().any(|w| w == v))
            .collect();
        if !missing.is_empty() || !extra.is_empty() {
            find(
                FindingKind::ConfigMismatch,
                format!(
                    "route {name} holds versions [{}], the scenario starts from [{}]{}{}: align the registry or the scenario's `registry.versions`",
                    held.join(", "),
                    want.versions.join(", "),
                    listed(" (missing: ", &missing),
                    listed(" (not in the scenario: ", &extra),
                ),
            );
        }
        if let Some(k) = port.keep_last(name)
            && k != plan.registry.keep_last
        {
            find(
                FindingKind::ConfigMismatch,
                format!(
                    "route {name} keeps the last {k} versions, the scenario's retention keeps {}: set `registry.retention.keep_last` to what the registry does, or change the route",
                    plan.registry.keep_last
                ),
            );
        }
    }
}

/// The versions the runbook may roll back to: what serves, and any it
/// names. Their absence is `target_retired`.
fn targets(plan: &Plan, serving: &[crate::scenario::Candidate]) -> Vec<String> {
    let mut out: Vec<String> = serving.iter().map(|c| c.version.clone()).collect();
    for step in &plan.procedure {
        if let Step::IdentifyTarget(TargetChoice::Version(v)) = step {
            out.push(v.clone());
        }
    }
    out
}

fn listed(label: &str, items: &[&str]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!("{label}{})", items.join(", "))
    }
}
