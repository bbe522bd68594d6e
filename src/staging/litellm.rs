//! A blocking client for a LiteLLM proxy in config mode (checked against
//! LiteLLM 1.100.0): the deployments it routes, chat requests that say which
//! deployment served them, and the per-deployment failure counters.
//!
//! Why the counters: the router retries a failed call on another
//! deployment of the group, so a deployment failing every call can leave
//! clients with nothing but successes. Only `/metrics/`
//! (`litellm_deployment_failure_responses_total{model_id=...}`) shows it.
//! Without a database the proxy cannot change a deployment at run time
//! (`/model/update` answers "No DB Connected"): a rollback rewrites
//! `config.yaml` (see `files::litellm_config`) and restarts the proxy, after
//! which [`Litellm::wait_ready`] times its return.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::http::{Client, HttpError};

/// The response header naming the deployment (`model_info.id`) that served.
pub const MODEL_ID_HEADER: &str = "x-litellm-model-id";
/// The proxy's per-deployment failure counter.
pub const FAILURES_METRIC: &str = "litellm_deployment_failure_responses_total";

#[derive(Debug, thiserror::Error)]
pub enum LitellmError {
    #[error("LiteLLM {endpoint}: {source}; is the proxy up at that URL?")]
    Unreachable {
        endpoint: &'static str,
        source: HttpError,
    },
    #[error("LiteLLM {endpoint} answered {status}: {body}{hint}")]
    Status {
        endpoint: &'static str,
        status: u16,
        body: String,
        hint: &'static str,
    },
    #[error("LiteLLM {endpoint} answered a body that is not its JSON: {detail}")]
    Decode {
        endpoint: &'static str,
        detail: String,
    },
    #[error(
        "LiteLLM proxy not ready at GET /health/liveliness after {0:?}; check its log and config"
    )]
    NotReady(Duration),
}

/// One deployment of the proxy, as `/model/info` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// `model_info.id`.
    pub id: String,
    /// The group (route) it belongs to.
    pub model_name: String,
    pub weight: Option<f64>,
    pub api_base: Option<String>,
}

/// One chat request's outcome as a client sees it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The deployment that served it (`x-litellm-model-id`).
    pub model_id: Option<String>,
    /// The answer's text, for a 2xx.
    pub content: Option<String>,
    pub wall: Duration,
}

pub struct Litellm {
    http: Client,
}

impl Litellm {
    /// `url` is the proxy, `http://HOST:PORT`; `key` its master key.
    pub fn new(url: &str, key: Option<&str>) -> Result<Litellm, HttpError> {
        let http = Client::new(url)?.timeout(Duration::from_secs(120));
        Ok(Litellm {
            http: match key {
                Some(k) => http.bearer(k),
                None => http,
            },
        })
    }

    /// Whether `GET /health/liveliness` answers 200.
    pub fn live(&self) -> bool {
        self.http
            .clone()
            .timeout(Duration::from_secs(2))
            .get("/health/liveliness")
            .is_ok_and(|r| r.status == 200)
    }

    /// Polls liveliness until it answers; returns how long that took. A
    /// restarted proxy's time back is part of the rollback.
    pub fn wait_ready(&self, within: Duration) -> Result<Duration, LitellmError> {
        let start = Instant::now();
        while start.elapsed() < within {
            if self.live() {
                return Ok(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(LitellmError::NotReady(within))
    }

    fn json(&self, endpoint: &'static str) -> Result<Value, LitellmError> {
        let r = self
            .http
            .get(endpoint)
            .map_err(|source| LitellmError::Unreachable { endpoint, source })?;
        if !r.is_success() {
            return Err(status_error(endpoint, r.status, &r.body));
        }
        serde_json::from_str(&r.body).map_err(|e| LitellmError::Decode {
            endpoint,
            detail: e.to_string(),
        })
    }

    /// `GET /model/info`: every deployment with its id and weight.
    pub fn deployments(&self) -> Result<Vec<Deployment>, LitellmError> {
        let v = self.json("/model/info")?;
        Ok(v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                let params = &d["litellm_params"];
                Deployment {
                    id: d["model_info"]["id"].as_str().unwrap_or_default().into(),
                    model_name: d["model_name"].as_str().unwrap_or_default().into(),
                    weight: params["weight"].as_f64(),
                    api_base: params["api_base"].as_str().map(str::to_string),
                }
            })
            .collect())
    }

    /// `POST /v1/chat/completions` of one user prompt to `model_name`.
    pub fn chat(&self, model_name: &str, prompt: &str) -> Result<Answer, LitellmError> {
        let endpoint = "/v1/chat/completions";
        let body = json!({
            "model": model_name,
            "messages": [{"role": "user", "content": prompt}],
        });
        let start = Instant::now();
        let r = self
            .http
            .post_json(endpoint, &body)
            .map_err(|source| LitellmError::Unreachable { endpoint, source })?;
        let content = if r.is_success() {
            serde_json::from_str::<Value>(&r.body).ok().and_then(|v| {
                v["choices"][0]["message"]["content"]
                    .as_str()
                    .map(str::to_string)
            })
        } else {
            None
        };
        Ok(Answer {
            status: r.status,
            model_id: r.header(MODEL_ID_HEADER).map(str::to_string),
            content,
            wall: start.elapsed(),
        })
    }

    /// `GET /metrics/`: failures per deployment id so far (counters since
    /// the proxy started).
    pub fn deployment_failures(&self) -> Result<BTreeMap<String, f64>, LitellmError> {
        let endpoint = "/metrics/";
        let r = self
            .http
            .get(endpoint)
            .map_err(|source| LitellmError::Unreachable { endpoint, source })?;
        if !r.is_success() {
            return Err(status_error(endpoint, r.status, &r.body));
        }
        Ok(sum_by_label(&r.body, FAILURES_METRIC, "model_id"))
    }
}

fn status_error(endpoint: &'static str, status: u16, body: &str) -> LitellmError {
    let hint = match status {
        401 | 403 => " (send the proxy's master key: `staging.key`)",
        404 if endpoint == "/metrics/" => {
            " (enable `litellm_settings: {callbacks: [\"prometheus\"]}` and install prometheus_client)"
        }
        _ => "",
    };
    LitellmError::Status {
        endpoint,
        status,
        body: body.chars().take(300).collect(),
        hint,
    }
}

/// Sums the samples of `metric` in Prometheus text format by the value of
/// `label` (samples without it are skipped).
pub fn sum_by_label(text: &str, metric: &str, label: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix(metric) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix('{') else {
            continue;
        };
        let Some((labels, value)) = split_labels(rest) else {
            continue;
        };
        let Some(value) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        if let Some((_, v)) = labels.into_iter().find(|(k, _)| k == label) {
            *out.entry(v).or_insert(0.0) += value;
        }
    }
    out
}

/// `k="v",k2="v2"} rest` → the labels and `rest`.
fn split_labels(s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    let mut chars = s.char_indices().peekable();
    loop {
        while chars.peek().is_some_and(|(_, c)| *c == ',' || *c == ' ') {
            chars.next();
        }
        let (i, c) = chars.next()?;
        if c == '}' {
            return Some((labels, &s[i + 1..]));
        }
        let mut key = String::from(c);
        for (_, c) in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        if chars.next()?.1 != '"' {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()?.1 {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.push((key.trim().to_string(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_summed_per_deployment() {
        let text = r#"# HELP litellm_deployment_failure_responses_total x
# TYPE litellm_deployment_failure_responses_total counter
litellm_deployment_failure_responses_total{api_base="http://a",model_id="bad",exception_status="500"} 3.0
litellm_deployment_failure_responses_total{model_id="bad",exception_status="429"} 2.0
litellm_deployment_failure_responses_total{model_id="we\"ird, id"} 1.0
litellm_deployment_failure_responses_total_created{model_id="bad"} 1.7e9
litellm_deployment_success_responses_total{model_id="good"} 9.0
litellm_deployment_failure_responses_total{api_base="x"} 4.0
"#;
        let got = sum_by_label(text, FAILURES_METRIC, "model_id");
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got["bad"], 5.0);
        assert_eq!(got["we\"ird, id"], 1.0);
    }

    #[test]
    fn a_closed_port_is_not_ready_and_names_the_endpoint() {
        let l = Litellm::new("http://127.0.0.1:9", Some("k")).expect("a URL");
        assert!(!l.live());
        assert!(matches!(
            l.wait_ready(Duration::from_millis(150)),
            Err(LitellmError::NotReady(_))
        ));
        let e = l.deployments().expect_err("no proxy").to_string();
        assert!(e.starts_with("LiteLLM /model/info: "), "{e}");
    }
}
