//! The registry's vocabulary and rules, shared by every backend: the
//! simulated registry, `registry serve`'s store and the live port speak
//! these errors, audit rows and [`rules`]; [`client`] is the small HTTP
//! client the live and container backends reach `registry serve` with.

pub mod client;
mod memory;
pub mod rules;

pub use memory::Registry;

use serde::Serialize;
use thiserror::Error;

use crate::scenario::Candidate;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum RegistryError {
    #[error("route `{0}` does not exist in the registry")]
    UnknownRoute(String),
    #[error("version `{version}` is no longer held for route `{route}`")]
    VersionNotHeld { route: String, version: String },
    #[error("candidates of route `{route}` refused: {reason}")]
    BadWeights { route: String, reason: String },
    #[error("route `{from}` has moved to `{to}`")]
    RouteMoved { from: String, to: String },
    /// No answer: refused at once, or (`timed_out_ms` > 0) after the
    /// client waited that long.
    #[error("the registry is unavailable (until {until_ms} ms)")]
    Unavailable { until_ms: u64, timed_out_ms: u64 },
    #[error("the runbook's config does not match the registry (repaired at {repaired_ms} ms)")]
    ConfigMismatch { repaired_ms: u64 },
    /// A live registry refused the call (its status and message).
    #[error("the registry refused the call: {0}")]
    Refused(String),
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditEntry {
    pub at_s: f64,
    pub actor: String,
    pub route: String,
    pub from: String,
    pub to: String,
    pub reason: String,
    /// The coordinated change this write belongs to: every route write of
    /// one release set's rollback carries the same id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
}

/// `claude-sonnet-4-5 75%, claude-sonnet-4-6 25%`
pub fn describe(candidates: &[Candidate]) -> String {
    candidates
        .iter()
        .map(|c| format!("{} {}%", c.version, (c.weight * 1000.0).round() / 1000.0))
        .collect::<Vec<_>>()
        .join(", ")
}
