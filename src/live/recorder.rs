//! What live traffic observed, per version of the release's route: the
//! same windowed series the simulation computes its metrics from, the
//! report's timeline and the request counts.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::Value;

use super::load::Sink;
use crate::metrics::{self, Observation, Series, TICK_MS};
use crate::scenario::Dur;
use crate::scenario::Plan;
use crate::timeline::{Counts, Timeline};

/// What the traffic thread observed, per version of the release's route.
pub struct Recorder {
    pub(super) series: BTreeMap<String, Series>,
    keep_ticks: u64,
    release: String,
    onset_ms: u64,
    pub timeline: Timeline,
    pub impacted: u64,
    pub total: u64,
}

impl Recorder {
    pub fn new(plan: &Plan) -> Recorder {
        Recorder {
            series: BTreeMap::new(),
            keep_ticks: plan.policy.window.0.div_ceil(TICK_MS),
            release: plan.release.version.clone(),
            onset_ms: plan.release.at.0 + plan.release.onset.0,
            timeline: Timeline::new(TICK_MS),
            impacted: 0,
            total: 0,
        }
    }

    /// One `/v1/complete` answer, observed at scenario time `now_ms`.
    pub fn record(&mut self, now_ms: u64, v: &Value) {
        let Some(version) = v["version"].as_str() else {
            return;
        };
        let error = v["error"].as_bool().unwrap_or(false);
        let good = v["good"].as_bool().unwrap_or(false);
        let latency = v["latency_ms"].as_f64().unwrap_or(0.0);
        self.total += 1;
        if version == self.release && now_ms >= self.onset_ms {
            self.impacted += 1;
        }
        let tick = now_ms / TICK_MS;
        self.series.entry(version.to_string()).or_default().record(
            tick,
            self.keep_ticks,
            error,
            good,
            latency,
        );
        let counts = Counts {
            requests: 1,
            errors: u64::from(error),
            good: u64::from(good),
        };
        self.timeline.add(now_ms, version, counts);
        self.timeline.add_latency(now_ms, version, [(latency, 1.0)]);
    }
}

/// The metrics the procedure reads, from what traffic observed: one rule
/// for every live backend (a registry server, a team's staging).
impl Recorder {
    /// Metrics of `version` over the `window` ending at `now`.
    pub fn version_obs(&self, now: u64, version: &str, window: Dur) -> Observation {
        let (from, to) = metrics::tick_range(now.saturating_sub(window.0), now);
        self.series
            .get(version)
            .map_or_else(Observation::default, |s| metrics::observe([s], from, to))
    }

    /// Metrics of all traffic since `since`, at most `window` back.
    pub fn route_obs(&self, now: u64, since: u64, window: Dur) -> Observation {
        let start = since.max(now.saturating_sub(window.0));
        let (from, to) = metrics::tick_range(start, now);
        metrics::observe(self.series.values(), from, to)
    }

    /// The share of `version`'s requests over `window` slower than `ms`,
    /// and how many samples it rests on.
    pub fn slower_than(&self, now: u64, version: &str, window: Dur, ms: f64) -> (f64, u64) {
        let (from, to) = metrics::tick_range(now.saturating_sub(window.0), now);
        self.series
            .get(version)
            .map_or((0.0, 0), |s| metrics::share_slower_than(s, from, to, ms))
    }
}

impl Sink for Mutex<Recorder> {
    fn record(&self, now_ms: u64, reply: &Value) {
        self.lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(now_ms, reply);
    }
}
