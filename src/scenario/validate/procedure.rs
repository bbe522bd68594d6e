//! The procedure section: step order, the mechanisms of `execute`, and `verify`.

use super::*;

/// The optional fields each mechanism takes (the validator's rule, and
/// the JSON Schema's).
pub(crate) fn mechanism_fields(m: Mechanism) -> &'static [&'static str] {
    match m {
        Mechanism::RouteWeight | Mechanism::AliasRemap => &[],
        Mechanism::Gradual => &["stages", "hold", "abort_if"],
        Mechanism::Redeploy => &["replicas", "surge", "per_replica", "image_pull"],
        Mechanism::RevertSet => &["rebaseline"],
        Mechanism::RestoreData => &["documents", "rebuild_rate"],
    }
}

/// The fields a mechanism cannot do without, each with an example.
pub(crate) fn mechanism_required(m: Mechanism) -> &'static [(&'static str, &'static str)] {
    match m {
        Mechanism::Redeploy => &[("replicas", "6"), ("per_replica", "90s")],
        Mechanism::RevertSet => &[("rebaseline", "10m")],
        Mechanism::RestoreData => &[("documents", "2000000"), ("rebuild_rate", "500")],
        _ => &[],
    }
}

impl Checker<'_> {
    pub(super) fn procedure(
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

    pub(super) fn order_error(&mut self, path: &Path, step: &str, side: &str) {
        self.error(
            path,
            format!("`{step}` must come {side} `execute`"),
            "order the runbook: confirm, identify_target, baseline_check, execute, verify, postmortem",
        );
    }

    pub(super) fn execute(&mut self, raw: RawExecute, path: &Path) -> Option<Execute> {
        let m = raw.mechanism;
        let allowed = mechanism_fields(m);
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
        for &(field, example) in mechanism_required(m) {
            if !present.iter().any(|&(f, set)| f == field && set) {
                self.error(
                    &path.key("mechanism"),
                    format!("mechanism `{m}` needs `{field}`"),
                    format!("add `{field}: {example}`"),
                );
                ok = false;
            }
        }
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
            Mechanism::RevertSet => Some(ExecModel::RevertSet {
                rebaseline: raw.rebaseline.unwrap_or_default(),
            }),
            Mechanism::RestoreData => {
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

    pub(super) fn verify(&mut self, raw: RawVerify, path: &Path) -> Option<Verify> {
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
    pub(super) fn threshold(
        &mut self,
        metric: VerifyMetric,
        text: &str,
        path: &Path,
    ) -> Option<f64> {
        let parsed = match metric {
            VerifyMetric::ErrorRate | VerifyMetric::Quality => {
                Percent::parse(text).map(Percent::fraction)
            }
            // Relative changes may exceed 100% (`latency_p99_increase`).
            VerifyMetric::QualityDrop | VerifyMetric::LatencyP99Increase => {
                Percent::parse_unbounded(text).map(Percent::fraction)
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
