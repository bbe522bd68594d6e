//! The faults section: each kind's fields and what they may name.

use super::*;

/// The fields each fault kind needs, and the only ones it takes (the
/// validator's rule, and the JSON Schema's).
pub(crate) fn fault_fields(kind: FaultKind) -> &'static [&'static str] {
    match kind {
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
    }
}

impl Checker<'_> {
    /// Each fault kind with exactly its own fields, typed.
    pub(super) fn faults(
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
            let fields = fault_fields(kind);
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
            if f.route.is_some() && kind != FaultKind::RetireTarget {
                self.error(
                    &path.key("route"),
                    format!("`route` does not apply to fault `{kind}`"),
                    listed.clone(),
                );
                ok = false;
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
                FaultKind::RetireTarget => {
                    if let Some(route) = &f.route
                        && !registry.routes.iter().any(|r| &r.name == route)
                    {
                        let names: Vec<&str> =
                            registry.routes.iter().map(|r| r.name.as_str()).collect();
                        self.error(
                            &path.key("route"),
                            format!("fault route `{route}` is not in the registry"),
                            suggest_owned(route, &names),
                        );
                        ok = false;
                    }
                    FaultSpec::RetireTarget { route: f.route }
                }
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
}
