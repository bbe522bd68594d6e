//! Synthetic traffic for the simulated world.
//!
//! Traffic advances in one-second ticks. Its cost depends on ticks, not on
//! requests: per tick and version we draw the request count (Poisson, split
//! by the routers' weights), the errors and good answers (binomial), and a
//! bounded sample of latencies from the behaviour's latency model, each
//! sample standing for its share of the tick's requests. The ticks land in
//! the shared windowed [`Series`].

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand_distr::{Binomial, Distribution, Poisson};

use crate::metrics::{LatencyModel, Series, TICK_MS, bucket_of};
use crate::scenario::Behaviour;

/// Latency samples drawn per tick and version at most.
const LATENCY_SAMPLES: u64 = 32;

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
        if let Some(model) = LatencyModel::of(behaviour) {
            for _ in 0..samples {
                let ms = model.sample(&mut self.rng);
                slot.latency.push((bucket_of(ms), weight));
            }
        }
        (errors, good)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::observe;
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
