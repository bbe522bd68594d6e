//! junit.xml stays well-formed XML whatever a scenario is called.

mod common;

use common::canary;
use rollback_drill::report::junit;
use rollback_drill::sim;

const HOSTILE: &str =
    "drill ]]> <b>&amp; \"q\" 'a' \u{1b}[31mred\u{1b}[0m \u{0}\u{7}\u{b}\u{fffe}\u{ffff}\u{85} end";

#[test]
fn hostile_names_and_descriptions_give_well_formed_junit() {
    let mut failing = canary(3, 100, "25%", "8%", "targets: {restore: 1s}");
    failing.name = format!("{HOSTILE} 1");
    failing.description = HOSTILE.to_string();
    let mut passing = canary(3, 100, "25%", "8%", "");
    passing.name = format!("{HOSTILE} 2");
    let outcomes = vec![sim::run(&failing), sim::run(&passing)];
    let bytes = junit::render(&outcomes).unwrap();
    let text = String::from_utf8(bytes).expect("UTF-8");

    // A strict XML 1.0 parser accepts it ...
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("name"), Some("rollback-drill"));
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 2);
    // ... markup survives as text, escapes and controls are gone.
    let name = suites[0].attribute("name").unwrap();
    assert!(name.contains("]]> <b>&amp; \"q\" 'a'"), "{name}");
    assert!(name.contains("red") && !name.contains('\u{1b}') && !name.contains('\u{0}'));
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .expect("the missed restore target is a <failure>");
    assert_eq!(
        failure.attribute("message"),
        Some("restore took 3s, target 1s (prompt)")
    );

    // quick-junit reads it back too.
    let report = quick_junit::Report::deserialize_from_str(&text).unwrap();
    assert_eq!(report.test_suites.len(), 2);
    assert_eq!(report.failures, 1);
}

#[test]
fn one_suite_per_scenario_one_case_per_check_with_properties() {
    let outcomes = vec![sim::run(&canary(5, 100, "25%", "8%", ""))];
    let text = String::from_utf8(junit::render(&outcomes).unwrap()).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("name"), Some("canary"));
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|n| n.attribute("name").unwrap())
        .collect();
    assert_eq!(
        cases,
        [
            "preflight",
            "detect",
            "decide",
            "restore",
            "verify",
            "procedure",
            "drift",
            "expectation"
        ]
    );
    let props: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("property"))
        .map(|n| (n.attribute("name").unwrap(), n.attribute("value").unwrap()))
        .collect();
    assert!(props.contains(&("change", "prompt")));
    assert!(props.contains(&("seed", "5")));
    assert!(props.contains(&("target", "5m")));
}
