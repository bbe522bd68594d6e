//! Whether a route condition (`verify`, `abort_if`) holds on sampled
//! traffic, with confidence: a rate's Clopper–Pearson bound must clear the
//! limit, a latency percentile must rest on enough samples to be bounded by
//! an order statistic. A point estimate over a small sample is no proof.

use crate::metrics::Observation;
use crate::scenario::{Bound, Condition, TriggerMetric, VerifyMetric};
use crate::stats;

use super::policy::metric_value;

/// The error of a condition judged on sampled traffic: 1 − confidence.
pub const VERIFY_ALPHA: f64 = 1e-3;

/// `99.9%`: the confidence a condition's verdict states.
pub fn confidence() -> String {
    format!("{}%", (1.0 - VERIFY_ALPHA) * 100.0)
}

/// A metric of the route's traffic: a rate, a latency in ms, or a change
/// relative to the baseline (0 without one).
pub fn route_value(metric: VerifyMetric, obs: &Observation, baseline: Option<&Observation>) -> f64 {
    match metric {
        VerifyMetric::ErrorRate => obs.error_rate,
        VerifyMetric::Quality => obs.quality,
        VerifyMetric::LatencyP50 => obs.p50_ms,
        VerifyMetric::LatencyP99 => obs.p99_ms,
        VerifyMetric::QualityDrop => metric_value(TriggerMetric::QualityDrop, obs, baseline),
        VerifyMetric::LatencyP99Increase => {
            metric_value(TriggerMetric::LatencyP99Increase, obs, baseline)
        }
    }
}

/// What the traffic shows about a condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The point estimate.
    pub value: f64,
    /// The condition holds at the stated confidence.
    pub holds: bool,
    /// Why the sample cannot show it yet, whatever it holds: too few
    /// requests for the limit at this confidence.
    pub short: Option<String>,
}

/// Judges `cond` on `obs`. Rates: errors among requests, good answers
/// among successful ones (`quality`, and `quality_drop` as quality against
/// baseline × (1 − limit)); the bound on the far side of the limit must
/// clear it. Latencies: the point estimate, once the sample is big enough
/// for its largest values to bound the percentile.
pub fn judge(cond: &Condition, obs: &Observation, baseline: Option<&Observation>) -> Judgement {
    let value = route_value(cond.metric, obs, baseline);
    let alpha = VERIFY_ALPHA;
    let requests = obs.requests as f64;
    let answered = obs.requests.saturating_sub(obs.errors) as f64;
    // A rate `k of n` against `limit`, in the condition's direction.
    let rate = |k: f64, n: f64, limit: f64, below: bool, of: &str| {
        let holds = if below {
            stats::upper_bound(k, n, alpha) < limit
        } else {
            stats::lower_bound(k, n, alpha) > limit
        };
        // Even a sample without a single event (or with nothing else) needs
        // this many to clear the limit.
        let need = if below {
            stats::requests_needed(limit, alpha)
        } else {
            stats::requests_needed(1.0 - limit, alpha)
        };
        let short = (n < need as f64).then(|| {
            format!(
                "only {n} {of} since verify began; need {need} for {} at {}",
                crate::scenario::Percent(limit),
                confidence()
            )
        });
        (holds, short)
    };
    let below = cond.bound == Bound::Below;
    let (holds, short) = match cond.metric {
        VerifyMetric::ErrorRate => rate(obs.errors as f64, requests, cond.limit, below, "requests"),
        VerifyMetric::Quality => rate(
            obs.good as f64,
            answered,
            cond.limit,
            below,
            "answered requests",
        ),
        // A drop below the limit is quality above baseline × (1 − limit).
        VerifyMetric::QualityDrop => match baseline.filter(|b| b.quality > 0.0) {
            Some(b) => rate(
                obs.good as f64,
                answered,
                b.quality * (1.0 - cond.limit),
                !below,
                "answered requests",
            ),
            None => (cond.holds(value), None),
        },
        VerifyMetric::LatencyP50 | VerifyMetric::LatencyP99 | VerifyMetric::LatencyP99Increase => {
            let q = if cond.metric == VerifyMetric::LatencyP50 {
                0.50
            } else {
                0.99
            };
            let need = stats::samples_for_quantile(q, alpha);
            let short = (obs.requests < need).then(|| {
                format!(
                    "only {} requests since verify began; need {need} for a p{} at {}",
                    obs.requests,
                    (q * 100.0).round(),
                    confidence()
                )
            });
            (short.is_none() && cond.holds(value), short)
        }
    };
    Judgement {
        value,
        holds,
        short,
    }
}
