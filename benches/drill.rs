//! Benchmarks of the simulated engine and the scenario loader.
//!
//! `cargo bench --bench drill` — figures are quoted in the README.

mod generate;

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use rollback_drill::scenario;
use rollback_drill::sim;

/// A healthy 25% canary: nothing fires, so the drill runs its whole horizon
/// (the most traffic a drill can cost).
fn healthy(hours: u64, rps: u64) -> scenario::Plan {
    let yaml = format!(
        r#"
name: bench-{hours}h-{rps}rps
change: model
duration: {hours}h
registry:
  routes:
    smart-reasoner:
      candidates:
        - {{id: a:m45, version_pin: m45, weight: 100}}
  propagation: 2s
traffic:
  rps: {rps}
  behaviour:
    m45: {{error_rate: 0.5%, latency: {{p50: 900ms, p99: 2.5s}}, quality: 86%}}
release:
  route: smart-reasoner
  version: m46
  at: 15m
  weight: 25%
procedure:
  - execute: {{mechanism: alias_remap}}
expect: {{rollback: false}}
"#
    );
    scenario::load_str(&yaml, Path::new("bench.yaml")).expect("valid bench scenario")
}

fn drills(c: &mut Criterion) {
    let mut group = c.benchmark_group("drill");
    group.sample_size(10);
    for (hours, rps) in [(3, 100), (3, 10_000), (24, 100), (24, 10_000)] {
        let plan = healthy(hours, rps);
        group.bench_function(format!("{hours}h_{rps}rps"), |b| {
            b.iter(|| {
                let outcome = sim::run(black_box(&plan));
                assert!(
                    outcome.record.detected.is_none(),
                    "a healthy release stays quiet"
                );
                outcome
            })
        });
    }
    group.finish();
}

fn validation(c: &mut Criterion) {
    let shipped = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")];
    c.bench_function("validate_shipped_scenarios", |b| {
        b.iter(|| scenario::load_all(black_box(&shipped)).expect("shipped scenarios are valid"))
    });
    let generated = generate::scenarios(1000);
    let mut group = c.benchmark_group("validate");
    group.sample_size(10);
    group.bench_function("1000_generated_scenarios", |b| {
        b.iter(|| {
            for (file, yaml) in &generated {
                black_box(scenario::load_str(yaml, Path::new(file)).expect("valid"));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, drills, validation);
criterion_main!(benches);
