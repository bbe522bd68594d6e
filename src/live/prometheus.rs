//! PromQL instant queries (`GET {url}/api/v1/query?query=…`), for
//! `wait_for` steps and for the metrics a scenario maps to Prometheus.
//!
//! A query must come back as a scalar or a vector of exactly one sample:
//! the drill compares one number with a threshold, so a query that
//! returns several series is a mistake to fix (aggregate it with `sum`).

use std::time::Duration;

use serde_json::Value;

use super::request::{self, Request, encode};
use super::team::expand_headers;
use crate::scenario::{Dur, Template, hide_host, redact};

const TIMEOUT: Duration = Duration::from_secs(10);

/// The largest Prometheus answer read (a query for one number).
const MAX_ANSWER: usize = 16 << 20;

/// Why a query gave no value: the metrics' shared error, named for where
/// it comes from here.
pub use crate::metrics::ExternalError as PromError;

/// Fills a `metrics.prometheus` query's placeholders. `{window}` is the
/// policy window in wall time (scenario window ÷ time scale).
pub fn fill(query: &str, version: &str, route: &str, window: Dur, scale: f64) -> String {
    let wall_ms = ((window.0 as f64 / scale).round() as u64).max(1);
    let window = if wall_ms.is_multiple_of(1000) {
        format!("{}s", wall_ms / 1000)
    } else {
        format!("{wall_ms}ms")
    };
    query
        .replace("{version}", version)
        .replace("{route}", route)
        .replace("{window}", &window)
}

/// Runs one instant query. Messages never hold a secret's value.
pub fn query(
    url: &Template,
    headers: &[(String, Template)],
    promql: &str,
) -> Result<f64, PromError> {
    let secrets: Vec<&str> = url
        .env_names()
        .into_iter()
        .chain(headers.iter().flat_map(|(_, v)| v.env_names()))
        .collect();
    let clean = |m: String| redact(&m, &secrets);
    let base = url
        .expand_env()
        .map_err(|n| PromError::Unreachable(format!("environment variable `{n}` is not set")))?;
    let headers = expand_headers(headers)
        .map_err(|n| PromError::Unreachable(format!("environment variable `{n}` is not set")))?;
    let full = format!(
        "{}/api/v1/query?query={}",
        base.trim_end_matches('/'),
        encode(promql)
    );
    let reply = request::send(&Request {
        method: "GET",
        url: &full,
        headers: &headers,
        body: None,
        timeout: TIMEOUT,
        max_body: MAX_ANSWER,
    })
    .map_err(|e| PromError::Unreachable(clean(hide_host(&e.to_string(), url, &base))))?;
    if reply.truncated {
        return Err(PromError::Rejected(format!(
            "the answer is larger than {} MiB: a query for one number should not be",
            MAX_ANSWER >> 20
        )));
    }
    let v: Value = serde_json::from_str(&reply.body).map_err(|_| {
        PromError::Unreachable(clean(format!(
            "HTTP {} with a body that is not Prometheus JSON",
            reply.status
        )))
    })?;
    if v["status"] != "success" {
        let why = v["error"].as_str().unwrap_or("no reason given");
        return Err(PromError::Rejected(clean(format!(
            "HTTP {}: {why}",
            reply.status
        ))));
    }
    let data = &v["data"];
    let sample = match data["resultType"].as_str() {
        Some("scalar") => &data["result"],
        Some("vector") => {
            let result = data["result"].as_array().cloned().unwrap_or_default();
            match result.len() {
                1 => &v["data"]["result"][0]["value"],
                0 => return Err(PromError::NoValue("no sample (no data yet?)".into())),
                n => {
                    return Err(PromError::NoValue(format!(
                        "{n} series, not one: aggregate the query, e.g. with sum(...)"
                    )));
                }
            }
        }
        other => {
            return Err(PromError::NoValue(format!(
                "a {} result, not a scalar or one sample",
                other.unwrap_or("missing")
            )));
        }
    };
    let value: f64 = sample[1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| PromError::NoValue(format!("unreadable sample {sample}")))?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(PromError::NoValue(format!("the value is {value}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_with_the_wall_window() {
        let q = "sum(rate(e{version=\"{version}\",route=\"{route}\"}[{window}]))";
        assert_eq!(
            fill(q, "v12", "support", Dur::from_mins(5), 60.0),
            "sum(rate(e{version=\"v12\",route=\"support\"}[5s]))"
        );
        assert_eq!(fill("{window}", "", "", Dur::from_secs(1), 60.0), "17ms");
    }
}
