//! The binary as a user and CI meet it: exit codes, files, messages.

mod common;

use common::bin as drill;

use std::path::Path;
use std::process::Output;

use common::root;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

#[test]
fn run_scenarios_passes_and_writes_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = drill(&[
        "run",
        "scenarios/",
        "--report-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(
        code(&out),
        0,
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    for file in [
        "junit.xml",
        "results.json",
        "summary.md",
        "report.html",
        "history.jsonl",
    ] {
        assert!(dir.path().join(file).is_file(), "{file} missing");
    }
    let shipped = std::fs::read_dir(root().join("scenarios")).unwrap().count();
    let per_scenario = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.ends_with(".json") && name != "results.json"
        })
        .count();
    assert_eq!(per_scenario, shipped, "one <scenario>.json per scenario");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("RESULT") && stdout.contains("passed, 0 failed"),
        "{stdout}"
    );
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(results["passed"], true);
    assert!(results["run"]["started_at"].is_string());
}

#[test]
fn a_failing_drill_exits_1_and_names_the_failure_in_summary_and_junit() {
    let dir = tempfile::tempdir().unwrap();
    let out = drill(&[
        "run",
        "fixtures/failing/restore-target-missed.yaml",
        "--report-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    let message = "restore took 12m30s, target 10m (model)";
    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(summary.contains(message), "{summary}");
    assert!(summary.contains("FAIL"), "{summary}");
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&junit).unwrap();
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .expect("<failure>");
    assert_eq!(failure.attribute("message"), Some(message));
    assert!(text(&out.stdout).contains(message));
}

#[test]
fn history_grows_by_one_line_per_drill_per_run() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "run",
        "scenarios/prompt-error-spike-auto-rollback.yaml",
        "--report-dir",
        dir.path().to_str().unwrap(),
    ];
    assert_eq!(code(&drill(&args)), 0);
    assert_eq!(code(&drill(&args)), 0);
    let history = std::fs::read_to_string(dir.path().join("history.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = history
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["scenario"], "prompt-error-spike-auto-rollback");
    assert_eq!(
        lines[0]["durations"], lines[1]["durations"],
        "same seed, same times"
    );
}

#[test]
fn an_invalid_scenario_exits_2_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "name: x\nchange: prompt\nduration: 5 minutes\n").unwrap();
    let reports = dir.path().join("reports");
    let out = drill(&[
        "run",
        "scenarios/",
        bad.to_str().unwrap(),
        "--report-dir",
        reports.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("bad.yaml:3:11: duration: invalid duration `5 minutes`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("missing field `registry`"),
        "every problem at once: {stderr}"
    );
    assert!(!reports.exists(), "nothing may run, nothing may be written");
}

#[test]
fn an_unwritable_report_folder_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, "").unwrap();
    let inside = file.join("reports");
    let out = drill(&[
        "run",
        "scenarios/healthy-release-not-rolled-back.yaml",
        "--report-dir",
        inside.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 3, "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("not writable"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn command_line_mistakes_exit_2() {
    assert_eq!(code(&drill(&["run", "--seed", "seven"])), 2);
    assert_eq!(code(&drill(&["run", "--format", "pdf"])), 2);
    let unknown = drill(&["run", "--format", "junit,pdf"]);
    assert_eq!(code(&unknown), 2);
    assert!(text(&unknown.stderr).contains("unknown report format `pdf`"));
    assert_eq!(code(&drill(&["run", "no/such/folder"])), 2);
    assert_eq!(code(&drill(&["frobnicate"])), 2);
}

#[test]
fn seed_flag_overrides_scenario_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let file = "scenarios/prompt-errors-paged-to-on-call.yaml";
    assert_eq!(
        code(&drill(&["run", file, "--seed", "42", "--report-dir", d])),
        0
    );
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(Path::new(d).join("prompt-errors-paged-to-on-call.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(v["seed"], 42);
}

#[test]
fn list_and_schema_describe_the_scenarios() {
    let out = drill(&["list"]);
    assert_eq!(code(&out), 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("model-latency-regression-alias-remap") && stdout.contains("10m"),
        "{stdout}"
    );
    let out = drill(&["schema"]);
    assert_eq!(code(&out), 0);
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let props = schema["properties"].as_object().expect("properties");
    for field in [
        "change",
        "registry",
        "traffic",
        "release",
        "policy",
        "procedure",
        "faults",
        "expect",
    ] {
        assert!(props.contains_key(field), "schema lacks `{field}`");
    }
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown fields are errors"
    );
}

#[test]
fn every_invalid_fixture_exits_2_from_validate_and_run() {
    let dir = root().join("fixtures/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 30, "one fixture per validation rule");
    let reports = tempfile::tempdir().unwrap();
    for file in files {
        let f = file.to_str().unwrap();
        let out = drill(&["validate", f]);
        assert_eq!(code(&out), 2, "validate {f}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("error: "), "{f}");
        let out = drill(&["run", f, "--report-dir", reports.path().to_str().unwrap()]);
        assert_eq!(code(&out), 2, "run {f}");
    }
    assert_eq!(
        std::fs::read_dir(reports.path()).unwrap().count(),
        0,
        "an invalid scenario runs nothing and writes nothing"
    );
}

#[test]
fn a_real_staging_scenario_runs_against_its_system_and_needs_it_up() {
    let file = "fixtures/staging/mlflow-model-alias.yaml";
    let out = drill(&["validate", file]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let reports = tempfile::tempdir().unwrap();
    let dir = reports.path().join("r");
    // Nothing listens on the discard port: the system is unreachable (3),
    // named as the scenario writes it, and nothing runs.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rollback-drill"))
        .args(["run", file, "--report-dir", dir.to_str().unwrap()])
        .env("MLFLOW_URL", "http://127.0.0.1:9")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(code(&out), 3);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error: MLflow ${MLFLOW_URL} is unreachable or refused GET /health"),
        "{stderr}"
    );
    assert!(!stderr.contains("127.0.0.1:9"), "{stderr}");
}

#[test]
fn a_drill_that_could_not_run_prints_no_verdict_line() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let registry = format!("http://127.0.0.1:{port}");
    let out = drill(&[
        "run",
        "scenarios/prompt-error-spike-auto-rollback.yaml",
        "--backend",
        "http",
        "--registry",
        &registry,
        "--token",
        "t",
        "--report-dir",
        dir.path().to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 3, "{stderr}");
    assert!(stderr.contains("unreachable"), "{stderr}");
    for line in stderr.lines() {
        assert!(
            !line.contains("pass") && !line.contains("FAIL") && !line.starts_with("[1/1]"),
            "a progress verdict for a drill that did not run: {stderr}"
        );
    }
}

#[test]
fn registry_serve_keeps_its_state_out_of_the_current_folder_by_default() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let (home, work) = (dir.path().join("home"), dir.path().join("work"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rollback-drill"))
        .args(["registry", "serve", "--addr", "127.0.0.1:0"])
        .current_dir(&work)
        .env("HOME", &home)
        .env_remove("XDG_DATA_HOME")
        .env("ROLLBACK_DRILL_TOKENS", "t: viewer\n")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("registry listening on"), "{line:?}");
    let in_work: Vec<_> = std::fs::read_dir(&work).unwrap().collect();
    assert!(in_work.is_empty(), "{in_work:?}");
    assert!(
        home.join(".local/share/rollback-drill/registry.db")
            .is_file()
    );
}

#[test]
fn set_changes_the_drilled_version_and_a_bad_set_exits_2_naming_it() {
    let reports = tempfile::tempdir().unwrap();
    let dir = reports.path().join("r");
    let file = "scenarios/prompt-error-spike-auto-rollback.yaml";
    let out = drill(&[
        "run",
        file,
        "--set",
        "release.version=v2.1.0",
        "--report-dir",
        dir.to_str().unwrap(),
        "--format",
        "json,md",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["scenarios"][0]["release_version"], "v2.1.0");
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(md.contains("v2.1.0"), "{md}");

    // Not FIELD=VALUE; a section, not a scalar; a value the field refuses.
    for (flag, says) in [
        (
            "release.version",
            "--set release.version: write FIELD=VALUE",
        ),
        (
            "release=v3",
            "--set release=v3: `release` is a mapping, not a scalar field",
        ),
        ("release.at=soon", "release.at: invalid duration `soon`"),
    ] {
        let bad = reports.path().join("bad");
        let out = drill(&[
            "run",
            file,
            "--set",
            flag,
            "--report-dir",
            bad.to_str().unwrap(),
        ]);
        assert_eq!(code(&out), 2, "{flag}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(says), "{flag}: {stderr}");
        assert!(stderr.contains(flag), "the error names the flag: {stderr}");
        assert!(!bad.exists(), "nothing ran for {flag}");
    }
}

/// The exit code of `rollback-drill ARGS` whose stdout is a pipe with no
/// reader: closed before it starts, so every write to it fails, however
/// fast the command prints.
fn exit_with_stdout_closed(args: &[&str], report_dir: Option<&std::path::Path>) -> Option<i32> {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rollback-drill"));
    cmd.args(args);
    if let Some(dir) = report_dir {
        cmd.arg("--report-dir").arg(dir);
    }
    cmd.current_dir(common::root())
        .stdout(writer)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .code()
}

/// `run … | head -1` panicked on the closed pipe (exit 101) before the
/// reports were written. A reader that leaves early costs nothing now.
#[test]
fn a_closed_stdout_costs_neither_the_reports_nor_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        exit_with_stdout_closed(&["run", "scenarios/"], Some(dir.path())),
        Some(0)
    );
    for f in ["junit.xml", "results.json", "summary.md", "history.jsonl"] {
        assert!(dir.path().join(f).is_file(), "{f} was written");
    }
}

/// `slo … | head -3` panicked the same way, before slo.json and slo.prom
/// were written; so did `history … | head`.
#[test]
fn slo_and_history_survive_a_closed_stdout() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        common::root().join("fixtures/history/slo-month.jsonl"),
        dir.path().join("history.jsonl"),
    )
    .unwrap();
    for args in [
        &["slo", "--until", "2026-11-30T00:00:00Z"][..],
        &["history"][..],
    ] {
        assert_eq!(
            exit_with_stdout_closed(args, Some(dir.path())),
            Some(0),
            "{args:?}"
        );
    }
    for f in ["slo.json", "slo.prom"] {
        assert!(dir.path().join(f).is_file(), "{f} was written");
    }
    // Every command that prints to stdout.
    for args in [
        &["schema"][..],
        &["validate", "scenarios/"][..],
        &["list", "scenarios/"][..],
        &["init"][..],
    ] {
        assert_eq!(exit_with_stdout_closed(args, None), Some(0), "{args:?}");
    }
}
