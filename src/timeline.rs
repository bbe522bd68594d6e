//! A drill's traffic over time, downsampled for charts.
//!
//! The world adds each tick's counts of the release's route into at most
//! [`MAX_POINTS`] buckets spread over the drill's duration, so the timeline
//! costs the same for a 3-hour and a 7-day drill.

use std::collections::BTreeMap;

use serde::Serialize;

pub const MAX_POINTS: u64 = 300;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    pub requests: u64,
    pub errors: u64,
    pub good: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// Start of the bucket, in seconds from the start of the drill.
    pub t_s: f64,
    pub versions: BTreeMap<String, Counts>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timeline {
    pub bucket_s: f64,
    pub points: Vec<Point>,
    #[serde(skip)]
    bucket_ms: u64,
}

impl Timeline {
    /// A timeline whose buckets are whole multiples of `tick_ms`.
    pub fn new(duration_ms: u64, tick_ms: u64) -> Timeline {
        let ticks = duration_ms.div_ceil(tick_ms).max(1);
        let bucket_ms = ticks.div_ceil(MAX_POINTS) * tick_ms;
        Timeline {
            bucket_s: bucket_ms as f64 / 1000.0,
            points: Vec::new(),
            bucket_ms,
        }
    }

    pub fn add(&mut self, at_ms: u64, version: &str, counts: Counts) {
        let t = at_ms / self.bucket_ms * self.bucket_ms;
        let t_s = t as f64 / 1000.0;
        if self.points.last().is_none_or(|p| p.t_s != t_s) {
            self.points.push(Point {
                t_s,
                versions: BTreeMap::new(),
            });
        }
        let point = self.points.last_mut().expect("pushed above");
        let c = point.versions.entry(version.to_string()).or_default();
        c.requests += counts.requests;
        c.errors += counts.errors;
        c.good += counts.good;
    }

    /// Every version that served at some point, in name order.
    pub fn versions(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .points
            .iter()
            .flat_map(|p| p.versions.keys().cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_stay_within_the_point_budget_for_any_duration() {
        for hours in [1u64, 3, 24, 24 * 7] {
            let ms = hours * 3_600_000;
            let mut t = Timeline::new(ms, 1000);
            for tick in 0..ms / 1000 {
                t.add(
                    tick * 1000,
                    "v",
                    Counts {
                        requests: 1,
                        errors: 0,
                        good: 1,
                    },
                );
            }
            assert!(
                t.points.len() as u64 <= MAX_POINTS,
                "{hours}h: {}",
                t.points.len()
            );
            let total: u64 = t.points.iter().map(|p| p.versions["v"].requests).sum();
            assert_eq!(total, ms / 1000, "nothing lost by bucketing");
        }
    }
}
