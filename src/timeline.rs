//! A drill's traffic over time, downsampled for charts.
//!
//! The world adds each tick's counts of the release's route into buckets
//! that start one tick wide and double in width (merging neighbours)
//! whenever there would be more than [`MAX_POINTS`]: the resolution follows
//! how long the drill actually ran, and a 7-day drill costs no more memory
//! than a 3-hour one.

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
    /// Each version's latencies in the bucket, for the report's p99 chart
    /// (not in the JSON: the JSON's latencies are the checks' and steps').
    #[serde(skip)]
    pub latency: BTreeMap<String, LatencyHist>,
}

/// Latency samples in buckets a quarter wider each, from 10 ms: coarse
/// (a percentile is good to ±12%), but cheap enough for every bucket of
/// every version of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyHist(pub [f32; LATENCY_BUCKETS]);

pub const LATENCY_BUCKETS: usize = 48;
const LATENCY_FLOOR_MS: f64 = 10.0;
const LATENCY_RATIO: f64 = 1.25;

impl Default for LatencyHist {
    fn default() -> LatencyHist {
        LatencyHist([0.0; LATENCY_BUCKETS])
    }
}

impl LatencyHist {
    pub fn add(&mut self, ms: f64, weight: f32) {
        let k = ((ms.max(LATENCY_FLOOR_MS) / LATENCY_FLOOR_MS).ln() / LATENCY_RATIO.ln()).floor();
        self.0[(k as usize).min(LATENCY_BUCKETS - 1)] += weight;
    }

    fn merge(&mut self, other: &LatencyHist) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }

    /// The `q` quantile (0..1), at the middle of its bucket; `None`
    /// without samples.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total: f64 = self.0.iter().map(|&w| f64::from(w)).sum();
        if total <= 0.0 {
            return None;
        }
        let mut seen = 0.0;
        for (k, &w) in self.0.iter().enumerate() {
            seen += f64::from(w);
            if seen >= q * total {
                return Some(LATENCY_FLOOR_MS * LATENCY_RATIO.powf(k as f64 + 0.5));
            }
        }
        None
    }
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
    pub fn new(tick_ms: u64) -> Timeline {
        Timeline {
            bucket_s: tick_ms as f64 / 1000.0,
            points: Vec::new(),
            bucket_ms: tick_ms,
        }
    }

    pub fn add(&mut self, at_ms: u64, version: &str, counts: Counts) {
        let t_s = (at_ms / self.bucket_ms * self.bucket_ms) as f64 / 1000.0;
        if self.points.last().is_none_or(|p| p.t_s != t_s) {
            if self.points.len() as u64 == MAX_POINTS {
                self.coarsen();
                return self.add(at_ms, version, counts);
            }
            self.points.push(Point {
                t_s,
                versions: BTreeMap::new(),
                latency: BTreeMap::new(),
            });
        }
        let point = self.points.last_mut().expect("pushed above");
        merge(
            point.versions.entry(version.to_string()).or_default(),
            counts,
        );
    }

    /// Doubles the bucket width, merging points that now share a bucket.
    /// Latency samples of `version` at `at_ms` (each standing for
    /// `weight` requests), into the bucket [`Timeline::add`] put its
    /// counts in; call it after that.
    pub fn add_latency(
        &mut self,
        at_ms: u64,
        version: &str,
        samples: impl IntoIterator<Item = (f64, f32)>,
    ) {
        let t_s = (at_ms / self.bucket_ms * self.bucket_ms) as f64 / 1000.0;
        let Some(point) = self.points.last_mut().filter(|p| p.t_s == t_s) else {
            return;
        };
        let hist = point.latency.entry(version.to_string()).or_default();
        for (ms, w) in samples {
            hist.add(ms, w);
        }
    }

    fn coarsen(&mut self) {
        self.bucket_ms *= 2;
        self.bucket_s = self.bucket_ms as f64 / 1000.0;
        let width = self.bucket_ms as f64 / 1000.0;
        let mut merged: Vec<Point> = Vec::with_capacity(self.points.len() / 2 + 1);
        for p in self.points.drain(..) {
            let t_s = (p.t_s / width).floor() * width;
            match merged.last_mut() {
                Some(last) if last.t_s == t_s => {
                    for (v, c) in p.versions {
                        merge(last.versions.entry(v).or_default(), c);
                    }
                    for (v, h) in p.latency {
                        last.latency.entry(v).or_default().merge(&h);
                    }
                }
                _ => merged.push(Point { t_s, ..p }),
            }
        }
        self.points = merged;
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

fn merge(into: &mut Counts, c: Counts) {
    into.requests += c.requests;
    into.errors += c.errors;
    into.good += c.good;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_quantiles_come_from_the_bucket_and_survive_coarsening() {
        let mut t = Timeline::new(1000);
        for tick in 0..600u64 {
            let c = Counts {
                requests: 100,
                errors: 0,
                good: 100,
            };
            t.add(tick * 1000, "v", c);
            // 99 fast answers and one of 5 s per tick.
            t.add_latency(tick * 1000, "v", [(200.0, 99.0), (5000.0, 1.0)]);
        }
        assert!(t.points.len() as u64 <= MAX_POINTS, "coarsened");
        for p in &t.points {
            let h = &p.latency["v"];
            let p50 = h.quantile(0.5).unwrap();
            let p99 = h.quantile(0.99).unwrap();
            assert!((180.0..230.0).contains(&p50), "{p50}");
            assert!((180.0..230.0).contains(&p99), "99% are fast: {p99}");
            assert!(h.quantile(0.999).unwrap() > 4000.0);
        }
        assert_eq!(LatencyHist::default().quantile(0.99), None);
    }

    #[test]
    fn buckets_stay_within_the_point_budget_for_any_duration() {
        for hours in [1u64, 3, 24, 24 * 7] {
            let ms = hours * 3_600_000;
            let mut t = Timeline::new(1000);
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
            assert!(
                t.points.len() as u64 > MAX_POINTS / 2,
                "resolution used: {}",
                t.points.len()
            );
        }
    }
}
