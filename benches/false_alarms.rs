//! False alarms on healthy releases: 1,000 seeds of each healthy shape
//! (steady canary, staged canary 1→5→25→100, 5 rps, 1,000 rps), built from
//! the shipped `healthy-release-not-rolled-back` scenario, run in-process
//! under the default policy. Any trigger or new-version alert that fires on
//! a healthy release is a false alarm. Prints `false_alarms: SHAPE N/1000`
//! and exits non-zero when a shape has more than one.
//!
//! `cargo bench --bench false_alarms` (`SEEDS=200` for a shorter run)

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rollback_drill::scenario::{self, Plan};
use rollback_drill::sim;

/// At most this many false alarms per shape over the seeds.
const ALLOWED: u64 = 1;

fn shapes() -> Vec<(&'static str, Plan)> {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/healthy-release-not-rolled-back.yaml"
    );
    let shipped = std::fs::read_to_string(file).expect("the shipped healthy scenario");
    let edit = |from: &str, to: &str| {
        assert!(shipped.contains(from), "the healthy scenario has `{from}`");
        shipped.replace(from, to)
    };
    [
        ("steady", shipped.clone()),
        (
            "staged",
            edit(
                "  weight: 25%",
                "  steps: [1%, 5%, 25%, 100%]\n  step_every: 10m",
            ),
        ),
        ("low_rps_5", edit("  rps: 40", "  rps: 5")),
        ("high_rps_1000", edit("  rps: 40", "  rps: 1000")),
    ]
    .into_iter()
    .map(|(shape, yaml)| {
        let plan =
            scenario::load_str(&yaml, Path::new(file)).unwrap_or_else(|d| panic!("{shape}: {d:?}"));
        (shape, plan)
    })
    .collect()
}

fn main() {
    let seeds: u64 = std::env::var("SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let clock = Instant::now();
    let mut over = Vec::new();
    for (shape, plan) in shapes() {
        let next = AtomicU64::new(0);
        let alarms = AtomicU64::new(0);
        let kinds = std::sync::Mutex::new(std::collections::BTreeMap::<String, u64>::new());
        let first = AtomicU64::new(u64::MAX);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    loop {
                        let seed = next.fetch_add(1, Ordering::Relaxed);
                        if seed >= seeds {
                            break;
                        }
                        let mut p = plan.clone();
                        p.seed = seed;
                        let o = sim::run(&p);
                        if o.record.detected.is_some() {
                            alarms.fetch_add(1, Ordering::Relaxed);
                            let kind = match &o.record.trigger {
                                Some((t, _)) if o.record.new_version_alert => {
                                    format!("new_version {}", t.metric)
                                }
                                Some((t, _)) => format!("{} above {}", t.metric, t.above),
                                None => "?".to_string(),
                            };
                            *kinds.lock().unwrap().entry(kind).or_default() += 1;
                            first.fetch_min(seed, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        let n = alarms.into_inner();
        let seed = first.into_inner();
        let kinds: Vec<String> = kinds
            .into_inner()
            .unwrap()
            .into_iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        let example = if n > 0 {
            format!(" (first at seed {seed}; {})", kinds.join(", "))
        } else {
            String::new()
        };
        println!("false_alarms: {shape} {n}/{seeds}{example}");
        if n > ALLOWED * seeds.div_ceil(1000) {
            over.push(shape);
        }
    }
    println!(
        "false_alarms: {} drills in {:.1} s",
        4 * seeds,
        clock.elapsed().as_secs_f64()
    );
    if !over.is_empty() {
        eprintln!(
            "false_alarms: more than {ALLOWED} per 1,000 seeds on {}",
            over.join(", ")
        );
        std::process::exit(1);
    }
}
