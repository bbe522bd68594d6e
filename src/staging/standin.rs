//! The stand-in app: a client that resolves the route the way a team's
//! serving code does, then calls the resolved version's backend.
//!
//! For an MLflow alias, an alias file or a flag file there is no proxy to
//! send traffic through, so the harness plays the app: it resolves the
//! route (an alias lookup cached for `cache_ttl`, a file re-read every
//! `poll`), picks a version by the weights it last saw, and sends a golden
//! prompt to that version's mock backend. That staleness is real: a
//! rollback is not done until the stand-in's next refresh sees it, which is
//! the time until traffic is really back. Each answer records the version
//! that served it (the mock's own header) and whether it was good.

use std::time::{Duration, Instant};

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

use super::files::RouteFile;
use super::http::Client;
use super::mlflow::{Mlflow, VERSION_TAG};
use super::mock::VERSION_HEADER;
use crate::scenario::golden::{GoldenCase, GoldenSet, is_good};

/// How the route is looked up: versions (the scenario's names) and weights.
pub trait Resolve: Send {
    fn resolve(&mut self) -> Result<Vec<(String, f64)>, String>;
}

/// An MLflow alias: one version, named by the drill's tag (a version the
/// drill registered) or by its number.
pub struct AliasLookup {
    pub client: Mlflow,
    pub name: String,
    pub alias: String,
}

impl Resolve for AliasLookup {
    fn resolve(&mut self) -> Result<Vec<(String, f64)>, String> {
        let v = self
            .client
            .alias(&self.name, &self.alias)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("`{}` has no alias `{}`", self.name, self.alias))?;
        let version = v.tags.get(VERSION_TAG).cloned().unwrap_or(v.version);
        Ok(vec![(version, 100.0)])
    }
}

/// A route file: its entries' versions and weights (a weight left out
/// counts 1, as flagd reads it).
pub struct FileLookup(pub RouteFile);

impl Resolve for FileLookup {
    fn resolve(&mut self) -> Result<Vec<(String, f64)>, String> {
        let entries =
            self.0.read().map_err(|e| e.to_string())?.ok_or_else(|| {
                format!("{} has no route `{}`", self.0.path.display(), self.0.route)
            })?;
        Ok(entries
            .into_iter()
            .map(|e| (e.version, e.weight.unwrap_or(1.0)))
            .collect())
    }
}

/// One request as the stand-in saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// The version the route resolved to.
    pub resolved: String,
    /// The version that answered (the backend's own record); `None` if
    /// nothing answered.
    pub served: Option<String>,
    pub status: u16,
    /// A 2xx whose answer contains the prompt's `expect`.
    pub good: bool,
    pub wall: Duration,
}

pub struct StandIn {
    resolver: Box<dyn Resolve>,
    refresh: Duration,
    /// A version's backend base URL.
    backend: Box<dyn Fn(&str) -> String + Send>,
    golden: GoldenSet,
    rng: ChaCha8Rng,
    cached: Option<(Instant, Vec<(String, f64)>)>,
    next: usize,
}

impl StandIn {
    /// `refresh` is the cache TTL or the poll interval (wall time);
    /// `backend` maps a version to its OpenAI base URL (the mock's).
    pub fn new(
        resolver: Box<dyn Resolve>,
        refresh: Duration,
        backend: Box<dyn Fn(&str) -> String + Send>,
        golden: GoldenSet,
        seed: u64,
    ) -> StandIn {
        StandIn {
            resolver,
            refresh,
            backend,
            golden,
            rng: ChaCha8Rng::seed_from_u64(seed),
            cached: None,
            next: 0,
        }
    }

    /// The route as the app sees it now: the cached lookup while it is
    /// fresh, else a new one (a failed lookup keeps the stale one, as
    /// client caches do, and is the error only when there is none).
    pub fn route(&mut self) -> Result<Vec<(String, f64)>, String> {
        if let Some((at, route)) = &self.cached
            && at.elapsed() < self.refresh
        {
            return Ok(route.clone());
        }
        match self.resolver.resolve() {
            Ok(route) => {
                self.cached = Some((Instant::now(), route.clone()));
                Ok(route)
            }
            Err(e) => match &self.cached {
                Some((_, stale)) => Ok(stale.clone()),
                None => Err(e),
            },
        }
    }

    /// Forgets the cached lookup (an app restart).
    pub fn forget(&mut self) {
        self.cached = None;
    }

    fn pick(&mut self, route: &[(String, f64)]) -> Option<String> {
        let total: f64 = route.iter().map(|(_, w)| w.max(0.0)).sum();
        if total <= 0.0 {
            return None;
        }
        let mut x = self.rng.random::<f64>() * total;
        for (v, w) in route {
            x -= w.max(0.0);
            if x < 0.0 {
                return Some(v.clone());
            }
        }
        route.last().map(|(v, _)| v.clone())
    }

    /// Sends the next golden prompt to the version the route picks.
    pub fn send(&mut self) -> Result<Sent, String> {
        Ok(self.next_request()?.send())
    }

    /// Resolves the route and picks the version and the prompt of the
    /// next request, without sending it: a traffic generator holds the
    /// app only for this, and sends from many threads.
    pub fn next_request(&mut self) -> Result<Request, String> {
        let route = self.route()?;
        let version = self
            .pick(&route)
            .ok_or_else(|| "the route has no weight on any version".to_string())?;
        let case = self.golden.cases[self.next % self.golden.cases.len()].clone();
        self.next += 1;
        let base = (self.backend)(&version);
        Ok(Request {
            version,
            route,
            base,
            case,
        })
    }
}

/// One request the app has resolved and not sent yet.
#[derive(Debug, Clone)]
pub struct Request {
    /// The version the route resolved to.
    pub version: String,
    /// The route (versions and weights) as the app saw it.
    pub route: Vec<(String, f64)>,
    base: String,
    case: GoldenCase,
}

impl Request {
    /// Sends it to the version's backend and grades the answer.
    pub fn send(self) -> Sent {
        let Request {
            version,
            base,
            case,
            ..
        } = self;
        let start = Instant::now();
        let body =
            json!({"model": version, "messages": [{"role": "user", "content": case.prompt}]});
        let reply = Client::new(&base).map_err(|e| e.to_string()).and_then(|c| {
            c.post_json("/chat/completions", &body)
                .map_err(|e| e.to_string())
        });
        let wall = start.elapsed();
        match reply {
            Ok(r) => {
                let content = serde_json::from_str::<Value>(&r.body).ok().and_then(|v| {
                    v["choices"][0]["message"]["content"]
                        .as_str()
                        .map(str::to_string)
                });
                Sent {
                    resolved: version,
                    served: r.header(VERSION_HEADER).map(str::to_string),
                    status: r.status,
                    good: r.is_success() && content.is_some_and(|c| is_good(&c, &case.expect)),
                    wall,
                }
            }
            Err(_) => Sent {
                resolved: version,
                served: None,
                status: 0,
                good: false,
                wall,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::files::Format;
    use super::super::mock::MockBackend;
    use super::*;
    use crate::scenario::{Behaviour, Dur};

    fn healthy(quality: f64) -> Behaviour {
        Behaviour {
            error_rate: 0.0,
            quality,
            p50: Dur(1),
            p99: Dur(2),
        }
    }

    #[test]
    fn a_rewritten_file_is_seen_at_the_next_poll_and_not_before() {
        let golden = GoldenSet::builtin();
        let mock = std::sync::Arc::new(
            MockBackend::start(
                1,
                1.0,
                golden.clone(),
                &[("v1".into(), healthy(1.0)), ("v2".into(), healthy(0.0))],
            )
            .expect("the mock"),
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aliases.yaml");
        std::fs::write(
            &path,
            "aliases:\n  r:\n    candidates:\n      - {id: a, version_pin: v1, weight: 0}\n      - {id: b, version_pin: v2, weight: 100}\n",
        )
        .unwrap();
        let file = RouteFile::new(Format::AliasFile, &path, "r");
        let m = mock.clone();
        let mut app = StandIn::new(
            Box::new(FileLookup(file.clone())),
            Duration::from_millis(400),
            Box::new(move |v| m.base_url(v)),
            golden,
            1,
        );
        let sent = app.send().unwrap();
        assert_eq!((sent.served.as_deref(), sent.good), (Some("v2"), false));
        // The rollback lands in the file; the app still has the old read.
        file.set_weights(&[("a".into(), 100.0), ("b".into(), 0.0)])
            .unwrap();
        let rolled = Instant::now();
        let stale = app.send().unwrap();
        assert_eq!(stale.served.as_deref(), Some("v2"));
        let back = loop {
            let s = app.send().unwrap();
            if s.served.as_deref() == Some("v1") {
                break rolled.elapsed();
            }
            assert!(
                rolled.elapsed() < Duration::from_secs(5),
                "never saw the rollback"
            );
        };
        assert!(back >= Duration::from_millis(300), "{back:?}");
        let s = app.send().unwrap();
        assert!(s.good && s.status == 200, "{s:?}");
        // A file that lost its route keeps the app on its last good read,
        // until it restarts.
        std::fs::write(&path, "aliases: {}\n").unwrap();
        std::thread::sleep(Duration::from_millis(450));
        assert_eq!(app.send().unwrap().served.as_deref(), Some("v1"));
        app.forget();
        let e = app.send().unwrap_err();
        assert!(e.ends_with("has no route `r`"), "{e}");
    }
}
