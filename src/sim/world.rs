//! The simulated staging world: registry, routers and traffic on one clock.
//!
//! Routers see a registry change `propagation` after it is written; traffic
//! is routed by what the routers see. A route's routers hold one or more
//! *views* with a share of its traffic each: normally one, but routers that
//! never received a change keep the old view. Every call the procedure
//! makes passes through the plan's faults. The world is the procedure's
//! [`Staging`] port in simulated drills.

use std::collections::BTreeMap;

use crate::drill::{PageOutcome, Staging, WriteAck};
use crate::faults::{self, Fault, Hook, RegistryCall};
use crate::scenario::{Behaviour, Candidate, Dur, Plan};

use super::traffic::TrafficRng;
use crate::metrics::{self, Observation, Series, TICK_MS, observe};
use crate::registry::{Registry, RegistryError};
use crate::timeline::{Counts, Timeline};

/// A router view: its share of the route's traffic and what it routes by.
type View = (f64, Vec<Candidate>);

struct InFlight {
    at: u64,
    route: String,
    candidates: Vec<Candidate>,
    /// The share of routers that never receive this change.
    stuck: f64,
}

pub struct World<'p> {
    plan: &'p Plan,
    faults: Vec<Box<dyn Fault>>,
    registry: Registry,
    routers: BTreeMap<String, Vec<View>>,
    in_flight: Vec<InFlight>,
    series: BTreeMap<(String, String), Series>,
    rng: TrafficRng,
    replay_rng: TrafficRng,
    next_tick: u64,
    keep_ticks: u64,
    baselines: BTreeMap<String, Observation>,
    onset_at: u64,
    first_write_at: Option<u64>,
    /// The coordinated change route writes belong to now, if any.
    change_id: Option<String>,
    pub timeline: Timeline,
    pub impacted_requests: u64,
    pub total_requests: u64,
}

impl<'p> World<'p> {
    pub fn new(plan: &'p Plan) -> World<'p> {
        let routers = plan
            .registry
            .routes
            .iter()
            .map(|r| (r.name.clone(), vec![(1.0, r.candidates.clone())]))
            .collect();
        let faults = faults::build(plan);
        let mut registry = Registry::new(&plan.registry);
        for f in &faults {
            f.apply(&mut Hook::Setup {
                registry: &mut registry,
            });
        }
        World {
            plan,
            faults,
            registry,
            routers,
            in_flight: Vec::new(),
            series: BTreeMap::new(),
            rng: TrafficRng::new(plan.seed),
            replay_rng: TrafficRng::stream(plan.seed, 1),
            next_tick: 0,
            // A lagged read looks back `window` from `now - lag`.
            keep_ticks: (plan.policy.window.0 + max_lag(plan)).div_ceil(TICK_MS),
            baselines: BTreeMap::new(),
            onset_at: plan.release.at.0 + plan.release.onset.0,
            first_write_at: None,
            change_id: None,
            timeline: Timeline::new(TICK_MS),
            impacted_requests: 0,
            total_requests: 0,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// What the world counted, for the outcome.
    pub fn measured(&self) -> crate::outcome::Measured {
        crate::outcome::Measured {
            impacted_requests: self.impacted_requests,
            total_requests: self.total_requests,
            audit: self.registry.audit().to_vec(),
            timeline: self.timeline.clone(),
        }
    }

    fn hook(&self, mut hook: Hook<'_>) {
        for f in &self.faults {
            f.apply(&mut hook);
        }
    }

    fn behaviour(&self, version: &str, now: u64) -> Option<Behaviour> {
        let mut b = if let Some(release) = self.plan.release_of(version) {
            if now >= release.at.0 + release.onset.0 {
                release.regressed
            } else {
                release.healthy
            }
        } else {
            *self.plan.traffic.behaviour_of(version)?
        };
        self.hook(Hook::Behaviour {
            version,
            now,
            behaviour: &mut b,
        });
        Some(b)
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
        let routes: Vec<String> = self.routers.keys().cloned().collect();
        for route in routes {
            let n = self.rng.arrivals(self.plan.traffic.rps);
            self.total_requests += n;
            // Per version: requests over every view, in a fixed order.
            let mut served: BTreeMap<String, u64> = BTreeMap::new();
            let views = self.routers[&route].clone();
            let view_shares: Vec<f64> = views.iter().map(|(s, _)| s * 100.0).collect();
            let per_view = self.rng.split(n, &view_shares);
            for ((_, candidates), k) in views.iter().zip(per_view) {
                let weights: Vec<f64> = candidates.iter().map(|c| c.weight).collect();
                let shares = self.rng.split(k, &weights);
                for (cand, share) in candidates.iter().zip(shares) {
                    if cand.weight > 0.0 {
                        *served.entry(cand.version.clone()).or_default() += share;
                    }
                }
            }
            for (version, share) in served {
                let Some(behaviour) = self.behaviour(&version, start) else {
                    continue;
                };
                if route == release.route && version == release.version && start >= self.onset_at {
                    self.impacted_requests += share;
                } else if self.plan.release_set.is_some()
                    && let Some(rel) = self.plan.release_of(&version)
                    && rel.route == route
                    && start >= rel.at.0 + rel.onset.0
                {
                    self.impacted_requests += share;
                }
                let series = self
                    .series
                    .entry((route.clone(), version.clone()))
                    .or_default();
                let (errors, good) =
                    self.rng
                        .serve(series, tick, self.keep_ticks, share, &behaviour);
                if route == release.route {
                    let counts = Counts {
                        requests: share,
                        errors,
                        good,
                    };
                    self.timeline.add(start, &version, counts);
                    if let Some(slot) = series.slots.back() {
                        self.timeline.add_latency(
                            start,
                            &version,
                            slot.latency
                                .iter()
                                .map(|&(b, w)| (crate::metrics::bucket_ms(b), w)),
                        );
                    }
                }
            }
        }
    }

    fn apply_arrived(&mut self, now: u64) {
        let (due, later): (Vec<InFlight>, Vec<InFlight>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|f| f.at <= now);
        self.in_flight = later;
        for f in due {
            apply_view(
                self.routers.entry(f.route).or_default(),
                f.candidates,
                f.stuck,
            );
        }
    }

    /// The deployer ships canary step `step` of the release.
    pub fn release_step(&mut self, now: u64, step: usize) {
        self.ship(now, self.plan.release.clone(), step);
    }

    /// The deployer ships canary step `step` of change `change` of the
    /// release set.
    pub fn change_step(&mut self, now: u64, change: usize, step: usize) {
        let rel = self.plan.releases()[change].clone();
        self.ship(now, rel, step);
    }

    fn ship(&mut self, now: u64, rel: crate::scenario::ReleasePlan, step: usize) {
        let rel = &rel;
        // Deployers know a moved route by its new name.
        let route = self.registry.current_name(&rel.route).to_string();
        if step == 0 {
            let from = now.saturating_sub(self.plan.policy.window.0);
            let base = self.route_metrics_raw(now, &rel.route, from);
            self.baselines.insert(rel.route.clone(), base);
            let _ = self.registry.add_version(&route, &rel.version);
        }
        let share = rel.schedule[step].1 * 100.0;
        let Ok(current) = self.registry.candidates(&route) else {
            return;
        };
        let next = rel.canary(current, step);
        let reason = format!("release {} at {}%", rel.version, share);
        if self
            .registry
            .write(now, &route, next.clone(), "deployer", &reason)
            .is_ok()
        {
            self.in_flight.push(InFlight {
                at: now + self.plan.registry.propagation.0,
                route: rel.route.clone(),
                candidates: next,
                stuck: 0.0,
            });
        }
    }

    fn window_ticks(&self, now: u64, since: u64) -> (u64, u64) {
        let window_start = now.saturating_sub(self.plan.policy.window.0);
        metrics::tick_range(since.max(window_start), now)
    }

    /// When the procedure's metrics read at `now` describes, or `None` if
    /// no metrics arrive.
    fn metrics_time(&self, now: u64) -> Option<u64> {
        let mut read_at = now;
        let mut missing = false;
        self.hook(Hook::Metrics {
            now,
            read_at: &mut read_at,
            missing: &mut missing,
        });
        (!missing).then_some(read_at)
    }

    fn route_metrics_raw(&self, now: u64, route: &str, since: u64) -> Observation {
        let (from, to) = self.window_ticks(now, since);
        let series = self
            .series
            .iter()
            .filter(|((r, _), _)| r == route)
            .map(|(_, s)| s);
        observe(series, from, to)
    }

    /// A registry call at `now` through the faults: `Err` if refused.
    fn call(&self, now: u64, write: bool) -> Result<Dur, RegistryError> {
        let mut call = RegistryCall {
            now,
            write,
            first_write_at: self.first_write_at,
            ..RegistryCall::default()
        };
        self.hook(Hook::RegistryCall(&mut call));
        if let Some(until_ms) = call.unavailable_until {
            let timed_out_ms = if call.hangs {
                crate::faults::CALL_TIMEOUT.0
            } else {
                0
            };
            return Err(RegistryError::Unavailable {
                until_ms,
                timed_out_ms,
            });
        }
        if let Some(repaired_ms) = call.repaired_at {
            return Err(RegistryError::ConfigMismatch { repaired_ms });
        }
        Ok(call.extra)
    }
}

fn max_lag(plan: &Plan) -> u64 {
    plan.faults
        .iter()
        .map(|f| match f {
            crate::scenario::FaultSpec::MetricsLag { lag } => lag.0,
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

/// Routers that receive a change take it; `stuck` of them keep what they had.
fn apply_view(views: &mut Vec<View>, candidates: Vec<Candidate>, stuck: f64) {
    if stuck <= 0.0 {
        *views = vec![(1.0, candidates)];
        return;
    }
    for (share, _) in views.iter_mut() {
        *share *= stuck;
    }
    views.insert(0, (1.0 - stuck, candidates));
    views.retain(|(share, _)| *share > 0.0);
}

const MISSING: Observation = Observation {
    requests: 0,
    errors: 0,
    good: 0,
    error_rate: 0.0,
    quality: 0.0,
    p50_ms: 0.0,
    p99_ms: 0.0,
    missing: true,
};

impl Staging for World<'_> {
    fn version_metrics(&self, now: u64, route: &str, version: &str, window: Dur) -> Observation {
        let Some(at) = self.metrics_time(now) else {
            return MISSING;
        };
        let (from, to) = self.window_ticks(at, at.saturating_sub(window.0));
        match self.series.get(&(route.to_string(), version.to_string())) {
            Some(s) => observe([s], from, to),
            None => Observation::default(),
        }
    }

    fn route_metrics(&self, now: u64, route: &str, since: u64) -> Observation {
        match self.metrics_time(now) {
            Some(at) => self.route_metrics_raw(at, route, since),
            None => MISSING,
        }
    }

    fn baseline(&self, route: &str) -> Option<Observation> {
        self.baselines.get(route).copied()
    }

    fn read_delay(&self, now: u64) -> Dur {
        self.call(now, false).unwrap_or(Dur::ZERO)
    }

    fn page(&self, now: u64) -> PageOutcome {
        let mut delivered = true;
        let mut escalate_after = Dur::ZERO;
        self.hook(Hook::Page {
            now,
            delivered: &mut delivered,
            escalate_after: &mut escalate_after,
        });
        PageOutcome {
            delivered,
            escalate_after,
        }
    }

    fn serving_share(&self, now: u64, route: &str, version: &str) -> f64 {
        let mut views = self.routers.get(route).cloned().unwrap_or_default();
        for f in self
            .in_flight
            .iter()
            .filter(|f| f.at <= now && f.route == route)
        {
            apply_view(&mut views, f.candidates.clone(), f.stuck);
        }
        views
            .iter()
            .map(|(share, cands)| {
                share
                    * cands
                        .iter()
                        .filter(|c| c.version == version)
                        .map(|c| c.weight / 100.0)
                        .sum::<f64>()
            })
            .sum()
    }

    fn candidates(&self, now: u64, route: &str) -> Result<Vec<Candidate>, RegistryError> {
        self.call(now, false)?;
        self.registry.candidates(route).map(<[Candidate]>::to_vec)
    }

    fn versions(&self, now: u64, route: &str) -> Result<Vec<String>, RegistryError> {
        self.call(now, false)?;
        self.registry.versions(route).map(<[String]>::to_vec)
    }

    fn previous_candidates(
        &self,
        now: u64,
        route: &str,
        bad: &str,
    ) -> Result<Option<Vec<Candidate>>, RegistryError> {
        self.call(now, false)?;
        self.registry.previous_candidates(route, bad)
    }

    fn add_version(&mut self, now: u64, route: &str, version: &str) -> Result<(), RegistryError> {
        self.first_write_at.get_or_insert(now);
        self.call(now, true)?;
        self.registry.add_version(route, version)
    }

    fn replay(&mut self, now: u64, _route: &str, version: &str, requests: u64) -> Observation {
        let Some(behaviour) = self.behaviour(version, now) else {
            return Observation::default();
        };
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
        let Some(at) = self.metrics_time(now) else {
            return (0.0, 0);
        };
        let (from, to) = self.window_ticks(at, at.saturating_sub(window.0));
        match self.series.get(&(route.to_string(), version.to_string())) {
            Some(s) => metrics::share_slower_than(s, from, to, ms),
            None => (0.0, 0),
        }
    }

    fn set_change_id(&mut self, id: Option<&str>) {
        self.change_id = id.map(str::to_string);
    }

    fn write_route(
        &mut self,
        now: u64,
        route: &str,
        candidates: Vec<Candidate>,
        actor: &str,
        reason: &str,
    ) -> Result<WriteAck, RegistryError> {
        self.first_write_at.get_or_insert(now);
        let extra = self.call(now, true)?;
        let acked_at = now + self.plan.registry.write_latency.0 + extra.0;
        self.registry
            .write(acked_at, route, candidates.clone(), actor, reason)?;
        if let Some(id) = &self.change_id {
            self.registry.tag_last(id);
        }
        let mut late = Dur::ZERO;
        let mut stuck = 0.0;
        self.hook(Hook::Propagation {
            extra: &mut late,
            stuck_share: &mut stuck,
        });
        let converged_at = acked_at + self.plan.registry.propagation.0 + late.0;
        self.in_flight.push(InFlight {
            at: converged_at,
            route: route.to_string(),
            candidates,
            stuck,
        });
        Ok(WriteAck {
            acked_at,
            converged_at,
        })
    }
}
