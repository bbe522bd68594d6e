//! The raw form of a scenario file: a serde mirror of the YAML.
//!
//! Every struct denies unknown fields and every value is typed (durations,
//! percentages, vocabularies), so the first pass already rejects most
//! mistakes with a location. Nothing here is resolved or cross-checked: that
//! is `validate`'s job, which turns a `RawScenario` into a `Plan`. The JSON
//! Schema printed by `rollback-drill schema` is derived from these types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

pub use super::raw_set::{RawChange, RawReleaseForm, RawReleaseSet};
use super::units::{Dur, Percent, Ratio};
use super::vocab::{
    Action, Authority, ChangeType, Decision, FaultKind, FindingKind, HttpMethod, Mechanism,
    Severity, TriggerMetric, Verdict, VerifyMetric,
};

/// A rollback drill: the staging world, the change under test, the policy
/// and people that should catch it, the runbook, and what must happen.
#[derive(Debug, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// Defaults to the file's stem.
    pub name: Option<String>,
    pub description: Option<String>,
    pub change: Option<ChangeType>,
    /// Seed of the synthetic traffic; `--seed` overrides it. Default 0.
    pub seed: Option<u64>,
    /// Simulated horizon; the drill also ends once verified.
    pub duration: Option<Dur>,
    pub registry: Option<RawRegistry>,
    pub traffic: Option<RawTraffic>,
    pub release: Option<RawReleaseForm>,
    pub policy: Option<RawPolicy>,
    pub responders: Option<RawResponders>,
    pub procedure: Option<Vec<RawStep>>,
    pub faults: Option<Vec<RawFault>>,
    pub targets: Option<RawTargets>,
    /// How the `drift` check compares with history (defaults: runs 5, tolerance 25%).
    pub drift: Option<RawDrift>,
    pub expect: Option<RawExpect>,
    /// Live drills: read policy and verify metrics from a Prometheus.
    pub metrics: Option<RawMetrics>,
    /// A team's own staging system instead of the built-in registry.
    pub staging: Option<super::staging::RawStaging>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDrift {
    /// Median of this many most recent passing runs. Default 5.
    pub runs: Option<u32>,
    /// A phase slower than the median by more than this fails. Default 25%.
    pub tolerance: Option<Ratio>,
}

/// The top-level keys, in the order SPEC.md lists them.
pub const SCENARIO_FIELDS: &[&str] = &[
    "name",
    "description",
    "change",
    "seed",
    "duration",
    "registry",
    "traffic",
    "release",
    "policy",
    "responders",
    "procedure",
    "faults",
    "targets",
    "drift",
    "expect",
    "metrics",
    "staging",
];

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRegistry {
    /// Same shape as a gateway's alias file.
    pub routes: BTreeMap<String, RawRoute>,
    /// Extra versions the registry holds per route, oldest first.
    #[serde(default)]
    pub versions: BTreeMap<String, Vec<String>>,
    pub retention: Option<RawRetention>,
    /// Time for a routing change to reach every router. Default 0s.
    pub propagation: Option<Dur>,
    /// Time one registry write takes to be acknowledged. Default 1s.
    pub write_latency: Option<Dur>,
    /// Routes that depend on each other: `{prompt-route: [model-route]}`.
    /// In a coordinated release, when one rolls back the policy is
    /// evaluated on its related routes.
    #[serde(default)]
    pub related: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub candidates: Vec<RawCandidate>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCandidate {
    pub id: String,
    pub version_pin: String,
    /// Share of the route's traffic, 0 to 100; a route's weights sum to 100.
    pub weight: u32,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    /// How many versions per route stay available. Default 3.
    pub keep_last: u32,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTraffic {
    /// Requests per second across all routes.
    pub rps: f64,
    /// How each version behaves, by version_pin / version.
    pub behaviour: BTreeMap<String, RawBehaviour>,
    /// Real staging: a JSON Lines file of `{"prompt", "expect"}`, relative
    /// to the scenario file. Default: a built-in set.
    pub golden: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBehaviour {
    pub error_rate: Percent,
    pub latency: RawLatency,
    /// Share of good answers among the successful ones.
    pub quality: Percent,
}

/// A release's behaviour: fields left out are the replaced version's.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBehaviourPatch {
    pub error_rate: Option<Percent>,
    pub latency: Option<RawLatency>,
    pub quality: Option<Percent>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLatency {
    pub p50: Dur,
    pub p99: Dur,
}

/// The change under test.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRelease {
    pub route: String,
    pub version: String,
    /// Candidate id; default `<route>:<version>`.
    pub id: Option<String>,
    /// When it is deployed.
    pub at: Dur,
    /// Canary share (default 100%); or `steps` with `step_every`.
    pub weight: Option<Percent>,
    pub steps: Option<Vec<Percent>>,
    pub step_every: Option<Dur>,
    #[serde(default)]
    pub behaviour: RawBehaviourPatch,
    /// The regression starts this long after deploy. Default 0s.
    pub onset: Option<Dur>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub evaluate_every: Option<Dur>,
    pub window: Option<Dur>,
    pub min_requests: Option<u64>,
    /// Checked in order on the released version's metrics; first match wins.
    pub triggers: Option<Vec<RawTrigger>>,
    pub new_version: Option<RawNewVersion>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTrigger {
    pub metric: TriggerMetric,
    /// Relative changes (`quality_drop`, `latency_p99_increase`) may exceed 100%.
    pub above: Ratio,
    pub severity: Severity,
    pub action: Action,
    pub decide_within: Option<Dur>,
    pub observe_for: Option<Dur>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNewVersion {
    #[serde(rename = "for")]
    pub for_: Dur,
    pub error_rate_max: Option<Ratio>,
    pub latency_p99_increase_max: Option<Ratio>,
    pub quality_drop_max: Option<Ratio>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawResponders {
    pub on_call: Option<RawResponder>,
    pub product: Option<RawResponder>,
    pub platform_lead: Option<RawResponder>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawResponder {
    pub ack_after: Option<Dur>,
    pub decide_after: Option<Dur>,
    pub decision: Option<Decision>,
    /// Change types, and `coordinated` for rollbacks of several routes.
    pub authority: Option<Vec<Authority>>,
    pub roll_forward: Option<RawRollForward>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRollForward {
    pub version: String,
    #[serde(default)]
    pub behaviour: RawBehaviourPatch,
    pub ship_after: Dur,
}

/// One step of the runbook, written as `- name: {fields}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawStep {
    /// Re-read the metrics; abort if the problem is not real.
    Confirm {},
    /// Choose the version to roll back to.
    IdentifyTarget {
        previous: Option<bool>,
        version: Option<String>,
    },
    /// The target must be healthy itself.
    BaselineCheck { requests: Option<u64> },
    /// Roll back.
    Execute(RawExecute),
    /// The rollback worked: a metric holds within a time.
    Verify(RawVerify),
    /// Write the incident record into the report.
    Postmortem {},
    /// Live only: an HTTP call to the team's own staging.
    Http(RawHttp),
    /// Live only: a shell command (`sh -c`).
    Exec(RawExec),
    /// Live only: poll a PromQL query until a condition holds.
    WaitFor(RawWaitFor),
}

impl RawStep {
    pub fn name(&self) -> &'static str {
        match self {
            RawStep::Confirm {} => "confirm",
            RawStep::IdentifyTarget { .. } => "identify_target",
            RawStep::BaselineCheck { .. } => "baseline_check",
            RawStep::Execute(_) => "execute",
            RawStep::Verify(_) => "verify",
            RawStep::Postmortem {} => "postmortem",
            RawStep::Http(_) => "http",
            RawStep::Exec(_) => "exec",
            RawStep::WaitFor(_) => "wait_for",
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExecute {
    pub mechanism: Mechanism,
    pub stages: Option<Vec<Percent>>,
    pub hold: Option<Dur>,
    pub abort_if: Option<RawCondition>,
    pub replicas: Option<u32>,
    pub surge: Option<u32>,
    pub per_replica: Option<Dur>,
    pub image_pull: Option<Dur>,
    pub rebaseline: Option<Dur>,
    pub documents: Option<u64>,
    pub rebuild_rate: Option<f64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    pub metric: VerifyMetric,
    pub above: Option<String>,
    pub below: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawVerify {
    pub metric: VerifyMetric,
    /// A percentage for rates, a duration for latencies.
    pub below: Option<String>,
    pub above: Option<String>,
    /// How often to poll. Default 5s.
    pub every: Option<Dur>,
    /// The limit of the `verify` check. Default 5m.
    pub within: Option<Dur>,
}

/// `http:` — `${NAME}` in `url`, header values and `body` is read from
/// the environment when the drill runs.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    /// Default GET.
    pub method: Option<HttpMethod>,
    /// `http://HOST:PORT/PATH?QUERY` (no TLS).
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    /// A status or a list of statuses; default any 2xx.
    pub expect_status: Option<StatusList>,
}

/// `exec:` — run with `sh -c`; the shell expands `${NAME}` itself from the
/// environment it inherits.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExec {
    pub command: String,
    /// Scenario time; default 5m (divided by `--time-scale` on the wall).
    pub timeout: Option<Dur>,
}

/// `wait_for:` — exactly one of `below` and `above`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWaitFor {
    pub prometheus: RawPromQuery,
    /// A number, or a percentage such as `1%` (= 0.01).
    #[schemars(schema_with = "number_or_text")]
    pub below: Option<String>,
    #[schemars(schema_with = "number_or_text")]
    pub above: Option<String>,
    /// Give up after this long. Default 5m.
    pub within: Option<Dur>,
    /// How often to query. Default 5s.
    pub every: Option<Dur>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPromQuery {
    /// Prometheus base URL; default `metrics.prometheus.url`.
    pub url: Option<String>,
    /// A PromQL instant query returning a scalar or a single sample.
    pub query: String,
}

/// Scenario-level metric sources for live drills.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    pub prometheus: RawPrometheus,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPrometheus {
    /// Base URL, e.g. `http://prometheus:9090` (`${NAME}` allowed).
    pub url: String,
    /// Sent with every query, e.g. `Authorization: Bearer ${PROM_TOKEN}`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// PromQL per metric (`error_rate`, `quality`, `latency_p50`,
    /// `latency_p99`), with `{version}` (required), `{route}` and `{window}`
    /// filled in. Rates are fractions, latencies seconds.
    pub queries: BTreeMap<VerifyMetric, String>,
}

fn number_or_text(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": ["number", "string", "null"]})
}

/// One status or a list of them, e.g. `200` or `[200, 202]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusList(pub Vec<u64>);

impl<'de> Deserialize<'de> for StatusList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<StatusList, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = StatusList;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an HTTP status or a list of statuses")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<StatusList, E> {
                Ok(StatusList(vec![v]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<StatusList, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<u64>()? {
                    out.push(s);
                }
                Ok(StatusList(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for StatusList {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StatusList".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An HTTP status or a list of statuses",
            "anyOf": [
                {"type": "integer", "minimum": 100, "maximum": 599},
                {"type": "array", "items": {"type": "integer", "minimum": 100, "maximum": 599}}
            ]
        })
    }
}

/// A fault on the rollback path: `kind` plus that kind's fields.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub kind: FaultKind,
    pub at: Option<Dur>,
    #[serde(rename = "for")]
    pub for_: Option<Dur>,
    pub add: Option<Dur>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub fix_after: Option<Dur>,
    pub ttl: Option<Dur>,
    pub routers: Option<u32>,
    pub stuck: Option<u32>,
    pub lag: Option<Dur>,
    pub behaviour: Option<RawBehaviourPatch>,
    /// `registry_crash`: how long the registry stays down before it restarts.
    pub restart_after: Option<Dur>,
    /// `retire_target`: whose target is retired; default the release's
    /// route (in a release set, any route of it).
    pub route: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTargets {
    /// Restore target; default by change type (prompt 5m, model 10m,
    /// agent_code 30m, eval 15m, data 4h).
    pub restore: Option<Dur>,
    /// Detect target (onset → detected); unset by default.
    pub detect: Option<Dur>,
    /// Decide target (detected → decided); unset by default.
    pub decide: Option<Dur>,
    /// Mitigate target (onset → restored: what users feel); unset by default.
    pub mitigate: Option<Dur>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// false: a healthy release must NOT be rolled back.
    pub rollback: Option<bool>,
    pub severity: Option<Severity>,
    pub verdict: Option<Verdict>,
    /// Finding kinds that must appear.
    pub findings: Option<Vec<FindingKind>>,
}
