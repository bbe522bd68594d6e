//! Retention is one rule: the simulated registry and `registry serve`
//! (its SQLite store, over HTTP) hold the same versions after the same
//! sequence of version adds, and neither ever drops a version that serves.

mod common;

use common::http::{Server, TOKENS};
use rollback_drill::registry::Registry;
use rollback_drill::scenario::{Candidate, Dur, RegistryPlan, RoutePlan};
use serde_json::{Value, json};

struct Case {
    name: &'static str,
    keep_last: u32,
    /// (version, weight) the route serves throughout.
    serving: &'static [(&'static str, f64)],
    /// What the route holds at the start, oldest first.
    start: &'static [&'static str],
    adds: &'static [&'static str],
    held: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "under the limit nothing goes",
        keep_last: 3,
        serving: &[("v1", 100.0)],
        start: &["v1"],
        adds: &["v2", "v3"],
        held: &["v1", "v2", "v3"],
    },
    Case {
        name: "the oldest idle version goes first",
        keep_last: 3,
        serving: &[("v3", 100.0)],
        start: &["v1", "v2", "v3"],
        adds: &["v4", "v5"],
        held: &["v3", "v4", "v5"],
    },
    Case {
        name: "a serving version is never retired, even the oldest",
        keep_last: 2,
        serving: &[("v1", 100.0)],
        start: &["v1", "v2"],
        adds: &["v3", "v4"],
        held: &["v1", "v4"],
    },
    Case {
        name: "everything serves: more than keep_last stay",
        keep_last: 1,
        serving: &[("v1", 50.0), ("v2", 50.0)],
        start: &["v1", "v2"],
        adds: &["v3"],
        held: &["v1", "v2"],
    },
    Case {
        name: "adding a held version again changes nothing",
        keep_last: 2,
        serving: &[("v2", 100.0)],
        start: &["v1", "v2"],
        adds: &["v1", "v2"],
        held: &["v1", "v2"],
    },
];

fn candidates(c: &Case) -> Vec<Candidate> {
    c.serving
        .iter()
        .map(|(v, w)| Candidate {
            id: format!("p:{v}"),
            version: v.to_string(),
            weight: *w,
        })
        .collect()
}

fn simulated(c: &Case) -> Vec<String> {
    let mut reg = Registry::new(&RegistryPlan {
        routes: vec![RoutePlan {
            name: "r".into(),
            candidates: candidates(c),
            versions: c.start.iter().map(|v| v.to_string()).collect(),
        }],
        keep_last: c.keep_last,
        propagation: Dur::ZERO,
        write_latency: Dur::ZERO,
    });
    for v in c.adds {
        reg.add_version("r", v).unwrap();
    }
    reg.versions("r").unwrap().to_vec()
}

fn served(server: &Server, route: &str, c: &Case) -> Vec<String> {
    let put = json!({
        "revision": 0, "change": "prompt", "candidates": candidates(c),
        "keep_last": c.keep_last, "versions": c.start, "reason": c.name,
    });
    let (status, body) = server.request(
        "PUT",
        &format!("/api/routes/{route}"),
        Some("lead-t"),
        Some(&put.to_string()),
    );
    assert_eq!(status, 200, "{}: {body}", c.name);
    for v in c.adds {
        let add = json!({"route": route, "version": v}).to_string();
        let (status, body) = server.request("POST", "/api/versions", Some("lead-t"), Some(&add));
        assert!(status == 200 || status == 201, "{}: {body}", c.name);
    }
    let (_, body) = server.request("GET", &format!("/api/routes/{route}"), Some("lead-t"), None);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["keep_last"], c.keep_last, "{}", c.name);
    serde_json::from_value(v["versions"].clone()).unwrap()
}

#[test]
fn the_simulated_registry_and_the_server_retain_the_same_versions() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.yaml");
    std::fs::write(&tokens, TOKENS).unwrap();
    let mut server = Server::start(&dir.path().join("state.db"), &tokens);
    for (i, c) in CASES.iter().enumerate() {
        let sim = simulated(c);
        let live = served(&server, &format!("route-{i}"), c);
        assert_eq!(sim, c.held, "simulated: {}", c.name);
        assert_eq!(live, c.held, "registry serve: {}", c.name);
    }
    server.kill9();
}

#[test]
fn the_server_refuses_a_zero_retention_and_duplicate_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.yaml");
    std::fs::write(&tokens, TOKENS).unwrap();
    let mut server = Server::start(&dir.path().join("state.db"), &tokens);
    let zero = json!({"revision": 0, "change": "prompt", "keep_last": 0,
        "candidates": [{"id": "a", "version": "v1", "weight": 100}]});
    let (status, body) = server.request(
        "PUT",
        "/api/routes/z",
        Some("lead-t"),
        Some(&zero.to_string()),
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("keep_last"), "{body}");
    let twice = json!({"revision": 0, "change": "prompt", "candidates": [
        {"id": "a", "version": "v1", "weight": 50}, {"id": "b", "version": "v1", "weight": 50}]});
    let (status, body) = server.request(
        "PUT",
        "/api/routes/d",
        Some("lead-t"),
        Some(&twice.to_string()),
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("listed twice"), "{body}");
    server.kill9();
}
