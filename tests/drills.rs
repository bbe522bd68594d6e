//! Simulated drills end to end: the timing promises of the foundation issue,
//! determinism, and every shipped scenario meeting its own expectation.

mod common;

use common::{canary, root};
use rollback_drill::outcome::CheckStatus;
use rollback_drill::report::json;
use rollback_drill::scenario::{self, Action};
use rollback_drill::sim;

#[test]
fn every_shipped_scenario_declares_and_meets_its_expectation() {
    let plans =
        scenario::load_all(&[root().join("scenarios")]).expect("shipped scenarios are valid");
    assert!(plans.len() >= 4, "expected at least four shipped scenarios");
    for plan in &plans {
        let outcome = sim::run(plan);
        let checks = outcome.checks();
        let expectation = checks.iter().find(|c| c.name == "expectation").unwrap();
        assert_eq!(
            expectation.status,
            CheckStatus::Passed,
            "{}: every shipped scenario declares `expect:` and meets it: {}",
            plan.name,
            expectation.message
        );
        let failed: Vec<_> = checks.iter().filter(|c| !c.passed).collect();
        assert!(outcome.passed(), "{} failed: {failed:#?}", plan.name);
    }
}

#[test]
fn critical_error_spike_is_detected_at_the_first_evaluation_with_enough_requests_and_auto_rolled_back()
 {
    for seed in 0..20 {
        let plan = canary(seed, 100, "25%", "8%", "");
        let o = sim::run(&plan);
        let (trigger, value) = o.record.trigger.clone().expect("detected");
        assert_eq!(
            trigger.action,
            Action::AutoRollback,
            "seed {seed}: value {value}"
        );
        // Canary traffic starts after propagation; min_requests arrive at the
        // canary's rate; detection may take one evaluation interval more.
        let canary_rps = 100.0 * 0.25;
        let has_min_requests = plan.release.at.secs_f64()
            + plan.registry.propagation.secs_f64()
            + plan.policy.min_requests as f64 / canary_rps;
        let detected = o.record.detected.unwrap() as f64 / 1000.0;
        assert!(
            detected <= has_min_requests + plan.policy.evaluate_every.secs_f64(),
            "seed {seed}: detected at {detected}s, min_requests reached at {has_min_requests}s"
        );
        let d = o.durations();
        assert_eq!(
            d.decide,
            Some(0.0),
            "seed {seed}: auto_rollback decides at detection"
        );
        let write_and_propagation =
            plan.registry.write_latency.secs_f64() + plan.registry.propagation.secs_f64();
        assert_eq!(d.restore, Some(write_and_propagation), "seed {seed}");
        assert!(o.passed(), "seed {seed}: {:#?}", o.checks());
    }
}

#[test]
fn moderate_error_rate_is_paged_and_decided_after_the_on_call_acknowledges() {
    let ack_after = 180.0;
    for seed in 0..20 {
        let plan = canary(seed, 100, "25%", "3%", "");
        let o = sim::run(&plan);
        let (trigger, _) = o.record.trigger.clone().expect("detected");
        assert_eq!(trigger.action, Action::Page, "seed {seed}");
        assert_eq!(o.record.decided_by.as_deref(), Some("on_call"));
        let decide = o.durations().decide.expect("decided");
        assert!(
            (decide - ack_after).abs() <= plan.policy.evaluate_every.secs_f64(),
            "seed {seed}: decide {decide}s, on-call ack_after {ack_after}s"
        );
    }
}

#[test]
fn a_missed_restore_target_fails_with_measured_value_and_limit() {
    let plan = canary(1, 100, "25%", "8%", "targets: {restore: 2s}");
    let o = sim::run(&plan);
    let restore = o
        .checks()
        .into_iter()
        .find(|c| c.name == "restore")
        .unwrap();
    assert_eq!(restore.status, CheckStatus::Failed);
    assert_eq!(restore.message, "restore took 3s, target 2s (prompt)");
    assert_eq!(
        (restore.measured_s, restore.limit_s),
        (Some(3.0), Some(2.0))
    );
    assert!(!o.passed());
}

#[test]
fn a_healthy_release_is_not_rolled_back_and_a_false_expectation_fails() {
    let healthy = canary(4, 100, "25%", "0.5%", "expect: {rollback: false}");
    let o = sim::run(&healthy);
    assert!(o.record.detected.is_none(), "{:#?}", o.record.decision_path);
    assert!(o.passed());
    let wrong = canary(4, 100, "25%", "0.5%", "expect: {rollback: true}");
    let o = sim::run(&wrong);
    assert!(
        !o.passed(),
        "a rollback expected but absent must fail the drill"
    );
}

#[test]
fn same_seed_gives_byte_identical_json_and_another_seed_does_not() {
    let a = json::scenario(&sim::run(&canary(9, 100, "25%", "3%", "")));
    let b = json::scenario(&sim::run(&canary(9, 100, "25%", "3%", "")));
    assert_eq!(a, b);
    let c = json::scenario(&sim::run(&canary(10, 100, "25%", "3%", "")));
    assert_ne!(a, c, "the seed must reach the traffic");
}

#[test]
fn json_carries_the_spec_fields() {
    let o = sim::run(&canary(2, 100, "25%", "8%", "  - postmortem: {}"));
    let v: serde_json::Value = serde_json::from_slice(&json::scenario(&o)).unwrap();
    for field in [
        "schema_version",
        "scenario",
        "change",
        "seed",
        "passed",
        "timeline",
        "durations",
        "target_s",
        "impacted_requests",
        "trigger",
        "checks",
        "findings",
        "steps",
    ] {
        assert!(v.get(field).is_some(), "missing `{field}`");
    }
    for point in [
        "released", "onset", "detected", "decided", "restored", "verified",
    ] {
        assert!(
            v["timeline"][point].is_f64(),
            "timeline.{point} = {}",
            v["timeline"][point]
        );
    }
    for d in [
        "detect", "decide", "restore", "rollback", "verify", "impact",
    ] {
        assert!(v["durations"][d].is_f64(), "durations.{d}");
    }
    assert_eq!(v["trigger"]["metric"], "error_rate");
    assert_eq!(v["trigger"]["action"], "auto_rollback");
    assert!(v["impacted_requests"].as_u64().unwrap() > 0);
    assert_eq!(v["steps"].as_array().unwrap().len(), 5);
    assert!(
        v["incident"].is_array(),
        "postmortem writes the incident record"
    );
    let check = &v["checks"][0];
    for field in ["name", "passed", "measured_s", "limit_s", "message"] {
        assert!(check.get(field).is_some(), "checks[0].{field}");
    }
}
