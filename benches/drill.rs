//! Benchmarks of the simulated engine and the scenario loader.
//!
//! `cargo bench --bench drill` — figures are quoted in the README.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use rollback_drill::scenario;
use rollback_drill::sim;

/// A healthy 25% canary over 3 simulated hours at 100 rps: nothing fires,
/// so the drill runs its whole horizon (the most traffic a drill can cost).
const THREE_HOURS: &str = r#"
name: bench-3h-100rps
change: model
duration: 3h
registry:
  routes:
    smart-reasoner:
      candidates:
        - {id: a:m45, version_pin: m45, weight: 100}
  propagation: 2s
traffic:
  rps: 100
  behaviour:
    m45: {error_rate: 0.5%, latency: {p50: 900ms, p99: 2.5s}, quality: 86%}
release:
  route: smart-reasoner
  version: m46
  at: 15m
  weight: 25%
procedure:
  - execute: {mechanism: alias_remap}
expect: {rollback: false}
"#;

fn benches(c: &mut Criterion) {
    let plan =
        scenario::load_str(THREE_HOURS, Path::new("bench.yaml")).expect("valid bench scenario");
    c.bench_function("drill_3h_100rps", |b| {
        b.iter(|| {
            let outcome = sim::run(black_box(&plan));
            assert!(outcome.record.detected.is_none());
            outcome
        })
    });

    let shipped = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")];
    c.bench_function("validate_shipped_scenarios", |b| {
        b.iter(|| scenario::load_all(black_box(&shipped)).expect("shipped scenarios are valid"))
    });
}

criterion_group! {
    name = drill;
    config = Criterion::default().sample_size(30);
    targets = benches
}
criterion_main!(drill);
