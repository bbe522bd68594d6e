//! Policy evaluation: which trigger, if any, fires on an observation.

use crate::metrics::Observation;
use crate::scenario::{NewVersion, PolicyPlan, Trigger, TriggerMetric};

/// The value of a trigger metric: a rate, or a relative change against the
/// baseline (0 when there is no baseline to compare with).
pub fn metric_value(
    metric: TriggerMetric,
    obs: &Observation,
    baseline: Option<&Observation>,
) -> f64 {
    match metric {
        TriggerMetric::ErrorRate => obs.error_rate,
        TriggerMetric::QualityDrop => match baseline {
            // Nothing answered: no quality to compare.
            _ if obs.requests == obs.errors => 0.0,
            Some(b) if b.quality > 0.0 => (b.quality - obs.quality) / b.quality,
            _ => 0.0,
        },
        TriggerMetric::LatencyP99Increase => match baseline {
            Some(b) if b.p99_ms > 0.0 => (obs.p99_ms - b.p99_ms) / b.p99_ms,
            _ => 0.0,
        },
    }
}

/// The first trigger, in policy order, whose metric is above its threshold;
/// nothing fires on fewer than `min_requests` requests.
pub fn fires<'p>(
    policy: &'p PolicyPlan,
    obs: &Observation,
    baseline: Option<&Observation>,
) -> Option<(&'p Trigger, f64)> {
    if obs.requests < policy.min_requests {
        return None;
    }
    policy.triggers.iter().find_map(|t| {
        let value = metric_value(t.metric, obs, baseline);
        (value > t.above.fraction()).then_some((t, value))
    })
}

/// z of the one-sided bound a new-version breach must clear: about
/// 3 × 10⁻⁵ per evaluation, so the ~120 evaluations of a release's first
/// hour add up to well under 1% false alarms (3.09, i.e. 99.9%, was seen to
/// alert on a healthy release over 20 seeds).
const Z_NEW_VERSION: f64 = 4.0;

/// The Wilson score interval of `k` successes in `n` trials.
pub fn wilson(k: f64, n: f64, z: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (0.0, 1.0);
    }
    let p = k / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let denom = 1.0 + z2 / n;
    ((centre - spread) / denom, (centre + spread) / denom)
}

/// Which `new_version` limit, if any, the release is over with high
/// confidence (z = 4). Each limit is judged as a rate: errors among requests, good
/// answers among successful ones, and — for p99 — the share of requests
/// slower than the baseline p99 × (1 + limit), which exceeds 1% exactly
/// when the p99 does. `slow(ms)` gives that share and its sample count.
pub fn new_version_breach(
    nv: &NewVersion,
    obs: &Observation,
    baseline: Option<&Observation>,
    slow: impl Fn(f64) -> (f64, u64),
) -> Option<(TriggerMetric, f64)> {
    let (errors_low, _) = wilson(obs.errors as f64, obs.requests as f64, Z_NEW_VERSION);
    if errors_low > nv.error_rate_max.fraction() {
        return Some((TriggerMetric::ErrorRate, nv.error_rate_max.fraction()));
    }
    let base = baseline?;
    let answered = (obs.requests - obs.errors) as f64;
    let (_, quality_high) = wilson(obs.good as f64, answered, Z_NEW_VERSION);
    let max_drop = nv.quality_drop_max.fraction();
    if answered > 0.0 && quality_high < base.quality * (1.0 - max_drop) {
        return Some((TriggerMetric::QualityDrop, max_drop));
    }
    let max_increase = nv.latency_p99_increase_max.fraction();
    if base.p99_ms > 0.0 {
        let (share, samples) = slow(base.p99_ms * (1.0 + max_increase));
        let (share_low, _) = wilson(share * samples as f64, samples as f64, Z_NEW_VERSION);
        if share_low > 0.01 {
            return Some((TriggerMetric::LatencyP99Increase, max_increase));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Dur, NewVersion, Percent};

    fn policy() -> PolicyPlan {
        PolicyPlan {
            evaluate_every: Dur::from_secs(30),
            window: Dur::from_mins(5),
            min_requests: 50,
            triggers: crate::scenario::default_policy_triggers(),
            new_version: NewVersion {
                for_: Dur::from_mins(60),
                error_rate_max: Percent(0.005),
                latency_p99_increase_max: Percent(0.1),
                quality_drop_max: Percent(0.05),
            },
        }
    }

    fn obs(requests: u64, error_rate: f64, quality: f64, p99_ms: f64) -> Observation {
        Observation {
            requests,
            error_rate,
            quality,
            p99_ms,
            ..Observation::default()
        }
    }

    #[test]
    fn new_version_limits_need_confidence_not_just_a_point_estimate() {
        let nv = policy().new_version;
        let base = Observation {
            requests: 6000,
            quality: 0.86,
            p99_ms: 2500.0,
            ..Observation::default()
        };
        let at = |requests: u64, errors: u64| Observation {
            requests,
            errors,
            good: ((requests - errors) as f64 * 0.86) as u64,
            error_rate: errors as f64 / requests as f64,
            quality: 0.86,
            ..Observation::default()
        };
        let fast = |_| (0.0, 9600);
        // 0.7% errors over 1,500 requests: above 0.5% by point, not by bound.
        assert_eq!(
            new_version_breach(&nv, &at(1500, 11), Some(&base), fast),
            None
        );
        // 2% over 1,500: clearly above.
        assert_eq!(
            new_version_breach(&nv, &at(1500, 30), Some(&base), fast),
            Some((TriggerMetric::ErrorRate, 0.005))
        );
        // 3% of 9,600 latency samples slower than 1.1 × baseline p99.
        let slow = |_| (0.03, 9600);
        assert_eq!(
            new_version_breach(&nv, &at(1500, 5), Some(&base), slow),
            Some((TriggerMetric::LatencyP99Increase, 0.10))
        );
    }

    #[test]
    fn wilson_bounds_bracket_the_estimate_and_shrink_with_samples() {
        let (lo, hi) = wilson(10.0, 100.0, Z_NEW_VERSION);
        assert!(lo < 0.1 && 0.1 < hi);
        let (lo2, hi2) = wilson(1000.0, 10_000.0, Z_NEW_VERSION);
        assert!(lo2 > lo && hi2 < hi);
    }

    #[test]
    fn first_matching_trigger_in_order_wins() {
        let p = policy();
        let base = obs(1000, 0.005, 0.86, 2500.0);
        let table = [
            (obs(100, 0.08, 0.86, 2500.0), Some("auto_rollback")),
            (obs(100, 0.03, 0.86, 2500.0), Some("page")),
            (obs(100, 0.005, 0.60, 2500.0), Some("alert")),
            (obs(100, 0.005, 0.75, 2500.0), Some("observe")),
            (obs(100, 0.005, 0.86, 5100.0), Some("page")),
            (obs(100, 0.005, 0.86, 2600.0), None),
            (obs(49, 0.50, 0.10, 9000.0), None),
        ];
        for (o, want) in table {
            let got = fires(&p, &o, Some(&base)).map(|(t, _)| t.action.as_str());
            assert_eq!(got, want, "{o:?}");
        }
    }
}
