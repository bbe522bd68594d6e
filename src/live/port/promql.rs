//! The metrics a scenario maps to Prometheus (`metrics.prometheus`), as
//! the live port reads them: per version, in the drill's units, with the
//! baseline taken the same way at the release.

use super::LivePort;
use crate::live::LiveError;
use crate::live::prometheus::{self, PromError};
use crate::metrics::Observation;
use crate::scenario::VerifyMetric;

/// Metrics a scenario maps to Prometheus (`metrics.prometheus`).
impl LivePort<'_> {
    /// One metric of one version, converted to the drill's units
    /// (latencies from seconds to milliseconds).
    pub(super) fn prom_metric(
        &self,
        metric: VerifyMetric,
        route: &str,
        version: &str,
    ) -> Option<(Result<f64, PromError>, String)> {
        let p = self.plan.metrics.as_ref()?;
        let q = p.query(metric)?;
        let filled = prometheus::fill(q, version, route, self.plan.policy.window, self.scale);
        let value = prometheus::query(&p.url, &p.headers, &filled).map(|v| match metric {
            VerifyMetric::LatencyP50 | VerifyMetric::LatencyP99 => v * 1000.0,
            _ => v,
        });
        Some((value, filled))
    }

    fn prom_error(&self, query: &str, e: &PromError) -> LiveError {
        LiveError::Prometheus {
            url: self
                .plan
                .metrics
                .as_ref()
                .map(|p| p.url.to_string())
                .unwrap_or_default(),
            message: format!("`{query}`: {e}"),
        }
    }

    /// Before the drill: every query runs once against the stable version;
    /// no answer or a refused query stops the drill (no data yet is fine).
    pub fn check_prometheus(&self) -> Result<(), LiveError> {
        let Some(p) = &self.plan.metrics else {
            return Ok(());
        };
        let stable = self.stable_version();
        for (metric, _) in &p.queries {
            if let Some((Err(e), q)) = self.prom_metric(*metric, &self.plan.release.route, &stable)
                && !matches!(e, PromError::NoValue(_))
            {
                return Err(self.prom_error(&q, &e));
            }
        }
        Ok(())
    }

    /// The version that serves most of the release's route before it.
    fn stable_version(&self) -> String {
        self.plan
            .registry
            .routes
            .iter()
            .find(|r| r.name == self.plan.release.route)
            .and_then(|r| {
                r.candidates
                    .iter()
                    .max_by(|a, b| a.weight.total_cmp(&b.weight))
            })
            .map(|c| c.version.clone())
            .unwrap_or_default()
    }

    /// At the release, the baseline of every mapped relative metric is read
    /// the way the release's values will be: from Prometheus. No value for
    /// it stops the drill (exit 3): comparing against a baseline from
    /// another source would be meaningless.
    pub(super) fn baseline_from_prometheus(&mut self) -> Result<(), LiveError> {
        if self.plan.metrics.is_none() {
            return Ok(());
        }
        let stable = self.stable_version();
        let mut base = self.baseline.unwrap_or_default();
        // Only the relative metrics (quality_drop, latency_p99_increase and
        // the new_version limits) compare with the baseline.
        for metric in [VerifyMetric::Quality, VerifyMetric::LatencyP99] {
            let Some((value, q)) = self.prom_metric(metric, &self.plan.release.route, &stable)
            else {
                continue;
            };
            let v = value.map_err(|e| self.prom_error(&q, &e))?;
            set_metric(&mut base, metric, v);
        }
        self.baseline = Some(base);
        Ok(())
    }
}

pub(super) fn set_metric(obs: &mut Observation, metric: VerifyMetric, v: f64) {
    match metric {
        VerifyMetric::ErrorRate => obs.error_rate = v,
        VerifyMetric::Quality => obs.quality = v,
        VerifyMetric::LatencyP50 => obs.p50_ms = v,
        VerifyMetric::LatencyP99 => obs.p99_ms = v,
        // Derived from quality and p99 against the baseline: never mapped
        // (validation refuses a query for them).
        VerifyMetric::QualityDrop | VerifyMetric::LatencyP99Increase => {}
    }
}
