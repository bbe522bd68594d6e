//! Raw scenario → [`Plan`], collecting every problem on the way.
//!
//! The raw pass deserializes each top-level section (and each list item of
//! the procedure, faults and triggers) separately, so a typo in `policy`
//! still lets us check `procedure`. The semantic pass then resolves names
//! and checks what serde cannot: weights that sum to 100, a release that is
//! really new, a procedure that actually executes a rollback. Problems are
//! located through the node tree by their field path.

mod staging;
mod team;

use std::path::Path as FsPath;

use serde::de::DeserializeOwned;

use super::diagnostic::Diagnostic;
use super::plan::*;
use super::raw::*;
use super::units::{Dur, Percent};
use super::vocab::*;
use super::yaml::{self, DeError, Node, NodeKind, Path, suggest};

pub fn validate(text: &str, file: &FsPath) -> Result<Plan, Vec<Diagnostic>> {
    let root = match yaml::parse(text) {
        Ok(root) => root,
        Err(e) => {
            return Err(vec![Diagnostic::new(
                file,
                e.mark,
                "(document)".into(),
                format!("invalid YAML: {}", e.message),
                e.hint.into(),
            )]);
        }
    };
    let mut c = Checker {
        file,
        root: &root,
        diags: Vec::new(),
        env_refs: Vec::new(),
    };
    let raw = c.read_raw();
    let plan = c.plan(raw, text);
    match plan {
        Some(plan) if c.diags.is_empty() => Ok(plan),
        _ => {
            c.diags.sort_by_key(|d| (d.line, d.column));
            Err(c.diags)
        }
    }
}

struct Checker<'a> {
    file: &'a FsPath,
    root: &'a Node,
    diags: Vec<Diagnostic>,
    /// Every `${NAME}` met so far, located.
    env_refs: Vec<EnvRef>,
}

impl Checker<'_> {
    /// A polling step's `every` and `within` (defaults 5s and 5m): a
    /// positive interval no longer than `within`.
    fn poll_interval(
        &mut self,
        path: &Path,
        step: &str,
        every: Option<Dur>,
        within: Option<Dur>,
    ) -> Option<(Dur, Dur)> {
        let every = every.unwrap_or(Dur::from_secs(5));
        let within = within.unwrap_or(Dur::from_mins(5));
        if every == Dur::ZERO || within < every {
            self.error(
                &path.key("every"),
                format!("{step} polls every {every} within {within}"),
                "poll at a positive interval no longer than `within`",
            );
            return None;
        }
        Some((every, within))
    }

    fn error(&mut self, path: &Path, message: impl Into<String>, hint: impl Into<String>) {
        let mark = self.root.locate(path);
        self.diags.push(Diagnostic::new(
            self.file,
            mark,
            path.to_string(),
            message.into(),
            hint.into(),
        ));
    }

    fn de_error(&mut self, e: DeError, fallback: &Path) {
        let path = e.path.clone().unwrap_or_else(|| fallback.clone());
        let mark = e.mark.unwrap_or_else(|| self.root.locate(&path));
        let hint = e.hint.clone().unwrap_or_else(|| hint_for(&e.message));
        self.diags.push(Diagnostic::new(
            self.file,
            mark,
            path.to_string(),
            e.message,
            hint,
        ));
    }

    fn field<T: DeserializeOwned>(&mut self, node: &Node, path: &Path) -> Option<T> {
        match yaml::from_node(node, path) {
            Ok(v) => Some(v),
            Err(e) => {
                self.de_error(e, path);
                None
            }
        }
    }

    /// A list read item by item; `None` if any item is invalid (so later
    /// checks do not pile follow-on errors onto a half-read list).
    fn list<T: DeserializeOwned>(&mut self, node: &Node, path: &Path) -> Option<Vec<T>> {
        match &node.kind {
            NodeKind::Seq(items) => {
                let mut out = Vec::new();
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match self.field(item, &path.index(i)) {
                        Some(v) => out.push(v),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            NodeKind::Null => Some(Vec::new()),
            _ => {
                self.error(
                    path,
                    format!("expected a list, found {}", node.describe()),
                    "write one `- item` per line",
                );
                None
            }
        }
    }

    fn read_raw(&mut self) -> RawScenario {
        let mut raw = RawScenario::default();
        let entries = match &self.root.kind {
            NodeKind::Map(entries) => entries,
            NodeKind::Null => {
                self.error(
                    &Path::root(),
                    "the scenario file is empty",
                    "start from `rollback-drill schema` or a file in scenarios/",
                );
                return raw;
            }
            _ => {
                self.error(
                    &Path::root(),
                    format!(
                        "a scenario is a mapping of fields, found {}",
                        self.root.describe()
                    ),
                    "start from a file in scenarios/",
                );
                return raw;
            }
        };
        for (key, value) in entries {
            let name = key.as_str().unwrap_or("");
            let path = Path::root().key(name);
            match name {
                "name" => raw.name = self.field(value, &path),
                "description" => raw.description = self.field(value, &path),
                "change" => raw.change = self.field(value, &path),
                "seed" => raw.seed = self.field(value, &path),
                "duration" => raw.duration = self.field(value, &path),
                "registry" => raw.registry = self.field(value, &path),
                "traffic" => raw.traffic = self.field(value, &path),
                "release" => raw.release = self.field(value, &path),
                "policy" => raw.policy = self.read_policy(value, &path),
                "responders" => raw.responders = self.field(value, &path),
                "procedure" => raw.procedure = self.list(value, &path),
                "faults" => raw.faults = self.list(value, &path),
                "targets" => raw.targets = self.field(value, &path),
                "drift" => raw.drift = self.field(value, &path),
                "expect" => raw.expect = self.field(value, &path),
                "metrics" => raw.metrics = self.field(value, &path),
                "staging" => raw.staging = self.field(value, &path),
                other => self.error(
                    &path,
                    format!("unknown field `{other}`"),
                    suggest(other, SCENARIO_FIELDS),
                ),
            }
        }
        for (field, hint) in [
            (
                "change",
                "add `change:` with one of prompt, model, agent_code, eval, data",
            ),
            (
                "duration",
                "add `duration:`, the simulated horizon, e.g. `3h`",
            ),
            (
                "registry",
                "add `registry:` with the routes before the release",
            ),
            (
                "traffic",
                "add `traffic:` with `rps` and each version's behaviour",
            ),
            ("release", "add `release:`, the change under test"),
            ("procedure", "add `procedure:`, the runbook's steps"),
        ] {
            let present = entries.iter().any(|(k, _)| k.as_str() == Some(field));
            if !present {
                self.diags.push(Diagnostic::new(
                    self.file,
                    yaml::Mark { line: 1, column: 1 },
                    field.to_string(),
                    format!("missing field `{field}`"),
                    hint.to_string(),
                ));
            }
        }
        raw
    }

    /// `policy` with its trigger list read item by item.
    fn read_policy(&mut self, node: &Node, path: &Path) -> Option<RawPolicy> {
        let triggers_node = node.as_map().and_then(|entries| {
            entries
                .iter()
                .find(|(k, _)| k.as_str() == Some("triggers"))
                .map(|(_, v)| v)
        });
        let Some(triggers_node) = triggers_node else {
            return self.field(node, path);
        };
        let triggers = self.list::<RawTrigger>(triggers_node, &path.key("triggers"));
        let NodeKind::Map(entries) = &node.kind else {
            return None;
        };
        let rest = Node {
            kind: NodeKind::Map(
                entries
                    .iter()
                    .filter(|(k, _)| k.as_str() != Some("triggers"))
                    .cloned()
                    .collect(),
            ),
            mark: node.mark,
        };
        let mut policy: RawPolicy = self.field(&rest, path)?;
        policy.triggers = Some(triggers?);
        Some(policy)
    }

    fn plan(&mut self, raw: RawScenario, text: &str) -> Option<Plan> {
        let name = raw.name.clone().unwrap_or_else(|| {
            self.file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".into())
        });
        if name.trim().is_empty() {
            self.error(
                &Path::root().key("name"),
                "the scenario name is empty",
                "name the scenario, or leave `name` out to use the file's stem",
            );
        }
        let duration = raw.duration;
        if duration == Some(Dur::ZERO) {
            self.error(
                &Path::root().key("duration"),
                "duration is 0s (durations are whole milliseconds)",
                "give the drill time to run, e.g. `3h`",
            );
        }
        if duration.is_some_and(|d| d > Dur::from_mins(30 * 24 * 60)) {
            self.error(
                &Path::root().key("duration"),
                format!(
                    "duration {} is longer than 30 days",
                    duration.unwrap_or_default()
                ),
                "a drill's horizon is hours or days; split longer studies",
            );
        }
        let policy = self.policy(raw.policy.unwrap_or_default());
        let registry = raw.registry.and_then(|r| self.registry(r));
        let mut traffic = match (&raw.traffic, &registry) {
            (Some(t), Some(reg)) => self.traffic(t, reg),
            _ => None,
        };
        let release = match (raw.release, &registry, &traffic, &policy, duration) {
            (Some(rel), Some(reg), Some(tr), Some(pol), Some(dur)) => {
                self.release(rel, reg, tr, pol, dur)
            }
            _ => None,
        };
        let responders = self.responders(
            raw.responders.unwrap_or_default(),
            release.as_ref(),
            registry.as_ref(),
            traffic.as_mut(),
        );
        let metrics = match raw.metrics {
            Some(m) => self.metrics(m).map(Some),
            None => Some(None),
        };
        let procedure = match (raw.procedure, &registry, &traffic, &release) {
            (Some(steps), Some(reg), Some(tr), Some(rel)) => {
                let source = metrics.as_ref().and_then(Option::as_ref);
                self.procedure(steps, reg, tr, rel, source)
            }
            _ => None,
        };
        let staging = self.staging(raw.staging, registry.as_ref(), release.as_ref());
        let golden = self.golden(raw.traffic.as_ref().and_then(|t| t.golden.as_deref()));
        let faults = match (raw.faults, &release, &registry) {
            (Some(list), Some(rel), Some(reg)) => self.faults(list, rel, reg, traffic.as_ref()),
            (None, _, _) => Some(Vec::new()),
            _ => None,
        };
        let drift = match raw.drift {
            Some(d) => {
                let runs = d.runs.unwrap_or(5);
                if runs == 0 {
                    self.error(
                        &Path::root().key("drift").key("runs"),
                        "drift runs is 0: there would be nothing to compare with",
                        "compare with the median of a few recent passing runs, e.g. `runs: 5`",
                    );
                }
                DriftPolicy {
                    runs: runs.max(1) as usize,
                    tolerance: d.tolerance.map_or(0.25, |t| t.0.fraction()),
                }
            }
            None => DriftPolicy::default(),
        };
        let restore_target = match raw.targets.and_then(|t| t.restore) {
            Some(Dur::ZERO) => {
                self.error(
                    &Path::root().key("targets").key("restore"),
                    "restore target is 0s",
                    "give a positive target, or leave it out for the change type's default",
                );
                None
            }
            Some(t) => Some(t),
            None => raw.change.map(ChangeType::default_restore_target),
        };
        let expect = raw.expect.unwrap_or_default();
        let procedure_hash = procedure
            .as_ref()
            .map(|p| fnv_hex(format!("{p:?}").as_bytes()));
        Some(Plan {
            name,
            description: raw.description.unwrap_or_default(),
            file: self.file.to_path_buf(),
            scenario_hash: fnv_hex(text.as_bytes()),
            procedure_hash: procedure_hash?,
            change: raw.change?,
            seed: raw.seed.unwrap_or(0),
            duration: duration?,
            registry: registry?,
            traffic: TrafficPlan {
                golden: golden?,
                ..traffic?
            },
            release: release?,
            policy: policy?,
            responders: responders?,
            procedure: procedure?,
            faults: faults?,
            restore_target: restore_target?,
            drift,
            expect: Expect {
                rollback: expect.rollback,
                severity: expect.severity,
                verdict: expect.verdict,
                findings: expect.findings.unwrap_or_default(),
            },
            metrics: metrics?,
            staging: staging?,
            env_refs: {
                let mut refs = std::mem::take(&mut self.env_refs);
                refs.sort_by_key(|r| (r.line, r.column));
                refs
            },
        })
    }

    fn registry(&mut self, raw: RawRegistry) -> Option<RegistryPlan> {
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

    fn behaviour(&mut self, raw: &RawBehaviour, path: &Path) -> Option<Behaviour> {
        let b = Behaviour {
            error_rate: raw.error_rate.fraction(),
            quality: raw.quality.fraction(),
            p50: raw.latency.p50,
            p99: raw.latency.p99,
        };
        self.check_latency(b, path).then_some(b)
    }

    fn check_latency(&mut self, b: Behaviour, path: &Path) -> bool {
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

    fn traffic(&mut self, raw: &RawTraffic, registry: &RegistryPlan) -> Option<TrafficPlan> {
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

    fn release(
        &mut self,
        raw: RawRelease,
        registry: &RegistryPlan,
        traffic: &TrafficPlan,
        policy: &PolicyPlan,
        duration: Dur,
    ) -> Option<ReleasePlan> {
        let base = Path::root().key("release");
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

    fn policy(&mut self, raw: RawPolicy) -> Option<PolicyPlan> {
        let base = Path::root().key("policy");
        let mut ok = true;
        let evaluate_every = raw.evaluate_every.unwrap_or(Dur::from_secs(30));
        let window = raw.window.unwrap_or(Dur::from_mins(5));
        if evaluate_every < Dur::from_secs(1) {
            self.error(
                &base.key("evaluate_every"),
                format!("evaluate_every {evaluate_every} is below 1s, the traffic's resolution"),
                "evaluate the policy periodically, e.g. every `30s`",
            );
            ok = false;
        }
        if window < evaluate_every {
            self.error(
                &base.key("window"),
                format!("window {window} is shorter than evaluate_every {evaluate_every}"),
                "use a window at least as long as the evaluation interval",
            );
            ok = false;
        }
        let triggers = match raw.triggers {
            Some(list) => {
                let mut out = Vec::new();
                for (i, t) in list.into_iter().enumerate() {
                    let path = base.key("triggers").index(i);
                    if t.action == Action::Observe && t.observe_for.is_none() {
                        self.error(
                            &path.key("observe_for"),
                            "action `observe` needs `observe_for`",
                            "add how long to watch, e.g. `observe_for: 1h`",
                        );
                        ok = false;
                    }
                    if t.observe_for.is_some() && t.action != Action::Observe {
                        self.error(
                            &path.key("observe_for"),
                            "`observe_for` only applies to action `observe`",
                            "remove it, or use `action: observe`",
                        );
                        ok = false;
                    }
                    out.push(Trigger {
                        metric: t.metric,
                        above: t.above.0,
                        severity: t.severity,
                        action: t.action,
                        decide_within: t.decide_within,
                        observe_for: t.observe_for,
                    });
                }
                out
            }
            None => default_policy_triggers(),
        };
        let nv = raw.new_version;
        let new_version = NewVersion {
            for_: nv.as_ref().map_or(Dur::from_mins(60), |n| n.for_),
            error_rate_max: nv
                .as_ref()
                .and_then(|n| n.error_rate_max)
                .map(|r| r.0)
                .unwrap_or(Percent(0.005)),
            latency_p99_increase_max: nv
                .as_ref()
                .and_then(|n| n.latency_p99_increase_max)
                .map(|r| r.0)
                .unwrap_or(Percent(0.10)),
            quality_drop_max: nv
                .as_ref()
                .and_then(|n| n.quality_drop_max)
                .map(|r| r.0)
                .unwrap_or(Percent(0.05)),
        };
        let min_requests = raw.min_requests.unwrap_or(50);
        if min_requests == 0 {
            self.error(
                &base.key("min_requests"),
                "min_requests is 0: a trigger could fire on no traffic at all",
                "require a sample, e.g. `min_requests: 50`",
            );
            ok = false;
        }
        ok.then_some(PolicyPlan {
            evaluate_every,
            window,
            min_requests,
            triggers,
            new_version,
        })
    }

    fn responders(
        &mut self,
        raw: RawResponders,
        release: Option<&ReleasePlan>,
        registry: Option<&RegistryPlan>,
        mut traffic: Option<&mut TrafficPlan>,
    ) -> Option<Responders> {
        let base = Path::root().key("responders");
        let mut ok = true;
        let mut one = |c: &mut Self, raw: Option<RawResponder>, key: &str, default: Responder| {
            let Some(r) = raw else { return default };
            let path = base.key(key);
            let decision = r.decision.unwrap_or(default.decision);
            let roll_forward = match (decision, r.roll_forward) {
                (Decision::RollForward, None) => {
                    c.error(
                        &path.key("decision"),
                        "decision `roll_forward` needs a `roll_forward:` block",
                        "add `roll_forward: {version: v2.0.1, behaviour: {error_rate: 0.5%}, ship_after: 8m}`",
                    );
                    ok = false;
                    None
                }
                (Decision::RollForward, Some(rf)) => {
                    let path = path.key("roll_forward");
                    let (Some(rel), Some(reg)) = (release, registry) else {
                        return Responder {
                            decision,
                            ..default
                        };
                    };
                    let held = reg
                        .routes
                        .iter()
                        .find(|r| r.name == rel.route)
                        .is_some_and(|r| r.versions.contains(&rf.version));
                    if held || rf.version == rel.version {
                        c.error(
                            &path.key("version"),
                            format!(
                                "roll-forward version `{}` is not new on route `{}`",
                                rf.version, rel.route
                            ),
                            "roll forward to a fixed version the registry does not hold yet",
                        );
                        ok = false;
                    }
                    let p = &rf.behaviour;
                    let fixed = Behaviour {
                        error_rate: p
                            .error_rate
                            .map_or(rel.healthy.error_rate, Percent::fraction),
                        quality: p.quality.map_or(rel.healthy.quality, Percent::fraction),
                        p50: p.latency.map_or(rel.healthy.p50, |l| l.p50),
                        p99: p.latency.map_or(rel.healthy.p99, |l| l.p99),
                    };
                    ok &= c.check_latency(fixed, &path.key("behaviour"));
                    if let Some(t) = traffic.as_deref_mut() {
                        t.behaviour.retain(|(v, _)| v != &rf.version);
                        t.behaviour.push((rf.version.clone(), fixed));
                        t.behaviour.sort_by(|a, b| a.0.cmp(&b.0));
                    }
                    Some(RollForward {
                        id: format!("{}:{}", rel.route, rf.version),
                        version: rf.version,
                        ship_after: rf.ship_after,
                    })
                }
                (_, Some(_)) => {
                    c.error(
                        &path.key("roll_forward"),
                        format!("`roll_forward` is set but the decision is `{decision}`"),
                        "set `decision: roll_forward`, or remove the block",
                    );
                    ok = false;
                    None
                }
                (_, None) => None,
            };
            Responder {
                ack_after: r.ack_after.unwrap_or(default.ack_after),
                decide_after: r.decide_after.unwrap_or(default.decide_after),
                decision,
                authority: r.authority.unwrap_or(default.authority),
                roll_forward,
            }
        };
        let all = ChangeType::ALL.to_vec();
        let on_call = one(
            self,
            raw.on_call,
            "on_call",
            Responder {
                ack_after: Dur::from_mins(3),
                decide_after: Dur::ZERO,
                decision: Decision::Rollback,
                authority: vec![ChangeType::Prompt, ChangeType::Model],
                roll_forward: None,
            },
        );
        let product = one(
            self,
            raw.product,
            "product",
            Responder {
                ack_after: Dur::ZERO,
                decide_after: Dur::from_mins(20),
                decision: Decision::Rollback,
                authority: all.clone(),
                roll_forward: None,
            },
        );
        let platform_lead = one(
            self,
            raw.platform_lead,
            "platform_lead",
            Responder {
                ack_after: Dur::from_mins(15),
                decide_after: Dur::ZERO,
                decision: Decision::Rollback,
                authority: all,
                roll_forward: None,
            },
        );
        ok.then_some(Responders {
            on_call,
            product,
            platform_lead,
        })
    }

    fn procedure(
        &mut self,
        raw: Vec<RawStep>,
        registry: &RegistryPlan,
        traffic: &TrafficPlan,
        release: &ReleasePlan,
        metrics: Option<&Prometheus>,
    ) -> Option<Vec<Step>> {
        let base = Path::root().key("procedure");
        let mut ok = true;
        let mut steps = Vec::new();
        let executes = raw
            .iter()
            .filter(|s| matches!(s, RawStep::Execute(_)))
            .count();
        if executes == 0 {
            self.error(
                &base,
                "the procedure has no `execute` step: nothing would be rolled back",
                "add `- execute: {mechanism: route_weight}` (or alias_remap for a model)",
            );
            ok = false;
        } else if executes > 1 {
            let second = raw
                .iter()
                .enumerate()
                .filter(|(_, s)| matches!(s, RawStep::Execute(_)))
                .nth(1)
                .map_or(0, |(i, _)| i);
            self.error(
                &base.index(second).key("execute"),
                format!("the procedure has {executes} `execute` steps"),
                "roll back once: keep a single `execute` step",
            );
            ok = false;
        }
        let execute_at = raw.iter().position(|s| matches!(s, RawStep::Execute(_)));
        let route = registry.routes.iter().find(|r| r.name == release.route)?;
        for (i, step) in raw.into_iter().enumerate() {
            let path = base.index(i).key(step.name());
            let after_execute = execute_at.is_some_and(|e| i > e);
            let before_execute = execute_at.is_some_and(|e| i < e);
            let planned = match step {
                RawStep::Confirm {} => {
                    if after_execute {
                        self.order_error(&path, "confirm", "before");
                        ok = false;
                    }
                    Step::Confirm
                }
                RawStep::IdentifyTarget { previous, version } => {
                    if after_execute {
                        self.order_error(&path, "identify_target", "before");
                        ok = false;
                    }
                    match (previous, version) {
                        (Some(true), Some(_)) => {
                            self.error(
                                &path,
                                "identify_target has both `previous: true` and `version`",
                                "use one: `{previous: true}` or `{version: <name>}`",
                            );
                            ok = false;
                            Step::IdentifyTarget(TargetChoice::Previous)
                        }
                        (_, Some(v)) => {
                            if !route.versions.contains(&v) {
                                let known: Vec<&str> =
                                    route.versions.iter().map(String::as_str).collect();
                                self.error(
                                    &path.key("version"),
                                    format!(
                                        "target version `{v}` is not held for route `{}`",
                                        route.name
                                    ),
                                    suggest_owned(&v, &known),
                                );
                                ok = false;
                            } else if traffic.behaviour_of(&v).is_none() {
                                self.error(
                                    &path.key("version"),
                                    format!("target version `{v}` has no behaviour"),
                                    format!("add `{v}` under traffic.behaviour"),
                                );
                                ok = false;
                            }
                            Step::IdentifyTarget(TargetChoice::Version(v))
                        }
                        (Some(false), None) => {
                            self.error(
                                &path.key("previous"),
                                "identify_target with `previous: false` names no target",
                                "use `{previous: true}` or `{version: <name>}`",
                            );
                            ok = false;
                            Step::IdentifyTarget(TargetChoice::Previous)
                        }
                        (_, None) => Step::IdentifyTarget(TargetChoice::Previous),
                    }
                }
                RawStep::BaselineCheck { requests } => {
                    if after_execute {
                        self.order_error(&path, "baseline_check", "before");
                        ok = false;
                    }
                    let requests = requests.unwrap_or(200);
                    if requests == 0 || requests > 100_000 {
                        self.error(
                            &path.key("requests"),
                            format!("baseline_check replays {requests} requests"),
                            "replay between 1 and 100,000 requests, e.g. `requests: 200`",
                        );
                        ok = false;
                    }
                    Step::BaselineCheck { requests }
                }
                RawStep::Execute(e) => match self.execute(e, &path) {
                    Some(e) => Step::Execute(e),
                    None => {
                        ok = false;
                        continue;
                    }
                },
                RawStep::Verify(v) => {
                    if before_execute {
                        self.order_error(&path, "verify", "after");
                        ok = false;
                    }
                    match self.verify(v, &path) {
                        Some(v) => Step::Verify(v),
                        None => {
                            ok = false;
                            continue;
                        }
                    }
                }
                RawStep::Postmortem {} => Step::Postmortem,
                RawStep::Http(h) => match self.http_step(h, &path) {
                    Some(s) => s,
                    None => {
                        ok = false;
                        continue;
                    }
                },
                RawStep::Exec(e) => match self.exec_step(e, &path) {
                    Some(s) => s,
                    None => {
                        ok = false;
                        continue;
                    }
                },
                RawStep::WaitFor(w) => match self.wait_for_step(w, &path, metrics) {
                    Some(s) => s,
                    None => {
                        ok = false;
                        continue;
                    }
                },
            };
            steps.push(planned);
        }
        ok.then_some(steps)
    }

    /// Each fault kind with exactly its own fields, typed.
    fn faults(
        &mut self,
        raw: Vec<RawFault>,
        release: &ReleasePlan,
        registry: &RegistryPlan,
        traffic: Option<&TrafficPlan>,
    ) -> Option<Vec<FaultSpec>> {
        let base = Path::root().key("faults");
        let mut ok = true;
        let mut out = Vec::new();
        for (i, f) in raw.into_iter().enumerate() {
            let path = base.index(i);
            let kind = f.kind;
            let fields: &[&str] = match kind {
                FaultKind::RegistryOutage
                | FaultKind::MetricsGap
                | FaultKind::RegistryFreeze
                | FaultKind::NetworkPartition => &["at", "for"],
                FaultKind::RegistryCrash => &["at", "restart_after"],
                FaultKind::RegistrySlow => &["add"],
                FaultKind::RetireTarget => &[],
                FaultKind::RenameRoute => &["from", "to"],
                FaultKind::ConfigMismatch => &["fix_after"],
                FaultKind::StaleCache => &["ttl"],
                FaultKind::PartialPropagation => &["routers", "stuck"],
                FaultKind::MetricsLag => &["lag"],
                FaultKind::PagerDown => &["for"],
                FaultKind::TargetAlsoBad => &["behaviour"],
            };
            let present = [
                ("at", f.at.is_some()),
                ("for", f.for_.is_some()),
                ("add", f.add.is_some()),
                ("from", f.from.is_some()),
                ("to", f.to.is_some()),
                ("fix_after", f.fix_after.is_some()),
                ("ttl", f.ttl.is_some()),
                ("routers", f.routers.is_some()),
                ("stuck", f.stuck.is_some()),
                ("lag", f.lag.is_some()),
                ("behaviour", f.behaviour.is_some()),
                ("restart_after", f.restart_after.is_some()),
            ];
            let listed = if fields.is_empty() {
                format!("`{kind}` takes no other fields")
            } else {
                format!(
                    "`{kind}` takes {}",
                    fields
                        .iter()
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            for (field, is_set) in present {
                if is_set && !fields.contains(&field) {
                    self.error(
                        &path.key(field),
                        format!("`{field}` does not apply to fault `{kind}`"),
                        listed.clone(),
                    );
                    ok = false;
                }
            }
            for (field, is_set) in present {
                if !is_set && fields.contains(&field) {
                    self.error(
                        &path.key("kind"),
                        format!("fault `{kind}` needs `{field}`"),
                        listed.clone(),
                    );
                    ok = false;
                }
            }
            let d = Dur::ZERO;
            let spec = match kind {
                FaultKind::RegistryOutage => FaultSpec::RegistryOutage {
                    at: f.at.unwrap_or(d),
                    for_: f.for_.unwrap_or(d),
                },
                FaultKind::RegistrySlow => FaultSpec::RegistrySlow {
                    add: f.add.unwrap_or(d),
                },
                FaultKind::RetireTarget => FaultSpec::RetireTarget,
                FaultKind::RenameRoute => {
                    let from = f.from.unwrap_or_default();
                    let to = f.to.unwrap_or_default();
                    if !from.is_empty() && from != release.route {
                        self.error(
                            &path.key("from"),
                            format!(
                                "`from` is `{from}`, but the runbook's route is `{}`",
                                release.route
                            ),
                            format!(
                                "rename the route the runbook names: `from: {}`",
                                release.route
                            ),
                        );
                        ok = false;
                    }
                    if registry.routes.iter().any(|r| r.name == to) {
                        self.error(
                            &path.key("to"),
                            format!("route `{to}` already exists"),
                            "move the route to a new name",
                        );
                        ok = false;
                    }
                    FaultSpec::RenameRoute { from, to }
                }
                FaultKind::ConfigMismatch => FaultSpec::ConfigMismatch {
                    fix_after: f.fix_after.unwrap_or(d),
                },
                FaultKind::StaleCache => FaultSpec::StaleCache {
                    ttl: f.ttl.unwrap_or(d),
                },
                FaultKind::PartialPropagation => {
                    let (routers, stuck) = (f.routers.unwrap_or(1), f.stuck.unwrap_or(0));
                    if routers == 0 || stuck == 0 || stuck > routers {
                        self.error(
                            &path.key("stuck"),
                            format!("{stuck} stuck of {routers} routers"),
                            "`stuck` must be between 1 and `routers`",
                        );
                        ok = false;
                    }
                    FaultSpec::PartialPropagation { routers, stuck }
                }
                FaultKind::MetricsLag => FaultSpec::MetricsLag {
                    lag: f.lag.unwrap_or(d),
                },
                FaultKind::MetricsGap => FaultSpec::MetricsGap {
                    at: f.at.unwrap_or(d),
                    for_: f.for_.unwrap_or(d),
                },
                FaultKind::RegistryFreeze => FaultSpec::RegistryFreeze {
                    at: f.at.unwrap_or(d),
                    for_: f.for_.unwrap_or(d),
                },
                FaultKind::NetworkPartition => FaultSpec::NetworkPartition {
                    at: f.at.unwrap_or(d),
                    for_: f.for_.unwrap_or(d),
                },
                FaultKind::RegistryCrash => FaultSpec::RegistryCrash {
                    at: f.at.unwrap_or(d),
                    restart_after: f.restart_after.unwrap_or(d),
                },
                FaultKind::PagerDown => FaultSpec::PagerDown {
                    for_: f.for_.unwrap_or(d),
                },
                FaultKind::TargetAlsoBad => {
                    let p = f.behaviour.unwrap_or_default();
                    let base = release.healthy;
                    let b = Behaviour {
                        error_rate: p.error_rate.map_or(base.error_rate, Percent::fraction),
                        quality: p.quality.map_or(base.quality, Percent::fraction),
                        p50: p.latency.map_or(base.p50, |l| l.p50),
                        p99: p.latency.map_or(base.p99, |l| l.p99),
                    };
                    ok &= self.check_latency(b, &path.key("behaviour"));
                    let _ = traffic;
                    FaultSpec::TargetAlsoBad { behaviour: b }
                }
            };
            out.push(spec);
        }
        ok.then_some(out)
    }

    fn order_error(&mut self, path: &Path, step: &str, side: &str) {
        self.error(
            path,
            format!("`{step}` must come {side} `execute`"),
            "order the runbook: confirm, identify_target, baseline_check, execute, verify, postmortem",
        );
    }

    fn execute(&mut self, raw: RawExecute, path: &Path) -> Option<Execute> {
        let m = raw.mechanism;
        // Which optional fields each mechanism takes.
        let allowed: &[&str] = match m {
            Mechanism::RouteWeight | Mechanism::AliasRemap => &[],
            Mechanism::Gradual => &["stages", "hold", "abort_if"],
            Mechanism::Redeploy => &["replicas", "surge", "per_replica", "image_pull"],
            Mechanism::RevertSet => &["rebaseline"],
            Mechanism::RestoreData => &["documents", "rebuild_rate"],
        };
        let present = [
            ("stages", raw.stages.is_some()),
            ("hold", raw.hold.is_some()),
            ("abort_if", raw.abort_if.is_some()),
            ("replicas", raw.replicas.is_some()),
            ("surge", raw.surge.is_some()),
            ("per_replica", raw.per_replica.is_some()),
            ("image_pull", raw.image_pull.is_some()),
            ("rebaseline", raw.rebaseline.is_some()),
            ("documents", raw.documents.is_some()),
            ("rebuild_rate", raw.rebuild_rate.is_some()),
        ];
        let mut ok = true;
        for (field, is_set) in present {
            if is_set && !allowed.contains(&field) {
                let hint = if allowed.is_empty() {
                    format!("`{m}` takes no other fields; remove it")
                } else {
                    format!(
                        "`{m}` takes {}",
                        allowed
                            .iter()
                            .map(|f| format!("`{f}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                self.error(
                    &path.key(field),
                    format!("`{field}` does not apply to mechanism `{m}`"),
                    hint,
                );
                ok = false;
            }
        }
        let mut required = |c: &mut Self, field: &str, is_set: bool, example: &str| {
            if !is_set {
                c.error(
                    &path.key("mechanism"),
                    format!("mechanism `{m}` needs `{field}`"),
                    format!("add `{field}: {example}`"),
                );
                ok = false;
            }
        };
        let model = match m {
            Mechanism::RouteWeight | Mechanism::AliasRemap => Some(ExecModel::Switch),
            Mechanism::Gradual => {
                let stages: Vec<f64> = raw
                    .stages
                    .unwrap_or_else(|| {
                        vec![Percent(0.75), Percent(0.5), Percent(0.25), Percent(0.0)]
                    })
                    .iter()
                    .map(|p| p.fraction())
                    .collect();
                let decreasing = stages.windows(2).all(|w| w[0] > w[1]);
                if stages.last() != Some(&0.0) || !decreasing {
                    self.error(
                        &path.key("stages"),
                        "gradual stages must decrease and end at 0%",
                        "e.g. `stages: [75%, 50%, 25%, 0%]` (the release's remaining share)",
                    );
                    ok = false;
                }
                let abort_if = match raw.abort_if {
                    Some(c) => {
                        let at = path.key("abort_if");
                        let (bound, key, text) = match (c.above, c.below) {
                            (Some(t), None) => (Bound::Above, "above", t),
                            (None, Some(t)) => (Bound::Below, "below", t),
                            _ => {
                                self.error(
                                    &at,
                                    "abort_if needs exactly one of `above` and `below`",
                                    "e.g. `abort_if: {metric: error_rate, above: 3%}`",
                                );
                                return None;
                            }
                        };
                        let limit = self.threshold(c.metric, &text, &at.key(key))?;
                        Some(Condition {
                            metric: c.metric,
                            bound,
                            limit,
                        })
                    }
                    None => None,
                };
                Some(ExecModel::Gradual {
                    stages,
                    hold: raw.hold.unwrap_or(Dur::from_mins(10)),
                    abort_if,
                })
            }
            Mechanism::Redeploy => {
                required(self, "replicas", raw.replicas.is_some(), "6");
                required(self, "per_replica", raw.per_replica.is_some(), "90s");
                let surge = raw.surge.unwrap_or(1);
                if surge == 0
                    || raw.replicas == Some(0)
                    || raw.replicas.is_some_and(|r| r > 100_000)
                {
                    self.error(
                        &path.key(if surge == 0 { "surge" } else { "replicas" }),
                        "replicas (at most 100,000) and surge must be at least 1",
                        "surge is how many replicas are replaced at once",
                    );
                    ok = false;
                }
                Some(ExecModel::Redeploy {
                    replicas: raw.replicas.unwrap_or(1),
                    surge: surge.max(1),
                    per_replica: raw.per_replica.unwrap_or_default(),
                    image_pull: raw.image_pull.unwrap_or(Dur::ZERO),
                })
            }
            Mechanism::RevertSet => {
                required(self, "rebaseline", raw.rebaseline.is_some(), "10m");
                Some(ExecModel::RevertSet {
                    rebaseline: raw.rebaseline.unwrap_or_default(),
                })
            }
            Mechanism::RestoreData => {
                required(self, "documents", raw.documents.is_some(), "2000000");
                required(self, "rebuild_rate", raw.rebuild_rate.is_some(), "500");
                let rate = raw.rebuild_rate.unwrap_or(1.0);
                if !(rate.is_finite() && rate > 0.0) {
                    self.error(
                        &path.key("rebuild_rate"),
                        format!("rebuild_rate must be above 0, found {rate}"),
                        "documents re-indexed per second, e.g. `500`",
                    );
                    ok = false;
                }
                Some(ExecModel::RestoreData {
                    documents: raw.documents.unwrap_or(0),
                    rebuild_rate: rate,
                })
            }
        };
        let model = model?;
        ok.then_some(Execute {
            mechanism: m,
            model,
        })
    }

    fn verify(&mut self, raw: RawVerify, path: &Path) -> Option<Verify> {
        let (bound, text, key) = match (raw.below, raw.above) {
            (Some(b), None) => (Bound::Below, b, "below"),
            (None, Some(a)) => (Bound::Above, a, "above"),
            _ => {
                self.error(
                    path,
                    "verify needs exactly one of `below` and `above`",
                    "e.g. `{metric: error_rate, below: 1%, every: 5s, within: 5m}`",
                );
                return None;
            }
        };
        let limit = self.threshold(raw.metric, &text, &path.key(key))?;
        let (every, within) = self.poll_interval(path, "verify", raw.every, raw.within)?;
        Some(Verify {
            condition: Condition {
                metric: raw.metric,
                bound,
                limit,
            },
            every,
            within,
        })
    }

    /// Rates are percentages, latencies durations (kept in ms).
    fn threshold(&mut self, metric: VerifyMetric, text: &str, path: &Path) -> Option<f64> {
        let parsed = match metric {
            VerifyMetric::ErrorRate | VerifyMetric::Quality => {
                Percent::parse(text).map(Percent::fraction)
            }
            VerifyMetric::LatencyP50 | VerifyMetric::LatencyP99 => {
                Dur::parse(text).map(|d| d.0 as f64)
            }
        };
        match parsed {
            Ok(v) => Some(v),
            Err(message) => {
                self.error(
                    path,
                    message,
                    format!("`{metric}` takes a {}", metric_unit(metric)),
                );
                None
            }
        }
    }
}

fn metric_unit(metric: VerifyMetric) -> &'static str {
    match metric {
        VerifyMetric::ErrorRate | VerifyMetric::Quality => "percentage such as `1%`",
        VerifyMetric::LatencyP50 | VerifyMetric::LatencyP99 => "duration such as `2.5s`",
    }
}

fn suggest_owned(given: &str, known: &[&str]) -> String {
    suggest(given, known)
}

/// A hint for serde's own messages, which carry none.
fn hint_for(message: &str) -> String {
    if message.contains("duration") {
        "write durations like `30s`, `5m`, `2h`".into()
    } else if message.contains("outside 0% to 100%") {
        "a share goes from 0% to 100%".into()
    } else if message.contains("percentage") {
        "write percentages like `8%` or `0.5%`".into()
    } else if message.starts_with("invalid type") {
        "check the value's type against `rollback-drill schema`".into()
    } else {
        String::new()
    }
}

/// SPEC section 3: the policy a scenario gets when it names none.
pub fn default_policy_triggers() -> Vec<Trigger> {
    let t = |metric, above, severity, action, decide_within: Option<Dur>, observe_for| Trigger {
        metric,
        above: Percent(above),
        severity,
        action,
        decide_within,
        observe_for,
    };
    use TriggerMetric::*;
    vec![
        t(
            ErrorRate,
            0.05,
            Severity::Critical,
            Action::AutoRollback,
            Some(Dur::from_mins(2)),
            None,
        ),
        t(
            ErrorRate,
            0.02,
            Severity::High,
            Action::Page,
            Some(Dur::from_mins(5)),
            None,
        ),
        t(
            QualityDrop,
            0.20,
            Severity::High,
            Action::Alert,
            Some(Dur::from_mins(30)),
            None,
        ),
        t(
            QualityDrop,
            0.10,
            Severity::Medium,
            Action::Observe,
            None,
            Some(Dur::from_mins(60)),
        ),
        t(
            LatencyP99Increase,
            1.00,
            Severity::High,
            Action::Page,
            Some(Dur::from_mins(10)),
            None,
        ),
    ]
}

/// FNV-1a, 64 bits, as hex: stable across builds and platforms.
pub fn fnv_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn with_trigger(above: &str) -> Result<super::Plan, Vec<super::Diagnostic>> {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/model-latency-regression-alias-remap.yaml"
        ))
        .unwrap()
        .replace(
            "targets:",
            &format!(
                "policy:\n  triggers:\n    - {{metric: latency_p99_increase, above: {above}, severity: high, action: page}}\ntargets:"
            ),
        );
        super::validate(&text, Path::new("t.yaml"))
    }

    #[test]
    fn relative_thresholds_may_exceed_100_percent_but_not_go_negative() {
        let plan = with_trigger("150%").expect("150% is a valid latency increase");
        assert_eq!(plan.policy.triggers[0].above.fraction(), 1.5);
        let diags = with_trigger("-5%").unwrap_err();
        assert_eq!(diags[0].message, "percentage `-5%` is negative");
        assert_eq!(diags[0].path, "policy.triggers[0].above");
    }
}
