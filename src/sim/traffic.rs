//! Synthetic traffic and the windowed metrics it produces.
//!
//! Traffic advances in one-second ticks. Its cost depends on ticks, not on
//! requests: per tick and version we draw the request count (Poisson, split
//! by the routers' weights), the errors and good answers (binomial), and a
//! bounded sample of latencies from a log-normal fitted to p50/p99, each
//! sample standing for its share of the tick's requests. Each version keeps
//! only the ticks inside the policy window, so memory is bounded by the
//! window, not by the drill's duration.

use std::collections::VecDeque;

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand_distr::{Binomial, Distribution, LogNormal, Poisson};

use crate::scenario::Behaviour;

pub const TICK_MS: u64 = 1000;
/// Latency samples drawn per tick and version at most.
const LATENCY_SAMPLES: u64 = 32;
/// Latency buckets grow by 2%: percentiles are exact to about 1%.
const BUCKET_RATIO: f64 = 1.02;
const BUCKET_FLOOR_MS: f64 = 0.1;
const BUCKETS: usize = 1400;

/// z of the 99th percentile of a standard normal.
const Z99: f64 = 2.326_347_874;

/// Metrics of some traffic over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Observation {
    pub requests: u64,
    pub errors: u64,
    pub good: u64,
    pub error_rate: f64,
    /// Good answers among successful ones.
    pub quality: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// No metrics arrived for this read (a gap in the pipeline).
    pub missing: bool,
}

#[derive(Debug, Clone, Default)]
struct Slot {
    tick: u64,
    requests: u64,
    errors: u64,
    good: u64,
    latency: Vec<(u16, f32)>,
}

/// One version's recent ticks.
#[derive(Debug, Clone, Default)]
pub struct Series {
    slots: VecDeque<Slot>,
    /// Slots kept after use, so steady state allocates nothing.
    spare: Vec<Slot>,
}

impl Series {
    fn push(&mut self, tick: u64, keep_ticks: u64) -> &mut Slot {
        while self
            .slots
            .front()
            .is_some_and(|s| s.tick + keep_ticks <= tick)
        {
            let old = self.slots.pop_front().expect("front exists");
            self.spare.push(old);
        }
        let mut slot = self.spare.pop().unwrap_or_default();
        slot.tick = tick;
        slot.requests = 0;
        slot.errors = 0;
        slot.good = 0;
        slot.latency.clear();
        self.slots.push_back(slot);
        self.slots.back_mut().expect("just pushed")
    }
}

impl Series {
    /// Adds one observed request to tick `tick` (live drills).
    pub fn record(&mut self, tick: u64, keep_ticks: u64, error: bool, good: bool, latency_ms: f64) {
        if self.slots.back().is_none_or(|s| s.tick != tick) {
            self.push(tick, keep_ticks);
        }
        let slot = self.slots.back_mut().expect("pushed above");
        slot.requests += 1;
        slot.errors += u64::from(error);
        slot.good += u64::from(good);
        slot.latency.push((bucket_of(latency_ms), 1.0));
    }
}

/// The ticks whose traffic lies in `[since_ms, now_ms)`: a tick counts
/// once it is complete and only if it started at or after `since_ms`.
pub fn tick_range(since_ms: u64, now_ms: u64) -> (u64, u64) {
    (since_ms.div_ceil(TICK_MS), now_ms / TICK_MS)
}

/// Folds several series' ticks in `[from_tick, to_tick)` into one observation.
pub fn observe<'a>(
    series: impl IntoIterator<Item = &'a Series>,
    from_tick: u64,
    to_tick: u64,
) -> Observation {
    let mut hist = vec![0f64; BUCKETS];
    let (mut requests, mut errors, mut good) = (0u64, 0u64, 0u64);
    let mut weight = 0f64;
    for s in series {
        for slot in s
            .slots
            .iter()
            .filter(|s| s.tick >= from_tick && s.tick < to_tick)
        {
            requests += slot.requests;
            errors += slot.errors;
            good += slot.good;
            for &(b, w) in &slot.latency {
                hist[b as usize] += f64::from(w);
                weight += f64::from(w);
            }
        }
    }
    let ok = requests - errors;
    Observation {
        requests,
        errors,
        good,
        error_rate: ratio(errors, requests),
        quality: ratio(good, ok),
        p50_ms: quantile(&hist, weight, 0.50),
        p99_ms: quantile(&hist, weight, 0.99),
        missing: false,
    }
}

/// The weighted share of latency samples in `[from_tick, to_tick)` slower
/// than `ms`, and the number of samples.
pub fn share_slower_than(series: &Series, from_tick: u64, to_tick: u64, ms: f64) -> (f64, u64) {
    let limit = bucket_of(ms);
    let (mut above, mut total, mut samples) = (0f64, 0f64, 0u64);
    for slot in series
        .slots
        .iter()
        .filter(|s| s.tick >= from_tick && s.tick < to_tick)
    {
        for &(b, w) in &slot.latency {
            total += f64::from(w);
            samples += 1;
            if b > limit {
                above += f64::from(w);
            }
        }
    }
    (if total > 0.0 { above / total } else { 0.0 }, samples)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn bucket_of(ms: f64) -> u16 {
    let b = ((ms.max(BUCKET_FLOOR_MS) / BUCKET_FLOOR_MS).ln() / BUCKET_RATIO.ln()).floor();
    b.clamp(0.0, (BUCKETS - 1) as f64) as u16
}

fn bucket_value(b: usize) -> f64 {
    BUCKET_FLOOR_MS * BUCKET_RATIO.powf(b as f64 + 0.5)
}

fn quantile(hist: &[f64], total: f64, q: f64) -> f64 {
    if total <= 0.0 {
        return 0.0;
    }
    let target = q * total;
    let mut acc = 0.0;
    for (b, w) in hist.iter().enumerate() {
        acc += w;
        if acc >= target {
            return bucket_value(b);
        }
    }
    bucket_value(hist.len() - 1)
}

/// The latency of a version, in milliseconds: a log-normal whose median is
/// `p50` and whose 99th percentile is `p99`. The simulated traffic and the
/// real-staging mock backend both draw from it. `None` if the percentiles
/// are not a distribution (validation rules that out).
pub fn latency_model(behaviour: &Behaviour) -> Option<LogNormal<f64>> {
    let p50 = behaviour.p50.0 as f64;
    let p99 = (behaviour.p99.0 as f64).max(p50);
    let sigma = ((p99 / p50).ln() / Z99).max(1e-9);
    LogNormal::new(p50.ln(), sigma).ok()
}

/// The random source of a drill: one ChaCha8 stream per seed, so the same
/// seed draws the same traffic on every platform.
pub struct TrafficRng {
    rng: ChaCha8Rng,
}

impl TrafficRng {
    pub fn new(seed: u64) -> TrafficRng {
        TrafficRng::stream(seed, 0)
    }

    /// An independent stream of the same seed (ChaCha's stream number), so
    /// e.g. replayed requests never shift the traffic's draws.
    pub fn stream(seed: u64, stream: u64) -> TrafficRng {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        TrafficRng { rng }
    }

    /// Requests arriving in one tick at `rps`.
    pub fn arrivals(&mut self, rps: f64) -> u64 {
        let lambda = rps * TICK_MS as f64 / 1000.0;
        match Poisson::new(lambda) {
            Ok(p) => p.sample(&mut self.rng) as u64,
            Err(_) => 0,
        }
    }

    pub fn binomial(&mut self, n: u64, p: f64) -> u64 {
        if n == 0 || p <= 0.0 {
            return 0;
        }
        if p >= 1.0 {
            return n;
        }
        Binomial::new(n, p).map_or(0, |b| b.sample(&mut self.rng))
    }

    /// Splits `n` requests by `weights` (summing to 100) with one binomial
    /// draw per share: a multinomial split.
    pub fn split(&mut self, n: u64, weights: &[f64]) -> Vec<u64> {
        let mut left = n;
        let mut weight_left: f64 = weights.iter().sum();
        let mut out = Vec::with_capacity(weights.len());
        for w in weights {
            let k = if weight_left <= 0.0 {
                0
            } else {
                self.binomial(left, (w / weight_left).min(1.0))
            };
            out.push(k);
            left -= k;
            weight_left -= w;
        }
        out
    }

    /// Serves `n` requests of a version with `behaviour` in tick `tick`.
    /// Returns the errors and good answers drawn.
    pub fn serve(
        &mut self,
        series: &mut Series,
        tick: u64,
        keep_ticks: u64,
        n: u64,
        behaviour: &Behaviour,
    ) -> (u64, u64) {
        let errors = self.binomial(n, behaviour.error_rate);
        let good = self.binomial(n - errors, behaviour.quality);
        let slot = series.push(tick, keep_ticks);
        slot.requests = n;
        slot.errors = errors;
        slot.good = good;
        let samples = n.min(LATENCY_SAMPLES);
        if samples == 0 {
            return (errors, good);
        }
        let weight = n as f32 / samples as f32;
        if let Some(dist) = latency_model(behaviour) {
            for _ in 0..samples {
                let ms: f64 = dist.sample(&mut self.rng);
                slot.latency.push((bucket_of(ms), weight));
            }
        }
        (errors, good)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Dur;

    fn behaviour(error_rate: f64, p50: u64, p99: u64) -> Behaviour {
        Behaviour {
            error_rate,
            quality: 0.8,
            p50: Dur(p50),
            p99: Dur(p99),
        }
    }

    #[test]
    fn a_long_window_recovers_the_configured_behaviour() {
        let mut rng = TrafficRng::new(1);
        let mut series = Series::default();
        let b = behaviour(0.08, 900, 2500);
        for tick in 0..600 {
            let n = rng.arrivals(50.0);
            rng.serve(&mut series, tick, 600, n, &b);
        }
        let obs = observe([&series], 0, 600);
        assert!((obs.requests as f64 - 30_000.0).abs() < 1_000.0, "{obs:?}");
        assert!((obs.error_rate - 0.08).abs() < 0.01, "{obs:?}");
        assert!((obs.quality - 0.8).abs() < 0.01, "{obs:?}");
        assert!((obs.p50_ms / 900.0 - 1.0).abs() < 0.05, "{obs:?}");
        assert!((obs.p99_ms / 2500.0 - 1.0).abs() < 0.10, "{obs:?}");
    }

    #[test]
    fn series_keep_only_the_window() {
        let mut rng = TrafficRng::new(2);
        let mut series = Series::default();
        for tick in 0..1000 {
            rng.serve(&mut series, tick, 300, 10, &behaviour(0.0, 100, 200));
        }
        assert_eq!(series.slots.len(), 300);
        assert_eq!(observe([&series], 0, 1000).requests, 3000);
    }

    #[test]
    fn split_conserves_requests_and_respects_zero_weights() {
        let mut rng = TrafficRng::new(3);
        for _ in 0..100 {
            let parts = rng.split(1000, &[75.0, 0.0, 25.0]);
            assert_eq!(parts.iter().sum::<u64>(), 1000);
            assert_eq!(parts[1], 0);
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_traffic() {
        let draw = |seed| {
            let mut rng = TrafficRng::new(seed);
            (0..50).map(|_| rng.arrivals(20.0)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }
}
