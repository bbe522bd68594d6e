//! `junit.xml`: one suite per scenario, one test case per check.
//!
//! quick-junit escapes markup and strips ANSI escapes and C0 controls; we
//! additionally drop the few characters XML 1.0 forbids that it lets through
//! (U+FFFE, U+FFFF), so hostile scenario names still give well-formed XML.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::outcome::{CheckStatus, DrillOutcome};

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

pub fn render(outcomes: &[DrillOutcome]) -> Result<Vec<u8>, ReportError> {
    let mut report = Report::new("rollback-drill");
    for o in outcomes {
        let mut suite = TestSuite::new(xml_safe(&o.scenario));
        suite.add_property(Property::new("change", o.change.as_str()));
        suite.add_property(Property::new("seed", o.seed.to_string()));
        suite.add_property(Property::new("target", o.restore_target.to_string()));
        suite.add_property(Property::new("file", xml_safe(&o.file)));
        for check in o.checks() {
            let status = match check.status {
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
            case.set_classname(xml_safe(&o.scenario));
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
    Ok(bytes)
}
