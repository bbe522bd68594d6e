//! The behaviour model, written once: how a version's latency is drawn.
//!
//! A scenario gives each version a p50 and a p99; latency is log-normal
//! with its median at p50 and its 99th percentile at p99. The simulation
//! draws from it, and so do the registry server's synthetic endpoint and
//! the harness's mock model backend.

use rand::Rng;
use rand_distr::{Distribution, LogNormal};

use crate::scenario::Behaviour;

/// z of the 99th percentile of a standard normal.
const Z99: f64 = 2.326_347_874;

/// Latency in milliseconds, log-normal fitted to a behaviour's p50 and p99.
#[derive(Debug, Clone, Copy)]
pub struct LatencyModel {
    dist: LogNormal<f64>,
}

impl LatencyModel {
    /// `None` for a p50 of zero (no latency to draw).
    pub fn of(b: &Behaviour) -> Option<LatencyModel> {
        let p50 = b.p50.0 as f64;
        let p99 = (b.p99.0 as f64).max(p50);
        let sigma = ((p99 / p50).ln() / Z99).max(1e-9);
        LogNormal::new(p50.ln(), sigma)
            .ok()
            .map(|dist| LatencyModel { dist })
    }

    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        self.dist.sample(rng)
    }
}
