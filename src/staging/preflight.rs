//! Preflight against a team's system: what it really holds, compared with
//! what the scenario says, before anything changes.
//!
//! A difference is a finding that fails the drill, because it is the drift
//! the drill exists to catch: the route gone or pointing elsewhere
//! (`route_moved`), the rollback target gone (`target_retired`), weights or
//! entries that differ (`config_mismatch`). Pure functions: the caller
//! reads the system (a route's entries, whether the target version exists)
//! and gets the findings.

use super::files::Entry;
use crate::scenario::plan::RoutePlan;
use crate::scenario::vocab::FindingKind;

/// One difference between the scenario and the real system.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    pub kind: FindingKind,
    pub detail: String,
}

fn drift(kind: FindingKind, detail: String) -> Drift {
    Drift { kind, detail }
}

/// How a scenario candidate is found among a file's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchBy {
    /// By candidate id (alias file `id`, LiteLLM `model_info.id`).
    Id,
    /// By version (alias file `version_pin`, a flag's variant name).
    Version,
}

/// Shares in percent of each entry: weights are relative (a flag's split,
/// a LiteLLM group's); one left out weighs 1.
fn shares(found: &[Entry]) -> Vec<f64> {
    let weights: Vec<f64> = found.iter().map(|e| e.weight.unwrap_or(1.0)).collect();
    let total: f64 = weights.iter().sum();
    weights
        .iter()
        .map(|w| if total > 0.0 { w / total * 100.0 } else { 0.0 })
        .collect()
}

/// A weighted route (alias file, flag, LiteLLM group): `found` is what the
/// file holds (`None`: no such route), `target` the version the rollback
/// would go back to.
pub fn weighted_route(
    expected: &RoutePlan,
    found: Option<&[Entry]>,
    by: MatchBy,
    target: &str,
) -> Vec<Drift> {
    let Some(found) = found else {
        return vec![drift(
            FindingKind::RouteMoved,
            format!(
                "route `{}` is not in the file: renamed or removed",
                expected.name
            ),
        )];
    };
    let shares = shares(found);
    let key = |e: &Entry| match by {
        MatchBy::Id => e.id.clone(),
        MatchBy::Version => e.version.clone(),
    };
    let mut out = Vec::new();
    for cand in &expected.candidates {
        let want = match by {
            MatchBy::Id => &cand.id,
            MatchBy::Version => &cand.version,
        };
        match found.iter().position(|e| key(e) == *want) {
            None if cand.version == target => out.push(drift(
                FindingKind::TargetRetired,
                format!(
                    "the rollback target `{want}` is gone from route `{}`",
                    expected.name
                ),
            )),
            None => out.push(drift(
                FindingKind::ConfigMismatch,
                format!("route `{}` has no `{want}`", expected.name),
            )),
            Some(i) if (shares[i] - cand.weight).abs() > 0.5 => out.push(drift(
                FindingKind::ConfigMismatch,
                format!(
                    "`{want}` serves {:.1}% of route `{}`, the scenario says {}%",
                    shares[i], expected.name, cand.weight
                ),
            )),
            Some(_) => {}
        }
    }
    for (e, share) in found.iter().zip(&shares) {
        let listed = expected.candidates.iter().any(|c| match by {
            MatchBy::Id => c.id == e.id,
            MatchBy::Version => c.version == e.version,
        });
        if !listed && *share > 0.0 {
            out.push(drift(
                FindingKind::ConfigMismatch,
                format!(
                    "`{}` serves {share:.1}% of route `{}`, which the scenario does not list",
                    key(e),
                    expected.name
                ),
            ));
        }
    }
    out
}

/// Variants a flag's split names but does not define: flagd errors on that
/// share of traffic, so the rollback would land on a broken split.
pub fn undefined_variants(flag: &str, missing: &[String]) -> Vec<Drift> {
    missing
        .iter()
        .map(|v| {
            drift(
                FindingKind::ConfigMismatch,
                format!(
                    "the split of flag `{flag}` names variant `{v}`, which the flag does not define"
                ),
            )
        })
        .collect()
}

/// An MLflow alias: `found` is the version it names (`None`: no such
/// alias), `target_exists` whether the rollback target version is still in
/// the registry (a deleted version silently takes its aliases with it).
pub fn alias(
    expected: &RoutePlan,
    alias: &str,
    found: Option<&str>,
    target: &str,
    target_exists: bool,
) -> Vec<Drift> {
    let mut out = Vec::new();
    if !target_exists {
        out.push(drift(
            FindingKind::TargetRetired,
            format!("version {target}, the rollback target, no longer exists"),
        ));
    }
    let want = expected.candidates.first().map(|c| c.version.as_str());
    match (found, want) {
        (None, _) => out.push(drift(
            FindingKind::RouteMoved,
            format!("alias `{alias}` does not exist (deleted, or its version was)"),
        )),
        (Some(v), Some(w)) if v != w => out.push(drift(
            FindingKind::RouteMoved,
            format!("alias `{alias}` names version {v}, the scenario says {w}"),
        )),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::plan::Candidate;

    fn route(cands: &[(&str, &str, f64)]) -> RoutePlan {
        RoutePlan {
            name: "r".into(),
            candidates: cands
                .iter()
                .map(|(id, v, w)| Candidate {
                    id: (*id).into(),
                    version: (*v).into(),
                    weight: *w,
                })
                .collect(),
            versions: Vec::new(),
        }
    }

    fn entry(id: &str, version: &str, weight: Option<f64>) -> Entry {
        Entry {
            id: id.into(),
            version: version.into(),
            weight,
        }
    }

    fn kinds(d: &[Drift]) -> Vec<&str> {
        d.iter().map(|d| d.kind.as_str()).collect()
    }

    #[test]
    fn a_route_as_the_scenario_says_has_no_findings() {
        let expected = route(&[("a", "v1", 75.0), ("b", "v0", 25.0)]);
        // A flag's weights are relative: 3 and 1 are 75% and 25%.
        let found = [entry("v1", "v1", Some(3.0)), entry("v0", "v0", None)];
        assert!(weighted_route(&expected, Some(&found), MatchBy::Version, "v0").is_empty());
    }

    #[test]
    fn every_kind_of_drift_is_a_finding() {
        let expected = route(&[("a", "v1", 90.0), ("b", "v0", 10.0)]);
        assert_eq!(
            kinds(&weighted_route(&expected, None, MatchBy::Id, "v0")),
            ["route_moved"]
        );
        let found = [entry("a", "v1", Some(50.0)), entry("c", "v9", Some(50.0))];
        let d = weighted_route(&expected, Some(&found), MatchBy::Id, "v0");
        assert_eq!(
            kinds(&d),
            ["config_mismatch", "target_retired", "config_mismatch"]
        );
        assert_eq!(
            d[0].detail,
            "`a` serves 50.0% of route `r`, the scenario says 90%"
        );
        assert_eq!(
            d[1].detail,
            "the rollback target `b` is gone from route `r`"
        );
        let d = weighted_route(&expected, Some(&found), MatchBy::Id, "v1");
        assert_eq!(d[1].kind, FindingKind::ConfigMismatch);
        let d = undefined_variants("f", &["v0".to_string()]);
        assert_eq!(kinds(&d), ["config_mismatch"]);
    }

    #[test]
    fn an_alias_moved_or_a_target_deleted_is_found() {
        let expected = route(&[("m/3", "3", 100.0)]);
        assert!(alias(&expected, "production", Some("3"), "3", true).is_empty());
        let d = alias(&expected, "production", Some("5"), "3", true);
        assert_eq!(
            d[0].detail,
            "alias `production` names version 5, the scenario says 3"
        );
        assert_eq!(
            kinds(&alias(&expected, "production", None, "3", false)),
            ["target_retired", "route_moved"]
        );
    }
}
