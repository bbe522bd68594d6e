//! `junit.xml`: one suite per scenario, one test case per check.
//!
//! quick-junit escapes markup and strips ANSI escapes and C0 controls; we
//! additionally drop the few characters XML 1.0 forbids that it lets through
//! (U+FFFE, U+FFFF), so hostile scenario names still give well-formed XML.
//!
//! Every test case carries `time`: the measured seconds of its phase (0
//! where nothing was measured); a suite's `time` is the drill's length in
//! scenario seconds and its `timestamp` when the run started. The file
//! validates against the Jenkins JUnit schema (junit-10.xsd), which has no
//! `skipped` on `<testsuites>`, so that attribute is left out.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::outcome::{CheckStatus, DrillOutcome, DrillResult};

use super::ReportError;

/// Keeps only characters XML 1.0 allows (and no DEL or C1 controls).
pub fn xml_safe(s: &str) -> String {
    s.chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r')
                || (('\u{20}'..='\u{7e}').contains(&c))
                || (('\u{a0}'..='\u{d7ff}').contains(&c))
                || (('\u{e000}'..='\u{fffd}').contains(&c))
                || c >= '\u{10000}'
        })
        .collect()
}

/// Without a timestamp (the bytes then depend on the outcomes alone).
pub fn render(outcomes: &[DrillOutcome]) -> Result<Vec<u8>, ReportError> {
    render_at(outcomes, None)
}

/// `started_at`: the run's start (RFC 3339), as each suite's `timestamp`.
pub fn render_at(
    outcomes: &[DrillOutcome],
    started_at: Option<&str>,
) -> Result<Vec<u8>, ReportError> {
    let mut report = Report::new("rollback-drill");
    let timestamp = started_at
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::FixedOffset::east_opt(0).expect("UTC")));
    let secs = |s: f64| std::time::Duration::from_secs_f64(s.max(0.0));
    for o in outcomes {
        let mut suite = TestSuite::new(xml_safe(&o.scenario));
        suite.set_time(secs(o.ended as f64 / 1000.0));
        if let Some(t) = timestamp {
            suite.set_timestamp(t);
        }
        suite.add_property(Property::new("change", o.change.as_str()));
        suite.add_property(Property::new("seed", o.seed.to_string()));
        suite.add_property(Property::new("target", o.restore_target.to_string()));
        suite.add_property(Property::new("file", xml_safe(&o.file)));
        let set = super::set::lines(o);
        if !set.is_empty() {
            suite.set_system_out(xml_safe(&set.join(
                "
",
            )));
        }
        let checks = o.checks();
        let xfail = DrillOutcome::result_of(&o.expect, &checks) == DrillResult::Xfail;
        if xfail {
            suite.add_property(Property::new("result", "xfail"));
        }
        for check in checks {
            let status = match check.status {
                // A negative control failed as expected: its failed checks
                // pass, and say why in their system-out.
                CheckStatus::Failed if xfail => TestCaseStatus::success(),
                CheckStatus::Passed => TestCaseStatus::success(),
                CheckStatus::Skipped => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(xml_safe(&check.message));
                    s
                }
                CheckStatus::Failed => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(xml_safe(&check.message));
                    s.set_type(check.name);
                    let findings: Vec<String> = o
                        .findings()
                        .iter()
                        .map(|f| format!("{} ({}): {}", f.kind, f.step, f.message))
                        .collect();
                    if !findings.is_empty() {
                        s.set_description(xml_safe(&findings.join("\n")));
                    }
                    s
                }
            };
            let mut case = TestCase::new(check.name, status);
            if xfail && check.status == CheckStatus::Failed {
                let findings: String = o
                    .findings()
                    .iter()
                    .map(|f| format!("\n{} ({}): {}", f.kind, f.step, f.message))
                    .collect();
                case.set_system_out(xml_safe(&format!(
                    "expected failure (xfail): the scenario expects `verdict: fail` and failed as expected; this check failed: {}{findings}",
                    check.message
                )));
            }
            case.set_classname(xml_safe(&o.scenario));
            case.set_time(secs(check.measured_s.unwrap_or(0.0)));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    let mut bytes = Vec::new();
    report
        .serialize(&mut bytes)
        .map_err(|e| ReportError::Encode {
            what: "junit.xml",
            message: e.to_string(),
        })?;
    Ok(without_testsuites_skipped(bytes))
}

/// Drops the `skipped` attribute of the `<testsuites>` element, which the
/// common Jenkins schema does not allow (suites keep theirs).
fn without_testsuites_skipped(bytes: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8(bytes).expect("quick-junit writes UTF-8");
    let Some(start) = text.find("<testsuites") else {
        return text.into_bytes();
    };
    let end = start + text[start..].find('>').unwrap_or(0);
    let head = &text[start..end];
    let Some(at) = head.find(" skipped=\"") else {
        return text.into_bytes();
    };
    let close = head[at + 10..]
        .find('"')
        .map_or(head.len(), |i| at + 10 + i + 1);
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..start + at]);
    out.push_str(&text[start + close..]);
    out.into_bytes()
}
