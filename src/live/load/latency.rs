//! Reply latencies of the traffic generator: a lock-free histogram that
//! every connection task adds to, with log-spaced buckets 2% wide from 1 µs
//! to about a minute, so percentiles are within 2% whatever the load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// ln(1.02): each bucket is 2% wider than the one before.
const STEP: f64 = 0.019_802_627_296_179_712;
/// 1 µs · 1.02^900 ≈ 55 s; slower answers share the last bucket.
const BUCKETS: usize = 900;

pub struct Latency {
    buckets: Vec<AtomicU64>,
}

impl Default for Latency {
    fn default() -> Latency {
        Latency {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn bucket(d: Duration) -> usize {
    let us = d.as_secs_f64() * 1e6;
    if us <= 1.0 {
        return 0;
    }
    ((us.ln() / STEP) as usize).min(BUCKETS - 1)
}

/// The middle of bucket `i`, in milliseconds.
fn middle_ms(i: usize) -> f64 {
    ((i as f64 + 0.5) * STEP).exp() / 1000.0
}

impl Latency {
    pub fn record(&self, d: Duration) {
        self.buckets[bucket(d)].fetch_add(1, Ordering::Relaxed);
    }

    /// The latency under which a share `q` (0..=1) of the replies came,
    /// in milliseconds; `None` without a reply.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        counts.iter().enumerate().find_map(|(i, c)| {
            seen += c;
            (seen >= rank).then(|| middle_ms(i))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_two_percent() {
        let l = Latency::default();
        assert_eq!(l.quantile_ms(0.5), None);
        // 1..=1000 ms, one reply each.
        for ms in 1..=1000u64 {
            l.record(Duration::from_millis(ms));
        }
        for (q, want) in [(0.5, 500.0), (0.99, 990.0), (1.0, 1000.0), (0.001, 1.0)] {
            let got = l.quantile_ms(q).unwrap();
            assert!(
                (got - want).abs() <= want * 0.02,
                "q{q}: {got} ms, want {want} ms"
            );
        }
    }

    #[test]
    fn extremes_land_in_the_end_buckets() {
        let l = Latency::default();
        l.record(Duration::ZERO);
        l.record(Duration::from_secs(3600));
        assert!(l.quantile_ms(0.5).unwrap() < 0.002);
        assert!(l.quantile_ms(1.0).unwrap() > 50_000.0);
    }
}
