//! A release set drilled against a real registry server process (wall
//! clock sped up 60×): the set's rollback is one `POST /api/rollback`
//! with a `set`, so the per-route phases overlap and `restore` is their
//! overlap, not their sum; every route's audit row carries the drill's
//! change id.

mod common;

use common::{plan, root};
use rollback_drill::drill::RouteStatus;
use rollback_drill::live;
use rollback_drill::scenario::Plan;

/// The shipped scenario, made quick: a 2-minute policy window (judged on
/// at least 1,000 requests), the
/// release at 2m, people who answer in 30s and 1m. (`--backend container`
/// takes the same path: the same port, against a registry in a container.)
fn quick() -> Plan {
    let mut text = std::fs::read_to_string(
        root().join("scenarios/model-migration-with-prompts-coordinated.yaml"),
    )
    .unwrap();
    for (from, to) in [
        ("release:\n  at: 15m\n", "release:\n  at: 2m\n"),
        (
            "policy:\n  min_requests: 1000\n",
            "policy:\n  window: 2m\n  min_requests: 1000\n",
        ),
        ("on_call: {ack_after: 3m,", "on_call: {ack_after: 30s,"),
        (
            "platform_lead: {ack_after: 15m,",
            "platform_lead: {ack_after: 1m,",
        ),
        ("duration: 3h", "duration: 20m"),
        // 3.5% on at least 1,000 requests sits 2.6 sigma from both the 2%
        // page and the 5% auto-rollback thresholds.
        (
            "      behaviour: {error_rate: 3%}\n",
            "      behaviour: {error_rate: 3.5%}\n",
        ),
    ] {
        assert!(text.contains(from), "{from:?}");
        text = text.replacen(from, to, 1);
    }
    plan(&text)
}

#[test]
fn a_set_is_rolled_back_in_one_transaction_over_http() {
    let p = quick();
    let o = live::run(&p, &common::live_at_60x()).expect("the live drill runs");
    assert!(o.passed(), "{:#?}\n{:#?}", o.checks(), o.findings());
    let routes = &o.record.routes;
    assert_eq!(routes.len(), 3);
    for r in routes {
        assert_eq!(r.status, RouteStatus::RolledBack, "{r:#?}");
        // One transaction: every route's phase is the same span.
        assert_eq!((r.start_s, r.end_s), (routes[0].start_s, routes[0].end_s));
    }
    let phase = routes[0].took_s().unwrap();
    let restore = o.durations().restore.unwrap();
    // Restore is the overlap of the phases (one of them, plus the wall
    // clock's wake-up jitter), not their sum (three of them).
    assert!(
        restore >= phase && restore < 2.0 * phase,
        "restore {restore}, phase {phase}"
    );
    let totals = rollback_drill::report::set::totals(&o).unwrap();
    assert!(totals.overlap);
    assert_eq!(
        rollback_drill::report::set::restore_is(&totals),
        "the overlap of the per-route phases: the set was one transaction"
    );
    // One audit row per route write, all with the drill's change id.
    let rows: Vec<_> = o.audit.iter().filter(|a| a.change_id.is_some()).collect();
    let mut written: Vec<&str> = rows.iter().map(|a| a.route.as_str()).collect();
    written.sort_unstable();
    assert_eq!(written, ["smart-reasoner", "summarize", "triage"]);
    let id = rows[0].change_id.as_deref().unwrap();
    assert!(id.starts_with("rollback-"), "{id}");
    assert!(rows.iter().all(|a| a.change_id.as_deref() == Some(id)));
    let to: Vec<(&str, &str)> = rows
        .iter()
        .map(|a| (a.route.as_str(), a.to.as_str()))
        .collect();
    assert!(to.contains(&("triage", "triage-v7 100%")), "{to:?}");
    assert!(
        to.contains(&("smart-reasoner", "claude-sonnet-4-5 100%")),
        "{to:?}"
    );
    // The decision still went through the platform lead.
    let r = &p.responders;
    assert_eq!(o.record.decided_by.as_deref(), Some("platform_lead"));
    let decide = o.durations().decide.unwrap();
    let expected = (r.on_call.ack_after.0 + r.platform_lead.ack_after.0) as f64 / 1000.0;
    // Wall-clock scheduling: within one evaluation interval.
    assert!(
        (decide - expected).abs() <= p.policy.evaluate_every.0 as f64 / 1000.0,
        "decide {decide}, expected {expected}"
    );
}
