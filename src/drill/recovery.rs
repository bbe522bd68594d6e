//! After the restore, every version still serving is judged by the whole
//! policy — every trigger, and the `new_version` limits on a version new in
//! this drill (the release, a roll-forward fix) — over the traffic since
//! the restore. A verify step watches one metric; this sees them all.

use serde::Serialize;

use crate::scenario::{Percent, TriggerMetric};

use super::Staging;
use super::policy::{fires, metric_value, new_version_breach};
use super::procedure::Procedure;

/// What served after the restore, and what the policy said of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recovery {
    /// When it was judged (seconds since the drill started).
    pub at_s: f64,
    pub versions: Vec<Judged>,
}

/// One version serving after the restore.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judged {
    pub version: String,
    /// Its share of the route's traffic when judged, 0 to 1.
    pub share: f64,
    /// Its requests since the restore.
    pub requests: u64,
    /// The trigger or `new_version` limit it still sets off, if any.
    pub breach: Option<Breach>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breach {
    pub metric: TriggerMetric,
    pub value: f64,
    pub threshold: f64,
    /// `policy.triggers` or `policy.new_version`.
    pub source: &'static str,
}

impl Recovery {
    /// The versions that still set the policy off.
    pub fn breaches(&self) -> impl Iterator<Item = (&Judged, &Breach)> {
        self.versions
            .iter()
            .filter_map(|j| j.breach.as_ref().map(|b| (j, b)))
    }
}

impl Procedure<'_> {
    /// Judges what serves at `now`, if the route was restored: called once,
    /// when the drill ends, by the drill loop.
    pub fn judge_recovery(&mut self, now: u64, port: &mut dyn Staging) {
        let Some(restored) = self.record.restored else {
            return;
        };
        let plan = self.plan;
        let route = &plan.release.route;
        let mut versions: Vec<String> = plan
            .registry
            .routes
            .iter()
            .filter(|r| &r.name == route)
            .flat_map(|r| {
                r.versions
                    .iter()
                    .chain(r.candidates.iter().map(|c| &c.version))
            })
            .chain([&plan.release.version])
            .chain(self.record.rollback_target.as_ref())
            .cloned()
            .collect();
        versions.sort();
        versions.dedup();
        let since = crate::scenario::Dur(now.saturating_sub(restored));
        let baseline = port.baseline(route);
        let mut judged = Vec::new();
        for version in versions {
            let share = port.serving_share(now, route, &version);
            if share <= 0.0 {
                continue;
            }
            let obs = port.version_metrics(now, route, &version, since);
            let slow = |ms| port.share_slower_than(now, route, &version, since, ms);
            let fired = fires(
                &plan.policy,
                self.alphas.triggers,
                &obs,
                baseline.as_ref(),
                slow,
            )
            .map(|(t, value)| Breach {
                metric: t.metric,
                value: round6(value),
                threshold: round6(t.above.fraction()),
                source: "policy.triggers",
            });
            let new = version == plan.release.version
                || (self.record.rolled_forward
                    && self.record.rollback_target.as_ref() == Some(&version));
            let breach = fired.or_else(|| {
                if !new || obs.requests < plan.policy.min_requests {
                    return None;
                }
                let slow = |ms| port.share_slower_than(now, route, &version, since, ms);
                new_version_breach(
                    &plan.policy.new_version,
                    self.alphas.new_version,
                    &obs,
                    baseline.as_ref(),
                    slow,
                )
                .map(|(metric, limit)| Breach {
                    metric,
                    value: round6(metric_value(metric, &obs, baseline.as_ref())),
                    threshold: round6(limit),
                    source: "policy.new_version",
                })
            });
            if let Some(b) = &breach {
                self.note(
                    now,
                    "policy",
                    format!(
                        "after the restore {version} still shows {} {} (above {}, {}) over {} requests",
                        b.metric,
                        Percent(b.value),
                        Percent(b.threshold),
                        b.source,
                        obs.requests
                    ),
                );
            }
            judged.push(Judged {
                version,
                share: round6(share),
                requests: obs.requests,
                breach,
            });
        }
        self.record.recovery = Some(Recovery {
            at_s: super::record::secs(now),
            versions: judged,
        });
    }
}

/// Six decimals are plenty for a report, and keep the JSON short.
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}
