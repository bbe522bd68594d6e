//! Phase targets (`targets.detect`, `decide`, `mitigate`): each one set is
//! held to, and a miss fails that check naming the measured value and the
//! limit; unset, nothing changes.

mod common;

use rollback_drill::outcome::{Check, CheckStatus};
use rollback_drill::sim;

fn check<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} check: {checks:#?}"))
}

#[test]
fn a_missed_detect_or_mitigate_target_fails_its_check_with_value_and_limit() {
    // 3% errors on a 50% canary: paged, on-call acknowledges after 3m.
    let paged = |targets: &str| {
        sim::run(&common::canary(
            7,
            100,
            "50%",
            "3%",
            &format!("targets: {targets}"),
        ))
    };
    let o = paged("{detect: 10s, mitigate: 2m}");
    let d = o.durations();
    let (detect, mitigate) = (d.detect.unwrap(), d.mitigate.unwrap());
    assert!(detect > 10.0 && mitigate > 120.0, "{d:?}");
    let checks = o.checks();
    let c = check(&checks, "detect");
    assert_eq!(c.status, CheckStatus::Failed);
    assert_eq!((c.measured_s, c.limit_s), (Some(detect), Some(10.0)));
    assert_eq!(
        c.message,
        format!(
            "detect took {}, target 10s",
            rollback_drill::outcome::human(detect)
        )
    );
    let c = check(&checks, "mitigate");
    assert_eq!(c.status, CheckStatus::Failed);
    assert_eq!((c.measured_s, c.limit_s), (Some(mitigate), Some(120.0)));
    assert!(
        c.message.starts_with("mitigate took ") && c.message.ends_with(", target 2m"),
        "{}",
        c.message
    );
    assert!(!o.passed());

    // Generous targets: both pass, and say their limit.
    let o = paged("{detect: 5m, mitigate: 30m, decide: 10m}");
    let checks = o.checks();
    for name in ["detect", "decide", "mitigate"] {
        assert_eq!(
            check(&checks, name).status,
            CheckStatus::Passed,
            "{name}: {checks:#?}"
        );
    }
    assert_eq!(check(&checks, "mitigate").limit_s, Some(1800.0));
    assert!(o.passed(), "{checks:#?}");

    // Unset: no mitigate check, detect as before.
    let o = paged("{}");
    assert!(o.checks().iter().all(|c| c.name != "mitigate"));
}

#[test]
fn a_zero_phase_target_is_refused_where_it_is_written() {
    let text = common::CANARY
        .replace("{SEED}", "1")
        .replace("{RPS}", "100")
        .replace("{WEIGHT}", "50%")
        .replace("{ERRORS}", "3%")
        .replace("{EXTRA}", "targets: {mitigate: 0s}");
    let diags =
        rollback_drill::scenario::load_str(&text, std::path::Path::new("t.yaml")).unwrap_err();
    assert!(
        diags
            .iter()
            .any(|d| d.path == "targets.mitigate" && d.message.contains("mitigate target is 0s")),
        "{diags:#?}"
    );
}

/// The check named `name` in the scenario's JSON, as `<scenario>.json`
/// has it.
fn json_check(o: &rollback_drill::outcome::DrillOutcome, name: &str) -> serde_json::Value {
    let doc = rollback_drill::report::json::value(o);
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} check in {doc:#}"))
}

/// The case, `targets: {detect: 1m, mitigate: 5m}`: whichever one
/// is missed fails with its measured value and limit, and the other
/// passes.
#[test]
fn detect_1m_mitigate_5m_fails_only_the_missed_one() {
    let human = rollback_drill::outcome::human;
    let run = |weight: &str, errors: &str| {
        sim::run(&common::canary(
            7,
            100,
            weight,
            errors,
            "targets: {detect: 1m, mitigate: 5m}",
        ))
    };

    // A 10% canary at 2% errors: detected after 1m30s, mitigated in 4m33s.
    let o = run("10%", "2%");
    let d = o.durations();
    let (detect, mitigate) = (d.detect.unwrap(), d.mitigate.unwrap());
    assert!(detect > 60.0 && mitigate <= 300.0, "{d:?}");
    let checks = o.checks();
    let c = check(&checks, "detect");
    assert_eq!(c.status, CheckStatus::Failed, "{c:#?}");
    assert_eq!(
        c.message,
        format!("detect took {}, target 1m", human(detect))
    );
    let j = json_check(&o, "detect");
    assert_eq!(
        (j["measured_s"].as_f64(), j["limit_s"].as_f64()),
        (Some(detect), Some(60.0)),
        "{j}"
    );
    let c = check(&checks, "mitigate");
    assert_eq!(c.status, CheckStatus::Passed, "{c:#?}");
    assert_eq!(
        c.message,
        format!("mitigate took {}, target 5m", human(mitigate))
    );
    assert_eq!(json_check(&o, "mitigate")["limit_s"].as_f64(), Some(300.0));
    assert!(!o.passed());

    // A 25% canary at 1.5% errors: detected within 1m, but the decision
    // waits for on-call and users suffer for over 20m.
    let o = run("25%", "1.5%");
    let d = o.durations();
    let (detect, mitigate) = (d.detect.unwrap(), d.mitigate.unwrap());
    assert!(detect <= 60.0 && mitigate > 300.0, "{d:?}");
    let checks = o.checks();
    let c = check(&checks, "detect");
    assert_eq!(c.status, CheckStatus::Passed, "{c:#?}");
    assert_eq!(c.limit_s, Some(60.0));
    let c = check(&checks, "mitigate");
    assert_eq!(c.status, CheckStatus::Failed, "{c:#?}");
    assert_eq!(
        c.message,
        format!("mitigate took {}, target 5m", human(mitigate))
    );
    let j = json_check(&o, "mitigate");
    assert_eq!(
        (j["measured_s"].as_f64(), j["limit_s"].as_f64()),
        (Some(mitigate), Some(300.0)),
        "{j}"
    );
    assert!(!o.passed());
}

/// A missed `decide` target fails `decide` with the measured value and
/// the limit.
#[test]
fn a_missed_decide_target_fails_decide_with_value_and_limit() {
    // 3% errors on a 50% canary: paged, decided after 3m.
    let o = sim::run(&common::canary(
        7,
        100,
        "50%",
        "3%",
        "targets: {decide: 2m}",
    ));
    let decide = o.durations().decide.unwrap();
    assert!(decide > 120.0, "{decide}");
    let checks = o.checks();
    let c = check(&checks, "decide");
    assert_eq!(c.status, CheckStatus::Failed, "{c:#?}");
    assert_eq!(
        c.message,
        format!(
            "decide took {}, target 2m",
            rollback_drill::outcome::human(decide)
        )
    );
    let j = json_check(&o, "decide");
    assert_eq!(
        (j["measured_s"].as_f64(), j["limit_s"].as_f64()),
        (Some(decide), Some(120.0)),
        "{j}"
    );
    assert!(!o.passed());
    // Unset, the same drill decides without failing on time.
    let o = sim::run(&common::canary(7, 100, "50%", "3%", ""));
    assert_eq!(check(&o.checks(), "decide").status, CheckStatus::Passed);
}
