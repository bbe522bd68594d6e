//! Coordinated rollbacks: a release set (a model alias and the prompts
//! tuned for it) rolled back as one change, with the platform lead's
//! authority, route by route, and loudly partial when one route cannot be.

mod common;

use common::plan;
use rollback_drill::drill::{RouteRollback, RouteStatus, StepStatus};
use rollback_drill::outcome::DrillOutcome;
use rollback_drill::scenario::{FindingKind, Mechanism, Plan};
use rollback_drill::sim;

const SHIPPED: &str = "scenarios/model-migration-with-prompts-coordinated.yaml";

fn shipped() -> String {
    std::fs::read_to_string(common::root().join(SHIPPED)).unwrap()
}

/// The shipped scenario with `from` replaced by `to` (which must occur).
fn variant(edits: &[(&str, &str)]) -> Plan {
    let mut text = shipped();
    for (from, to) in edits {
        assert!(text.contains(from), "the shipped scenario holds {from:?}");
        text = text.replacen(from, to, 1);
    }
    plan(&text)
}

fn route<'a>(o: &'a DrillOutcome, name: &str) -> &'a RouteRollback {
    o.record
        .routes
        .iter()
        .find(|r| r.route == name)
        .unwrap_or_else(|| panic!("route {name} in {:#?}", o.record.routes))
}

fn rollback_rows(o: &DrillOutcome) -> Vec<&rollback_drill::registry::AuditEntry> {
    o.audit.iter().filter(|a| a.actor != "deployer").collect()
}

#[test]
fn the_shipped_scenario_passes_and_restore_is_the_sum_of_the_route_phases() {
    let p = plan(&shipped());
    let o = sim::run(&p);
    assert!(o.passed(), "{:#?}", o.checks());
    let routes = &o.record.routes;
    // Reverse release order: the prompts first, the model they use last.
    let order: Vec<&str> = routes.iter().map(|r| r.route.as_str()).collect();
    assert_eq!(order, ["triage", "summarize", "smart-reasoner"]);
    assert_eq!(route(&o, "triage").mechanism, Mechanism::RouteWeight);
    assert_eq!(route(&o, "summarize").mechanism, Mechanism::RouteWeight);
    assert_eq!(route(&o, "smart-reasoner").mechanism, Mechanism::AliasRemap);
    // Each route's phase is one write and its propagation, from the
    // scenario's numbers; each starts where the previous one ended.
    let per_route = (p.registry.write_latency.0 + p.registry.propagation.0) as f64 / 1000.0;
    for pair in routes.windows(2) {
        assert_eq!(pair[0].end_s, pair[1].start_s, "{pair:#?}");
    }
    let mut sum = 0.0;
    for r in routes {
        assert_eq!(r.status, RouteStatus::RolledBack, "{r:#?}");
        assert_eq!(r.took_s(), Some(per_route), "{r:#?}");
        sum += r.took_s().unwrap();
    }
    let restore = o.durations().restore.unwrap();
    assert_eq!(restore, sum);
    assert_eq!(restore, 3.0 * per_route);
    assert_eq!(
        o.record.restored.map(|ms| ms as f64 / 1000.0),
        routes[2].end_s
    );
    // The execute step shows the same phases, one per route.
    let execute = o.steps().iter().find(|s| s.name == "execute").unwrap();
    let phases: Vec<(&str, f64)> = execute
        .phases
        .iter()
        .map(|ph| (ph.name.as_str(), ph.end_s.unwrap() - ph.start_s))
        .collect();
    assert_eq!(
        phases,
        [
            ("triage: route_weight to triage-v7", per_route),
            ("summarize: route_weight to summarize-v3", per_route),
            (
                "smart-reasoner: alias_remap to claude-sonnet-4-5",
                per_route
            ),
        ]
    );
}

#[test]
fn the_audit_has_one_row_per_route_write_linked_by_one_change_id() {
    let o = sim::run(&plan(&shipped()));
    let rows = rollback_rows(&o);
    let routes: Vec<&str> = rows.iter().map(|r| r.route.as_str()).collect();
    assert_eq!(routes, ["triage", "summarize", "smart-reasoner"]);
    let id = rows[0].change_id.clone().expect("a change id");
    assert!(rows.iter().all(|r| r.change_id.as_deref() == Some(&id)));
    assert_eq!(rows[0].to, "triage-v7 100%, triage-v8 0%");
    assert_eq!(rows[2].to, "claude-sonnet-4-5 100%");
    // The release rows belong to no rollback.
    assert!(
        o.audit
            .iter()
            .filter(|a| a.actor == "deployer")
            .all(|a| a.change_id.is_none())
    );
}

#[test]
fn on_call_without_coordinated_authority_escalates_to_the_platform_lead() {
    let p = plan(&shipped());
    let o = sim::run(&p);
    let r = &p.responders;
    assert!(!r.on_call.coordinated);
    let expected = (r.on_call.ack_after.0 + r.platform_lead.ack_after.0) as f64 / 1000.0;
    assert_eq!(o.durations().decide, Some(expected));
    assert_eq!(expected, 18.0 * 60.0);
    assert_eq!(o.record.decided_by.as_deref(), Some("platform_lead"));
    assert!(
        o.decision_path().iter().any(|e| e.who == "on_call"
            && e.what
                == "has no authority for a coordinated rollback of 3 routes: escalated to platform_lead"),
        "{:#?}",
        o.decision_path()
    );
}

#[test]
fn on_call_with_coordinated_authority_decides_alone() {
    let p = variant(&[(
        "authority: [prompt, model]}",
        "authority: [prompt, model, coordinated]}",
    )]);
    assert!(p.responders.on_call.coordinated);
    let o = sim::run(&p);
    assert!(o.passed(), "{:#?}", o.checks());
    let expected = p.responders.on_call.ack_after.0 as f64 / 1000.0;
    assert_eq!(o.durations().decide, Some(expected));
    assert_eq!(o.record.decided_by.as_deref(), Some("on_call"));
}

/// The model route's target retired: the two prompts roll back first (in
/// reverse release order), then the model cannot.
const RETIRED: &str = "expect:\n  rollback: true\n  severity: high\n  verdict: pass\n";
const RETIRED_EXPECT: &str = "faults:\n  - {kind: retire_target}\n\nexpect:\n  rollback: true\n  verdict: fail\n  findings: [partial_rollback]\n";

#[test]
fn a_retired_target_on_one_of_three_routes_fails_as_partial_rollback_naming_it() {
    let o = sim::run(&variant(&[(RETIRED, RETIRED_EXPECT)]));
    assert!(!o.passed());
    assert_eq!(o.record.restored, None, "never restored, never a pass");
    let partial: Vec<_> = o
        .findings()
        .into_iter()
        .filter(|f| f.kind == FindingKind::PartialRollback)
        .collect();
    assert_eq!(partial.len(), 1, "{:#?}", o.findings());
    assert!(
        partial[0].message.starts_with(
            "the coordinated rollback is partial: smart-reasoner could not be rolled back"
        ),
        "{}",
        partial[0].message
    );
    assert!(
        partial[0]
            .message
            .contains("triage, summarize stay rolled back")
    );
    assert_eq!(route(&o, "smart-reasoner").status, RouteStatus::Failed);
    assert_eq!(route(&o, "triage").status, RouteStatus::RolledBack);
    assert_eq!(route(&o, "summarize").status, RouteStatus::RolledBack);
    // The registry holds the two rollbacks, and nothing for the model.
    let rows = rollback_rows(&o);
    let routes: Vec<&str> = rows.iter().map(|r| r.route.as_str()).collect();
    assert_eq!(routes, ["triage", "summarize"]);
    let execute = o.steps().iter().find(|s| s.name == "execute").unwrap();
    assert_eq!(execute.status, StepStatus::Failed);
    let verify = o.steps().iter().find(|s| s.name == "verify").unwrap();
    assert_eq!(verify.status, StepStatus::NotRun);
}

#[test]
fn roll_all_forward_puts_the_rolled_back_routes_forward_again() {
    let o = sim::run(&variant(&[
        (RETIRED, RETIRED_EXPECT),
        (
            "  rollback: together\n",
            "  rollback: together\n  on_partial: roll_all_forward\n",
        ),
    ]));
    assert!(!o.passed());
    assert_eq!(o.record.restored, None);
    assert_eq!(route(&o, "triage").status, RouteStatus::RolledForward);
    assert_eq!(route(&o, "summarize").status, RouteStatus::RolledForward);
    let rows = rollback_rows(&o);
    let writes: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.route.as_str(), r.to.as_str()))
        .collect();
    assert_eq!(
        writes,
        [
            ("triage", "triage-v7 100%, triage-v8 0%"),
            ("summarize", "summarize-v3 100%, summarize-v4 0%"),
            // Forward again in release order, to the candidates before
            // the rollback.
            ("summarize", "summarize-v3 75%, summarize-v4 25%"),
            ("triage", "triage-v7 75%, triage-v8 25%"),
        ]
    );
    let partial = o
        .findings()
        .into_iter()
        .find(|f| f.kind == FindingKind::PartialRollback)
        .unwrap();
    assert!(
        partial
            .message
            .contains("summarize, triage went forward again (on_partial: roll_all_forward)")
            || partial
                .message
                .contains("triage, summarize went forward again (on_partial: roll_all_forward)"),
        "{}",
        partial.message
    );
}

#[test]
fn per_route_rolls_back_only_the_related_routes_whose_policy_fires() {
    // triage ships a healthy version: its own policy never fires.
    let p = variant(&[
        (
            "weight: 25%, behaviour: {error_rate: 2.5%}}",
            "weight: 25%, behaviour: {error_rate: 0.2%}}",
        ),
        ("  rollback: together\n", "  rollback: per_route\n"),
    ]);
    let o = sim::run(&p);
    assert!(o.passed(), "{:#?}", o.checks());
    assert_eq!(route(&o, "triage").status, RouteStatus::Kept);
    assert_eq!(route(&o, "summarize").status, RouteStatus::RolledBack);
    assert_eq!(route(&o, "smart-reasoner").status, RouteStatus::RolledBack);
    let rows = rollback_rows(&o);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let per_route = (p.registry.write_latency.0 + p.registry.propagation.0) as f64 / 1000.0;
    assert_eq!(o.durations().restore, Some(2.0 * per_route));
}

#[test]
fn together_rolls_back_a_route_whose_policy_is_quiet() {
    let o = sim::run(&variant(&[(
        "weight: 25%, behaviour: {error_rate: 2.5%}}",
        "weight: 25%, behaviour: {error_rate: 0.2%}}",
    )]));
    assert!(o.passed(), "{:#?}", o.checks());
    assert_eq!(route(&o, "triage").status, RouteStatus::RolledBack);
}

#[test]
fn changes_ship_in_order_after_their_offsets_and_roll_back_in_the_order_given() {
    let p = variant(&[
        (
            "{route: summarize, version: summarize-v4, weight",
            "{route: summarize, version: summarize-v4, after: 10s, weight",
        ),
        (
            "{route: triage, version: triage-v8, weight",
            "{route: triage, version: triage-v8, after: 20s, weight",
        ),
        (
            "  rollback: together\n",
            "  rollback: together\n  rollback_order: [smart-reasoner, triage, summarize]\n",
        ),
    ]);
    let o = sim::run(&p);
    assert!(o.passed(), "{:#?}", o.checks());
    let shipped: Vec<(&str, f64)> = o
        .audit
        .iter()
        .filter(|a| a.actor == "deployer")
        .map(|a| (a.route.as_str(), a.at_s))
        .collect();
    assert_eq!(
        shipped,
        [
            ("smart-reasoner", 900.0),
            ("summarize", 910.0),
            ("triage", 920.0)
        ]
    );
    let order: Vec<&str> = o.record.routes.iter().map(|r| r.route.as_str()).collect();
    assert_eq!(order, ["smart-reasoner", "triage", "summarize"]);
}

#[test]
fn a_one_entry_set_is_a_single_route_release() {
    let text = std::fs::read_to_string(
        common::root().join("scenarios/model-latency-regression-alias-remap.yaml"),
    )
    .unwrap();
    let single = plan(&text);
    let rel = &single.release;
    let start = text.find("release:\n").unwrap();
    let end = start + text[start..].find("\n\n").unwrap();
    let old = &text[start..end];
    assert!(old.contains(&format!("at: {}", rollback_drill::scenario::Dur(rel.at.0))));
    // The same release written as `changes` with one entry.
    let body: Vec<String> = old
        .lines()
        .skip(1)
        .filter(|l| !l.trim_start().starts_with("at:"))
        .map(|l| format!("  {l}"))
        .collect();
    let mut body = body.join("\n");
    body.replace_range(2..4, "- ");
    let set = format!(
        "release:\n  at: {}\n  changes:\n{body}",
        rollback_drill::scenario::Dur(rel.at.0)
    );
    assert!(
        set.contains("  changes:\n  - route: smart-reasoner\n    version:"),
        "{set}"
    );
    let as_set = plan(&text.replace(old, &set));
    assert!(as_set.release_set.is_none());
    let a = rollback_drill::report::json::value(&sim::run(&single));
    let b = rollback_drill::report::json::value(&sim::run(&as_set));
    let strip = |mut v: serde_json::Value| {
        v["hashes"] = serde_json::Value::Null;
        v
    };
    assert_eq!(strip(a), strip(b));
    // What only a set has is refused on one entry, not ignored.
    for (field, line) in [
        ("rollback", "  rollback: per_route\n"),
        ("rollback_order", "  rollback_order: [smart-reasoner]\n"),
        ("on_partial", "  on_partial: roll_all_forward\n"),
    ] {
        let with = text.replace(old, &format!("{set}\n{line}").replacen("\n\n", "\n", 1));
        let found = rollback_drill::scenario::load_str(&with, std::path::Path::new("t.yaml"))
            .expect_err("refused");
        let said: Vec<&str> = found.iter().map(|d| d.message.as_str()).collect();
        let want =
            format!("`{field}` applies to a release of several routes; release.changes lists one");
        assert!(said.contains(&want.as_str()), "{said:?}");
    }
}

#[test]
fn every_report_shows_the_route_phases_and_the_set_totals() {
    let o = sim::run(&plan(&shipped()));
    let json = rollback_drill::report::json::value(&o);
    let set = &json["release_set"];
    let routes: Vec<&str> = set["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["route"].as_str().unwrap())
        .collect();
    assert_eq!(routes, ["triage", "summarize", "smart-reasoner"]);
    assert_eq!(set["routes"][2]["mechanism"], "alias_remap");
    assert_eq!(set["routes"][2]["status"], "rolled_back");
    assert_eq!(set["totals"]["phases_s"], 9.0);
    assert_eq!(set["totals"]["span_s"], 9.0);
    assert_eq!(set["totals"]["restore_s"], 9.0);
    assert_eq!(
        set["totals"]["restore_is"],
        "the sum of the per-route phases: routes roll back one after another"
    );
    let outcomes = [o];
    let md = rollback_drill::report::markdown::render(&outcomes);
    assert!(
        md.contains("- triage: triage-v8 → triage-v7 by route_weight, rolled_back (3s)\n"),
        "{md}"
    );
    assert!(md.contains("- set: 3 of 3 routes rolled back; phases 9s in all, 9s from first to last; restore 9s (the sum of the per-route phases"), "{md}");
    let junit =
        String::from_utf8(rollback_drill::report::junit::render(&outcomes).unwrap()).unwrap();
    assert!(
        junit.contains(
            "<system-out>triage: triage-v8 → triage-v7 by route_weight, rolled_back (3s)"
        ),
        "{junit}"
    );
    let html = rollback_drill::report::html::render(&outcomes);
    assert!(html.contains("<h3>Coordinated rollback</h3>"));
    assert!(html.contains("<tr><td>smart-reasoner</td><td>claude-sonnet-4-6</td><td>claude-sonnet-4-5</td><td>alias_remap</td><td>rolled_back</td><td>3s</td>"), "no smart-reasoner row");
}

#[test]
fn single_route_reports_have_no_set() {
    let text = std::fs::read_to_string(
        common::root().join("scenarios/model-latency-regression-alias-remap.yaml"),
    )
    .unwrap();
    let o = sim::run(&plan(&text));
    assert!(o.record.routes.is_empty());
    let json = rollback_drill::report::json::value(&o);
    assert!(json.get("release_set").is_none());
    assert!(
        json["audit"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a.get("change_id").is_none())
    );
    let outcomes = [o];
    assert!(!rollback_drill::report::markdown::render(&outcomes).contains("Coordinated rollback"));
    assert!(!rollback_drill::report::html::render(&outcomes).contains("Coordinated rollback"));
}

#[test]
fn a_retired_target_on_a_middle_route_leaves_the_routes_around_it_rolled_back() {
    let o = sim::run(&variant(&[(
        RETIRED,
        "faults:\n  - {kind: retire_target, route: summarize}\n",
    )]));
    assert!(!o.passed());
    assert_eq!(o.record.restored, None);
    assert_eq!(route(&o, "summarize").status, RouteStatus::Failed);
    assert!(
        route(&o, "summarize").detail.starts_with(
            "rollback target summarize-v3 of route summarize was removed by retention"
        ),
        "{}",
        route(&o, "summarize").detail
    );
    assert_eq!(route(&o, "triage").status, RouteStatus::RolledBack);
    assert_eq!(route(&o, "smart-reasoner").status, RouteStatus::RolledBack);
    let partial = o
        .findings()
        .into_iter()
        .find(|f| f.kind == FindingKind::PartialRollback)
        .unwrap();
    assert!(
        partial
            .message
            .starts_with("the coordinated rollback is partial: summarize could not be rolled back"),
        "{}",
        partial.message
    );
    // The preflight saw it coming, on that route.
    assert!(
        o.preflight
            .iter()
            .any(|f| f.kind == FindingKind::TargetRetired
                && f.message.contains("for route summarize"))
    );
    let rows = rollback_rows(&o);
    let routes: Vec<&str> = rows.iter().map(|r| r.route.as_str()).collect();
    assert_eq!(routes, ["triage", "smart-reasoner"]);
}

/// Under `per_route` the set grows until it stops: summarize is related
/// only to the model, which joins after it in release order. A single pass
/// in release order left summarize (3% errors) `kept`, and the drill passed.
#[test]
fn per_route_takes_a_route_related_to_one_that_joins_later() {
    let p = variant(&[
        (
            "    - route: smart-reasoner
      version: claude-sonnet-4-6
      id: anthropic:claude-sonnet-4-6:ap-south-1
      weight: 25%
      behaviour: {error_rate: 3%}
    - {route: summarize, version: summarize-v4, weight: 25%, behaviour: {error_rate: 3%}}
    - {route: triage, version: triage-v8, weight: 25%, behaviour: {error_rate: 2.5%}}
",
            "    - {route: triage, version: triage-v8, weight: 25%, behaviour: {error_rate: 2.5%}}
    - {route: summarize, version: summarize-v4, after: 1s, weight: 25%, behaviour: {error_rate: 3%}}
    - route: smart-reasoner
      version: claude-sonnet-4-6
      id: anthropic:claude-sonnet-4-6:ap-south-1
      after: 2s
      weight: 25%
      behaviour: {error_rate: 3%}
",
        ),
        ("  rollback: together\n", "  rollback: per_route\n"),
    ]);
    let o = sim::run(&p);
    assert_eq!(route(&o, "smart-reasoner").status, RouteStatus::RolledBack);
    assert_eq!(
        route(&o, "summarize").status,
        RouteStatus::RolledBack,
        "{:#?}",
        o.record.routes
    );
}

/// A slow registry makes each route's `identify_target` read take longer,
/// as it does for a single route: the set's step took 0s.
#[test]
fn a_slow_registry_slows_every_read_of_a_sets_identify_target() {
    let p = variant(&[(
        "\nprocedure:",
        "\nfaults:\n  - {kind: registry_slow, add: 20s}\n\nprocedure:",
    )]);
    let o = sim::run(&p);
    let step = o
        .record
        .steps
        .iter()
        .find(|s| s.name == "identify_target")
        .expect("the step ran");
    let took = step.end_s.unwrap() - step.start_s.unwrap();
    assert_eq!(took, 3.0 * 20.0, "three routes, 20 s each: {step:#?}");
    assert!(step.detail.contains("reads took 1m"), "{}", step.detail);
}
