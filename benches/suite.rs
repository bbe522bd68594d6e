//! A suite of 1,000 generated scenarios run end to end, as `rollback-drill
//! run DIR --jobs 2` would: discover and validate the files, run every drill
//! on two worker threads, write every report. Prints the wall time.
//!
//! `cargo bench --bench suite`

mod generate;

use std::time::Instant;

use clap::Parser;
use rollback_drill::cli::{self, Cli, Exit};

fn main() {
    let n: usize = std::env::var("SUITE_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().expect("a temp dir");
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    for (file, yaml) in generate::scenarios(n) {
        std::fs::write(scenarios.join(file), yaml).unwrap();
    }
    let reports = dir.path().join("reports");
    let args = [
        "rollback-drill",
        "run",
        scenarios.to_str().unwrap(),
        "--jobs",
        "2",
        "--report-dir",
        reports.to_str().unwrap(),
    ];
    let clock = Instant::now();
    let exit = cli::main(Cli::parse_from(args));
    let took = clock.elapsed();
    assert_eq!(exit, Exit::Passed, "every generated drill passes");
    let written = std::fs::read_dir(&reports).unwrap().count();
    eprintln!(
        "suite: {n} generated scenarios end to end (validate, run on 2 threads, {written} report files) in {:.2} s",
        took.as_secs_f64()
    );
    // The budget for this suite on a 2-core machine.
    assert!(
        took.as_secs() < 30,
        "the 1,000-scenario suite took {took:?}, over 30 s"
    );
}
