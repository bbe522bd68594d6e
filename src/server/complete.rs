//! `POST /v1/complete`: a synthetic model endpoint that routes each request
//! by the route's current weights and answers with the serving version's
//! behaviour; `GET /metrics` exposes what it served in Prometheus text
//! format, per route and version.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::Mutex;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde::Deserialize;
use serde_json::json;

use super::App;
use super::api::ApiError;
use crate::metrics::LatencyModel;
use crate::scenario::{Behaviour, Dur, Percent};

/// Latency histogram bounds, seconds.
const BUCKETS: [f64; 9] = [0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Debug, Default, Clone)]
struct Served {
    requests: u64,
    errors: u64,
    good: u64,
    latency_sum: f64,
    buckets: [u64; BUCKETS.len()],
}

pub struct Synthetic {
    behaviour: Mutex<BTreeMap<String, Behaviour>>,
    served: Mutex<BTreeMap<(String, String), Served>>,
    rng: Mutex<ChaCha8Rng>,
}

impl Default for Synthetic {
    fn default() -> Synthetic {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Synthetic {
            behaviour: Mutex::default(),
            served: Mutex::default(),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        }
    }
}

fn default_behaviour() -> Behaviour {
    Behaviour {
        error_rate: 0.0,
        quality: 0.9,
        p50: Dur(500),
        p99: Dur(1000),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    route: String,
    #[serde(default)]
    #[allow(dead_code)]
    prompt: String,
    /// Pin a version the route holds (replays of a rollback target).
    version: Option<String>,
}

pub async fn complete(
    State(app): State<Arc<App>>,
    b: Result<Json<CompleteRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = super::api::parse(b)?;
    let name = req.route.clone();
    let app2 = Arc::clone(&app);
    let record = tokio::task::spawn_blocking(move || app2.store.route(&name))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::from(super::store::StoreError::NoRoute(req.route.clone())))?;
    let mut rng = app.synthetic.rng.lock().unwrap_or_else(|p| p.into_inner());
    let pinned;
    let cand = match &req.version {
        Some(v)
            if record.versions.contains(v) || record.candidates.iter().any(|c| &c.version == v) =>
        {
            pinned = crate::scenario::Candidate {
                id: format!("{}:{v}", record.route),
                version: v.clone(),
                weight: 100.0,
            };
            &pinned
        }
        Some(v) => {
            return Err(ApiError::invalid(format!(
                "route `{}` does not hold version `{v}`",
                record.route
            )));
        }
        None => {
            let total: f64 = record.candidates.iter().map(|c| c.weight).sum();
            let mut pick = rng.random::<f64>() * total;
            record
                .candidates
                .iter()
                .find(|c| {
                    pick -= c.weight;
                    pick < 0.0 && c.weight > 0.0
                })
                .or_else(|| record.candidates.iter().rfind(|c| c.weight > 0.0))
                .expect("weights sum to 100")
        }
    };
    let b = app
        .synthetic
        .behaviour
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&cand.version)
        .copied()
        .unwrap_or_else(default_behaviour);
    let error = rng.random::<f64>() < b.error_rate;
    let good = !error && rng.random::<f64>() < b.quality;
    let latency_ms = LatencyModel::of(&b).map_or(b.p50.0 as f64, |model| model.sample(&mut *rng));
    drop(rng);
    {
        let mut served = app
            .synthetic
            .served
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let s = served
            .entry((record.route.clone(), cand.version.clone()))
            .or_default();
        s.requests += 1;
        s.errors += u64::from(error);
        s.good += u64::from(good);
        let secs = latency_ms / 1000.0;
        s.latency_sum += secs;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                s.buckets[i] += 1;
            }
        }
    }
    Ok(Json(json!({
        "route": record.route,
        "version": cand.version,
        "id": cand.id,
        "error": error,
        "good": good,
        "latency_ms": (latency_ms * 1000.0).round() / 1000.0,
    }))
    .into_response())
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    let served = app
        .synthetic
        .served
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut out = String::new();
    for (name, help, f) in [
        (
            "rollback_drill_requests_total",
            "Synthetic requests served.",
            (|s: &Served| s.requests) as fn(&Served) -> u64,
        ),
        (
            "rollback_drill_errors_total",
            "Synthetic requests that failed.",
            |s| s.errors,
        ),
        (
            "rollback_drill_good_total",
            "Synthetic answers judged good.",
            |s| s.good,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for ((route, version), s) in &served {
            let _ = writeln!(
                out,
                "{name}{{route=\"{}\",version=\"{}\"}} {}",
                label(route),
                label(version),
                f(s)
            );
        }
    }
    let name = "rollback_drill_latency_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Synthetic latency.\n# TYPE {name} histogram"
    );
    for ((route, version), s) in &served {
        let l = format!("route=\"{}\",version=\"{}\"", label(route), label(version));
        for (bound, count) in BUCKETS.iter().zip(s.buckets) {
            let _ = writeln!(out, "{name}_bucket{{{l},le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{{l},le=\"+Inf\"}} {}", s.requests);
        let _ = writeln!(out, "{name}_sum{{{l}}} {}", s.latency_sum);
        let _ = writeln!(out, "{name}_count{{{l}}} {}", s.requests);
    }
    (
        StatusCode::OK,
        [("content-type", "text/plain; version=0.0.4")],
        out,
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviourRequest {
    version: String,
    error_rate: String,
    quality: String,
    p50: String,
    p99: String,
}

/// How the synthetic endpoint answers for a version (platform_lead).
pub async fn set_behaviour(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    b: Result<Json<BehaviourRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    super::api::require(&app, &headers, super::auth::Role::PlatformLead)?;
    let req = super::api::parse(b)?;
    let invalid = |e: String| ApiError::invalid(e);
    let b = Behaviour {
        error_rate: Percent::parse(&req.error_rate).map_err(invalid)?.fraction(),
        quality: Percent::parse(&req.quality).map_err(invalid)?.fraction(),
        p50: Dur::parse(&req.p50).map_err(invalid)?,
        p99: Dur::parse(&req.p99).map_err(invalid)?,
    };
    if b.p50 == Dur::ZERO || b.p99 < b.p50 {
        return Err(ApiError::invalid(
            "p50 must be above 0 and p99 at least p50".into(),
        ));
    }
    app.synthetic
        .behaviour
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(req.version.clone(), b);
    Ok(Json(json!({"version": req.version})).into_response())
}
