//! The simulated staging world: registry, routers and traffic on one clock.
//!
//! Routers see a registry change `propagation` after it is written; traffic
//! is routed by what the routers see. The world is the procedure's
//! [`Staging`] port in simulated drills.

use std::collections::BTreeMap;

use crate::drill::{Staging, WriteAck};
use crate::scenario::{Behaviour, Candidate, Dur, Plan};

use super::registry::{Registry, RegistryError};
use super::traffic::{self, Observation, Series, TICK_MS, TrafficRng, observe};

pub struct World<'p> {
    plan: &'p Plan,
    registry: Registry,
    /// What the routers currently route by, per route.
    routers: BTreeMap<String, Vec<Candidate>>,
    /// Writes on their way to the routers: (effective at, route, candidates).
    in_flight: Vec<(u64, String, Vec<Candidate>)>,
    series: BTreeMap<(String, String), Series>,
    rng: TrafficRng,
    replay_rng: TrafficRng,
    next_tick: u64,
    keep_ticks: u64,
    baselines: BTreeMap<String, Observation>,
    onset_at: u64,
    pub impacted_requests: u64,
    pub total_requests: u64,
}

impl<'p> World<'p> {
    pub fn new(plan: &'p Plan) -> World<'p> {
        let routers = plan
            .registry
            .routes
            .iter()
            .map(|r| (r.name.clone(), r.candidates.clone()))
            .collect();
        World {
            plan,
            registry: Registry::new(&plan.registry),
            routers,
            in_flight: Vec::new(),
            series: BTreeMap::new(),
            rng: TrafficRng::new(plan.seed),
            replay_rng: TrafficRng::stream(plan.seed, 1),
            next_tick: 0,
            keep_ticks: plan.policy.window.0.div_ceil(TICK_MS),
            baselines: BTreeMap::new(),
            onset_at: plan.release.at.0 + plan.release.onset.0,
            impacted_requests: 0,
            total_requests: 0,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Runs traffic for every tick that ends at or before `now`.
    pub fn advance_to(&mut self, now: u64) {
        while (self.next_tick + 1) * TICK_MS <= now {
            self.tick(self.next_tick);
            self.next_tick += 1;
        }
    }

    fn tick(&mut self, tick: u64) {
        let start = tick * TICK_MS;
        self.apply_arrived(start);
        let release = &self.plan.release;
        for (route, candidates) in &self.routers {
            let n = self.rng.arrivals(self.plan.traffic.rps);
            self.total_requests += n;
            let weights: Vec<f64> = candidates.iter().map(|c| c.weight).collect();
            let shares = self.rng.split(n, &weights);
            for (cand, share) in candidates.iter().zip(shares) {
                if cand.weight <= 0.0 {
                    continue;
                }
                let is_release = *route == release.route && cand.version == release.version;
                let behaviour: Behaviour = if is_release {
                    if start >= self.onset_at {
                        self.impacted_requests += share;
                        release.regressed
                    } else {
                        release.healthy
                    }
                } else {
                    match self.plan.traffic.behaviour_of(&cand.version) {
                        Some(b) => *b,
                        None => continue,
                    }
                };
                let series = self
                    .series
                    .entry((route.clone(), cand.version.clone()))
                    .or_default();
                self.rng
                    .serve(series, tick, self.keep_ticks, share, &behaviour);
            }
        }
    }

    fn apply_arrived(&mut self, now: u64) {
        if self.in_flight.is_empty() {
            return;
        }
        let mut i = 0;
        while i < self.in_flight.len() {
            if self.in_flight[i].0 <= now {
                let (_, route, candidates) = self.in_flight.remove(i);
                self.routers.insert(route, candidates);
            } else {
                i += 1;
            }
        }
    }

    /// The deployer ships canary step `step` of the release.
    pub fn release_step(&mut self, now: u64, step: usize) {
        let rel = &self.plan.release;
        if step == 0 {
            let from = now.saturating_sub(self.plan.policy.window.0);
            let base = self.route_metrics(now, &rel.route, from);
            self.baselines.insert(rel.route.clone(), base);
            // Validation made sure the route exists.
            let _ = self.registry.add_version(&rel.route, &rel.version);
        }
        let share = rel.schedule[step].1 * 100.0;
        let Ok(current) = self.registry.candidates(&rel.route) else {
            return;
        };
        let others: f64 = current
            .iter()
            .filter(|c| c.version != rel.version)
            .map(|c| c.weight)
            .sum();
        let mut next: Vec<Candidate> = current
            .iter()
            .filter(|c| c.version != rel.version)
            .map(|c| Candidate {
                weight: if others > 0.0 {
                    c.weight / others * (100.0 - share)
                } else {
                    0.0
                },
                ..c.clone()
            })
            .collect();
        next.push(Candidate {
            id: rel.id.clone(),
            version: rel.version.clone(),
            weight: share,
        });
        let sum: f64 = next.iter().map(|c| c.weight).sum();
        if let Some(first) = next.first_mut() {
            first.weight += 100.0 - sum;
        }
        let reason = format!("release {} at {}%", rel.version, share);
        if self
            .registry
            .write(now, &rel.route, next.clone(), "deployer", &reason)
            .is_ok()
        {
            let at = now + self.plan.registry.propagation.0;
            self.in_flight.push((at, rel.route.clone(), next));
        }
    }

    fn window_ticks(&self, now: u64, since: u64) -> (u64, u64) {
        let window_start = now.saturating_sub(self.plan.policy.window.0);
        (since.max(window_start).div_ceil(TICK_MS), now / TICK_MS)
    }
}

impl Staging for World<'_> {
    fn version_metrics(&self, now: u64, route: &str, version: &str, window: Dur) -> Observation {
        let (from, to) = self.window_ticks(now, now.saturating_sub(window.0));
        match self.series.get(&(route.to_string(), version.to_string())) {
            Some(s) => observe([s], from, to),
            None => Observation::default(),
        }
    }

    fn route_metrics(&self, now: u64, route: &str, since: u64) -> Observation {
        let (from, to) = self.window_ticks(now, since);
        let series = self
            .series
            .iter()
            .filter(|((r, _), _)| r == route)
            .map(|(_, s)| s);
        observe(series, from, to)
    }

    fn baseline(&self, route: &str) -> Option<Observation> {
        self.baselines.get(route).copied()
    }

    fn candidates(&self, _now: u64, route: &str) -> Result<Vec<Candidate>, RegistryError> {
        self.registry.candidates(route).map(<[Candidate]>::to_vec)
    }

    fn versions(&self, _now: u64, route: &str) -> Result<Vec<String>, RegistryError> {
        self.registry.versions(route).map(<[String]>::to_vec)
    }

    fn previous_candidates(
        &self,
        _now: u64,
        route: &str,
        bad: &str,
    ) -> Result<Option<Vec<Candidate>>, RegistryError> {
        self.registry.previous_candidates(route, bad)
    }

    fn add_version(&mut self, _now: u64, route: &str, version: &str) -> Result<(), RegistryError> {
        self.registry.add_version(route, version)
    }

    fn replay(&mut self, _now: u64, route: &str, version: &str, requests: u64) -> Observation {
        let Some(behaviour) = self.plan.traffic.behaviour_of(version).copied() else {
            return Observation::default();
        };
        let _ = route;
        let mut series = Series::default();
        self.replay_rng
            .serve(&mut series, 0, 1, requests, &behaviour);
        observe([&series], 0, 1)
    }

    fn share_slower_than(
        &self,
        now: u64,
        route: &str,
        version: &str,
        window: Dur,
        ms: f64,
    ) -> (f64, u64) {
        let (from, to) = self.window_ticks(now, now.saturating_sub(window.0));
        match self.series.get(&(route.to_string(), version.to_string())) {
            Some(s) => traffic::share_slower_than(s, from, to, ms),
            None => (0.0, 0),
        }
    }

    fn write_route(
        &mut self,
        now: u64,
        route: &str,
        candidates: Vec<Candidate>,
        actor: &str,
        reason: &str,
    ) -> Result<WriteAck, RegistryError> {
        let acked_at = now + self.plan.registry.write_latency.0;
        self.registry
            .write(acked_at, route, candidates.clone(), actor, reason)?;
        let converged_at = acked_at + self.plan.registry.propagation.0;
        self.in_flight
            .push((converged_at, route.to_string(), candidates));
        Ok(WriteAck {
            acked_at,
            converged_at,
        })
    }
}
