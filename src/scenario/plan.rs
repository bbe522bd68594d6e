//! The validated, typed form of a scenario: what the engine runs.
//!
//! Every reference is resolved (the release's route exists, every version
//! that can serve has a behaviour), every default is filled in and every
//! weight is checked, so the engine never meets a raw value or a missing one.

use std::path::PathBuf;

use serde::Serialize;

use super::template::Template;
use super::units::{Dur, Percent};
use super::vocab::{
    Action, ChangeType, Decision, FindingKind, HttpMethod, Mechanism, Severity, TriggerMetric,
    Verdict, VerifyMetric,
};

#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub description: String,
    pub file: PathBuf,
    /// FNV-1a of the file's bytes and of the procedure section, for history.
    pub scenario_hash: String,
    pub procedure_hash: String,
    pub change: ChangeType,
    pub seed: u64,
    pub duration: Dur,
    pub registry: RegistryPlan,
    pub traffic: TrafficPlan,
    pub release: ReleasePlan,
    /// `release.changes` with several routes; `None` for one route.
    pub release_set: Option<super::plan_set::ReleaseSet>,
    pub policy: PolicyPlan,
    pub responders: Responders,
    pub procedure: Vec<Step>,
    pub faults: Vec<FaultSpec>,
    pub restore_target: Dur,
    /// Targets of the other phases (`targets.detect`, `decide`,
    /// `mitigate`); unset unless given.
    pub targets: PhaseTargets,
    pub drift: DriftPolicy,
    pub expect: Expect,
    /// Live drills: where policy and verify metrics come from, if not from
    /// the drill's own traffic.
    pub metrics: Option<Prometheus>,
    /// Every `${NAME}` the scenario reads, where it is written.
    pub env_refs: Vec<EnvRef>,
    /// Where the route lives: the built-in registry or a team's system.
    pub staging: super::staging::StagingPlan,
}

/// Targets of the phases other than `restore` (which has a default per
/// change type): each set one is a check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseTargets {
    pub detect: Option<Dur>,
    pub decide: Option<Dur>,
    pub mitigate: Option<Dur>,
}

/// A `${NAME}` in the scenario file, located for the "unset variable"
/// error of a live run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvRef {
    pub name: String,
    pub path: String,
    pub line: usize,
    pub column: usize,
}

impl Plan {
    /// The variables a live run needs that `lookup` does not have, or
    /// whose value cannot be kept out of reports (a line break, fewer than
    /// 8 characters: see [`super::secret::problem`]), as diagnostics naming
    /// file, line and variable, never the value.
    pub fn missing_env(&self, lookup: impl Fn(&str) -> Option<String>) -> Vec<super::Diagnostic> {
        self.env_refs
            .iter()
            .filter_map(|r| {
                let (message, hint) = match lookup(&r.name) {
                    None => (
                        format!("environment variable `{}` is not set", r.name),
                        format!(
                            "export {} before a live run (it is read only then, and never written to a report)",
                            r.name
                        ),
                    ),
                    Some(value) => {
                        let why = super::secret::problem(&value)?;
                        (
                            format!("environment variable `{}` {why}", r.name),
                            "a `${NAME}` holds a whole token or URL of at least 8 characters on one line; put a short value (a port, a host) into a longer variable, such as the whole URL".to_string(),
                        )
                    }
                };
                Some(super::Diagnostic::new(
                    &self.file,
                    super::yaml::Mark {
                        line: r.line,
                        column: r.column,
                    },
                    r.path.clone(),
                    message,
                    hint,
                ))
            })
            .collect()
    }
}

/// `metrics.prometheus`: PromQL per metric, `{version}` in each.
#[derive(Debug, Clone, PartialEq)]
pub struct Prometheus {
    pub url: Template,
    pub headers: Vec<(String, Template)>,
    /// Sorted by metric.
    pub queries: Vec<(VerifyMetric, String)>,
}

impl Prometheus {
    pub fn query(&self, metric: VerifyMetric) -> Option<&str> {
        self.queries
            .iter()
            .find(|(m, _)| *m == metric)
            .map(|(_, q)| q.as_str())
    }
}

/// How the `drift` check compares a run with the history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriftPolicy {
    /// Compare with the median of this many most recent passing runs.
    pub runs: usize,
    /// A phase slower than that median by more than this fails.
    pub tolerance: f64,
}

impl Default for DriftPolicy {
    fn default() -> Self {
        DriftPolicy {
            runs: 5,
            tolerance: 0.25,
        }
    }
}

/// A fault on the rollback path (SPEC section 5), with its fields typed.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultSpec {
    RegistryOutage {
        at: Dur,
        for_: Dur,
    },
    RegistrySlow {
        add: Dur,
    },
    /// Retention already removed the target of `route` (default: the
    /// release's route).
    RetireTarget {
        route: Option<String>,
    },
    RenameRoute {
        from: String,
        to: String,
    },
    ConfigMismatch {
        fix_after: Dur,
    },
    StaleCache {
        ttl: Dur,
    },
    PartialPropagation {
        routers: u32,
        stuck: u32,
    },
    MetricsLag {
        lag: Dur,
    },
    MetricsGap {
        at: Dur,
        for_: Dur,
    },
    PagerDown {
        for_: Dur,
    },
    /// The rollback target behaves like this from the release on.
    TargetAlsoBad {
        behaviour: Behaviour,
    },
    /// The registry process is paused: calls hang until they time out.
    RegistryFreeze {
        at: Dur,
        for_: Dur,
    },
    /// The registry is killed (SIGKILL) and restarted after `restart_after`
    /// with its state; meanwhile calls are refused.
    RegistryCrash {
        at: Dur,
        restart_after: Dur,
    },
    /// The registry is cut off from the drill's network: calls time out.
    NetworkPartition {
        at: Dur,
        for_: Dur,
    },
}

#[derive(Debug, Clone)]
pub struct RegistryPlan {
    pub routes: Vec<RoutePlan>,
    pub keep_last: u32,
    pub propagation: Dur,
    pub write_latency: Dur,
}

#[derive(Debug, Clone)]
pub struct RoutePlan {
    pub name: String,
    pub candidates: Vec<Candidate>,
    /// Every version the registry holds for the route, oldest first
    /// (the extra `versions`, then the candidates' pins).
    pub versions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    pub id: String,
    pub version: String,
    /// Percent of the route's traffic, 0 to 100.
    pub weight: f64,
}

#[derive(Debug, Clone)]
pub struct TrafficPlan {
    pub rps: f64,
    /// Sorted by version name, so traffic draws happen in a fixed order.
    pub behaviour: Vec<(String, Behaviour)>,
    /// The prompts a real-staging drill sends (quality is graded on them).
    pub golden: super::golden::GoldenSet,
}

impl TrafficPlan {
    pub fn behaviour_of(&self, version: &str) -> Option<&Behaviour> {
        self.behaviour
            .iter()
            .find(|(v, _)| v == version)
            .map(|(_, b)| b)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Behaviour {
    pub error_rate: f64,
    pub quality: f64,
    pub p50: Dur,
    pub p99: Dur,
}

#[derive(Debug, Clone)]
pub struct ReleasePlan {
    pub route: String,
    pub version: String,
    pub id: String,
    pub at: Dur,
    /// (offset from `at`, canary share 0..=1), in time order.
    pub schedule: Vec<(Dur, f64)>,
    /// How the release behaves before the regression starts.
    pub healthy: Behaviour,
    /// How it behaves from `onset` on.
    pub regressed: Behaviour,
    pub onset: Dur,
}

impl ReleasePlan {
    /// The route's candidates once canary step `step` ships: the release
    /// at its share, the other candidates scaled to share the rest.
    pub fn canary(&self, current: &[Candidate], step: usize) -> Vec<Candidate> {
        let share = self.schedule[step].1 * 100.0;
        let others: f64 = current
            .iter()
            .filter(|c| c.version != self.version)
            .map(|c| c.weight)
            .sum();
        let mut next: Vec<Candidate> = current
            .iter()
            .filter(|c| c.version != self.version)
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
            id: self.id.clone(),
            version: self.version.clone(),
            weight: share,
        });
        // Rounding must not break "weights sum to 100".
        let sum: f64 = next.iter().map(|c| c.weight).sum();
        if let Some(first) = next.first_mut() {
            first.weight += 100.0 - sum;
        }
        next
    }
}

#[derive(Debug, Clone)]
pub struct PolicyPlan {
    pub evaluate_every: Dur,
    pub window: Dur,
    pub min_requests: u64,
    pub triggers: Vec<Trigger>,
    pub new_version: NewVersion,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub metric: TriggerMetric,
    pub above: Percent,
    pub severity: Severity,
    pub action: Action,
    pub decide_within: Option<Dur>,
    pub observe_for: Option<Dur>,
}

#[derive(Debug, Clone)]
pub struct NewVersion {
    pub for_: Dur,
    pub error_rate_max: Percent,
    pub latency_p99_increase_max: Percent,
    pub quality_drop_max: Percent,
}

#[derive(Debug, Clone)]
pub struct Responders {
    pub on_call: Responder,
    pub product: Responder,
    pub platform_lead: Responder,
}

#[derive(Debug, Clone)]
pub struct Responder {
    pub ack_after: Dur,
    pub decide_after: Dur,
    pub decision: Decision,
    pub authority: Vec<ChangeType>,
    /// `authority` includes `coordinated`: may roll back several routes.
    pub coordinated: bool,
    /// With `decision: roll_forward`: the fixed version to ship.
    pub roll_forward: Option<RollForward>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RollForward {
    pub version: String,
    pub id: String,
    pub ship_after: Dur,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Confirm,
    IdentifyTarget(TargetChoice),
    /// Replay this many synthetic requests on the target before switching.
    BaselineCheck {
        requests: u64,
    },
    Execute(Execute),
    Verify(Verify),
    Postmortem,
    /// Live only: the team's own staging over HTTP.
    Http(HttpCall),
    /// Live only: a shell command.
    Exec(ExecCall),
    /// Live only: a PromQL condition, polled.
    WaitFor(WaitFor),
}

impl Step {
    /// Steps that only a live drill can run (the simulation skips them).
    pub fn live_only(&self) -> bool {
        matches!(self, Step::Http(_) | Step::Exec(_) | Step::WaitFor(_))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpCall {
    pub method: HttpMethod,
    pub url: Template,
    pub headers: Vec<(String, Template)>,
    pub body: Option<Template>,
    /// Empty: any 2xx.
    pub expect_status: Vec<u16>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExecCall {
    /// Handed to `sh -c` as written: the shell expands `${NAME}`.
    pub command: Template,
    pub timeout: Dur,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WaitFor {
    pub url: Template,
    pub headers: Vec<(String, Template)>,
    pub query: String,
    pub bound: Bound,
    pub limit: f64,
    pub every: Dur,
    pub within: Dur,
}

impl WaitFor {
    pub fn holds(&self, value: f64) -> bool {
        self.bound.holds(value, self.limit)
    }

    pub fn describe(&self) -> String {
        let bound = self.bound.as_str();
        format!("`{}` {bound} {}", self.query, self.limit)
    }
}

impl Step {
    pub fn name(&self) -> &'static str {
        match self {
            Step::Confirm => "confirm",
            Step::IdentifyTarget(_) => "identify_target",
            Step::BaselineCheck { .. } => "baseline_check",
            Step::Execute(_) => "execute",
            Step::Verify(_) => "verify",
            Step::Postmortem => "postmortem",
            Step::Http(_) => "http",
            Step::Exec(_) => "exec",
            Step::WaitFor(_) => "wait_for",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TargetChoice {
    /// The version(s) that served before the release.
    Previous,
    Version(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Execute {
    pub mechanism: Mechanism,
    pub model: ExecModel,
}

/// What a mechanism's time is made of (SPEC section 3).
#[derive(Debug, Clone, PartialEq)]
pub enum ExecModel {
    /// `route_weight`, `alias_remap`: one registry write + propagation.
    Switch,
    /// `gradual`: reverse canary. `stages` are the release's remaining
    /// share of the weight it had when the rollback began (last is 0).
    Gradual {
        stages: Vec<f64>,
        hold: Dur,
        abort_if: Option<Condition>,
    },
    /// `redeploy`: pull + ceil(replicas / surge) × per_replica, then the
    /// switch.
    Redeploy {
        replicas: u32,
        surge: u32,
        per_replica: Dur,
        image_pull: Dur,
    },
    /// `revert_set`: the switch, then re-baselining.
    RevertSet { rebaseline: Dur },
    /// `restore_data`: rebuild `documents` at `rebuild_rate` per second,
    /// then the switch.
    RestoreData { documents: u64, rebuild_rate: f64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verify {
    pub condition: Condition,
    pub every: Dur,
    pub within: Dur,
}

/// A threshold on a route metric: rates are fractions, latencies durations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Condition {
    pub metric: VerifyMetric,
    pub bound: Bound,
    pub limit: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Below,
    Above,
}

impl Bound {
    /// Whether `value` is strictly on the right side of `limit`.
    pub fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Bound::Below => value < limit,
            Bound::Above => value > limit,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Bound::Below => "below",
            Bound::Above => "above",
        }
    }
}

impl Condition {
    pub fn holds(&self, value: f64) -> bool {
        self.bound.holds(value, self.limit)
    }

    /// `error_rate below 1%`, `latency_p99 below 2.5s`.
    pub fn describe(&self) -> String {
        let bound = self.bound.as_str();
        format!(
            "{} {bound} {}",
            self.metric,
            format_metric(self.metric, self.limit)
        )
    }
}

/// Rates print as percentages, latencies (kept in ms) as durations.
pub fn format_metric(metric: VerifyMetric, value: f64) -> String {
    match metric {
        VerifyMetric::ErrorRate
        | VerifyMetric::Quality
        | VerifyMetric::QualityDrop
        | VerifyMetric::LatencyP99Increase => Percent(value).to_string(),
        VerifyMetric::LatencyP50 | VerifyMetric::LatencyP99 => {
            Dur(value.round() as u64).to_string()
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub rollback: Option<bool>,
    pub severity: Option<Severity>,
    pub verdict: Option<Verdict>,
    pub findings: Vec<FindingKind>,
}

impl Expect {
    /// Whether the drill expects a rollback; a drill injects a regression,
    /// so without `expect.rollback` it does.
    pub fn rollback_expected(&self) -> bool {
        self.rollback.unwrap_or(true)
    }
}
