//! Policy evaluation: which trigger, if any, fires on an observation.

use crate::scenario::{PolicyPlan, Trigger, TriggerMetric};
use crate::sim::traffic::Observation;

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
