//! The in-process staging registry of the simulated world: routes, weighted candidates, the
//! versions each route holds under retention, and an audit log.
//!
//! It is the simulated twin of `rollback-drill registry serve`: same nouns,
//! the same rules ([`crate::registry::rules`]: weights sum to 100,
//! retention never drops a serving version), and every change leaves an
//! audit row saying who, when, from, to and why.

use std::collections::BTreeMap;

use crate::registry::{AuditEntry, RegistryError, describe, rules};
use crate::scenario::{Candidate, RegistryPlan};

#[derive(Debug, Clone)]
struct RouteEntry {
    candidates: Vec<Candidate>,
    /// Every candidate set the route had, oldest first (the current last).
    history: Vec<Vec<Candidate>>,
    versions: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Registry {
    routes: BTreeMap<String, RouteEntry>,
    /// Routes renamed since the runbook was written: old name → new name.
    moved: BTreeMap<String, String>,
    keep_last: u32,
    audit: Vec<AuditEntry>,
}

impl Registry {
    pub fn new(plan: &RegistryPlan) -> Registry {
        let routes = plan
            .routes
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    RouteEntry {
                        candidates: r.candidates.clone(),
                        history: vec![r.candidates.clone()],
                        versions: r.versions.clone(),
                    },
                )
            })
            .collect();
        Registry {
            routes,
            moved: BTreeMap::new(),
            keep_last: plan.keep_last,
            audit: Vec::new(),
        }
    }

    fn missing(&self, route: &str) -> RegistryError {
        match self.moved.get(route) {
            Some(to) => RegistryError::RouteMoved {
                from: route.to_string(),
                to: to.clone(),
            },
            None => RegistryError::UnknownRoute(route.to_string()),
        }
    }

    fn entry(&self, route: &str) -> Result<&RouteEntry, RegistryError> {
        self.routes.get(route).ok_or_else(|| self.missing(route))
    }

    fn entry_mut(&mut self, route: &str) -> Result<&mut RouteEntry, RegistryError> {
        let err = self.missing(route);
        self.routes.get_mut(route).ok_or(err)
    }

    /// The name a route has now (after renames).
    pub fn current_name<'a>(&'a self, route: &'a str) -> &'a str {
        self.moved.get(route).map_or(route, String::as_str)
    }

    /// Removes a version from what the route holds (retention did it).
    pub fn retire(&mut self, route: &str, version: &str) {
        if let Ok(entry) = self.entry_mut(route) {
            entry.versions.retain(|v| v != version);
        }
    }

    /// Moves a route to a new name; the old name answers `RouteMoved`.
    pub fn rename(&mut self, from: &str, to: &str) {
        if let Some(entry) = self.routes.remove(from) {
            self.routes.insert(to.to_string(), entry);
            self.moved.insert(from.to_string(), to.to_string());
        }
    }

    pub fn candidates(&self, route: &str) -> Result<&[Candidate], RegistryError> {
        Ok(&self.entry(route)?.candidates)
    }

    pub fn versions(&self, route: &str) -> Result<&[String], RegistryError> {
        Ok(&self.entry(route)?.versions)
    }

    /// The most recent candidate set in which `bad` did not serve: what
    /// "the previous version" means to a runbook.
    pub fn previous_candidates(
        &self,
        route: &str,
        bad: &str,
    ) -> Result<Option<Vec<Candidate>>, RegistryError> {
        let entry = self.entry(route)?;
        Ok(rules::previous(
            entry.history.iter().map(Vec::as_slice),
            bad,
        ))
    }

    /// Adds a version to the route and applies retention: the oldest
    /// versions beyond `keep_last` go, unless they serve traffic.
    pub fn add_version(&mut self, route: &str, version: &str) -> Result<(), RegistryError> {
        let keep_last = self.keep_last;
        let entry = self.entry_mut(route)?;
        rules::hold(&mut entry.versions, version, &entry.candidates, keep_last);
        Ok(())
    }

    /// Replaces the route's candidates; all or nothing.
    pub fn write(
        &mut self,
        at_ms: u64,
        route: &str,
        candidates: Vec<Candidate>,
        actor: &str,
        reason: &str,
    ) -> Result<(), RegistryError> {
        let entry = self.entry_mut(route)?;
        if let Err(e) = rules::check_weights(&candidates) {
            return Err(RegistryError::BadWeights {
                route: route.to_string(),
                reason: e.to_string(),
            });
        }
        // Routing to a version the registry no longer holds is refused,
        // unless it serves already (retention never cut live traffic).
        if let Some(missing) = rules::unheld(&candidates, &entry.versions, &entry.candidates) {
            return Err(RegistryError::VersionNotHeld {
                route: route.to_string(),
                version: missing.version.clone(),
            });
        }
        let row = AuditEntry {
            at_s: at_ms as f64 / 1000.0,
            actor: actor.to_string(),
            route: route.to_string(),
            from: describe(&entry.candidates),
            to: describe(&candidates),
            reason: reason.to_string(),
            change_id: None,
        };
        entry.history.push(candidates.clone());
        entry.candidates = candidates;
        self.audit.push(row);
        Ok(())
    }

    /// Links the latest audit row to a coordinated change.
    pub fn tag_last(&mut self, change_id: &str) {
        if let Some(row) = self.audit.last_mut() {
            row.change_id = Some(change_id.to_string());
        }
    }

    pub fn audit(&self) -> &[AuditEntry] {
        &self.audit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Dur, RoutePlan};

    fn cand(version: &str, weight: f64) -> Candidate {
        Candidate {
            id: format!("r:{version}"),
            version: version.into(),
            weight,
        }
    }

    fn registry(keep_last: u32) -> Registry {
        Registry::new(&RegistryPlan {
            routes: vec![RoutePlan {
                name: "r".into(),
                candidates: vec![cand("v2", 100.0)],
                versions: vec!["v1".into(), "v2".into()],
            }],
            keep_last,
            propagation: Dur::ZERO,
            write_latency: Dur::ZERO,
        })
    }

    #[test]
    fn writes_are_audited_and_remembered() {
        let mut reg = registry(3);
        reg.add_version("r", "v3").unwrap();
        reg.write(
            15_000,
            "r",
            vec![cand("v2", 75.0), cand("v3", 25.0)],
            "deployer",
            "canary",
        )
        .unwrap();
        assert_eq!(reg.audit().len(), 1);
        assert_eq!(reg.audit()[0].from, "v2 100%");
        assert_eq!(reg.audit()[0].to, "v2 75%, v3 25%");
        let prev = reg.previous_candidates("r", "v3").unwrap().unwrap();
        assert_eq!(prev, vec![cand("v2", 100.0)]);
    }

    #[test]
    fn bad_writes_change_nothing() {
        let mut reg = registry(3);
        let err = reg
            .write(0, "r", vec![cand("v2", 90.0)], "x", "y")
            .unwrap_err();
        assert!(matches!(err, RegistryError::BadWeights { .. }));
        let err = reg
            .write(0, "nope", vec![cand("v2", 100.0)], "x", "y")
            .unwrap_err();
        assert_eq!(err, RegistryError::UnknownRoute("nope".into()));
        let err = reg
            .write(0, "r", vec![cand("v9", 100.0)], "x", "y")
            .unwrap_err();
        assert!(matches!(err, RegistryError::VersionNotHeld { .. }));
        assert!(reg.audit().is_empty());
        assert_eq!(reg.candidates("r").unwrap(), &[cand("v2", 100.0)]);
    }

    #[test]
    fn retention_drops_the_oldest_idle_version() {
        let mut reg = registry(2);
        reg.add_version("r", "v3").unwrap();
        assert_eq!(
            reg.versions("r").unwrap(),
            &["v2".to_string(), "v3".to_string()]
        );
    }
}
