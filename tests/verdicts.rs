//! Verdicts you can trust: detection keeps its speed while its false-alarm
//! budget covers the whole drill.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::root;
use rollback_drill::scenario::{self, Plan};
use rollback_drill::sim;

/// Extra seeds each shipped and fixture drill is detected under, beside
/// its own.
const SEEDS: std::ops::RangeInclusive<u64> = 1..=10;

fn regressions() -> Vec<Plan> {
    let dirs: Vec<PathBuf> = ["scenarios", "fixtures/faults", "fixtures/failing", "fixtures/container"]
        .iter()
        .map(|d| root().join(d))
        .collect();
    scenario::load_all(&dirs)
        .expect("shipped scenarios and fixtures are valid")
        .into_iter()
        // A healthy release has nothing to detect (its detections are false
        // alarms, counted by `benches/false_alarms.rs`).
        .filter(|p| p.expect.rollback_expected())
        .collect()
}

/// Seconds from onset to detection of every shipped and fixture drill, per
/// seed (`None`: nothing detected).
fn detection_times() -> BTreeMap<String, BTreeMap<String, Option<f64>>> {
    let mut table = BTreeMap::new();
    for plan in regressions() {
        let mut row = BTreeMap::new();
        for seed in std::iter::once(plan.seed).chain(SEEDS) {
            let mut p = plan.clone();
            p.seed = seed;
            row.insert(seed.to_string(), sim::run(&p).durations().detect);
        }
        table.insert(plan.name.clone(), row);
    }
    table
}

/// `tests/data/detect-before.json` was written by the detection of the
/// Wilson z = 4 bound (`DETECT_TABLE=write cargo test --test verdicts`):
/// the new bound may detect no later than one `evaluate_every` after it,
/// and must detect whatever it detected.
#[test]
fn every_regression_detects_within_one_interval_of_the_table_made_before() {
    let file = root().join("tests/data/detect-before.json");
    let now = detection_times();
    if std::env::var("DETECT_TABLE").as_deref() == Ok("write") {
        let json = serde_json::to_string_pretty(&now).unwrap();
        std::fs::write(&file, json + "\n").unwrap();
    }
    let before: BTreeMap<String, BTreeMap<String, Option<f64>>> =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("the table exists"))
            .expect("the table is JSON");
    let every: BTreeMap<String, f64> = regressions()
        .iter()
        .map(|p| (p.name.clone(), p.policy.evaluate_every.secs_f64()))
        .collect();
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        now.keys().collect::<Vec<_>>(),
        "the same drills as when the table was made"
    );
    assert!(
        before.values().flat_map(|row| row.values()).filter(|t| t.is_some()).count() > 100,
        "the table holds the detections it compares"
    );
    let mut late = Vec::new();
    for (name, row) in &before {
        for (seed, was) in row {
            let is = now[name][seed];
            let Some(was) = was else { continue };
            match is {
                Some(is) if is <= was + every[name] + 1e-9 => {}
                _ => late.push(format!("{name} seed {seed}: was {was}s, now {is:?}")),
            }
        }
    }
    assert!(late.is_empty(), "detected later than before:\n{}", late.join("\n"));
}
