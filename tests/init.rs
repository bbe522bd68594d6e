//! `rollback-drill init`, and what a CI log shows of a run.

mod common;

use common::bin as drill;

#[test]
fn init_from_an_alias_file_writes_a_drill_that_validates_and_passes() {
    for change in ["prompt", "model", "agent_code", "eval", "data"] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("starter.yaml");
        let f = file.to_str().unwrap();
        let out = drill(&[
            "init",
            "--from",
            "fixtures/aliases/gateway-aliases.yaml",
            "--change",
            change,
            "--output",
            f,
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.contains("claude-sonnet-4-5-eu"),
            "routes come from the alias file"
        );
        assert!(
            text.starts_with("# yaml-language-server: $schema="),
            "editor modeline"
        );
        assert_eq!(drill(&["validate", f]).status.code(), Some(0), "{change}");
        let reports = dir.path().join("reports");
        let run = drill(&["run", f, "--report-dir", reports.to_str().unwrap()]);
        assert_eq!(
            run.status.code(),
            Some(0),
            "{change}: {}",
            String::from_utf8_lossy(&run.stdout)
        );
    }
}

#[test]
fn init_never_overwrites_and_names_a_bad_alias_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine.yaml");
    std::fs::write(&file, "keep me").unwrap();
    let out = drill(&["init", "--output", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");

    let bad = dir.path().join("aliases.yaml");
    std::fs::write(
        &bad,
        "aliases:\n  r:\n    candidates:\n      - {id: a, version_pin: v1, weight: 90}\n",
    )
    .unwrap();
    let out = drill(&["init", "--from", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "aliases.yaml:3:5: aliases.r.candidates: weights of alias `r` sum to 90, expected 100"
        ),
        "{err}"
    );
    let out = drill(&["init", "--change", "firmware"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown change type is a command-line error"
    );
}

#[test]
fn a_non_terminal_run_reads_well_in_a_ci_log() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = drill(&[
        "run",
        "scenarios/prompt-error-spike-auto-rollback.yaml",
        "scenarios/prompt-errors-paged-to-on-call.yaml",
        "fixtures/failing/restore-target-missed.yaml",
        "--jobs",
        "1",
        "--report-dir",
        d,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout).replace(d, "<report-dir>");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains('\u{1b}'), "no terminal escapes in a log");
    insta::assert_snapshot!("ci_log_stdout", stdout);
    insta::assert_snapshot!("ci_log_stderr", stderr);
}

/// A gateway's alias file routes to models: without `--change` the
/// starter drills a model change (it wrote `change: prompt`), and says
/// it inferred it; ids of prompts give a prompt drill.
#[test]
fn init_from_an_alias_file_infers_the_change_type() {
    let dir = tempfile::tempdir().unwrap();
    let out = drill(&["init", "--from", "fixtures/aliases/gateway-aliases.yaml"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\nchange: model "), "{text}");
    assert!(text.contains("for a model change."), "{text}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("change type: model (inferred"),
        "the inference is said"
    );
    let prompts = dir.path().join("prompts.yaml");
    std::fs::write(
        &prompts,
        "aliases:\n  support-answer:\n    candidates:\n      - {id: 'prompts:support-answer:v12', version_pin: support-answer@v12, weight: 100}\n",
    )
    .unwrap();
    let out = drill(&["init", "--from", prompts.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("\nchange: prompt "));
    // An explicit --change wins, and the article fits it.
    let out = drill(&[
        "init",
        "--from",
        prompts.to_str().unwrap(),
        "--change",
        "agent_code",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("for an agent_code change."), "{text}");
}

/// The README's first step writes into a folder that does not exist yet.
#[test]
fn init_makes_the_folder_it_writes_into() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("drills/monthly/first.yaml");
    let out = drill(&["init", "--output", file.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let f = file.to_str().unwrap();
    assert_eq!(drill(&["validate", f]).status.code(), Some(0));
}
