//! The rollback procedure, independent of where it runs.
//!
//! [`Procedure`] is a state machine: a driver wakes it at the times it asked
//! for, it reads metrics and the registry through the [`Staging`] port, and
//! it answers with the next times it wants to be woken. The simulated driver
//! (the simulation) backs the port with an in-process world on a virtual
//! clock; a live driver backs it with HTTP and the wall clock. Everything the
//! procedure sees and does lands in its [`Record`].

mod agenda;
mod coordinated;
mod detect;
mod evidence;
mod execute;
mod policy;
mod preflight;
mod procedure;
mod record;
mod recovery;
mod respond;
mod run;
mod steps;
mod team;

pub use agenda::Agenda;
pub use evidence::{Judgement, VERIFY_ALPHA, judge, route_value};
pub use policy::{Alphas, DRILL_FALSE_ALARM_BUDGET, fires, metric_value, new_version_breach};
pub use preflight::preflight;
pub use procedure::{Procedure, Role, Wake};
pub use record::*;
pub use recovery::{Breach, Judged, Recovery};
pub use run::{Backend, Driven, drive};

use crate::metrics::Observation;
use crate::registry::RegistryError;
use crate::scenario::{Candidate, Dur, Step, VerifyMetric, WaitFor};

/// When a registry write was acknowledged, and when every router had it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteAck {
    pub acked_at: u64,
    pub converged_at: u64,
}

/// Whether a page reached the responder, and if not, when the escalation
/// policy reaches the platform lead instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageOutcome {
    pub delivered: bool,
    pub escalate_after: Dur,
}

/// How a step on the team's own staging (`http`, `exec`) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamReply {
    pub ok: bool,
    /// Never holds a secret's value: the live port redacts it.
    pub detail: String,
    /// Scenario time the step took.
    pub took: Dur,
}

/// A metric read from an external source (Prometheus) instead of the
/// drill's own traffic: the value, or why there is none, and the query.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalMetric {
    pub value: Result<f64, crate::metrics::ExternalError>,
    pub query: String,
    /// Where it was read, e.g. `Prometheus http://prometheus:9090`.
    pub source: String,
}

/// What the procedure can observe and change in a staging world.
/// Times are milliseconds since the drill started.
pub trait Staging {
    /// Metrics of one version of a route over the `window` ending at `now`.
    fn version_metrics(&self, now: u64, route: &str, version: &str, window: Dur) -> Observation;
    /// Metrics of a route's whole traffic since `since` (bounded by the
    /// policy window).
    fn route_metrics(&self, now: u64, route: &str, since: u64) -> Observation;
    /// The route's metrics over the window before the release.
    fn baseline(&self, route: &str) -> Option<Observation>;
    fn candidates(&self, now: u64, route: &str) -> Result<Vec<Candidate>, RegistryError>;
    fn versions(&self, now: u64, route: &str) -> Result<Vec<String>, RegistryError>;
    /// The route's retention, where the registry reports one (a live
    /// registry does; the simulated one is built from the plan's).
    fn keep_last(&self, _route: &str) -> Option<u32> {
        None
    }
    /// The most recent candidate set in which `bad` did not serve.
    fn previous_candidates(
        &self,
        now: u64,
        route: &str,
        bad: &str,
    ) -> Result<Option<Vec<Candidate>>, RegistryError>;
    /// How long a registry read takes at `now` beyond the normal.
    fn read_delay(&self, now: u64) -> Dur;
    /// Pages a responder.
    fn page(&self, now: u64) -> PageOutcome;
    /// The share of the route's traffic that `version` serves now, as the
    /// routers (all of them) route it.
    fn serving_share(&self, now: u64, route: &str, version: &str) -> f64;
    /// Adds a version to the route's registry entry (retention applies).
    fn add_version(&mut self, now: u64, route: &str, version: &str) -> Result<(), RegistryError>;
    /// Replays `requests` synthetic requests on `version` (not routed, not
    /// counted as traffic) and returns what they showed.
    fn replay(&mut self, now: u64, route: &str, version: &str, requests: u64) -> Observation;
    /// The share of `version`'s requests over `window` slower than `ms`,
    /// and how many latency samples that share rests on.
    fn share_slower_than(
        &self,
        now: u64,
        route: &str,
        version: &str,
        window: Dur,
        ms: f64,
    ) -> (f64, u64);
    fn write_route(
        &mut self,
        now: u64,
        route: &str,
        candidates: Vec<Candidate>,
        actor: &str,
        reason: &str,
    ) -> Result<WriteAck, RegistryError>;

    /// Writes a release set's rollback as one transaction, all or nothing:
    /// each `(route, candidates, target version)`. `None`: this registry
    /// has no such call, and the procedure writes route after route.
    fn write_set(
        &mut self,
        _now: u64,
        _writes: &[(String, Vec<Candidate>, String)],
        _reason: &str,
        _change_id: &str,
    ) -> Option<Result<WriteAck, RegistryError>> {
        None
    }

    /// Whether [`Staging::write_set`] is one transaction here.
    fn writes_sets(&self) -> bool {
        false
    }

    /// From now on, route writes belong to the coordinated change `id`
    /// (their audit rows carry it); `None` ends it.
    fn set_change_id(&mut self, _id: Option<&str>) {}

    /// Whether `http`, `exec` and `wait_for` steps can run here: only a
    /// live drill reaches a team's staging; the simulation skips them.
    fn runs_live_steps(&self) -> bool {
        false
    }
    /// Runs an `http` or `exec` step (blocking, on the wall clock).
    fn team_call(&mut self, _now: u64, step: &Step) -> TeamReply {
        TeamReply {
            ok: false,
            detail: format!("`{}` steps run only in live drills", step.name()),
            took: Dur::ZERO,
        }
    }
    /// A `wait_for` step's PromQL value now.
    fn promql(&mut self, _now: u64, _wait: &WaitFor) -> Result<f64, crate::metrics::ExternalError> {
        Err(crate::metrics::ExternalError::NotHere)
    }
    /// Where `metric` is read when not from the drill's own traffic, e.g.
    /// `Prometheus http://prometheus:9090`.
    fn metric_source(&self, _metric: VerifyMetric) -> Option<String> {
        None
    }
    /// `metric` of `version` from an external source, if the scenario maps
    /// it to one (`metrics.prometheus`); `None`: the drill's own traffic.
    fn external_metric(
        &self,
        _now: u64,
        _metric: VerifyMetric,
        _route: &str,
        _version: &str,
    ) -> Option<ExternalMetric> {
        None
    }
}
