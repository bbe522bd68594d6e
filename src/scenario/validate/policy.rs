//! The policy and responders sections: triggers, windows, the people who decide.

use super::*;

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

impl Checker<'_> {
    pub(super) fn policy(&mut self, raw: RawPolicy) -> Option<PolicyPlan> {
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

    pub(super) fn responders(
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
                authority: r.authority.as_ref().map_or(default.authority, |a| {
                    a.iter().filter_map(|x| x.change_type()).collect()
                }),
                coordinated: r
                    .authority
                    .as_ref()
                    .map_or(default.coordinated, |a| a.contains(&Authority::Coordinated)),
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
                coordinated: false,
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
                coordinated: false,
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
                coordinated: false,
                roll_forward: None,
            },
        );
        ok.then_some(Responders {
            on_call,
            product,
            platform_lead,
        })
    }
}
