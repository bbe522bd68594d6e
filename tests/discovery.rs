//! Scenario discovery over hostile folders: links that loop back into the
//! tree and FIFOs named like scenarios must neither hang a command nor
//! count a scenario twice.

mod common;

use std::path::Path;
use std::process::Output;

use common::{bin as drill, root};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn explain(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// `DIR/scenarios` holding one valid scenario and the given links.
fn tree(links: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    std::fs::copy(
        root().join("scenarios/prompt-errors-paged-to-on-call.yaml"),
        scenarios.join("paged.yaml"),
    )
    .unwrap();
    for (name, target) in links {
        std::os::unix::fs::symlink(target, scenarios.join(name)).unwrap();
    }
    (dir, scenarios)
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_link_to_its_own_folder_is_searched_once() {
    let (_dir, scenarios) = tree(&[("self", ".")]);
    let out = drill(&["validate", arg(&scenarios)]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    assert!(
        text(&out.stdout).contains("1 scenario(s) valid"),
        "{}",
        explain(&out)
    );
    assert!(
        text(&out.stderr).contains("already searched"),
        "{}",
        explain(&out)
    );
}

#[test]
fn two_loop_links_keep_validate_list_and_run_finite() {
    let (dir, scenarios) = tree(&[("self", "."), ("up", "..")]);
    let out = drill(&["validate", arg(&scenarios)]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    assert!(
        text(&out.stdout).contains("1 scenario(s) valid"),
        "{}",
        explain(&out)
    );

    let out = drill(&["list", arg(&scenarios)]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let rows = text(&out.stdout);
    assert_eq!(rows.lines().count(), 2, "a header and one row: {rows}");

    let reports = dir.path().join("reports");
    let out = drill(&["run", arg(&scenarios), "--report-dir", arg(&reports)]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    assert!(
        reports
            .join("prompt-errors-paged-to-on-call.json")
            .is_file()
    );
}

#[test]
fn a_fifo_named_like_a_scenario_is_skipped_with_a_warning() {
    let (_dir, scenarios) = tree(&[]);
    let fifo = scenarios.join("pipe.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());

    let out = drill(&["validate", arg(&scenarios)]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("warning: {}", fifo.display()))
            && stderr.contains("not a regular file"),
        "{}",
        explain(&out)
    );

    // Named on the command line, it is an input error, not a hang.
    let out = drill(&["validate", arg(&fifo)]);
    assert_eq!(out.status.code(), Some(2), "{}", explain(&out));
    assert!(
        text(&out.stderr).contains("not a regular file"),
        "{}",
        explain(&out)
    );
}
