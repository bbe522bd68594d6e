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
            });
        }
        let point = self.points.last_mut().expect("pushed above");
        merge(
            point.versions.entry(version.to_string()).or_default(),
            counts,
        );
    }

    /// Doubles the bucket width, merging points that now share a bucket.
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
