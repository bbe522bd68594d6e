//! `POST /api/rollback` with a `set`: a coordinated rollback of several
//! routes in one transaction, against `registry serve` as a real process
//! on a free loopback port (killed when the test ends).

mod common;

use common::http::{Server, TOKENS};
use serde_json::{Value, json};

fn start() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.yaml");
    std::fs::write(&tokens, TOKENS).unwrap();
    let server = Server::start(&dir.path().join("state.db"), &tokens);
    (dir, server)
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// A model alias and two prompts tuned for it, each serving `v2` and
/// holding `v1` (the rollback target).
fn seed(s: &Server) {
    for (route, change) in [
        ("reasoner", "model"),
        ("answer-prompt", "prompt"),
        ("triage-prompt", "prompt"),
    ] {
        let create = json!({"revision": 0, "change": change, "candidates": [{"id": format!("{route}:v1"), "version": "v1", "weight": 100.0}], "reason": "seed"});
        let (st, b) = s.request(
            "PUT",
            &format!("/api/routes/{route}"),
            Some("deployer-t"),
            Some(&create.to_string()),
        );
        assert_eq!(st, 200, "{b}");
        let (st, b) = s.request(
            "POST",
            "/api/versions",
            Some("deployer-t"),
            Some(&json!({"route": route, "version": "v2"}).to_string()),
        );
        assert_eq!(st, 201, "{b}");
        let release = json!({"revision": 1, "candidates": [{"id": format!("{route}:v2"), "version": "v2", "weight": 100.0}], "reason": "release"});
        let (st, b) = s.request(
            "PUT",
            &format!("/api/routes/{route}"),
            Some("deployer-t"),
            Some(&release.to_string()),
        );
        assert_eq!(st, 200, "{b}");
    }
}

fn serving(s: &Server, route: &str) -> Vec<String> {
    let (st, b) = s.request(
        "GET",
        &format!("/api/routes/{route}"),
        Some("viewer-t"),
        None,
    );
    assert_eq!(st, 200, "{b}");
    json(&b)["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["version"].as_str().unwrap().to_string())
        .collect()
}

fn audit(s: &Server) -> Vec<Value> {
    let (_, b) = s.request("GET", "/api/audit", Some("viewer-t"), None);
    json(&b)["audit"].as_array().unwrap().clone()
}

fn set(entries: &[(&str, &str)]) -> String {
    let set: Vec<Value> = entries
        .iter()
        .map(|(r, t)| json!({"route": r, "target_version": t}))
        .collect();
    json!({"set": set, "reason": "model migration regressed"}).to_string()
}

const ALL: [&str; 3] = ["reasoner", "answer-prompt", "triage-prompt"];

#[test]
fn a_set_rolls_every_route_back_in_one_change() {
    let (_dir, s) = start();
    seed(&s);
    let before = audit(&s).len();
    let body = set(&[
        ("answer-prompt", "v1"),
        ("triage-prompt", "v1"),
        ("reasoner", "v1"),
    ]);
    let (st, b) = s.request("POST", "/api/rollback", Some("lead-t"), Some(&body));
    assert_eq!(st, 200, "{b}");
    let answer = json(&b);
    let id = answer["change_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("chg-"), "{id}");
    assert_eq!(answer["routes"].as_array().unwrap().len(), 3);
    for route in ALL {
        assert_eq!(serving(&s, route), ["v1"], "{route}");
    }
    // One audit row per route write, in the order given, linked by the id.
    let rows = audit(&s);
    assert_eq!(rows.len(), before + 3);
    let written: Vec<(&str, &str)> = rows[before..]
        .iter()
        .map(|r| {
            (
                r["route"].as_str().unwrap(),
                r["change_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        written,
        [
            ("answer-prompt", id.as_str()),
            ("triage-prompt", id.as_str()),
            ("reasoner", id.as_str())
        ]
    );
    // Writes on their own carry no change id.
    assert!(rows[..before].iter().all(|r| r.get("change_id").is_none()));
}

#[test]
fn a_set_with_one_missing_target_changes_nothing_and_names_it() {
    let (_dir, s) = start();
    seed(&s);
    let before = audit(&s);
    let body = set(&[
        ("answer-prompt", "v1"),
        ("triage-prompt", "v0"),
        ("reasoner", "v1"),
    ]);
    let (st, b) = s.request("POST", "/api/rollback", Some("lead-t"), Some(&body));
    assert_eq!(st, 422, "{b}");
    let message = json(&b)["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.starts_with("nothing was rolled back: route `triage-prompt`: version `v0`"),
        "{message}"
    );
    // The route before it in the set was not left rolled back.
    for route in ALL {
        assert_eq!(serving(&s, route), ["v2"], "{route}");
    }
    assert_eq!(audit(&s), before);
    // An unknown route: 404, nothing written either.
    let body = set(&[("answer-prompt", "v1"), ("no-such-route", "v1")]);
    let (st, b) = s.request("POST", "/api/rollback", Some("lead-t"), Some(&body));
    assert_eq!(st, 404, "{b}");
    assert!(b.contains("route `no-such-route` does not exist"), "{b}");
    assert_eq!(serving(&s, "answer-prompt"), ["v2"]);
    assert_eq!(audit(&s), before);
}

#[test]
fn more_than_one_route_is_the_platform_leads_and_each_route_is_checked() {
    let (_dir, s) = start();
    seed(&s);
    let before = audit(&s);
    // on_call may roll back prompts and models one at a time, not together.
    let body = set(&[("answer-prompt", "v1"), ("reasoner", "v1")]);
    let (st, b) = s.request("POST", "/api/rollback", Some("oncall-t"), Some(&body));
    assert_eq!(st, 403, "{b}");
    assert!(b.contains("may not roll back 2 routes together"), "{b}");
    assert!(b.contains("escalate to platform_lead"), "{b}");
    assert_eq!(audit(&s), before);
    let (st, b) = s.request(
        "POST",
        "/api/rollback",
        Some("oncall-t"),
        Some(&set(&[("answer-prompt", "v1")])),
    );
    assert_eq!(st, 200, "{b}");
    // A deployer may roll back nothing, alone or in a set.
    let (st, _) = s.request("POST", "/api/rollback", Some("deployer-t"), Some(&body));
    assert_eq!(st, 403);
    // The same route twice, or a set mixed with the single form: 422.
    let (st, b) = s.request(
        "POST",
        "/api/rollback",
        Some("lead-t"),
        Some(&set(&[("reasoner", "v1"), ("reasoner", "v1")])),
    );
    assert_eq!(st, 422, "{b}");
    assert!(b.contains("named twice"), "{b}");
    let mixed = json!({"route": "reasoner", "target_version": "v1", "set": []}).to_string();
    let (st, _) = s.request("POST", "/api/rollback", Some("lead-t"), Some(&mixed));
    assert_eq!(st, 422);
    assert_eq!(serving(&s, "reasoner"), ["v2"]);
}
