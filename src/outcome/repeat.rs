//! `run --repeat N`: one scenario over N seeds (seed … seed+N-1).
//!
//! The scenario's outcome is its first seed's, carrying every seed's run.
//! Its checks are the seeds' checks folded: a check fails when any seed
//! fails it, naming the failing seeds and the worst value; the report adds
//! the pass rate and p50/p95/max of every phase. The per-seed outcomes stay
//! available (the JSON's `repeat.per_seed`, and one history line each).

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use super::{Check, CheckStatus, DrillOutcome, Durations, human};

/// Every seed's run of one scenario, in seed order.
#[derive(Debug, Clone)]
pub struct Repeat {
    pub runs: Vec<DrillOutcome>,
}

/// p50, p95 and max of one phase over the seeds that reached it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// Seeds that measured the phase.
    pub n: usize,
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
}

fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

impl Repeat {
    /// The scenario's outcome: the first seed's, carrying all of them.
    /// `None` when no seed ran (all were skipped after Ctrl-C).
    pub fn fold(runs: Vec<DrillOutcome>) -> Option<DrillOutcome> {
        let mut first = runs.first()?.clone();
        first.repeat = Some(Arc::new(Repeat { runs }));
        Some(first)
    }

    pub fn passed(&self) -> usize {
        self.runs.iter().filter(|o| o.passed()).count()
    }

    /// p50/p95/max of each phase, `None` where no seed reached it.
    pub fn spread(&self) -> Vec<(&'static str, Option<Spread>)> {
        let phase = |f: fn(&Durations) -> Option<f64>| {
            let mut v: Vec<f64> = self.runs.iter().filter_map(|o| f(&o.durations())).collect();
            v.sort_by(f64::total_cmp);
            (!v.is_empty()).then(|| Spread {
                n: v.len(),
                p50: nearest_rank(&v, 0.50),
                p95: nearest_rank(&v, 0.95),
                max: *v.last().expect("not empty"),
            })
        };
        vec![
            ("detect", phase(|d| d.detect)),
            ("decide", phase(|d| d.decide)),
            ("restore", phase(|d| d.restore)),
            ("verify", phase(|d| d.verify)),
            ("mitigate", phase(|d| d.mitigate)),
        ]
    }

    /// The seeds' checks folded into one per name, in first-seen order.
    pub fn checks(&self) -> Vec<Check> {
        let per_seed: Vec<(u64, Vec<Check>)> =
            self.runs.iter().map(|o| (o.seed, o.checks())).collect();
        let mut names: Vec<&'static str> = Vec::new();
        for (_, checks) in &per_seed {
            for c in checks {
                if !names.contains(&c.name) {
                    names.push(c.name);
                }
            }
        }
        let total = per_seed.len();
        names
            .into_iter()
            .map(|name| {
                let of: Vec<(u64, &Check)> = per_seed
                    .iter()
                    .filter_map(|(seed, cs)| cs.iter().find(|c| c.name == name).map(|c| (*seed, c)))
                    .collect();
                fold_check(name, &of, total)
            })
            .collect()
    }

    /// The `repeat` section of `<scenario>.json`.
    pub fn json(&self) -> Value {
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        let phases: serde_json::Map<String, Value> = self
            .spread()
            .into_iter()
            .map(|(name, s)| {
                (
                    name.to_string(),
                    s.map_or(Value::Null, |s| {
                        json!({"seeds": s.n, "p50_s": round(s.p50), "p95_s": round(s.p95), "max_s": round(s.max)})
                    }),
                )
            })
            .collect();
        let per_seed: Vec<Value> = self
            .runs
            .iter()
            .map(|o| {
                let failed: Vec<&str> = o
                    .checks()
                    .iter()
                    .filter(|c| c.status == CheckStatus::Failed)
                    .map(|c| c.name)
                    .collect();
                json!({"seed": o.seed, "passed": o.passed(), "durations": o.durations(), "failed_checks": failed})
            })
            .collect();
        let passed = self.passed();
        json!({
            "seeds": self.runs.len(),
            "first_seed": self.runs.first().map(|o| o.seed),
            "passed": passed,
            "pass_rate": round(passed as f64 / self.runs.len().max(1) as f64),
            "phases": phases,
            "per_seed": per_seed,
        })
    }

    /// One line for the console and summary.md: pass rate and spreads.
    pub fn line(&self) -> String {
        let spreads: Vec<String> = self
            .spread()
            .into_iter()
            .filter_map(|(name, s)| {
                s.map(|s| {
                    format!(
                        "{name} p50 {} p95 {} max {}",
                        human(s.p50),
                        human(s.p95),
                        human(s.max)
                    )
                })
            })
            .collect();
        format!(
            "passed {} of {} seeds; {}",
            self.passed(),
            self.runs.len(),
            spreads.join("; ")
        )
    }
}

/// One check over the seeds that have it: failed when any seed failed it.
fn fold_check(name: &'static str, of: &[(u64, &Check)], total: usize) -> Check {
    let failing: Vec<&(u64, &Check)> = of
        .iter()
        .filter(|(_, c)| c.status == CheckStatus::Failed)
        .collect();
    // The worst: the largest measured value among the failing seeds, or,
    // when none failed, among the seeds that passed (a seed that skipped
    // the check measured nothing and would otherwise count as +inf). All
    // skipped: any of them.
    let passing: Vec<&(u64, &Check)> = of
        .iter()
        .filter(|(_, c)| c.status == CheckStatus::Passed)
        .collect();
    let pool: Vec<&(u64, &Check)> = if !failing.is_empty() {
        failing.clone()
    } else if !passing.is_empty() {
        passing
    } else {
        of.iter().collect()
    };
    let worst = pool
        .iter()
        .max_by(|a, b| {
            a.1.measured_s
                .unwrap_or(f64::INFINITY)
                .total_cmp(&b.1.measured_s.unwrap_or(f64::INFINITY))
        })
        .map(|(seed, c)| (*seed, *c));
    let (worst_seed, worst) = worst.expect("a check comes from some seed");
    let all_skipped = of.iter().all(|(_, c)| c.status == CheckStatus::Skipped);
    let (status, message) = if !failing.is_empty() {
        let seeds: Vec<String> = failing.iter().map(|(s, _)| s.to_string()).collect();
        (
            CheckStatus::Failed,
            format!(
                "failed for {} of {total} seeds ({}); worst, seed {worst_seed}: {}",
                failing.len(),
                seeds.join(", "),
                worst.message
            ),
        )
    } else if all_skipped {
        (CheckStatus::Skipped, worst.message.clone())
    } else {
        let value = worst.measured_s.map_or(String::new(), |v| {
            format!(" (worst {}, seed {worst_seed})", human(v))
        });
        let passed = of
            .iter()
            .filter(|(_, c)| c.status == CheckStatus::Passed)
            .count();
        let of_total = if passed == total {
            format!("all {total} seeds")
        } else {
            format!("{passed} of {total} seeds (the others skipped it)")
        };
        (
            CheckStatus::Passed,
            format!("passed for {of_total}{value}: {}", worst.message),
        )
    };
    Check::new(name, status, worst.measured_s, worst.limit_s, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A check two seeds passed (the worst 4m, within 5m) and one skipped:
    /// the folded check reports the worst passing seed, its value and
    /// limit, not the skipped seed (which measured nothing).
    #[test]
    fn a_check_no_seed_failed_reports_the_worst_passing_seed() {
        let passed = |v: f64| {
            Check::new(
                "restore",
                CheckStatus::Passed,
                Some(v),
                Some(300.0),
                format!("restore took {}, target 5m", human(v)),
            )
        };
        let skipped = Check::new(
            "restore",
            CheckStatus::Skipped,
            None,
            None,
            "no rollback was decided".to_string(),
        );
        let (a, b) = (passed(120.0), passed(240.0));
        let c = fold_check("restore", &[(1, &a), (2, &skipped), (3, &b)], 3);
        assert_eq!(c.status, CheckStatus::Passed);
        assert_eq!((c.measured_s, c.limit_s), (Some(240.0), Some(300.0)));
        assert_eq!(
            c.message,
            "passed for 2 of 3 seeds (the others skipped it) (worst 4m, seed 3): restore took 4m, target 5m"
        );
    }
}
