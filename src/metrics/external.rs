//! Metrics read from outside the drill's own traffic (Prometheus): why a
//! read gave no value, shared by the procedure and the ports that read.

/// Why an external metric (a PromQL query) has no value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExternalError {
    /// No answer, or not a Prometheus answer: an environment problem.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// Prometheus refused the query (syntax, bad parameters).
    #[error("query rejected: {0}")]
    Rejected(String),
    /// The query ran but gave no single number (no data yet, NaN, several
    /// series).
    #[error("{0}")]
    NoValue(String),
    /// This backend reads no external metrics (a simulated drill).
    #[error("no Prometheus on this backend")]
    NotHere,
}
