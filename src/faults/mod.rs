//! Faults on the rollback path, one small module per kind.
//!
//! As toxiproxy's toxics do, every fault implements a single method,
//! [`Fault::apply`], and the simulated world calls it at each point where a
//! fault could interfere ([`Hook`]): the registry as the drill finds it, a
//! registry call, a routing change on its way to the routers, a metrics
//! read, a page, a version's behaviour. A fault changes only what it
//! matches; the procedure meets the effects as a team would — failed calls,
//! late metrics, silent pagers — and turns them into findings.

mod config_mismatch;
mod metrics_gap;
mod metrics_lag;
mod network_partition;
mod pager_down;
mod partial_propagation;
mod registry_crash;
mod registry_freeze;
mod registry_outage;
mod registry_slow;
mod rename_route;
mod retire_target;
mod stale_cache;
mod target_also_bad;

use std::fmt::Debug;

use crate::backend::BackendKind;
use crate::registry::Registry;
use crate::scenario::{Behaviour, Dur, FaultKind, FaultSpec, Plan};

/// One kind of fault.
pub trait Fault: Debug + Send + Sync {
    fn apply(&self, hook: &mut Hook<'_>);
}

/// The points where a fault can interfere, with what it may change.
pub enum Hook<'a> {
    /// The registry as the drill finds it, before anything happens.
    Setup { registry: &'a mut Registry },
    /// A registry call made by the procedure.
    RegistryCall(&'a mut RegistryCall),
    /// A routing change written by the procedure, on its way to routers.
    Propagation {
        extra: &'a mut Dur,
        stuck_share: &'a mut f64,
    },
    /// Metrics the procedure reads at `now`: they describe the traffic up
    /// to `read_at`, or are `missing`.
    Metrics {
        now: u64,
        read_at: &'a mut u64,
        missing: &'a mut bool,
    },
    /// A page sent at `now`.
    Page {
        now: u64,
        delivered: &'a mut bool,
        escalate_after: &'a mut Dur,
    },
    /// How `version` behaves at `now`.
    Behaviour {
        version: &'a str,
        now: u64,
        behaviour: &'a mut Behaviour,
    },
}

/// A registry call and what faults make of it.
#[derive(Debug, Clone, Default)]
pub struct RegistryCall {
    pub now: u64,
    pub write: bool,
    /// When the procedure first tried to write, if it has.
    pub first_write_at: Option<u64>,
    /// Time the call takes beyond the normal.
    pub extra: Dur,
    /// The registry does not answer until then.
    pub unavailable_until: Option<u64>,
    /// The runbook's config does not match until a person repairs it then.
    pub repaired_at: Option<u64>,
    /// The call gets no answer at all and fails only when the client
    /// gives up, after [`CALL_TIMEOUT`].
    pub hangs: bool,
}

/// How long a registry client waits for an answer before it gives up
/// (the live driver's HTTP client uses the same, scaled to the wall clock).
pub const CALL_TIMEOUT: Dur = Dur(10_000);

/// A call made in `[from, to)` hangs until the client's timeout.
fn hang(call: &mut RegistryCall, from: u64, to: u64) {
    if (from..to).contains(&call.now) {
        call.unavailable_until = Some(call.unavailable_until.map_or(to, |u| u.max(to)));
        call.hangs = true;
    }
}

/// Where each kind of fault can be injected, declared once. The simulated
/// world injects every kind; a registry server injects outages and
/// slowness itself; a registry in a container can also be frozen, killed
/// and cut off its network.
pub fn backends(kind: FaultKind) -> &'static [BackendKind] {
    use BackendKind::{Container, Http, InProcess};
    match kind {
        FaultKind::RegistryOutage | FaultKind::RegistrySlow => &[InProcess, Http, Container],
        FaultKind::RegistryFreeze | FaultKind::RegistryCrash | FaultKind::NetworkPartition => {
            &[InProcess, Container]
        }
        FaultKind::RetireTarget
        | FaultKind::RenameRoute
        | FaultKind::ConfigMismatch
        | FaultKind::StaleCache
        | FaultKind::PartialPropagation
        | FaultKind::MetricsLag
        | FaultKind::MetricsGap
        | FaultKind::PagerDown
        | FaultKind::TargetAlsoBad => &[InProcess],
    }
}

/// Whether a fault of `kind` keeps the registry from taking any call while
/// it is in force, the deployer's included: the drill loop then holds the
/// deployer's canary steps until it ends, on every backend alike (a fault
/// that starts at the very instant of a step comes after it).
pub fn holds_harness(kind: FaultKind) -> bool {
    matches!(
        kind,
        FaultKind::RegistryOutage
            | FaultKind::RegistryFreeze
            | FaultKind::RegistryCrash
            | FaultKind::NetworkPartition
    )
}

/// A fault the chosen backend cannot inject.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "fault `{kind}` cannot be injected in a drill on the {backend} backend (it injects {}); run it simulated{}",
    injects(*backend),
    elsewhere(*kind, *backend)
)]
pub struct Unsupported {
    pub kind: FaultKind,
    pub backend: BackendKind,
}

/// The fault kinds `backend` injects, in words.
fn injects(backend: BackendKind) -> String {
    let kinds: Vec<&str> = FaultKind::ALL
        .iter()
        .filter(|k| backends(**k).contains(&backend))
        .map(|k| k.as_str())
        .collect();
    match kinds.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => "no faults".to_string(),
    }
}

/// `, or with --backend container`: another live backend that injects it.
fn elsewhere(kind: FaultKind, backend: BackendKind) -> String {
    BackendKind::ALL
        .iter()
        .filter(|b| b.is_live() && **b != backend && backends(kind).contains(b))
        .map(|b| format!(", or with --backend {b}"))
        .collect()
}

/// Every fault of `plan` can be injected on `backend`.
pub fn check(plan: &Plan, backend: BackendKind) -> Result<(), Unsupported> {
    match plan
        .faults
        .iter()
        .find(|f| !backends(f.kind()).contains(&backend))
    {
        Some(f) => Err(Unsupported {
            kind: f.kind(),
            backend,
        }),
        None => Ok(()),
    }
}

/// The versions serving `route` when the drill starts: its rollback target.
fn serving(plan: &Plan, route: &str) -> Vec<String> {
    plan.registry
        .routes
        .iter()
        .find(|r| r.name == route)
        .map(|r| r.candidates.iter().map(|c| c.version.clone()).collect())
        .unwrap_or_default()
}

/// The faults of a plan, ready to apply.
pub fn build(plan: &Plan) -> Vec<Box<dyn Fault>> {
    let target = serving(plan, &plan.release.route);
    plan.faults
        .iter()
        .map(|spec| -> Box<dyn Fault> {
            // A fault with a window is in force over the plan's window of
            // it, the one the drill loop starts and ends it at.
            let (from, to) = spec.window().unwrap_or((0, u64::MAX));
            match spec.clone() {
                FaultSpec::RegistryOutage { .. } => {
                    Box::new(registry_outage::RegistryOutage { from, to })
                }
                FaultSpec::RegistrySlow { add } => Box::new(registry_slow::RegistrySlow { add }),
                FaultSpec::RetireTarget { route: None } => Box::new(retire_target::RetireTarget {
                    route: plan.release.route.clone(),
                    versions: target.clone(),
                }),
                FaultSpec::RetireTarget { route: Some(route) } => {
                    Box::new(retire_target::RetireTarget {
                        versions: serving(plan, &route),
                        route,
                    })
                }
                FaultSpec::RenameRoute { from, to } => {
                    Box::new(rename_route::RenameRoute { from, to })
                }
                FaultSpec::ConfigMismatch { fix_after } => {
                    Box::new(config_mismatch::ConfigMismatch { fix_after })
                }
                FaultSpec::StaleCache { ttl } => Box::new(stale_cache::StaleCache { ttl }),
                FaultSpec::PartialPropagation { routers, stuck } => {
                    Box::new(partial_propagation::PartialPropagation { routers, stuck })
                }
                FaultSpec::MetricsLag { lag } => Box::new(metrics_lag::MetricsLag { lag }),
                FaultSpec::MetricsGap { .. } => Box::new(metrics_gap::MetricsGap { from, to }),
                FaultSpec::PagerDown { for_ } => Box::new(pager_down::PagerDown { for_ }),
                FaultSpec::RegistryFreeze { .. } => {
                    Box::new(registry_freeze::RegistryFreeze { from, to })
                }
                FaultSpec::NetworkPartition { .. } => {
                    Box::new(network_partition::NetworkPartition { from, to })
                }
                FaultSpec::RegistryCrash { .. } => {
                    Box::new(registry_crash::RegistryCrash { from, to })
                }
                FaultSpec::TargetAlsoBad { behaviour } => {
                    Box::new(target_also_bad::TargetAlsoBad {
                        versions: target.clone(),
                        from: plan.release.at.0,
                        behaviour,
                    })
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulation_injects_every_kind_and_the_message_reads_the_declaration() {
        for k in FaultKind::ALL {
            assert!(backends(*k).contains(&BackendKind::InProcess), "{k}");
        }
        let e = Unsupported {
            kind: FaultKind::RegistryCrash,
            backend: BackendKind::Http,
        };
        assert_eq!(
            e.to_string(),
            "fault `registry_crash` cannot be injected in a drill on the http backend (it injects registry_outage and registry_slow); run it simulated, or with --backend container"
        );
        let e = Unsupported {
            kind: FaultKind::PagerDown,
            backend: BackendKind::Container,
        };
        assert!(e.to_string().starts_with(
            "fault `pager_down` cannot be injected in a drill on the container backend (it injects registry_outage, registry_slow, registry_freeze, registry_crash and network_partition); run it simulated"
        ), "{e}");
    }
}
