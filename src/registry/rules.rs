//! The registry's rules, written once: what a valid candidate set is, what
//! retention keeps, which versions a route may be routed to, and what "the
//! previous version" of a route means.
//!
//! The simulated registry, `registry serve`'s store and the live port all
//! call these functions, so a drill cannot pass in one world on a rule the
//! other does not have.

use crate::scenario::Candidate;

/// How many versions a route holds when nobody said (`registry.retention`
/// in a scenario, `keep_last` when a route is created through the API).
pub const DEFAULT_KEEP_LAST: u32 = 3;

/// Why a candidate set cannot be written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightsError {
    #[error("`candidates` is empty: a route needs at least one")]
    Empty,
    #[error("weight {weight} of `{version}` is outside 0 to 100")]
    OutOfRange { version: String, weight: f64 },
    #[error("weights sum to {sum}, expected 100")]
    Sum { sum: f64 },
    #[error("version `{0}` is listed twice")]
    Duplicate(String),
}

/// Weights are each within 0..=100 and sum to 100; every version once.
pub fn check_weights(candidates: &[Candidate]) -> Result<(), WeightsError> {
    if candidates.is_empty() {
        return Err(WeightsError::Empty);
    }
    if let Some(c) = candidates
        .iter()
        .find(|c| !(0.0..=100.0).contains(&c.weight))
    {
        return Err(WeightsError::OutOfRange {
            version: c.version.clone(),
            weight: c.weight,
        });
    }
    for (i, c) in candidates.iter().enumerate() {
        if candidates[..i].iter().any(|o| o.version == c.version) {
            return Err(WeightsError::Duplicate(c.version.clone()));
        }
    }
    let sum: f64 = candidates.iter().map(|c| c.weight).sum();
    if (sum - 100.0).abs() > 1e-6 {
        return Err(WeightsError::Sum { sum });
    }
    Ok(())
}

/// Whether `version` takes traffic in `candidates`.
pub fn serves(candidates: &[Candidate], version: &str) -> bool {
    candidates
        .iter()
        .any(|c| c.version == version && c.weight > 0.0)
}

/// The first candidate of `next` routed to a version the route does not
/// hold, unless it serves already (retention never cut live traffic, so a
/// serving version may keep serving).
pub fn unheld<'a>(
    next: &'a [Candidate],
    held: &[String],
    current: &[Candidate],
) -> Option<&'a Candidate> {
    next.iter()
        .find(|c| c.weight > 0.0 && !held.contains(&c.version) && !serves(current, &c.version))
}

/// Holds `version` (newest last) and applies retention: the oldest
/// versions beyond `keep_last` go, never one that serves. Returns the
/// versions retired, oldest first.
pub fn hold(
    held: &mut Vec<String>,
    version: &str,
    serving: &[Candidate],
    keep_last: u32,
) -> Vec<String> {
    if !held.iter().any(|v| v == version) {
        held.push(version.to_string());
    }
    retain(held, serving, keep_last)
}

/// Retention alone: drops the oldest idle versions beyond `keep_last`.
pub fn retain(held: &mut Vec<String>, serving: &[Candidate], keep_last: u32) -> Vec<String> {
    let mut retired = Vec::new();
    while held.len() > keep_last as usize {
        match held.iter().position(|v| !serves(serving, v)) {
            Some(oldest) => retired.push(held.remove(oldest)),
            None => break,
        }
    }
    retired
}

/// The most recent candidate set (of `history`, oldest first) in which
/// `bad` did not serve, without its idle candidates: what "the previous
/// version" means to a runbook.
pub fn previous<'a, I>(history: I, bad: &str) -> Option<Vec<Candidate>>
where
    I: IntoIterator<Item = &'a [Candidate]>,
    I::IntoIter: DoubleEndedIterator,
{
    history
        .into_iter()
        .rev()
        .find(|set| !serves(set, bad))
        .map(|set| set.iter().filter(|c| c.weight > 0.0).cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(version: &str, weight: f64) -> Candidate {
        Candidate {
            id: format!("id:{version}"),
            version: version.into(),
            weight,
        }
    }

    #[test]
    fn weights_are_checked_in_every_way() {
        assert_eq!(check_weights(&[cand("a", 100.0)]), Ok(()));
        assert_eq!(check_weights(&[]), Err(WeightsError::Empty));
        assert_eq!(
            check_weights(&[cand("a", 60.0), cand("b", 30.0)]),
            Err(WeightsError::Sum { sum: 90.0 })
        );
        assert!(matches!(
            check_weights(&[cand("a", 120.0), cand("b", -20.0)]),
            Err(WeightsError::OutOfRange { .. })
        ));
        assert_eq!(
            check_weights(&[cand("a", 50.0), cand("a", 50.0)]),
            Err(WeightsError::Duplicate("a".into()))
        );
    }

    #[test]
    fn retention_never_drops_a_serving_version() {
        let serving = [cand("v1", 100.0)];
        let mut held = vec!["v1".to_string(), "v2".into()];
        let retired = hold(&mut held, "v3", &serving, 2);
        assert_eq!(retired, ["v2"]);
        assert_eq!(held, ["v1", "v3"]);
        // Everything serves: retention keeps more than keep_last.
        let serving = [cand("v1", 50.0), cand("v3", 50.0)];
        assert!(hold(&mut held, "v3", &serving, 1).is_empty());
        assert_eq!(held, ["v1", "v3"]);
    }

    #[test]
    fn previous_skips_sets_where_the_bad_version_served() {
        let h: Vec<Vec<Candidate>> = vec![
            vec![cand("v1", 100.0)],
            vec![cand("v1", 75.0), cand("v2", 25.0)],
            vec![cand("v1", 100.0), cand("v2", 0.0)],
            vec![cand("v2", 100.0)],
        ];
        let sets = h.iter().map(Vec::as_slice);
        assert_eq!(previous(sets, "v2"), Some(vec![cand("v1", 100.0)]));
        let sets = h[1..2].iter().map(Vec::as_slice);
        assert_eq!(previous(sets, "v2"), None);
    }

    #[test]
    fn unheld_allows_what_serves_already() {
        let current = [cand("old", 100.0)];
        let held = ["v2".to_string()];
        assert_eq!(unheld(&[cand("old", 100.0)], &held, &current), None);
        assert_eq!(unheld(&[cand("v2", 100.0)], &held, &current), None);
        assert_eq!(
            unheld(&[cand("v9", 100.0)], &held, &current).map(|c| c.version.as_str()),
            Some("v9")
        );
    }
}
