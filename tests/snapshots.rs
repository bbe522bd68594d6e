//! Snapshots of every report format and of the stdout table, on one passing
//! and one failing drill. Review changes with `cargo insta review` (or set
//! INSTA_UPDATE=always and read the diff).

use std::path::PathBuf;

use rollback_drill::cli::summary_table;
use rollback_drill::outcome::DrillOutcome;
use rollback_drill::report::{json, junit, markdown};
use rollback_drill::{scenario, sim};

fn outcomes() -> Vec<DrillOutcome> {
    // Relative paths: cargo runs tests from the package root, and the
    // `file` field should read as a user would pass it.
    [
        "scenarios/prompt-errors-paged-to-on-call.yaml",
        "fixtures/failing/restore-target-missed.yaml",
    ]
    .iter()
    .map(|f| sim::run(&scenario::load_file(&PathBuf::from(f)).expect("valid")))
    .collect()
}

#[test]
fn summary_markdown() {
    insta::assert_snapshot!(markdown::render(&outcomes()));
}

#[test]
fn stdout_table() {
    insta::assert_snapshot!(summary_table(&outcomes()));
}

#[test]
fn junit_xml() {
    let xml = String::from_utf8(junit::render(&outcomes()).unwrap()).unwrap();
    insta::assert_snapshot!(xml);
}

#[test]
fn scenario_json() {
    let o = outcomes();
    insta::assert_snapshot!(String::from_utf8(json::scenario(&o[1])).unwrap());
}
