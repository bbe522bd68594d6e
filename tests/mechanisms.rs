//! Every trigger action, responder path and rollback mechanism, measured
//! against its time model.

mod common;

use common::plan;
use rollback_drill::drill::StepStatus;
use rollback_drill::outcome::{CheckStatus, DrillOutcome};
use rollback_drill::scenario::{Action, Decision, FindingKind};
use rollback_drill::sim;

/// A drill on route `r`: v12 serves, v13 is released. Placeholders:
/// {CHANGE} {RPS} {WEIGHT} {BEHAVIOUR} {POLICY} {RESPONDERS} {PROCEDURE} {EXTRA}.
const DRILL: &str = r#"
name: t
change: {CHANGE}
seed: {SEED}
duration: 6h
registry:
  routes:
    r:
      candidates:
        - {id: r:v12, version_pin: v12, weight: 100}
  versions:
    r: [v11]
  propagation: 2s
  write_latency: 1s
traffic:
  rps: {RPS}
  behaviour:
    v11: {error_rate: 0.5%, latency: {p50: 700ms, p99: 2s}, quality: 88%}
    v12: {error_rate: 0.5%, latency: {p50: 700ms, p99: 2s}, quality: 88%}
release:
  route: r
  version: v13
  at: 15m
  weight: {WEIGHT}
  behaviour: {BEHAVIOUR}
{POLICY}
{RESPONDERS}
procedure:
{PROCEDURE}
{EXTRA}
"#;

struct Drill<'a> {
    change: &'a str,
    seed: u64,
    rps: u32,
    weight: &'a str,
    behaviour: &'a str,
    policy: &'a str,
    responders: &'a str,
    procedure: &'a str,
    extra: &'a str,
}

impl Default for Drill<'_> {
    fn default() -> Self {
        Drill {
            change: "prompt",
            seed: 1,
            rps: 100,
            weight: "25%",
            behaviour: "{error_rate: 8%}",
            policy: "",
            responders: "",
            procedure: "  - execute: {mechanism: route_weight}",
            extra: "",
        }
    }
}

impl Drill<'_> {
    fn yaml(&self) -> String {
        DRILL
            .replace("{CHANGE}", self.change)
            .replace("{SEED}", &self.seed.to_string())
            .replace("{RPS}", &self.rps.to_string())
            .replace("{WEIGHT}", self.weight)
            .replace("{BEHAVIOUR}", self.behaviour)
            .replace("{POLICY}", self.policy)
            .replace("{RESPONDERS}", self.responders)
            .replace("{PROCEDURE}", self.procedure)
            .replace("{EXTRA}", self.extra)
    }

    fn run(&self) -> DrillOutcome {
        sim::run(&plan(&self.yaml()))
    }

    /// The same drill with the pinnable v11 behaving worse.
    fn run_with_v11_error(&self, error: &str) -> DrillOutcome {
        let yaml = self.yaml().replace(
            "    v11: {error_rate: 0.5%,",
            &format!("    v11: {{error_rate: {error},"),
        );
        sim::run(&plan(&yaml))
    }

    fn run_3h(&self) -> DrillOutcome {
        let p = plan(&self.yaml().replace("duration: 6h", "duration: 3h"));
        assert_eq!(p.duration.0, 3 * 3600 * 1000);
        sim::run(&p)
    }
}

const AUTO: &str = "policy:\n  triggers:\n    - {metric: error_rate, above: 2%, severity: critical, action: auto_rollback, decide_within: 2m}";

fn restore(o: &DrillOutcome) -> f64 {
    o.durations().restore.expect("restored")
}

fn execute_phases(o: &DrillOutcome) -> Vec<(String, f64)> {
    let step = o
        .steps()
        .iter()
        .find(|s| s.name == "execute")
        .expect("execute ran");
    step.phases
        .iter()
        .map(|p| (p.name.clone(), p.end_s.unwrap() - p.start_s))
        .collect()
}

#[test]
fn redeploy_restores_after_pull_plus_waves_then_write_and_propagation() {
    let o = Drill {
        change: "agent_code",
        policy: AUTO,
        procedure: "  - execute: {mechanism: redeploy, replicas: 6, surge: 2, per_replica: 90s, image_pull: 60s}",
        ..Drill::default()
    }
    .run();
    assert_eq!(restore(&o), 60.0 + 3.0 * 90.0 + 1.0 + 2.0);
    let phases = execute_phases(&o);
    assert_eq!(phases[0], ("pull the previous build's image".into(), 60.0));
    assert_eq!(phases[1].1, 270.0, "{phases:?}");
    assert!(phases[1].0.contains("3 waves of 1m30s"), "{phases:?}");
    assert_eq!(phases[2].1, 3.0, "switch: write + propagation");
    assert!(o.passed(), "{:#?}", o.checks());
}

#[test]
fn restore_data_takes_documents_over_rebuild_rate() {
    let o = Drill {
        change: "data",
        policy: AUTO,
        procedure: "  - execute: {mechanism: restore_data, documents: 2000000, rebuild_rate: 500}",
        ..Drill::default()
    }
    .run();
    let phases = execute_phases(&o);
    assert_eq!(phases[0].1, 4000.0, "{phases:?}");
    assert_eq!(restore(&o), 4000.0 + 3.0);
    let check = o
        .checks()
        .into_iter()
        .find(|c| c.name == "restore")
        .unwrap();
    assert_eq!(check.message, "restore took 1h6m43s, target 4h (data)");
}

#[test]
fn revert_set_switches_then_rebaselines() {
    let o = Drill {
        change: "eval",
        policy: AUTO,
        procedure: "  - execute: {mechanism: revert_set, rebaseline: 10m}",
        ..Drill::default()
    }
    .run();
    assert_eq!(restore(&o), 3.0 + 600.0);
    assert!(o.passed(), "{:#?}", o.checks());
}

#[test]
fn gradual_rollback_holds_each_stage_then_restores() {
    let o = Drill {
        change: "model",
        weight: "100%",
        behaviour: "{error_rate: 2.5%}",
        policy: AUTO,
        procedure: "  - execute: {mechanism: gradual, stages: [75%, 50%, 25%, 0%], hold: 10m}",
        extra: "targets: {restore: 45m}",
        ..Drill::default()
    }
    .run();
    // Four writes (1s + 2s propagation each) and three 10-minute holds.
    assert_eq!(restore(&o), 4.0 * 3.0 + 3.0 * 600.0);
    let phases = execute_phases(&o);
    let names: Vec<&str> = phases.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "stage 1: v13 at 75%",
            "hold stage 1",
            "stage 2: v13 at 50%",
            "hold stage 2",
            "stage 3: v13 at 25%",
            "hold stage 3",
            "stage 4: v13 at 0%"
        ]
    );
    assert_eq!(o.audit.len(), 1 + 4, "the release and four rollback writes");
}

#[test]
fn gradual_abort_if_pauses_the_shift_and_escalates_to_the_platform_lead() {
    // The pinned target v11 is worse than the release: as traffic moves to
    // it the route's error rate climbs past abort_if at the third stage.
    let o = Drill {
        change: "model",
        weight: "100%",
        behaviour: "{error_rate: 2.5%}",
        policy: AUTO,
        procedure: "  - identify_target: {version: v11}\n  - execute: {mechanism: gradual, stages: [75%, 50%, 25%, 0%], hold: 10m, abort_if: {metric: error_rate, above: 5%}}",
        extra: "targets: {restore: 2h}",
        ..Drill::default()
    }
    .run_with_v11_error("6%");
    let phases = execute_phases(&o);
    let names: Vec<&str> = phases.iter().map(|(n, _)| n.as_str()).collect();
    let paused = names
        .iter()
        .position(|n| *n == "paused by abort_if")
        .expect("paused");
    assert_eq!(
        names[paused - 1],
        "hold stage 3",
        "fires mid-way: {names:?}"
    );
    assert_eq!(
        phases[paused].1,
        15.0 * 60.0,
        "paused until the lead acknowledges"
    );
    assert_eq!(names.last(), Some(&"platform_lead: release to 0% at once"));
    assert!(
        o.decision_path()
            .iter()
            .any(|e| e.what.contains("escalated to platform_lead")),
        "{:#?}",
        o.decision_path()
    );
    // Two full holds, part of the third, the lead's 15 minutes, 4 writes.
    let r = restore(&o);
    assert!(
        r > 2.0 * 600.0 + 900.0 && r < 3.0 * 600.0 + 900.0 + 12.0,
        "restore {r}"
    );
}

#[test]
fn on_call_without_authority_escalates_and_decide_adds_both_acks() {
    for seed in 0..5 {
        let o = Drill {
            change: "agent_code",
            seed,
            behaviour: "{error_rate: 3%}",
            procedure: "  - execute: {mechanism: redeploy, replicas: 6, surge: 2, per_replica: 90s, image_pull: 60s}",
            ..Drill::default()
        }
        .run();
        let on_call_ack = 180.0;
        let lead_ack = 900.0;
        let decide = o.durations().decide.expect("decided");
        assert!(
            (decide - (on_call_ack + lead_ack)).abs() <= 30.0,
            "seed {seed}: decide {decide}s"
        );
        assert_eq!(o.record.decided_by.as_deref(), Some("platform_lead"));
        assert!(o.decision_path().iter().any(|e| e.who == "on_call"
            && e.what == "has no authority for agent_code: escalated to platform_lead"));
    }
}

#[test]
fn baseline_check_fails_on_an_unhealthy_target_and_passes_a_healthy_one() {
    let unhealthy = Drill {
        policy: AUTO,
        procedure: "  - identify_target: {version: v11}\n  - baseline_check: {requests: 400}\n  - execute: {mechanism: route_weight}",
        ..Drill::default()
    }
    .run_with_v11_error("9%");
    let step = unhealthy
        .steps()
        .iter()
        .find(|s| s.name == "baseline_check")
        .unwrap();
    assert_eq!(step.status, StepStatus::Failed);
    assert_eq!(
        step.end_s.unwrap() - step.start_s.unwrap(),
        4.0,
        "400 requests at 100 rps"
    );
    assert!(
        unhealthy
            .findings()
            .iter()
            .any(|f| f.kind == FindingKind::TargetUnhealthy)
    );
    assert!(
        unhealthy.record.restored.is_none(),
        "an unhealthy target is not rolled back to"
    );
    assert!(!unhealthy.passed());

    let healthy = Drill {
        policy: AUTO,
        procedure: "  - identify_target: {previous: true}\n  - baseline_check: {requests: 400}\n  - execute: {mechanism: route_weight}",
        ..Drill::default()
    }
    .run();
    assert!(healthy.passed(), "{:#?}", healthy.checks());
    assert_eq!(
        restore(&healthy),
        4.0 + 3.0,
        "replay, then write + propagation"
    );
}

#[test]
fn roll_forward_ships_the_fix_where_execute_stands() {
    let o = Drill {
        policy: AUTO
            .replace("auto_rollback, decide_within: 2m", "page, decide_within: 5m")
            .as_str(),
        responders: "responders:\n  on_call: {decision: roll_forward, roll_forward: {version: v13.1, behaviour: {error_rate: 0.4%}, ship_after: 8m}}",
        procedure: "  - identify_target: {previous: true}\n  - execute: {mechanism: route_weight}\n  - verify: {metric: error_rate, below: 1%, every: 5s, within: 5m}",
        extra: "targets: {restore: 10m}\nexpect: {rollback: false}",
        ..Drill::default()
    }
    .run();
    assert_eq!(o.record.decision, Some(Decision::RollForward));
    assert_eq!(o.record.rollback_target.as_deref(), Some("v13.1"));
    assert_eq!(restore(&o), 480.0 + 3.0);
    assert_eq!(o.steps()[0].status, StepStatus::Skipped);
    assert!(
        o.audit.last().unwrap().to.contains("v13.1"),
        "{:?}",
        o.audit
    );
    assert!(o.passed(), "{:#?}", o.checks());
}

#[test]
fn quality_drop_observed_for_an_hour_then_paged() {
    let o = Drill {
        change: "model",
        rps: 200,
        behaviour: "{quality: 77%}",
        procedure: "  - execute: {mechanism: alias_remap}",
        extra: "policy:\n  new_version: {for: 1h, quality_drop_max: 20%}",
        ..Drill::default()
    }
    .run();
    let (trigger, value) = o.record.trigger.clone().unwrap();
    assert_eq!(trigger.action, Action::Observe);
    assert!(value > 0.10 && value < 0.20, "{value}");
    assert!(
        o.decision_path()
            .iter()
            .any(|e| e.what.contains("escalating to a page")),
        "still firing after the hour: {:#?}",
        o.decision_path()
    );
    assert_eq!(o.record.decided_by.as_deref(), Some("on_call"));
    let decide = o.durations().decide.unwrap();
    assert!((decide - (3600.0 + 180.0)).abs() <= 30.0, "decide {decide}");
    assert!(
        o.decision_path()
            .iter()
            .any(|e| e.what.contains("observing for 1h"))
    );
}

#[test]
fn accuracy_drop_alerts_and_product_decides() {
    let o = Drill {
        change: "prompt",
        behaviour: "{quality: 60%}",
        procedure: "  - execute: {mechanism: route_weight}",
        ..Drill::default()
    }
    .run();
    let (trigger, _) = o.record.trigger.clone().unwrap();
    assert_eq!(
        (trigger.action, trigger.severity.as_str()),
        (Action::Alert, "high")
    );
    assert_eq!(o.record.decided_by.as_deref(), Some("product"));
    assert!((o.durations().decide.unwrap() - 1200.0).abs() <= 30.0);
}

#[test]
fn a_staged_canary_is_caught_at_its_first_step() {
    // `weight` and `steps` exclude each other: replace the line outright.
    let yaml = DRILL.replace(
        "  weight: {WEIGHT}\n",
        "  steps: [1%, 5%, 25%, 100%]\n  step_every: 10m\n",
    );
    let o = sim::run(&plan(
        &yaml
            .replace("{CHANGE}", "prompt")
            .replace("{SEED}", "2")
            .replace("{RPS}", "200")
            .replace("{BEHAVIOUR}", "{error_rate: 30%}")
            .replace("{POLICY}", AUTO)
            .replace("{RESPONDERS}", "")
            .replace("{PROCEDURE}", "  - execute: {mechanism: route_weight}")
            .replace("{EXTRA}", ""),
    ));
    let detected = o.record.detected.unwrap() as f64 / 1000.0;
    assert!(
        detected < 900.0 + 600.0,
        "caught at 1% before the 5% step: {detected}"
    );
    assert_eq!(o.audit[0].to, "v12 99%, v13 1%");
}

#[test]
fn investigate_stops_without_rollback_and_fails_an_expected_rollback() {
    let o = Drill {
        behaviour: "{error_rate: 3%}",
        responders: "responders:\n  on_call: {decision: investigate}",
        ..Drill::default()
    }
    .run();
    assert_eq!(o.record.decision, Some(Decision::Investigate));
    let decide = o.checks().into_iter().find(|c| c.name == "decide").unwrap();
    assert_eq!(decide.status, CheckStatus::Failed, "{decide:?}");
    assert!(!o.passed());
}

#[test]
fn a_healthy_release_at_200_rps_is_never_rolled_back_under_the_default_policy() {
    for seed in 0..20 {
        let o = Drill {
            seed,
            rps: 200,
            behaviour: "{}",
            procedure: "  - execute: {mechanism: route_weight}",
            ..Drill::default()
        }
        .run_3h();
        assert!(
            o.record.detected.is_none(),
            "seed {seed}: false alarm {:#?}",
            o.decision_path()
        );
        assert!(!o.rolled_back());
    }
}

#[test]
fn canary_promotion_halts_once_a_problem_is_detected() {
    let yaml = DRILL
        .replace(
            "  weight: {WEIGHT}\n",
            "  steps: [5%, 25%, 50%, 100%]\n  step_every: 3m\n",
        )
        .replace("{CHANGE}", "prompt")
        .replace("{SEED}", "3")
        .replace("{RPS}", "200")
        .replace("{BEHAVIOUR}", "{error_rate: 3%}")
        .replace("{POLICY}", "")
        .replace("{RESPONDERS}", "")
        .replace("{PROCEDURE}", "  - execute: {mechanism: route_weight}")
        .replace("{EXTRA}", "");
    let o = sim::run(&plan(&yaml));
    let detected = o.record.detected.expect("detected") as f64 / 1000.0;
    let deployer_writes: Vec<f64> = o
        .audit
        .iter()
        .filter(|a| a.actor == "deployer")
        .map(|a| a.at_s)
        .collect();
    assert!(
        deployer_writes.iter().all(|&t| t <= detected),
        "deployer wrote at {deployer_writes:?} after detection at {detected}"
    );
    assert_eq!(
        o.audit.last().unwrap().to,
        "v12 100%, v13 0%",
        "the rollback is the last word"
    );
    assert!(
        o.decision_path()
            .iter()
            .any(|e| e.who == "deployer" && e.what.contains("halted")),
        "{:#?}",
        o.decision_path()
    );
}

#[test]
fn a_trigger_that_takes_over_is_timed_from_when_it_fired() {
    // Low traffic: the new-version alert (medium) often fires before the
    // page's point estimate crosses 2%; then the page takes over.
    let mut took_over = 0;
    for seed in 0..40 {
        let o = Drill {
            change: "model",
            seed,
            rps: 16,
            behaviour: "{error_rate: 2.6%}",
            procedure: "  - execute: {mechanism: alias_remap}",
            ..Drill::default()
        }
        .run();
        let path = o.decision_path();
        let alert = path.iter().position(|e| e.what.contains("→ alert"));
        let page = path.iter().position(|e| e.what.contains("→ page"));
        let (Some(a), Some(p)) = (alert, page) else {
            continue;
        };
        if a > p {
            continue;
        }
        took_over += 1;
        let decide = o.checks().into_iter().find(|c| c.name == "decide").unwrap();
        let decided = o.record.decided.unwrap() as f64 / 1000.0;
        assert_eq!(
            decide.measured_s,
            Some(decided - path[p].at_s),
            "seed {seed}"
        );
        assert!(
            decide.message.contains("after first detection"),
            "{}",
            decide.message
        );
        assert_eq!(o.record.trigger.as_ref().unwrap().0.action, Action::Page);
    }
    assert!(
        took_over > 0,
        "no seed showed a takeover: the test checks nothing"
    );
}
