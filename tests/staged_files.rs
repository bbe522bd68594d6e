//! Whole drills on the file kinds of a team's staging, through the CLI: a
//! gateway alias file and a flagd flag file, each copied with its scenario
//! into a folder of its own. The release is registered in the file, the
//! regression detected from the stand-in app's real traffic, the rollback
//! written into the file (weights only), verified, and the file put back
//! byte for byte by the teardown. A flag split naming a variant the flag
//! does not define fails preflight and changes nothing.

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Copies the scenario `name` and the files it points at (beside it, as in
/// `fixtures/`) into a fresh folder; returns the folder and the scenario.
fn copied(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let root = common::root().join("fixtures");
    for sub in ["staging", "staging-files"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        for e in std::fs::read_dir(root.join(sub)).unwrap().flatten() {
            std::fs::copy(e.path(), dir.path().join(sub).join(e.file_name())).unwrap();
        }
    }
    let scenario = dir.path().join("staging").join(name);
    (dir, scenario)
}

fn run(scenario: &Path, reports: &Path, extra: &[&str]) -> (i32, String, Value) {
    let scale = if extra.contains(&"--time-scale") {
        &[][..]
    } else {
        &["--time-scale", "30"][..]
    };
    let mut args = vec!["run", scenario.to_str().unwrap()];
    args.extend_from_slice(scale);
    args.extend_from_slice(&[
        "--report-dir",
        reports.to_str().unwrap(),
        "--format",
        "json,md",
    ]);
    args.extend_from_slice(extra);
    let out = common::bin(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json = std::fs::read_to_string(reports.join("results.json"))
        .map(|t| serde_json::from_str(&t).expect("JSON"))
        .unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), stderr, json)
}

fn step<'a>(drill: &'a Value, name: &str) -> &'a Value {
    drill["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no step {name}: {drill:#}"))
}

/// A full drill on the file `data` (under staging-files/): passes, rolls
/// back by rewriting the file, puts the exact bytes back.
fn drill_passes(scenario: &str, data: &str, release: &str, extra: &[&str]) {
    let rewritten_to = format!("v1 100%, {release} 0%");
    let (dir, file) = copied(scenario);
    let data = dir.path().join("staging-files").join(data);
    let before = std::fs::read(&data).unwrap();
    let reports = dir.path().join("reports");
    let (code, stderr, json) = run(&file, &reports, extra);
    assert_eq!(code, 0, "{stderr}\n{json:#}");
    let drill = &json["scenarios"][0];
    assert_eq!(drill["passed"], true, "{drill:#}");
    assert_eq!(drill["backend"], "staged", "{drill:#}");
    assert!(drill["timeline"]["restored"].is_number(), "{drill:#}");
    assert_eq!(drill["rollback_target"], "v1", "{drill:#}");
    let execute = step(drill, "execute");
    assert_eq!(execute["status"], "succeeded");
    assert!(
        execute["phases"][0]["detail"]
            .as_str()
            .unwrap()
            .contains(&rewritten_to),
        "{execute:#}"
    );
    // The drill really wrote the file: its audit has the release and the
    // rollback, the rollback taking the release's weight to 0.
    let audit = drill["audit"].as_array().expect("audit rows");
    assert_eq!(audit.len(), 2, "{audit:#?}");
    assert_eq!(
        audit[0]["reason"].as_str().unwrap(),
        format!("release {release} at 50%"),
        "{audit:#?}"
    );
    assert!(
        audit[1]["to"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{release} 0%")),
        "{audit:#?}"
    );
    assert_eq!(drill["release_version"], release);
    let md = std::fs::read_to_string(reports.join("summary.md")).unwrap_or_default();
    assert!(md.contains(release), "{md}");
    let teardown = step(drill, "teardown");
    assert_eq!(teardown["status"], "succeeded", "{teardown:#}");
    assert_eq!(
        std::fs::read(&data).unwrap(),
        before,
        "the file is byte-identical after teardown (comments and order kept)"
    );
}

#[test]
fn an_alias_file_drill_passes_and_leaves_the_file_as_it_was() {
    // The per-release CI form: the version drilled comes from the flag.
    drill_passes(
        "alias-file.yaml",
        "gateway-aliases.yaml",
        "v2.1.0",
        &["--set", "release.version=v2.1.0"],
    );
}

#[test]
fn a_flag_file_drill_passes_and_leaves_the_file_as_it_was() {
    drill_passes("flag-file.yaml", "flags.json", "v2", &[]);
}

#[test]
fn a_flag_split_naming_a_missing_variant_fails_preflight_and_changes_nothing() {
    let (dir, file) = copied("flag-file.yaml");
    let data = dir.path().join("staging-files/flags.json");
    // Someone removed variant v0 but left it in the split.
    let text = std::fs::read_to_string(&data)
        .unwrap()
        .replace("        \"v0\": \"support-v0\"\n", "")
        .replace("\"v1\": \"support-v1\",", "\"v1\": \"support-v1\"");
    assert!(!text.contains("\"support-v0\""));
    std::fs::write(&data, &text).unwrap();
    let reports = dir.path().join("reports");
    let (code, stderr, json) = run(&file, &reports, &[]);
    assert_eq!(code, 1, "{stderr}\n{json:#}");
    let drill = &json["scenarios"][0];
    assert_eq!(drill["passed"], false, "{drill:#}");
    let findings = drill["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["kind"], "config_mismatch");
    assert!(
        findings[0]["message"]
            .as_str()
            .unwrap()
            .contains("names variant `v0`, which the flag does not define"),
        "{findings:#?}"
    );
    assert_eq!(
        std::fs::read_to_string(&data).unwrap(),
        text,
        "nothing changed"
    );
}

#[test]
fn faults_and_prometheus_metrics_are_refused_on_a_teams_staging() {
    for (extra, says) in [
        (
            "faults:\n  - {kind: registry_slow, add: 1s}\n",
            "fault `registry_slow` cannot be injected in a drill on the staged backend",
        ),
        (
            "metrics:\n  prometheus:\n    url: http://127.0.0.1:9\n    queries: {error_rate: 'errors{v=\"{version}\"}'}\n",
            "metrics.prometheus is not read in a drill on a team's staging",
        ),
    ] {
        let (dir, file) = copied("alias-file.yaml");
        let data = dir.path().join("staging-files/gateway-aliases.yaml");
        let before = std::fs::read(&data).unwrap();
        let text = std::fs::read_to_string(&file).unwrap() + extra;
        std::fs::write(&file, text).unwrap();
        let reports = dir.path().join("reports");
        let (code, stderr, _) = run(&file, &reports, &[]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert_eq!(std::fs::read(&data).unwrap(), before, "nothing ran");
    }
}

#[test]
fn a_failed_drill_still_puts_the_file_back() {
    let (dir, file) = copied("alias-file.yaml");
    let data = dir.path().join("staging-files/gateway-aliases.yaml");
    let before = std::fs::read(&data).unwrap();
    let reports = dir.path().join("reports");
    // A release that never regresses: nothing to detect, the expected
    // rollback never happens, and the release stays in the file until the
    // teardown.
    let (code, stderr, json) = run(
        &file,
        &reports,
        &[
            "--time-scale",
            "60",
            "--set",
            "release.behaviour.error_rate=0%",
            "--set",
            "duration=4m",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    let drill = &json["scenarios"][0];
    assert_eq!(drill["passed"], false);
    assert_eq!(
        drill["audit"].as_array().map(Vec::len),
        Some(1),
        "{drill:#}"
    );
    assert_eq!(step(drill, "teardown")["status"], "succeeded");
    assert_eq!(std::fs::read(&data).unwrap(), before, "put back");
}

/// A release of several routes is drilled on the built-in registry only:
/// on a team's staging it is refused before anything runs.
#[test]
fn a_release_of_several_routes_is_refused_on_a_teams_staging() {
    let (dir, _) = copied("alias-file.yaml");
    let data = dir.path().join("staging-files/gateway-aliases.yaml");
    let before = std::fs::read(&data).unwrap();
    let set = std::fs::read_to_string(
        common::root().join("scenarios/model-migration-with-prompts-coordinated.yaml"),
    )
    .unwrap()
    .replace(
        "\nprocedure:",
        "\nstaging:\n  kind: alias_file\n  path: staging-files/gateway-aliases.yaml\n  alias: smart-reasoner\n  poll: 5s\n\nprocedure:",
    );
    let file = dir.path().join("set.yaml");
    std::fs::write(&file, set).unwrap();
    let (code, stderr, _) = run(&file, &dir.path().join("reports"), &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "a release of several routes (`release.changes`) is not drilled on a team's staging"
        ),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&data).unwrap(), before, "nothing ran");
}
