//! The in-process staging registry: routes, weighted candidates, the
//! versions each route holds under retention, and an audit log.
//!
//! It is the simulated twin of `rollback-drill registry serve`: same nouns,
//! same rules (weights sum to 100, retention never drops a serving version),
//! and every change leaves an audit row saying who, when, from, to and why.

use std::collections::BTreeMap;

use serde::Serialize;
use thiserror::Error;

use crate::scenario::{Candidate, RegistryPlan};

#[derive(Debug, Clone, PartialEq, Error)]
pub enum RegistryError {
    #[error("route `{0}` does not exist in the registry")]
    UnknownRoute(String),
    #[error("version `{version}` is no longer held for route `{route}`")]
    VersionNotHeld { route: String, version: String },
    #[error("weights of route `{route}` would sum to {sum}, expected 100")]
    BadWeights { route: String, sum: f64 },
    #[error("route `{from}` has moved to `{to}`")]
    RouteMoved { from: String, to: String },
    /// No answer: refused at once, or (`timed_out_ms` > 0) after the
    /// client waited that long.
    #[error("the registry is unavailable (until {until_ms} ms)")]
    Unavailable { until_ms: u64, timed_out_ms: u64 },
    #[error("the runbook's config does not match the registry (repaired at {repaired_ms} ms)")]
    ConfigMismatch { repaired_ms: u64 },
    /// A live registry refused the call (its status and message).
    #[error("the registry refused the call: {0}")]
    Refused(String),
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditEntry {
    pub at_s: f64,
    pub actor: String,
    pub route: String,
    pub from: String,
    pub to: String,
    pub reason: String,
}

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
    keep_last: usize,
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
            keep_last: plan.keep_last as usize,
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
        Ok(entry
            .history
            .iter()
            .rev()
            .find(|set| set.iter().all(|c| c.version != bad || c.weight == 0.0))
            .map(|set| set.iter().filter(|c| c.weight > 0.0).cloned().collect()))
    }

    /// Adds a version to the route and applies retention: the oldest
    /// versions beyond `keep_last` go, unless they serve traffic.
    pub fn add_version(&mut self, route: &str, version: &str) -> Result<(), RegistryError> {
        let keep_last = self.keep_last;
        let entry = self.entry_mut(route)?;
        if !entry.versions.iter().any(|v| v == version) {
            entry.versions.push(version.to_string());
        }
        while entry.versions.len() > keep_last {
            let serving: Vec<&str> = entry
                .candidates
                .iter()
                .filter(|c| c.weight > 0.0)
                .map(|c| c.version.as_str())
                .collect();
            match entry
                .versions
                .iter()
                .position(|v| !serving.contains(&v.as_str()))
            {
                Some(oldest) => {
                    entry.versions.remove(oldest);
                }
                None => break,
            }
        }
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
        let sum: f64 = candidates.iter().map(|c| c.weight).sum();
        if (sum - 100.0).abs() > 1e-6 {
            return Err(RegistryError::BadWeights {
                route: route.to_string(),
                sum,
            });
        }
        // Routing to a version the registry no longer holds is refused,
        // unless it serves already (retention never cut live traffic).
        let serving = |v: &str| {
            entry
                .candidates
                .iter()
                .any(|c| c.version == v && c.weight > 0.0)
        };
        if let Some(missing) = candidates.iter().find(|c| {
            c.weight > 0.0 && !entry.versions.contains(&c.version) && !serving(&c.version)
        }) {
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
        };
        entry.history.push(candidates.clone());
        entry.candidates = candidates;
        self.audit.push(row);
        Ok(())
    }

    pub fn audit(&self) -> &[AuditEntry] {
        &self.audit
    }
}

/// `claude-sonnet-4-5 75%, claude-sonnet-4-6 25%`
pub fn describe(candidates: &[Candidate]) -> String {
    candidates
        .iter()
        .map(|c| format!("{} {}%", c.version, (c.weight * 1000.0).round() / 1000.0))
        .collect::<Vec<_>>()
        .join(", ")
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
