//! Policy evaluation: which trigger, if any, fires on an observation.

use crate::metrics::Observation;
use crate::scenario::{NewVersion, Plan, PolicyPlan, Trigger, TriggerMetric};
use crate::stats;

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

/// The first trigger, in policy order, whose metric is above its threshold
/// beyond sampling noise; nothing fires on fewer than `min_requests`
/// requests. Beyond noise: the count is one a release behaving like the
/// baseline would show with probability below `alpha`, by the exact
/// conditional test of two rates against the baseline's own counts: errors
/// among requests, bad answers among successful ones, requests slower than
/// the baseline p99 (1% of the baseline's). Without a baseline, or without
/// latency samples (`slow(ms)` gives none), the point estimate decides.
pub fn fires<'p>(
    policy: &'p PolicyPlan,
    alpha: f64,
    obs: &Observation,
    baseline: Option<&Observation>,
    slow: impl Fn(f64) -> (f64, u64),
) -> Option<(&'p Trigger, f64)> {
    if obs.requests < policy.min_requests {
        return None;
    }
    policy.triggers.iter().find_map(|t| {
        let value = metric_value(t.metric, obs, baseline);
        (value > t.above.fraction() && beyond_noise(t, alpha, obs, baseline, &slow))
            .then_some((t, value))
    })
}

fn beyond_noise(
    t: &Trigger,
    alpha: f64,
    obs: &Observation,
    baseline: Option<&Observation>,
    slow: &impl Fn(f64) -> (f64, u64),
) -> bool {
    let Some(b) = baseline else {
        return true;
    };
    let answered = obs.requests.saturating_sub(obs.errors) as f64;
    let base_answered = b.requests.saturating_sub(b.errors) as f64;
    match t.metric {
        TriggerMetric::ErrorRate if b.requests > 0 => two_rates(
            (obs.errors as f64, obs.requests as f64),
            (b.errors as f64, b.requests as f64),
            alpha,
        ),
        TriggerMetric::ErrorRate => {
            stats::tail_at_least(obs.errors as f64, obs.requests as f64, b.error_rate) < alpha
        }
        // Bad answers among successful ones, against the baseline's.
        TriggerMetric::QualityDrop if base_answered > 0.0 => two_rates(
            (answered - obs.good as f64, answered),
            (base_answered - b.good as f64, base_answered),
            alpha,
        ),
        TriggerMetric::QualityDrop => {
            stats::tail_at_most(obs.good as f64, answered, b.quality) < alpha
        }
        // Requests slower than the baseline p99: 1% of the baseline's.
        TriggerMetric::LatencyP99Increase => {
            let (share, samples) = slow(b.p99_ms);
            let n = samples as f64;
            samples == 0
                || if b.requests > 0 {
                    let base = b.requests as f64;
                    two_rates(((share * n).round(), n), (0.01 * base, base), alpha)
                } else {
                    stats::tail_at_least((share * n).round(), n, 0.01) < alpha
                }
        }
    }
}

/// The exact conditional test of two rates: given the events of both
/// samples, the first's share of them is binomial in its share of the
/// trials when both rates are equal. True when the first rate is higher
/// beyond `alpha`. The baseline's own noise counts; for binomial counts the
/// test is conservative.
fn two_rates((k1, n1): (f64, f64), (k2, n2): (f64, f64), alpha: f64) -> bool {
    if n1 <= 0.0 {
        return false;
    }
    stats::tail_at_least(k1, k1 + k2, n1 / (n1 + n2)) < alpha
}

/// The false-alarm budget of a whole drill: the chance that a release
/// behaving like the baseline (or exactly at its `new_version` limits)
/// sets anything off at any evaluation. Half is spent on the triggers over
/// the release's first policy window (where a regression is caught), a
/// quarter on the triggers over the rest of the drill, a quarter on the
/// `new_version` limits over their period.
pub const DRILL_FALSE_ALARM_BUDGET: f64 = 1e-3;

/// The `new_version` limits judged at each evaluation.
const NEW_VERSION_TESTS: f64 = 3.0;

/// The significance of one test at one evaluation: the drill's budget
/// split (Bonferroni) over the tests and evaluations, so their union stays
/// within the budget whatever the correlation of overlapping windows.
///
/// A trigger's noise test depends on its metric only (its threshold is a
/// point-estimate condition beside it), so the triggers' shares of the
/// budget are split over their distinct metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alphas {
    /// Each trigger metric, at each evaluation of the release's first window.
    pub triggers_early: f64,
    /// Each trigger metric, at each later evaluation (and for judging what
    /// serves after a restore).
    pub triggers: f64,
    /// Until when (ms since the drill's start) `triggers_early` applies.
    pub early_until: u64,
    /// Each `new_version` limit, at each evaluation of `new_version.for`.
    pub new_version: f64,
}

impl Alphas {
    pub fn of(plan: &Plan) -> Alphas {
        let policy = &plan.policy;
        let every = policy.evaluate_every.0.max(1) as f64;
        let count = |ms: u64| (ms as f64 / every).ceil().max(1.0);
        let after_release = plan.duration.0.saturating_sub(plan.release.at.0);
        let early = policy.window.0.min(after_release);
        let mut metrics: Vec<TriggerMetric> = policy.triggers.iter().map(|t| t.metric).collect();
        metrics.sort();
        metrics.dedup();
        let tests = metrics.len().max(1) as f64;
        let budget = DRILL_FALSE_ALARM_BUDGET;
        Alphas {
            triggers_early: budget / 2.0 / (tests * count(early)),
            triggers: budget / 4.0 / (tests * count(after_release.saturating_sub(early))),
            early_until: plan.release.at.0 + early,
            new_version: new_version_alpha(policy),
        }
    }

    /// A trigger's significance at an evaluation at `now`.
    pub fn triggers_at(&self, now: u64) -> f64 {
        if now <= self.early_until {
            self.triggers_early
        } else {
            self.triggers
        }
    }
}

/// The significance of one `new_version` test (see [`Alphas`]).
pub fn new_version_alpha(policy: &PolicyPlan) -> f64 {
    let evaluations = (policy.new_version.for_.0 as f64 / policy.evaluate_every.0.max(1) as f64)
        .ceil()
        .max(1.0);
    DRILL_FALSE_ALARM_BUDGET / 4.0 / (NEW_VERSION_TESTS * evaluations)
}

/// Which `new_version` limit, if any, the release is over beyond doubt: an
/// exact one-sided binomial test at `alpha` (see [`new_version_alpha`]).
/// Each limit is judged as a rate: errors among requests, good answers
/// among successful ones, and — for p99 — the share of requests slower than
/// the baseline p99 × (1 + limit), which exceeds 1% exactly when the p99
/// does. `slow(ms)` gives that share and its sample count.
pub fn new_version_breach(
    nv: &NewVersion,
    alpha: f64,
    obs: &Observation,
    baseline: Option<&Observation>,
    slow: impl Fn(f64) -> (f64, u64),
) -> Option<(TriggerMetric, f64)> {
    let requests = obs.requests as f64;
    if stats::tail_at_least(obs.errors as f64, requests, nv.error_rate_max.fraction()) < alpha {
        return Some((TriggerMetric::ErrorRate, nv.error_rate_max.fraction()));
    }
    let base = baseline?;
    let answered = (obs.requests - obs.errors) as f64;
    let max_drop = nv.quality_drop_max.fraction();
    let floor = base.quality * (1.0 - max_drop);
    if answered > 0.0
        && floor > 0.0
        && stats::tail_at_most(obs.good as f64, answered, floor) < alpha
    {
        return Some((TriggerMetric::QualityDrop, max_drop));
    }
    let max_increase = nv.latency_p99_increase_max.fraction();
    if base.p99_ms > 0.0 {
        let (share, samples) = slow(base.p99_ms * (1.0 + max_increase));
        let samples = samples as f64;
        if stats::tail_at_least((share * samples).round(), samples, 0.01) < alpha {
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
        let errors = (requests as f64 * error_rate).round() as u64;
        Observation {
            requests,
            errors,
            good: ((requests - errors) as f64 * quality).round() as u64,
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
        let alpha = new_version_alpha(&policy());
        let fast = |_| (0.0, 9600);
        // 0.7% errors over 1,500 requests: above 0.5% by point, not by bound.
        assert_eq!(
            new_version_breach(&nv, alpha, &at(1500, 11), Some(&base), fast),
            None
        );
        // 2% over 1,500: clearly above.
        assert_eq!(
            new_version_breach(&nv, alpha, &at(1500, 30), Some(&base), fast),
            Some((TriggerMetric::ErrorRate, 0.005))
        );
        // 3% of 9,600 latency samples slower than 1.1 × baseline p99.
        let slow = |_| (0.03, 9600);
        assert_eq!(
            new_version_breach(&nv, alpha, &at(1500, 5), Some(&base), slow),
            Some((TriggerMetric::LatencyP99Increase, 0.10))
        );
    }

    #[test]
    fn the_budget_is_split_over_the_evaluations_of_the_new_version_period() {
        // 60 minutes at 30 s: 120 evaluations of three limits.
        let a = new_version_alpha(&policy());
        assert!((a - 2.5e-4 / 360.0).abs() < 1e-15, "{a}");
    }

    #[test]
    fn every_test_of_a_drill_together_spends_no_more_than_the_budget() {
        let file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/healthy-release-not-rolled-back.yaml"
        );
        let plan = crate::scenario::load_file(std::path::Path::new(file)).unwrap();
        let a = Alphas::of(&plan);
        let p = &plan.policy;
        let every = p.evaluate_every.0 as f64;
        let evaluations = |ms: u64| (ms as f64 / every).ceil();
        let after = plan.duration.0 - plan.release.at.0;
        // Three trigger metrics, three new_version limits.
        let spent = 3.0 * a.triggers_early * evaluations(p.window.0)
            + 3.0 * a.triggers * evaluations(after - p.window.0)
            + 3.0 * a.new_version * evaluations(p.new_version.for_.0);
        assert!(spent <= DRILL_FALSE_ALARM_BUDGET * (1.0 + 1e-12), "{spent}");
        assert!(
            spent >= DRILL_FALSE_ALARM_BUDGET * 0.99,
            "and spends it: {spent}"
        );
        assert_eq!(
            a.triggers_at(plan.release.at.0 + p.window.0),
            a.triggers_early
        );
        assert_eq!(
            a.triggers_at(plan.release.at.0 + p.window.0 + 1),
            a.triggers
        );
    }

    #[test]
    fn first_matching_trigger_in_order_wins() {
        let p = policy();
        let base = obs(6000, 0.005, 0.86, 2500.0);
        let no_samples = |_| (0.0, 0);
        let table = [
            (obs(1000, 0.08, 0.86, 2500.0), Some("auto_rollback")),
            (obs(1000, 0.03, 0.86, 2500.0), Some("page")),
            (obs(1000, 0.005, 0.60, 2500.0), Some("alert")),
            (obs(1000, 0.005, 0.75, 2500.0), Some("observe")),
            (obs(1000, 0.005, 0.86, 5100.0), Some("page")),
            (obs(1000, 0.005, 0.86, 2600.0), None),
            (obs(49, 0.50, 0.10, 9000.0), None),
        ];
        for (o, want) in table {
            let got = fires(&p, 1e-6, &o, Some(&base), no_samples).map(|(t, _)| t.action.as_str());
            assert_eq!(got, want, "{o:?}");
        }
    }

    #[test]
    fn a_trigger_does_not_fire_on_what_the_baseline_shows_by_chance() {
        let p = policy();
        let base = obs(6000, 0.005, 0.86, 2500.0);
        let no_samples = |_| (0.0, 0);
        // 3 errors in 100 (3%, above the 2% page) happen to a release at the
        // baseline's 0.5% once in 70 windows: noise, not a regression.
        assert_eq!(
            fires(
                &p,
                1e-6,
                &obs(100, 0.03, 0.86, 2500.0),
                Some(&base),
                no_samples
            ),
            None
        );
        // 12 in 100 cannot be.
        let got = fires(
            &p,
            1e-6,
            &obs(100, 0.12, 0.86, 2500.0),
            Some(&base),
            no_samples,
        );
        assert_eq!(got.map(|(t, _)| t.action.as_str()), Some("auto_rollback"));
        // p99 doubled by its estimate, but only 1.2% of 9,600 samples slower
        // than the baseline p99 (1% of the baseline's): noise; 5% are not.
        let slow_p99 = obs(1000, 0.005, 0.86, 5100.0);
        assert_eq!(
            fires(&p, 1e-6, &slow_p99, Some(&base), |_| (0.012, 9600)),
            None
        );
        let got = fires(&p, 1e-6, &slow_p99, Some(&base), |_| (0.05, 9600));
        assert_eq!(got.map(|(t, _)| t.action.as_str()), Some("page"));
    }
}
