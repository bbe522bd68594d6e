//! The staging registry server, run as a real process on a free loopback
//! port: API and roles, compare-and-set under contention, idempotency,
//! durability across SIGKILL, and 4xx (never 5xx, never a partial write)
//! for bad input.

mod common;

use std::sync::{Arc, Barrier};

use common::http::{Server, TOKENS, request};
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

/// Creates route `r` (change `change`) serving v1, holding v0 and v2.
fn seed(s: &Server, change: &str) {
    let create = json!({"revision": 0, "change": change, "candidates": [{"id": "r:v1", "version": "v1", "weight": 100.0}], "reason": "seed"});
    let (st, b) = s.request(
        "PUT",
        "/api/routes/r",
        Some("deployer-t"),
        Some(&create.to_string()),
    );
    assert_eq!(st, 200, "{b}");
    for v in ["v0", "v2"] {
        let (st, b) = s.request(
            "POST",
            "/api/versions",
            Some("deployer-t"),
            Some(&json!({"route": "r", "version": v}).to_string()),
        );
        assert_eq!(st, 201, "{b}");
    }
}

fn audit_len(s: &Server) -> usize {
    let (_, b) = s.request("GET", "/api/audit", Some("viewer-t"), None);
    json(&b)["audit"].as_array().unwrap().len()
}

#[test]
fn roles_authority_and_audit() {
    let (_dir, s) = start();
    assert_eq!(s.request("GET", "/healthz", None, None).0, 200);
    let (st, b) = s.request("GET", "/api/routes", None, None);
    assert_eq!(st, 401);
    assert_eq!(json(&b)["error"]["code"], "no_token");
    assert_eq!(s.request("GET", "/api/routes", Some("nope"), None).0, 401);
    seed(&s, "agent_code");
    let rollback = json!({"route": "r", "target_version": "v0", "reason": "drill"}).to_string();
    let (st, b) = s.request("POST", "/api/rollback", Some("oncall-t"), Some(&rollback));
    assert_eq!(st, 403);
    assert_eq!(
        json(&b)["error"]["message"],
        "role on_call may not roll back an agent_code change (authority: prompt, model); escalate to platform_lead"
    );
    let (st, b) = s.request("POST", "/api/rollback", Some("lead-t"), Some(&rollback));
    assert_eq!(st, 200, "{b}");
    assert_eq!(json(&b)["candidates"][0]["version"], "v0");
    let (_, b) = s.request("GET", "/api/audit", Some("viewer-t"), None);
    let rows = json(&b)["audit"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 4, "creation, two versions held, the rollback");
    assert_eq!(rows[1]["reason"], "hold version v0");
    assert_eq!(rows[1]["to"], json!(["v1", "v0"]));
    let last = &rows[3];
    assert_eq!(last["actor"], "platform_lead");
    assert_eq!(last["reason"], "drill");
    assert_eq!(last["from"][0]["version"], "v1");
    assert_eq!(last["to"][0]["version"], "v0");
    assert_eq!(
        s.request("PUT", "/api/routes/r", Some("viewer-t"), Some("{}"))
            .0,
        403
    );
}

#[test]
fn concurrent_rollbacks_with_one_revision_have_exactly_one_winner() {
    let (_dir, s) = start();
    seed(&s, "model");
    let (_, b) = s.request("GET", "/api/routes/r", Some("viewer-t"), None);
    let revision = json(&b)["revision"].as_u64().unwrap();
    let before = audit_len(&s);
    let barrier = Arc::new(Barrier::new(100));
    let handles: Vec<_> = (0..100)
        .map(|i| {
            let (addr, barrier) = (s.addr.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let target = if i % 2 == 0 { "v0" } else { "v2" };
                let body = json!({"route": "r", "target_version": target, "revision": revision})
                    .to_string();
                barrier.wait();
                request(
                    &addr,
                    "POST",
                    "/api/rollback",
                    Some("oncall-t"),
                    Some(&body),
                    &[],
                )
                .0
            })
        })
        .collect();
    let codes: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(codes.iter().filter(|&&c| c == 200).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|&&c| c == 409).count(), 99, "{codes:?}");
    assert_eq!(
        audit_len(&s),
        before + 1,
        "one audit row per applied change"
    );
    let (_, b) = s.request("GET", "/api/routes/r", Some("viewer-t"), None);
    assert_eq!(json(&b)["revision"].as_u64(), Some(revision + 1));
}

#[test]
fn an_idempotency_key_applies_a_rollback_once() {
    let (_dir, s) = start();
    seed(&s, "prompt");
    let body = json!({"prompt": "r", "target_version": "v0"}).to_string();
    let key = [("Idempotency-Key", "incident-42")];
    let first = request(
        &s.addr,
        "POST",
        "/api/rollback",
        Some("oncall-t"),
        Some(&body),
        &key,
    );
    let second = request(
        &s.addr,
        "POST",
        "/api/rollback",
        Some("oncall-t"),
        Some(&body),
        &key,
    );
    assert_eq!((first.0, second.0), (200, 200));
    assert_eq!(json(&first.1), json(&second.1), "the same answer");
    assert_eq!(audit_len(&s), 4, "creation, two versions, one rollback");
    // The same key for another rollback does not replay the first answer.
    let other = json!({"prompt": "r", "target_version": "v2"}).to_string();
    let third = request(
        &s.addr,
        "POST",
        "/api/rollback",
        Some("oncall-t"),
        Some(&other),
        &key,
    );
    assert_eq!(third.0, 200);
    assert_eq!(json(&third.1)["candidates"][0]["version"], "v2");
}

#[test]
fn sigkill_during_a_burst_of_weight_changes_loses_no_acknowledged_change() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.yaml");
    std::fs::write(&tokens, TOKENS).unwrap();
    let state = dir.path().join("state.db");
    let mut s = Server::start(&state, &tokens);
    seed(&s, "prompt");
    let (_, b) = s.request("GET", "/api/routes/r", Some("viewer-t"), None);
    let mut revision = json(&b)["revision"].as_u64().unwrap();
    let mut acked = Vec::new();
    for i in 0..1000u32 {
        if i == 500 {
            s.kill9();
        }
        let w = f64::from(i % 100);
        let body = json!({"revision": revision, "reason": format!("burst {i}"), "candidates": [
            {"id": "r:v1", "version": "v1", "weight": 100.0 - w},
            {"id": "r:v2", "version": "v2", "weight": w}]})
        .to_string();
        let (st, b) = s.request("PUT", "/api/routes/r", Some("deployer-t"), Some(&body));
        if st == 200 {
            revision = json(&b)["revision"].as_u64().unwrap();
            acked.push((revision, w));
        }
    }
    assert!(acked.len() >= 500, "the first half was acknowledged");
    let s = Server::start(&state, &tokens);
    let (_, b) = s.request("GET", "/api/routes/r", Some("viewer-t"), None);
    let route = json(&b);
    let (last_rev, last_w) = *acked.last().unwrap();
    assert_eq!(
        route["revision"].as_u64(),
        Some(last_rev),
        "no acknowledged change lost"
    );
    assert_eq!(route["candidates"][1]["weight"].as_f64(), Some(last_w));
    let (_, b) = s.request("GET", "/api/audit", Some("viewer-t"), None);
    let rows = json(&b)["audit"].as_array().unwrap().clone();
    // Routing changes (their `to` is a candidate list, not version names).
    let routing: Vec<&Value> = rows.iter().filter(|r| r["to"][0].is_object()).collect();
    for (rev, _) in &acked {
        assert!(
            routing.iter().any(|r| r["revision"].as_u64() == Some(*rev)),
            "audit row for revision {rev}"
        );
    }
    assert_eq!(
        routing.last().unwrap()["to"],
        route["candidates"],
        "the audit log ends where the route is"
    );
    assert_eq!(
        routing.len() as u64,
        last_rev,
        "one row per revision, no more"
    );
}

/// Four writers on four routes, the server killed at an arbitrary moment
/// while writes are in flight: every acknowledged change survives, at most
/// the one unacknowledged in-flight change per route also committed, and
/// each route has exactly one audit row per revision.
#[test]
fn sigkill_mid_burst_with_writes_in_flight_keeps_routes_and_audit_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.yaml");
    std::fs::write(&tokens, TOKENS).unwrap();
    let state = dir.path().join("state.db");
    let mut s = Server::start(&state, &tokens);
    let routes = ["r0", "r1", "r2", "r3"];
    for r in routes {
        let create = json!({"revision": 0, "change": "prompt", "candidates": [{"id": "a", "version": "v1", "weight": 100.0}]});
        assert_eq!(
            s.request(
                "PUT",
                &format!("/api/routes/{r}"),
                Some("deployer-t"),
                Some(&create.to_string())
            )
            .0,
            200
        );
        let hold = json!({"route": r, "version": "v2"}).to_string();
        assert_eq!(
            s.request("POST", "/api/versions", Some("deployer-t"), Some(&hold))
                .0,
            201
        );
    }
    let writers: Vec<_> = routes
        .iter()
        .map(|r| {
            let (addr, r) = (s.addr.clone(), r.to_string());
            std::thread::spawn(move || {
                let mut revision = 1u64;
                let mut acked = 1u64;
                let mut cut_off = false;
                // Until the server dies under us.
                for i in 0..1_000_000u32 {
                    let w = f64::from(i % 100);
                    let body = json!({"revision": revision, "candidates": [
                        {"id": "a", "version": "v1", "weight": 100.0 - w},
                        {"id": "b", "version": "v2", "weight": w}]})
                    .to_string();
                    let (st, b) = request(
                        &addr,
                        "PUT",
                        &format!("/api/routes/{r}"),
                        Some("deployer-t"),
                        Some(&body),
                        &[],
                    );
                    if st != 200 {
                        cut_off = true;
                        break;
                    }
                    revision = json(&b)["revision"].as_u64().unwrap();
                    acked = revision;
                }
                (r, acked, cut_off)
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    s.kill9();
    let acked: Vec<(String, u64, bool)> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(
        acked.iter().all(|(_, n, cut)| *cut && *n > 10),
        "killed mid-burst: {acked:?}"
    );
    let s = Server::start(&state, &tokens);
    let (_, b) = s.request("GET", "/api/audit", Some("viewer-t"), None);
    let rows = json(&b)["audit"].as_array().unwrap().clone();
    for (r, last, _) in acked {
        let (_, b) = s.request("GET", &format!("/api/routes/{r}"), Some("viewer-t"), None);
        let route = json(&b);
        let rev = route["revision"].as_u64().unwrap();
        assert!(
            rev == last || rev == last + 1,
            "{r}: acknowledged {last}, found {rev}"
        );
        let routing: Vec<&Value> = rows
            .iter()
            .filter(|row| row["route"] == r.as_str() && row["to"][0].is_object())
            .collect();
        assert_eq!(routing.len() as u64, rev, "{r}: one audit row per revision");
        assert_eq!(
            routing.last().unwrap()["to"],
            route["candidates"],
            "{r}: the audit ends where the route is"
        );
    }
}

#[test]
fn injected_registry_outage_returns_503_until_it_ends() {
    let (_dir, s) = start();
    seed(&s, "prompt");
    let fault = json!({"kind": "registry_outage", "for": "1500ms"}).to_string();
    assert_eq!(
        s.request("POST", "/admin/faults", Some("oncall-t"), Some(&fault))
            .0,
        403
    );
    assert_eq!(
        s.request("POST", "/admin/faults", Some("lead-t"), Some(&fault))
            .0,
        202
    );
    let (st, b) = s.request("GET", "/api/routes/r", Some("viewer-t"), None);
    assert_eq!(st, 503);
    assert_eq!(json(&b)["error"]["code"], "registry_unavailable");
    std::thread::sleep(std::time::Duration::from_millis(1700));
    assert_eq!(
        s.request("GET", "/api/routes/r", Some("viewer-t"), None).0,
        200
    );
    let bad = json!({"kind": "pager_down", "for": "1m"}).to_string();
    assert_eq!(
        s.request("POST", "/admin/faults", Some("lead-t"), Some(&bad))
            .0,
        422
    );
}

#[test]
fn the_synthetic_endpoint_routes_by_weight_and_metrics_count_it() {
    let (_dir, s) = start();
    seed(&s, "prompt");
    let behaviour = json!({"version": "v1", "error_rate": "10%", "quality": "80%", "p50": "200ms", "p99": "800ms"}).to_string();
    assert_eq!(
        s.request("POST", "/admin/behaviour", Some("lead-t"), Some(&behaviour))
            .0,
        200
    );
    let mut errors = 0;
    for _ in 0..200 {
        let (st, b) = s.request("POST", "/v1/complete", None, Some(r#"{"route": "r"}"#));
        assert_eq!(st, 200, "{b}");
        let v = json(&b);
        assert_eq!(v["version"], "v1");
        errors += usize::from(v["error"] == true);
    }
    assert!((5..=40).contains(&errors), "about 10% errors: {errors}");
    let (st, text) = s.request("GET", "/metrics", None, None);
    assert_eq!(st, 200);
    assert!(
        text.contains("rollback_drill_requests_total{route=\"r\",version=\"v1\"} 200"),
        "{text}"
    );
    assert!(text.contains(&format!(
        "rollback_drill_errors_total{{route=\"r\",version=\"v1\"}} {errors}"
    )));
    assert!(text.contains("rollback_drill_latency_seconds_count{route=\"r\",version=\"v1\"} 200"));
    assert!(text.contains("# TYPE rollback_drill_latency_seconds histogram"));
}

mod bad_input {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

    fn bodies() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[ -~]{0,60}",
            Just("{".to_string()),
            Just("null".to_string()),
            Just(r#"{"revision": "one", "candidates": []}"#.to_string()),
            Just(r#"{"revision": 1, "candidates": [{"id": "x", "version": "v9", "weight": 100}]}"#.to_string()),
            Just(r#"{"revision": 1, "candidates": [{"id": "x", "version": "v1", "weight": 60}]}"#.to_string()),
            Just(r#"{"revision": 1, "candidates": [{"id": "x", "version": "v1", "weight": -5}, {"id": "y", "version": "v2", "weight": 105}]}"#.to_string()),
            Just(r#"{"route": "nope", "target_version": "v0"}"#.to_string()),
            Just(r#"{"route": "r", "prompt": "r", "target_version": "v0"}"#.to_string()),
            Just(r#"{"route": "r", "target_version": 7}"#.to_string()),
            Just(r#"{"route": "r", "version": 7}"#.to_string()),
            Just(r#"{"route": "r", "surprise": true, "target_version": "v0"}"#.to_string()),
        ]
    }

    fn endpoints() -> impl Strategy<Value = (&'static str, &'static str)> {
        prop_oneof![
            Just(("PUT", "/api/routes/r")),
            Just(("PUT", "/api/routes/unknown")),
            Just(("POST", "/api/rollback")),
            Just(("POST", "/api/versions")),
            Just(("POST", "/v1/complete")),
            Just(("POST", "/admin/faults")),
            Just(("DELETE", "/api/versions/r/v1")),
        ]
    }

    /// One server for every case (it is killed when the test ends); each
    /// case checks the state is exactly as before.
    #[test]
    fn bad_requests_get_a_json_4xx_and_change_nothing() {
        let (_dir, s) = start();
        seed(&s, "prompt");
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 300,
            ..ProptestConfig::default()
        });
        let result = runner.run(&(endpoints(), bodies()), |((method, path), body)| {
            let before = (
                s.request("GET", "/api/routes/r", Some("viewer-t"), None).1,
                audit_len(&s),
            );
            let (st, b) = s.request(method, path, Some("lead-t"), Some(&body));
            prop_assert!(
                (400..500).contains(&st),
                "{} {} {:?} -> {} {}",
                method,
                path,
                body,
                st,
                b
            );
            let v: Value =
                serde_json::from_str(&b).map_err(|e| TestCaseError::fail(format!("{e}: {b}")))?;
            prop_assert!(
                v["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{}",
                b
            );
            let after = (
                s.request("GET", "/api/routes/r", Some("viewer-t"), None).1,
                audit_len(&s),
            );
            prop_assert_eq!(before, after, "nothing half applied");
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    }

    #[test]
    fn oversize_bodies_and_unknown_routes_are_4xx() {
        let (_dir, s) = start();
        seed(&s, "prompt");
        let big = format!(
            "{{\"route\": \"r\", \"target_version\": \"{}\"}}",
            "x".repeat(100_000)
        );
        let (st, b) = s.request("POST", "/api/rollback", Some("lead-t"), Some(&big));
        assert_eq!(st, 413, "{b}");
        assert_eq!(json(&b)["error"]["code"], "too_large");
        let (st, b) = s.request("GET", "/api/routes/nope", Some("viewer-t"), None);
        assert_eq!(st, 404);
        assert_eq!(json(&b)["error"]["message"], "route `nope` does not exist");
        assert_eq!(s.request("GET", "/no/such/thing", None, None).0, 404);
    }
}

#[test]
fn a_wrong_method_gets_405_with_a_json_error() {
    let (_dir, s) = start();
    let (st, b) = s.request("DELETE", "/api/routes", Some("viewer-t"), None);
    assert_eq!(st, 405, "{b}");
    let e = json(&b);
    assert_eq!(e["error"]["code"], "method_not_allowed", "{b}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("GET"),
        "names the allowed methods: {b}"
    );
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let (_dir, s) = start();
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let header = format!("{scheme} viewer-t");
        let (st, b) = request(
            &s.addr,
            "GET",
            "/api/routes",
            None,
            None,
            &[("Authorization", &header)],
        );
        assert_eq!(st, 200, "{scheme}: {b}");
    }
    let (st, _) = request(
        &s.addr,
        "GET",
        "/api/routes",
        None,
        None,
        &[("Authorization", "Basic viewer-t")],
    );
    assert_eq!(st, 401);
}

#[test]
fn the_audit_stays_readable_during_an_injected_outage() {
    let (_dir, s) = start();
    seed(&s, "prompt");
    let fault = json!({"kind": "registry_outage", "for": "1h"}).to_string();
    let (st, _) = s.request("POST", "/admin/faults", Some("lead-t"), Some(&fault));
    assert_eq!(st, 202);
    assert_eq!(
        s.request("GET", "/api/routes", Some("viewer-t"), None).0,
        503
    );
    let (st, b) = s.request("GET", "/api/audit", Some("viewer-t"), None);
    assert_eq!(st, 200, "{b}");
    assert_eq!(json(&b)["audit"].as_array().unwrap().len(), 3, "{b}");
}

#[test]
fn idempotency_keys_with_colons_never_collide_across_routes() {
    let (_dir, s) = start();
    // Route `r` may roll back to `a:v0`, route `a` to `v0`: joined with
    // colons, (key `k`, route `r`, target `a:v0`) and (key `k:r`, route
    // `a`, target `v0`) once spelled the same stored key.
    for (route, held) in [("r", "a:v0"), ("a", "v0")] {
        let create = json!({"revision": 0, "change": "prompt", "candidates": [{"id": format!("{route}:v1"), "version": "v1", "weight": 100.0}], "reason": "seed"});
        let path = format!("/api/routes/{route}");
        let (st, b) = s.request("PUT", &path, Some("deployer-t"), Some(&create.to_string()));
        assert_eq!(st, 200, "{b}");
        let add = json!({"route": route, "version": held}).to_string();
        let (st, b) = s.request("POST", "/api/versions", Some("deployer-t"), Some(&add));
        assert_eq!(st, 201, "{b}");
    }
    for (route, target, key) in [("r", "a:v0", "k"), ("a", "v0", "k:r")] {
        let body = json!({"route": route, "target_version": target}).to_string();
        let (st, b) = request(
            &s.addr,
            "POST",
            "/api/rollback",
            Some("oncall-t"),
            Some(&body),
            &[("Idempotency-Key", key)],
        );
        assert_eq!(st, 200, "{b}");
        assert_eq!(
            json(&b)["route"],
            route,
            "{key}: another rollback's answer: {b}"
        );
        let (_, now) = s.request(
            "GET",
            &format!("/api/routes/{route}"),
            Some("viewer-t"),
            None,
        );
        assert_eq!(json(&now)["candidates"][0]["version"], target, "{now}");
    }
}
