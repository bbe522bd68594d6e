//! A coordinated release (`release.changes`) and `registry.related`: each
//! change checked like a single release, then the set as a whole.

use std::collections::BTreeMap;

use super::*;
use crate::scenario::plan_set::{ReleaseSet, SetChange};

/// The mechanisms that can roll back one route of a set (a switch of the
/// route, timed as one phase): the validator's rule, and the schema's.
pub(crate) const SET_MECHANISMS: &[Mechanism] = &[Mechanism::AliasRemap, Mechanism::RouteWeight];

impl Checker<'_> {
    /// The set's first change is the plan's release; a one-entry set is
    /// exactly a single release.
    pub(super) fn release_set(
        &mut self,
        raw: RawReleaseSet,
        related: &BTreeMap<String, Vec<String>>,
        registry: &RegistryPlan,
        traffic: &TrafficPlan,
        policy: &PolicyPlan,
        duration: Dur,
    ) -> Option<(ReleasePlan, Option<ReleaseSet>)> {
        let base = Path::root().key("release");
        let list = base.key("changes");
        if raw.changes.is_empty() {
            self.error(
                &list,
                "release.changes is empty",
                "list each route of the change: `- {route: ..., version: ..., weight: 25%}`",
            );
            return None;
        }
        let mut ok = true;
        let mut changes: Vec<(usize, SetChange)> = Vec::new();
        for (i, change) in raw.changes.iter().enumerate() {
            let path = list.index(i);
            if let Some(j) = raw.changes[..i]
                .iter()
                .position(|c| c.route == change.route)
            {
                self.error(
                    &path.key("route"),
                    format!(
                        "route `{}` is listed twice in release.changes (also at release.changes[{j}])",
                        change.route
                    ),
                    "list each route once: one change per route ships one version",
                );
                ok = false;
                continue;
            }
            if raw.changes[..i].iter().any(|c| c.version == change.version) {
                self.error(
                    &path.key("version"),
                    format!(
                        "version `{}` is released on two routes of the set",
                        change.version
                    ),
                    "give each route's release its own version name",
                );
                ok = false;
                continue;
            }
            let mechanism = match change.mechanism {
                None => None,
                Some(m) if SET_MECHANISMS.contains(&m) => Some(m),
                Some(m) => {
                    self.error(
                        &path.key("mechanism"),
                        format!("mechanism `{m}` cannot roll back one route of a set"),
                        "a route of a set rolls back by `alias_remap` (a model) or `route_weight` (a prompt)",
                    );
                    ok = false;
                    None
                }
            };
            let release = self.release(
                change.as_release(raw.at),
                &path,
                registry,
                traffic,
                policy,
                duration,
            );
            let Some(release) = release else {
                ok = false;
                continue;
            };
            let mechanism = mechanism.unwrap_or_else(|| default_mechanism(related, &release.route));
            changes.push((i, SetChange { release, mechanism }));
        }
        ok &= self.related(related, registry);
        if !ok {
            return None;
        }
        // Release order: by time, then as listed.
        changes.sort_by_key(|(i, c)| (c.release.at, *i));
        let changes: Vec<SetChange> = changes.into_iter().map(|(_, c)| c).collect();
        if changes.len() == 1 {
            // One route is a single release: what only a set has would be
            // ignored, so it is refused, as `related` is beside `release`.
            let set_only = [
                ("rollback", raw.rollback.is_some()),
                ("rollback_order", raw.rollback_order.is_some()),
                ("on_partial", raw.on_partial.is_some()),
            ];
            for (field, given) in set_only {
                if given {
                    self.error(
                        &base.key(field),
                        format!("`{field}` applies to a release of several routes; release.changes lists one"),
                        "list the other routes of the change in `release.changes`, or remove it",
                    );
                    ok = false;
                }
            }
            if raw.changes[0].mechanism.is_some() {
                self.error(
                    &list.index(0).key("mechanism"),
                    "a change's `mechanism` applies to a release of several routes; release.changes lists one",
                    "name the mechanism in the procedure's `execute` step",
                );
                ok = false;
            }
            self.related_without_set(related);
            return ok.then(|| (changes[0].release.clone(), None));
        }
        let rollback_order = match raw.rollback_order {
            None => (0..changes.len()).rev().collect(),
            Some(order) => self.rollback_order(&order, &changes)?,
        };
        let first = changes[0].release.clone();
        Some((
            first,
            Some(ReleaseSet {
                changes,
                rollback: raw.rollback.unwrap_or(RollbackScope::Together),
                rollback_order,
                on_partial: raw.on_partial.unwrap_or(OnPartial::Stay),
                related: related
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            }),
        ))
    }

    /// `rollback_order` names every route of the set once.
    fn rollback_order(&mut self, order: &[String], changes: &[SetChange]) -> Option<Vec<usize>> {
        let path = Path::root().key("release").key("rollback_order");
        let names: Vec<&str> = changes.iter().map(|c| c.release.route.as_str()).collect();
        let mut out = Vec::new();
        for (i, route) in order.iter().enumerate() {
            match names.iter().position(|n| n == route) {
                Some(k) if !out.contains(&k) => out.push(k),
                Some(_) => {
                    self.error(
                        &path.index(i),
                        format!("route `{route}` is listed twice in rollback_order"),
                        "name each route of the set once",
                    );
                    return None;
                }
                None => {
                    self.error(
                        &path.index(i),
                        format!("rollback_order names `{route}`, which is not a route of release.changes"),
                        suggest_owned(route, &names),
                    );
                    return None;
                }
            }
        }
        if out.len() != names.len() {
            let missing: Vec<&str> = (0..names.len())
                .filter(|k| !out.contains(k))
                .map(|k| names[k])
                .collect();
            self.error(
                &path,
                format!("rollback_order leaves out {}", missing.join(", ")),
                "name every route of the set, or leave rollback_order out for the reverse release order",
            );
            return None;
        }
        Some(out)
    }

    /// Every route `registry.related` names is in the registry.
    fn related(
        &mut self,
        related: &BTreeMap<String, Vec<String>>,
        registry: &RegistryPlan,
    ) -> bool {
        let base = Path::root().key("registry").key("related");
        let names: Vec<&str> = registry.routes.iter().map(|r| r.name.as_str()).collect();
        let mut ok = true;
        for (prompt, models) in related {
            if !names.contains(&prompt.as_str()) {
                self.error(
                    &base.key(prompt),
                    format!("related route `{prompt}` is not in the registry"),
                    suggest_owned(prompt, &names),
                );
                ok = false;
            }
            for (i, model) in models.iter().enumerate() {
                if !names.contains(&model.as_str()) {
                    self.error(
                        &base.key(prompt).index(i),
                        format!("related route `{model}` is not in the registry"),
                        suggest_owned(model, &names),
                    );
                    ok = false;
                } else if model == prompt {
                    self.error(
                        &base.key(prompt).index(i),
                        format!("route `{prompt}` is related to itself"),
                        "relate a prompt route to the model routes it uses",
                    );
                    ok = false;
                }
            }
        }
        ok
    }

    /// `registry.related` outside a coordinated release relates nothing.
    pub(super) fn related_without_set(&mut self, related: &BTreeMap<String, Vec<String>>) {
        if let Some(first) = related.keys().next() {
            self.error(
                &Path::root().key("registry").key("related").key(first),
                "registry.related is set but the release names one route",
                "relate routes that ship together in `release.changes`, or remove `related`",
            );
        }
    }
}

/// A model route (named as a value in `related`) remaps its alias; any
/// other route (a prompt) moves its weight back.
fn default_mechanism(related: &BTreeMap<String, Vec<String>>, route: &str) -> Mechanism {
    if related.values().flatten().any(|m| m == route) {
        Mechanism::AliasRemap
    } else {
        Mechanism::RouteWeight
    }
}

impl Checker<'_> {
    /// What a release set cannot do: roll forward (a fix ships on one
    /// route), or roll back by a mechanism other than a switch.
    pub(super) fn set_fits(&mut self, procedure: &[Step], responders: &Responders) {
        for (i, step) in procedure.iter().enumerate() {
            if let Step::Execute(e) = step
                && !SET_MECHANISMS.contains(&e.mechanism)
            {
                self.error(
                    &Path::root().key("procedure").index(i).key("execute").key("mechanism"),
                    format!("mechanism `{}` cannot roll back a release set", e.mechanism),
                    "each route of a set rolls back by its own switch: use `alias_remap` or `route_weight` (and `mechanism:` on a change to choose per route)",
                );
            }
        }
        for (name, r) in [
            ("on_call", &responders.on_call),
            ("product", &responders.product),
            ("platform_lead", &responders.platform_lead),
        ] {
            if r.decision == Decision::RollForward {
                self.error(
                    &Path::root().key("responders").key(name).key("decision"),
                    "a release set cannot be rolled forward: a fix ships on one route",
                    "decide `rollback` for a set, or release one route",
                );
            }
        }
    }
}
