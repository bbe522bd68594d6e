//! Running many drills: shards for CI matrices, and worker threads.
//!
//! Drills are independent and deterministic, so running them on N threads
//! changes only the wall time: results are stored by position and come back
//! in input order, byte for byte what one thread would produce.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::outcome::DrillOutcome;
use crate::scenario::Plan;

/// `K/N`: the K-th (1-based) of N shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub k: usize,
    pub n: usize,
}

impl std::str::FromStr for Partition {
    type Err = String;

    fn from_str(s: &str) -> Result<Partition, String> {
        let bad = || format!("`{s}` is not a shard: write K/N with 1 <= K <= N, e.g. `2/4`");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Partition { k, n })
    }
}

/// The scenarios of one shard: sorted by name, shard K takes positions
/// K-1, K-1+N, K-1+2N … — balanced to within one scenario, stable for a
/// given set of scenarios, and every scenario in exactly one shard.
pub fn shard(mut plans: Vec<Plan>, p: Partition) -> Vec<Plan> {
    plans.sort_by(|a, b| a.name.cmp(&b.name));
    plans
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % p.n == p.k - 1)
        .map(|(_, plan)| plan)
        .collect()
}

/// Runs `drill` on every plan with `jobs` worker threads; `done(finished,
/// plan, outcome)` is called as each one ends (in completion order). A
/// drill that returns `None` (skipped, e.g. after Ctrl-C) has no outcome.
pub fn run_all<F, D>(plans: &[Plan], jobs: usize, drill: F, done: D) -> Vec<DrillOutcome>
where
    F: Fn(&Plan) -> Option<DrillOutcome> + Sync,
    D: Fn(usize, &Plan, &DrillOutcome) + Sync,
{
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<DrillOutcome>>> = Mutex::new(vec![None; plans.len()]);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, plans.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(plan) = plans.get(i) else { break };
                    let Some(outcome) = drill(plan) else { continue };
                    let n = finished.fetch_add(1, Ordering::Relaxed) + 1;
                    done(n, plan, &outcome);
                    slots.lock().expect("no worker panics while holding it")[i] = Some(outcome);
                }
            });
        }
    });
    slots
        .into_inner()
        .expect("workers are done")
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_parse_and_reject_nonsense() {
        assert_eq!("2/4".parse(), Ok(Partition { k: 2, n: 4 }));
        for bad in ["0/4", "5/4", "2", "a/b", "1/0", ""] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
    }
}
