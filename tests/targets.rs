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
