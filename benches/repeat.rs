//! `rollback-drill run scenarios/ --repeat 100`: the 13 shipped
//! scenarios over 100 seeds each (1,300 drills), as a CLI run does it:
//! validate, run on two worker threads, fold the seeds, write every report
//! and 1,300 history lines. Prints the wall time.
//!
//! `cargo bench --bench repeat`

use std::time::Instant;

use clap::Parser;
use rollback_drill::cli::{self, Cli, Exit};

fn main() {
    let n = std::env::var("REPEAT").unwrap_or_else(|_| "100".into());
    let dir = tempfile::tempdir().expect("a temp dir");
    let reports = dir.path().join("reports");
    let scenarios = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    let args = [
        "rollback-drill",
        "run",
        scenarios,
        "--repeat",
        &n,
        "--jobs",
        "2",
        "--report-dir",
        reports.to_str().unwrap(),
    ];
    let clock = Instant::now();
    let exit = cli::main(Cli::parse_from(args));
    let took = clock.elapsed();
    // Some shipped drills fail for a few of 100 seeds: the run still
    // reports every one of them.
    assert!(matches!(exit, Exit::Passed | Exit::Failed), "{exit:?}");
    let lines = std::fs::read_to_string(reports.join("history.jsonl"))
        .map(|h| h.lines().count())
        .unwrap_or(0);
    eprintln!(
        "repeat: the shipped scenarios × {n} seeds ({lines} drills, reports written) in {:.2} s ({exit:?})",
        took.as_secs_f64()
    );
}
