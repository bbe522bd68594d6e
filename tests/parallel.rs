//! Parallel and sharded runs give exactly what one sequential run gives.

mod common;

use common::bin as run;

use std::collections::BTreeMap;
use std::path::Path;

use common::root;
use rollback_drill::runner::{Partition, shard};
use rollback_drill::scenario;

/// Every `<scenario>.json` in a report folder, by file name.
fn scenario_jsons(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| p.file_name().unwrap() != "results.json")
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn jobs_2_and_jobs_1_give_byte_identical_json() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for (dir, jobs) in [(&one, "1"), (&two, "2")] {
        let out = run(&[
            "run",
            "scenarios/",
            "fixtures/faults/",
            "--jobs",
            jobs,
            "--report-dir",
            dir.path().to_str().unwrap(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "fault fixtures fail as expected (xfail)"
        );
    }
    let (a, b) = (scenario_jsons(one.path()), scenario_jsons(two.path()));
    assert!(a.len() >= 20, "{}", a.len());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        assert!(
            bytes == &b[name],
            "{name} differs between --jobs 1 and --jobs 2"
        );
    }
}

#[test]
fn shards_cover_every_scenario_exactly_once() {
    let plans =
        scenario::load_all(&[root().join("scenarios"), root().join("fixtures/faults")]).unwrap();
    let mut seen = BTreeMap::new();
    let mut sizes = Vec::new();
    for k in 1..=4 {
        let part = shard(plans.clone(), Partition { k, n: 4 });
        sizes.push(part.len());
        for p in part {
            *seen.entry(p.name).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len(), plans.len(), "every scenario in some shard");
    assert!(seen.values().all(|&n| n == 1), "none twice: {seen:?}");
    let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    assert!(max - min <= 1, "balanced: {sizes:?}");
}

#[test]
fn the_cli_runs_only_its_shard() {
    let mut names = Vec::new();
    for k in 1..=4 {
        let dir = tempfile::tempdir().unwrap();
        let shard = format!("{k}/4");
        let out = run(&[
            "run",
            "scenarios/",
            "--partition",
            &shard,
            "--report-dir",
            dir.path().to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0));
        let results: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap())
                .unwrap();
        for s in results["scenarios"].as_array().unwrap() {
            names.push(s["scenario"].as_str().unwrap().to_string());
        }
    }
    let shipped = scenario::load_all(&[root().join("scenarios")])
        .unwrap()
        .len();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((names.len(), unique.len()), (shipped, shipped));
    for bad in ["0/4", "5/4", "two"] {
        assert_eq!(
            run(&["run", "--partition", bad]).status.code(),
            Some(2),
            "{bad}"
        );
    }
}

#[test]
fn concurrent_runs_into_one_report_folder_all_pass() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = root().join("scenarios/prompt-error-spike-auto-rollback.yaml");
    // Several rounds of many processes at once: the write test once raced
    // on a shared probe file in about 1 run in 50.
    for _round in 0..5 {
        let children: Vec<_> = (0..20)
            .map(|_| {
                std::process::Command::new(env!("CARGO_BIN_EXE_rollback-drill"))
                    .args(["run", scenario.to_str().unwrap(), "--format", "json"])
                    .arg("--report-dir")
                    .arg(dir.path())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("the rollback-drill binary starts")
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("write-test"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
