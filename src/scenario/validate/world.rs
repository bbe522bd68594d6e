//! The registry, traffic and release sections: routes and weights, versions, behaviours, the change under test.

use super::*;

impl Checker<'_> {
    pub(super) fn registry(&mut self, raw: RawRegistry) -> Option<RegistryPlan> {
        let base = Path::root().key("registry");
        let mut ok = true;
        if raw.routes.is_empty() {
            self.error(
                &base.key("routes"),
                "the registry has no routes",
                "add at least the route the release goes to",
            );
            ok = false;
        }
        let mut routes = Vec::new();
        for (name, route) in &raw.routes {
            let path = base.key("routes").key(name).key("candidates");
            if route.candidates.is_empty() {
                self.error(
                    &path,
                    format!("route `{name}` has no candidates"),
                    "add the version that serves the route before the release",
                );
                ok = false;
                continue;
            }
            for (i, cand) in route.candidates.iter().enumerate() {
                if cand.weight > 100 {
                    self.error(
                        &path.index(i).key("weight"),
                        format!("weight {} is above 100", cand.weight),
                        "weights are whole percents of the route's traffic, 0 to 100",
                    );
                    ok = false;
                }
            }
            let sum: u64 = route.candidates.iter().map(|c| u64::from(c.weight)).sum();
            if sum != 100 {
                self.error(
                    &path,
                    format!("weights of route `{name}` sum to {sum}, expected 100"),
                    "adjust the candidates' `weight` values so they add up to 100",
                );
                ok = false;
            }
            for (i, cand) in route.candidates.iter().enumerate() {
                let dup = route.candidates[..i]
                    .iter()
                    .any(|c| c.version_pin == cand.version_pin);
                if dup {
                    self.error(
                        &path.index(i).key("version_pin"),
                        format!(
                            "version `{}` is listed twice on route `{name}`",
                            cand.version_pin
                        ),
                        "list each version once and give it the combined weight",
                    );
                    ok = false;
                }
            }
            let mut versions = raw.versions.get(name).cloned().unwrap_or_default();
            for cand in &route.candidates {
                if !versions.contains(&cand.version_pin) {
                    versions.push(cand.version_pin.clone());
                }
            }
            routes.push(RoutePlan {
                name: name.clone(),
                candidates: route
                    .candidates
                    .iter()
                    .map(|c| Candidate {
                        id: c.id.clone(),
                        version: c.version_pin.clone(),
                        weight: f64::from(c.weight),
                    })
                    .collect(),
                versions,
            });
        }
        let names: Vec<&str> = raw.routes.keys().map(String::as_str).collect();
        for route in raw.versions.keys() {
            if !raw.routes.contains_key(route) {
                self.error(
                    &base.key("versions").key(route),
                    format!("versions listed for unknown route `{route}`"),
                    suggest_owned(route, &names),
                );
                ok = false;
            }
        }
        let keep_last = raw.retention.map(|r| r.keep_last).unwrap_or(3);
        if keep_last == 0 {
            self.error(
                &base.key("retention").key("keep_last"),
                "retention keep_last is 0: no version would stay available",
                "keep at least 2 versions so the previous one can be rolled back to",
            );
            ok = false;
        }
        ok.then_some(RegistryPlan {
            routes,
            keep_last,
            propagation: raw.propagation.unwrap_or(Dur::ZERO),
            write_latency: raw.write_latency.unwrap_or(Dur::from_secs(1)),
        })
    }

    pub(super) fn behaviour(&mut self, raw: &RawBehaviour, path: &Path) -> Option<Behaviour> {
        let b = Behaviour {
            error_rate: raw.error_rate.fraction(),
            quality: raw.quality.fraction(),
            p50: raw.latency.p50,
            p99: raw.latency.p99,
        };
        self.check_latency(b, path).then_some(b)
    }

    pub(super) fn check_latency(&mut self, b: Behaviour, path: &Path) -> bool {
        if b.p50 == Dur::ZERO || b.p99 < b.p50 {
            self.error(
                &path.key("latency"),
                format!(
                    "latency p50 {} and p99 {} are not a distribution",
                    b.p50, b.p99
                ),
                "p50 must be above 0 and p99 at least p50",
            );
            return false;
        }
        true
    }

    pub(super) fn traffic(
        &mut self,
        raw: &RawTraffic,
        registry: &RegistryPlan,
    ) -> Option<TrafficPlan> {
        let base = Path::root().key("traffic");
        let mut ok = true;
        if !(raw.rps.is_finite() && raw.rps > 0.0 && raw.rps <= 1_000_000.0) {
            self.error(
                &base.key("rps"),
                format!(
                    "rps must be above 0 and at most 1,000,000, found {}",
                    raw.rps
                ),
                "set the synthetic traffic rate, e.g. `rps: 20`",
            );
            ok = false;
        }
        let mut behaviour = Vec::new();
        for (version, b) in &raw.behaviour {
            match self.behaviour(b, &base.key("behaviour").key(version)) {
                Some(b) => behaviour.push((version.clone(), b)),
                None => ok = false,
            }
        }
        for route in &registry.routes {
            for (i, cand) in route.candidates.iter().enumerate() {
                if !raw.behaviour.contains_key(&cand.version) {
                    self.error(
                        &Path::root()
                            .key("registry")
                            .key("routes")
                            .key(&route.name)
                            .key("candidates")
                            .index(i)
                            .key("version_pin"),
                        format!("version `{}` has no behaviour", cand.version),
                        format!(
                            "add `{}: {{error_rate: 0.5%, latency: {{p50: 900ms, p99: 2.5s}}, quality: 86%}}` under traffic.behaviour",
                            cand.version
                        ),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(TrafficPlan {
            rps: raw.rps,
            behaviour,
            golden: Default::default(),
        })
    }

    pub(super) fn release(
        &mut self,
        raw: RawRelease,
        base: &Path,
        registry: &RegistryPlan,
        traffic: &TrafficPlan,
        policy: &PolicyPlan,
        duration: Dur,
    ) -> Option<ReleasePlan> {
        let base = base.clone();
        let Some(route) = registry.routes.iter().find(|r| r.name == raw.route) else {
            let names: Vec<&str> = registry.routes.iter().map(|r| r.name.as_str()).collect();
            self.error(
                &base.key("route"),
                format!("release route `{}` is not in the registry", raw.route),
                suggest_owned(&raw.route, &names),
            );
            return None;
        };
        let mut ok = true;
        if route.versions.contains(&raw.version) {
            self.error(
                &base.key("version"),
                format!(
                    "release version `{}` already exists on route `{}`",
                    raw.version, route.name
                ),
                "release a version the registry does not hold yet (a drill rolls a new version back)",
            );
            ok = false;
        }
        if raw.at >= duration {
            self.error(
                &base.key("at"),
                format!(
                    "release at {} is not before the drill's end ({duration})",
                    raw.at
                ),
                "release earlier or make `duration` longer",
            );
            ok = false;
        }
        if raw.at < policy.window {
            self.error(
                &base.key("at"),
                format!(
                    "release at {} leaves no full baseline window ({}) before it",
                    raw.at, policy.window
                ),
                format!(
                    "release at {} or later so the stable version's baseline can be measured",
                    policy.window
                ),
            );
            ok = false;
        }
        let onset = raw.onset.unwrap_or(Dur::ZERO);
        if raw.at.0 + onset.0 >= duration.0 && raw.at < duration {
            self.error(
                &base.key("onset"),
                format!("onset {onset} after release falls after the drill's end"),
                "shorten `onset` or make `duration` longer",
            );
            ok = false;
        }
        let schedule = match (raw.weight, raw.steps, raw.step_every) {
            (Some(_), Some(_), _) => {
                self.error(
                    &base.key("steps"),
                    "release has both `weight` and `steps`",
                    "use `weight` for one canary share, or `steps` with `step_every` for a staged canary",
                );
                None
            }
            (w, None, every) => {
                if every.is_some() {
                    self.error(
                        &base.key("step_every"),
                        "`step_every` without `steps`",
                        "add `steps: [1%, 5%, 25%, 100%]` or remove `step_every`",
                    );
                    ok = false;
                }
                let w = w.unwrap_or(Percent(1.0));
                if w.fraction() <= 0.0 {
                    self.error(
                        &base.key("weight"),
                        "release weight is 0%: the release would serve nothing",
                        "give the canary a share above 0%, e.g. `25%`",
                    );
                    ok = false;
                }
                Some(vec![(Dur::ZERO, w.fraction())])
            }
            (None, Some(steps), every) => {
                let every = every.unwrap_or(Dur::ZERO);
                if every == Dur::ZERO {
                    self.error(
                        &base.key("steps"),
                        "`steps` without a positive `step_every`",
                        "add `step_every: 10m` (time between canary steps)",
                    );
                    ok = false;
                }
                let increasing = steps.windows(2).all(|w| w[0].0 < w[1].0);
                if steps.is_empty() || !increasing || steps[0].fraction() <= 0.0 {
                    self.error(
                        &base.key("steps"),
                        "canary steps must be above 0% and increase",
                        "write them in order, e.g. `[1%, 5%, 25%, 100%]`",
                    );
                    ok = false;
                }
                Some(
                    steps
                        .iter()
                        .enumerate()
                        .map(|(i, s)| (Dur(every.0 * i as u64), s.fraction()))
                        .collect(),
                )
            }
        };
        let stable = route
            .candidates
            .iter()
            .max_by(|a, b| a.weight.total_cmp(&b.weight))
            .and_then(|c| traffic.behaviour_of(&c.version))
            .copied()?;
        let patch = raw.behaviour;
        let regressed = Behaviour {
            error_rate: patch
                .error_rate
                .map_or(stable.error_rate, Percent::fraction),
            quality: patch.quality.map_or(stable.quality, Percent::fraction),
            p50: patch.latency.map_or(stable.p50, |l| l.p50),
            p99: patch.latency.map_or(stable.p99, |l| l.p99),
        };
        ok &= self.check_latency(regressed, &base.key("behaviour"));
        let schedule = schedule?;
        ok.then(|| ReleasePlan {
            id: raw
                .id
                .unwrap_or_else(|| format!("{}:{}", route.name, raw.version)),
            route: route.name.clone(),
            version: raw.version,
            at: raw.at,
            schedule,
            healthy: stable,
            regressed,
            onset,
        })
    }
}
