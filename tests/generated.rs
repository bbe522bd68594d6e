//! The benchmark's scenario generator makes valid drills that pass.

#[path = "../benches/generate.rs"]
mod generate;

use std::path::Path;

use rollback_drill::{scenario, sim};

#[test]
fn generated_scenarios_are_valid_and_pass() {
    for (file, yaml) in generate::scenarios(50) {
        let plan = scenario::load_str(&yaml, Path::new(&file))
            .unwrap_or_else(|d| panic!("{file} invalid: {}", d[0]));
        let o = sim::run(&plan);
        assert!(
            o.passed(),
            "{file}: {:#?}",
            o.checks()
                .into_iter()
                .filter(|c| !c.passed)
                .collect::<Vec<_>>()
        );
    }
}
