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
            "recovered",
            "handled",
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

/// junit.xml validates against the common Jenkins JUnit schema
/// (`tests/junit-10.xsd`, the xUnit plugin's junit-10.xsd) with a real
/// validator, and every test case carries the measured seconds of its
/// phase as `time`: for a plain run, a `--repeat` run (one suite per
/// scenario, checks folded over the seeds) and a `--preflight-only` run.
#[test]
fn junit_validates_against_junit_10_xsd_and_times_every_case() {
    let runs: [&[&str]; 3] = [
        &["scenarios/", "fixtures/faults/"],
        &["scenarios/", "--repeat", "3"],
        &["scenarios/", "fixtures/faults/", "--preflight-only"],
    ];
    for (k, args) in runs.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let mut argv = vec!["run"];
        argv.extend_from_slice(args);
        argv.extend([
            "--format",
            "junit",
            "--report-dir",
            dir.path().to_str().unwrap(),
        ]);
        let out = common::bin(&argv);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{args:?}: {out:?}"
        );
        let file = dir.path().join("junit.xml");
        let xml = std::fs::read_to_string(&file).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert!(
            root.attribute("skipped").is_none(),
            "{args:?}: <testsuites> has no skipped"
        );
        let suites: Vec<_> = root
            .children()
            .filter(|n| n.has_tag_name("testsuite"))
            .collect();
        assert!(!suites.is_empty(), "{args:?}");
        for suite in &suites {
            assert!(
                suite.attribute("timestamp").is_some() && suite.attribute("time").is_some(),
                "{args:?}"
            );
        }
        let cases: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert!(!cases.is_empty(), "{args:?}");
        for c in &cases {
            let t: f64 = c
                .attribute("time")
                .unwrap_or_else(|| panic!("{args:?}: every case has a time"))
                .parse()
                .unwrap();
            assert!(t >= 0.0);
        }
        if k == 0 {
            assert!(cases.len() > 100);
            // restore's time is the restore the JSON would report, to the ms.
            let restores: Vec<f64> = cases
                .iter()
                .filter(|c| c.attribute("name") == Some("restore"))
                .map(|c| c.attribute("time").unwrap().parse().unwrap())
                .collect();
            assert!(restores.iter().any(|t| *t > 0.0));
        }
        if k == 1 {
            // One suite per scenario, not per seed.
            let scenarios = std::fs::read_dir(common::root().join("scenarios"))
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "yaml")
                })
                .count();
            assert_eq!(suites.len(), scenarios, "{args:?}");
        }
        match std::process::Command::new("xmllint")
            .args(["--noout", "--schema"])
            .arg(common::root().join("tests/junit-10.xsd"))
            .arg(&file)
            .output()
        {
            Ok(v) => assert!(
                v.status.success(),
                "{args:?}: xmllint: {}",
                String::from_utf8_lossy(&v.stderr)
            ),
            Err(_) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "xmllint is missing under CI"
                );
                eprintln!("SKIPPED: xmllint not installed (Debian's libxml2-utils has it)");
                return;
            }
        }
    }
}
