//! The harness's own model backend: an OpenAI-compatible chat endpoint on
//! loopback that serves each version's scenario behaviour for real.
//!
//! Each version has its own base URL, `http://127.0.0.1:PORT/mock/VERSION/v1`,
//! which is what a release registers in the team's system (an MLflow
//! version's source, a LiteLLM deployment's `api_base`, a file's candidate).
//! A request to `POST {base}/chat/completions` draws, from the version's own
//! seeded stream, whether it fails (a real HTTP 500 with an OpenAI-style
//! error body), how long it takes (real waiting, from the same log-normal
//! the simulation uses, divided by the time scale) and whether the answer is
//! good (it contains the golden `expect` of the prompt) or wrong (it does
//! not). The regression's onset is a [`MockBackend::set_behaviour`] call.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

use crate::metrics::LatencyModel;
use crate::scenario::Behaviour;
use crate::scenario::golden::{GoldenSet, is_good};

/// The header naming the version that served a response: the stand-in
/// app's record of who answered.
pub const VERSION_HEADER: &str = "x-rollback-drill-version";

/// Answers a wrong response picks from: the first that does not contain
/// the expected text.
const WRONG: &[&str] = &[
    "I am not sure about that.",
    "I cannot answer this question.",
    "No idea.",
    "?",
];

#[derive(Debug, thiserror::Error)]
pub enum MockError {
    #[error("the mock backend's time scale must be a positive number, found {0}")]
    TimeScale(f64),
    #[error("the mock backend cannot listen on 127.0.0.1: {0}")]
    Bind(std::io::Error),
    #[error("the mock backend cannot start its runtime: {0}")]
    Runtime(std::io::Error),
}

/// What one version has served so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Served {
    pub requests: u64,
    /// Answered with a 5xx.
    pub errors: u64,
    /// Answered with its prompt's `expect` in it.
    pub good: u64,
    /// Answered, but wrong.
    pub wrong: u64,
}

struct Version {
    behaviour: Behaviour,
    rng: ChaCha8Rng,
    served: Served,
}

struct Shared {
    seed: u64,
    time_scale: f64,
    golden: GoldenSet,
    versions: Mutex<BTreeMap<String, Version>>,
}

impl Shared {
    fn versions(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Version>> {
        self.versions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One draw for one request.
struct Draw {
    error: bool,
    good: bool,
    wait: Duration,
}

/// The mock, running on its own runtime thread; it stops when dropped.
pub struct MockBackend {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockBackend {
    /// Starts serving `versions` on a free loopback port. `time_scale`
    /// divides every latency (`--time-scale`); `seed` seeds each version's
    /// stream, so a sequence of requests to a version draws the same
    /// outcomes on every run.
    pub fn start(
        seed: u64,
        time_scale: f64,
        golden: GoldenSet,
        versions: &[(String, Behaviour)],
    ) -> Result<MockBackend, MockError> {
        if !(time_scale.is_finite() && time_scale > 0.0) {
            return Err(MockError::TimeScale(time_scale));
        }
        let shared = Arc::new(Shared {
            seed,
            time_scale,
            golden,
            versions: Mutex::new(BTreeMap::new()),
        });
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(MockError::Bind)?;
        listener.set_nonblocking(true).map_err(MockError::Bind)?;
        let addr = listener.local_addr().map_err(MockError::Bind)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(MockError::Runtime)?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(MockError::Bind)?
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = router(shared.clone());
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        let mock = MockBackend {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        };
        for (version, behaviour) in versions {
            mock.set_behaviour(version, *behaviour);
        }
        Ok(mock)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OpenAI base URL of `version` (clients append
    /// `/chat/completions`).
    pub fn base_url(&self, version: &str) -> String {
        format!("http://{}/mock/{}/v1", self.addr, encode_segment(version))
    }

    /// Serves `version` with `behaviour` from the next request on: adds a
    /// version, or switches one (a regression's onset). A version keeps
    /// its random stream and counts across switches.
    pub fn set_behaviour(&self, version: &str, behaviour: Behaviour) {
        let mut versions = self.shared.versions();
        match versions.get_mut(version) {
            Some(v) => v.behaviour = behaviour,
            None => {
                let mut rng = ChaCha8Rng::seed_from_u64(self.shared.seed);
                rng.set_stream(fnv(version.as_bytes()));
                versions.insert(
                    version.to_string(),
                    Version {
                        behaviour,
                        rng,
                        served: Served::default(),
                    },
                );
            }
        }
    }

    /// What `version` has served; zeros for a version it does not have.
    pub fn served(&self, version: &str) -> Served {
        self.shared
            .versions()
            .get(version)
            .map_or_else(Served::default, |v| v.served)
    }
}

impl Drop for MockBackend {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/mock/{version}/v1/chat/completions", post(chat))
        .route("/mock/{version}/v1/models", get(models))
        .with_state(shared)
}

/// An OpenAI-style error response.
fn error(status: StatusCode, kind: &str, code: &str, message: String) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    (status, Json(body)).into_response()
}

fn unknown_version(version: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "model_not_found",
        format!("the mock backend serves no version `{version}`"),
    )
}

async fn models(State(shared): State<Arc<Shared>>, Path(version): Path<String>) -> Response {
    if !shared.versions().contains_key(&version) {
        return unknown_version(&version);
    }
    Json(json!({"object": "list", "data": [{"id": version, "object": "model", "owned_by": "rollback-drill"}]}))
        .into_response()
}

/// The text of the last user message: a string, or a list of parts.
fn prompt_of(body: &Value) -> Option<String> {
    let messages = body.get("messages")?.as_array()?;
    let last = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
    match last.get("content")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
        ),
        _ => None,
    }
}

/// The answer a version gives: good ones contain `expect`, wrong ones
/// never do.
fn answer(expect: Option<&str>, good: bool) -> String {
    match (expect, good) {
        (Some(e), true) => format!("The answer is {e}."),
        (None, true) => "OK.".to_string(),
        (e, false) => WRONG
            .iter()
            .find(|w| e.is_none_or(|e| !is_good(w, e)))
            .map_or_else(String::new, |w| (*w).to_string()),
    }
}

async fn chat(
    State(shared): State<Arc<Shared>>,
    Path(version): Path<String>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_json",
            "the body is not a chat completion request (JSON)".into(),
        );
    };
    let Some(prompt) = prompt_of(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_messages",
            "the request has no user message".into(),
        );
    };
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "stream_unsupported",
            "the mock backend answers without streaming; send `stream: false`".into(),
        );
    }
    let expect = shared.golden.expect_of(&prompt).map(str::to_string);
    let draw = {
        let mut versions = shared.versions();
        let Some(v) = versions.get_mut(&version) else {
            return unknown_version(&version);
        };
        let error = v.rng.random::<f64>() < v.behaviour.error_rate;
        let good = v.rng.random::<f64>() < v.behaviour.quality;
        let ms = LatencyModel::of(&v.behaviour).map_or(0.0, |d| d.sample(&mut v.rng));
        v.served.requests += 1;
        match (error, good) {
            (true, _) => v.served.errors += 1,
            (false, true) => v.served.good += 1,
            (false, false) => v.served.wrong += 1,
        }
        Draw {
            error,
            good,
            wait: Duration::from_secs_f64((ms / 1000.0 / shared.time_scale).max(0.0)),
        }
    };
    tokio::time::sleep(draw.wait).await;
    let header = (
        HeaderName::from_static(VERSION_HEADER),
        HeaderValue::from_str(&version).unwrap_or(HeaderValue::from_static("?")),
    );
    if draw.error {
        let mut r = error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal_error",
            format!("version `{version}` failed (its scenario error rate)"),
        );
        r.headers_mut().insert(header.0, header.1);
        return r;
    }
    let content = answer(expect.as_deref(), draw.good);
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or(&version)
        .to_string();
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let words = |s: &str| s.split_whitespace().count().max(1);
    let body = json!({
        "id": format!("chatcmpl-mock-{created}"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop"
        }],
        "usage": {
            "prompt_tokens": words(&prompt),
            "completion_tokens": words(&content),
            "total_tokens": words(&prompt) + words(&content)
        }
    });
    ([header], Json(body)).into_response()
}

/// A version name as one URL path segment.
fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@:+".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// FNV-1a: a version's stream number, stable across runs and platforms.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::http::{Client, Response};
    use super::*;
    use crate::scenario::Dur;

    fn b(error_rate: f64, quality: f64, ms: u64) -> Behaviour {
        Behaviour {
            error_rate,
            quality,
            p50: Dur(ms),
            p99: Dur(ms),
        }
    }

    fn ask(mock: &MockBackend, version: &str, prompt: &str) -> Response {
        Client::new(&mock.base_url(version))
            .expect("a URL")
            .post_json(
                "/chat/completions",
                &json!({"model": "any", "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": prompt}
                ]}),
            )
            .expect("an answer")
    }

    fn content(r: &Response) -> String {
        let v: Value = serde_json::from_str(&r.body).expect("JSON");
        v["choices"][0]["message"]["content"]
            .as_str()
            .expect("content")
            .to_string()
    }

    #[test]
    fn errors_wrong_answers_and_good_ones_are_real() {
        let golden = GoldenSet::builtin();
        let case = golden.cases[1].clone();
        let mock = MockBackend::start(
            1,
            1.0,
            golden,
            &[
                ("good".into(), b(0.0, 1.0, 1)),
                ("wrong".into(), b(0.0, 0.0, 1)),
                ("failing".into(), b(1.0, 1.0, 1)),
            ],
        )
        .expect("started");
        let r = ask(&mock, "good", &case.prompt);
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(is_good(&content(&r), &case.expect));
        assert_eq!(r.header(VERSION_HEADER), Some("good"));
        let r = ask(&mock, "wrong", &case.prompt);
        assert_eq!(r.status, 200);
        assert!(!is_good(&content(&r), &case.expect), "{}", r.body);
        let r = ask(&mock, "failing", &case.prompt);
        assert_eq!(r.status, 500);
        let v: Value = serde_json::from_str(&r.body).expect("JSON");
        assert_eq!(v["error"]["type"], "server_error");
        assert_eq!(ask(&mock, "nope", &case.prompt).status, 404);
        let served = mock.served("good");
        assert_eq!((served.requests, served.good), (1, 1));
        assert_eq!(mock.served("failing").errors, 1);
        assert_eq!(mock.served("wrong").wrong, 1);
    }

    #[test]
    fn latency_is_real_waiting_divided_by_the_time_scale() {
        let golden = GoldenSet::builtin();
        let prompt = golden.cases[0].prompt.clone();
        let versions = [("v".to_string(), b(0.0, 1.0, 300))];
        let slow = MockBackend::start(1, 1.0, golden.clone(), &versions).expect("started");
        let t = Instant::now();
        assert_eq!(ask(&slow, "v", &prompt).status, 200);
        let waited = t.elapsed();
        assert!(waited >= Duration::from_millis(280), "{waited:?}");
        let fast = MockBackend::start(1, 100.0, golden, &versions).expect("started");
        let t = Instant::now();
        assert_eq!(ask(&fast, "v", &prompt).status, 200);
        assert!(t.elapsed() < waited / 2, "{:?}", t.elapsed());
    }

    #[test]
    fn the_onset_switches_behaviour_and_the_seed_fixes_the_draws() {
        let golden = GoldenSet::builtin();
        let prompt = golden.cases[0].prompt.clone();
        let draws = |seed: u64| {
            let mock =
                MockBackend::start(seed, 1.0, golden.clone(), &[("v".into(), b(0.5, 1.0, 1))])
                    .expect("started");
            (0..24)
                .map(|_| ask(&mock, "v", &prompt).status)
                .collect::<Vec<_>>()
        };
        let first = draws(7);
        assert_eq!(first, draws(7));
        assert_ne!(first, draws(8));
        assert!(first.contains(&200) && first.contains(&500), "{first:?}");

        let mock = MockBackend::start(1, 1.0, golden.clone(), &[("v".into(), b(0.0, 1.0, 1))])
            .expect("started");
        assert_eq!(ask(&mock, "v", &prompt).status, 200);
        mock.set_behaviour("v", b(1.0, 1.0, 1));
        assert_eq!(ask(&mock, "v", &prompt).status, 500);
        assert_eq!(mock.served("v").requests, 2);
        assert!(MockBackend::start(1, 0.0, golden, &[]).is_err());
    }

    #[test]
    fn a_wrong_answer_never_contains_the_expected_text() {
        for expect in ["Paris", "not", "I", "?", "a", "No idea."] {
            let a = answer(Some(expect), false);
            assert!(!a.is_empty() && !a.contains(expect), "{expect}: {a}");
            assert!(answer(Some(expect), true).contains(expect));
        }
    }

    #[test]
    fn versions_become_one_path_segment() {
        assert_eq!(encode_segment("support@v12"), "support@v12");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }
}
