//! `rollback-drill schema` says what the validator says: every shipped
//! scenario and valid fixture passes a real JSON Schema validator
//! (check-jsonschema, from the venv `.ci/venvs` builds), and every invalid
//! fixture fails it, but for the few rules no JSON Schema can express,
//! listed here (and each checked to still pass the schema, so the list
//! stays true).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use common::servers::venv_bin;

/// Invalid fixtures whose rule needs more than one place of the file, the
/// order of the steps, or another file: the validator's alone.
const BEYOND_A_SCHEMA: &[(&str, &str)] = &[
    ("baseline-check-after-execute", "the order of the steps"),
    ("verify-before-execute", "the order of the steps"),
    (
        "candidate-without-behaviour",
        "a version named in two sections",
    ),
    (
        "duplicate-version-in-route",
        "a field unique across list items",
    ),
    ("golden-bad-line", "the content of another file"),
    ("golden-file-not-found", "another file"),
    ("gradual-stages-not-ending-at-zero", "a decreasing list"),
    (
        "identify-target-unknown-version",
        "a version named in two sections",
    ),
    ("latency-p99-below-p50", "two fields compared"),
    ("release-before-policy-window", "two sections compared"),
    (
        "release-route-not-in-registry",
        "a route named in two sections",
    ),
    (
        "release-version-already-exists",
        "a version named in two sections",
    ),
    (
        "staging-model-group-not-the-route",
        "a route named in two sections",
    ),
    ("wait-for-without-prometheus", "a step and another section"),
    ("weights-not-summing-to-100", "a sum over list items"),
    (
        "related-route-not-in-registry",
        "a route named in two sections",
    ),
    (
        "release-changes-route-listed-twice",
        "a field unique across list items",
    ),
    (
        "release-changes-route-not-in-registry",
        "a route named in two sections",
    ),
    (
        "release-changes-version-already-exists",
        "a version named in two sections",
    ),
    (
        "rollback-order-leaves-out-a-route",
        "a list covering another list",
    ),
    (
        "staging-mechanism-of-another-kind",
        "a step and another section",
    ),
];

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(common::root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The files check-jsonschema rejects, of `files`, in one run (its
/// JSON output names the file of every error).
fn rejected(checker: &Path, schema: &Path, files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let out = Command::new(checker)
        .arg("--schemafile")
        .arg(schema)
        .args(["--output-format", "json"])
        .args(files)
        .output()
        .expect("check-jsonschema runs");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check-jsonschema did not answer JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    report["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(report["parse_errors"].as_array().into_iter().flatten())
        .filter_map(|e| e["filename"].as_str().map(PathBuf::from))
        .collect()
}

#[test]
fn the_schema_and_the_validator_agree_on_every_scenario_and_fixture() {
    let Some(checker) = venv_bin("jsonschema", "check-jsonschema") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("scenario.schema.json");
    let out = common::bin(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    std::fs::write(&schema, &out.stdout).unwrap();

    let mut valid = Vec::new();
    for d in [
        "scenarios",
        "fixtures/faults",
        "fixtures/failing",
        "fixtures/live",
        "fixtures/container",
        "fixtures/staging",
    ] {
        valid.extend(yaml_files(d));
    }
    assert!(valid.len() >= 20, "only {} valid files found", valid.len());
    for file in &valid {
        let f = file.to_str().unwrap();
        let out = common::bin(&["validate", f]);
        assert_eq!(out.status.code(), Some(0), "{f} validates");
    }
    let wrongly = rejected(&checker, &schema, &valid);
    assert!(
        wrongly.is_empty(),
        "valid scenarios the schema rejects: {wrongly:?}"
    );

    let invalid = yaml_files("fixtures/invalid");
    assert!(
        invalid.len() >= 40,
        "only {} invalid fixtures found",
        invalid.len()
    );
    let caught = rejected(&checker, &schema, &invalid);
    for file in &invalid {
        let stem = file.file_stem().unwrap().to_str().unwrap();
        let rejected = caught.contains(file);
        match BEYOND_A_SCHEMA.iter().find(|(s, _)| *s == stem) {
            Some((_, why)) => assert!(
                !rejected,
                "{stem} is listed as beyond a schema ({why}) but the schema rejects it: take it off the list"
            ),
            None => assert!(
                rejected,
                "{stem} is invalid, and a JSON Schema can say why, but the schema accepts it"
            ),
        }
    }
}
