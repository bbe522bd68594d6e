//! Validation of whole scenario files.

use std::path::Path;

fn with_trigger(above: &str) -> Result<super::Plan, Vec<super::Diagnostic>> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/model-latency-regression-alias-remap.yaml"
    ))
    .unwrap()
    .replace(
        "targets:",
        &format!(
            "policy:\n  triggers:\n    - {{metric: latency_p99_increase, above: {above}, severity: high, action: page}}\ntargets:"
        ),
    );
    super::validate(&text, Path::new("t.yaml"), &[])
}

#[test]
fn relative_thresholds_may_exceed_100_percent_but_not_go_negative() {
    let plan = with_trigger("150%").expect("150% is a valid latency increase");
    assert_eq!(plan.policy.triggers[0].above.fraction(), 1.5);
    let diags = with_trigger("-5%").unwrap_err();
    assert_eq!(diags[0].message, "percentage `-5%` is negative");
    assert_eq!(diags[0].path, "policy.triggers[0].above");
}
