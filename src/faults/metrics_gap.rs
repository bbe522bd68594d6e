//! `metrics_gap`: no metrics at all from `at` for `for`.

use super::{Fault, Hook};

/// No metrics over `[from, to)`: the plan's window of the fault.
#[derive(Debug)]
pub struct MetricsGap {
    pub from: u64,
    pub to: u64,
}

impl Fault for MetricsGap {
    fn apply(&self, hook: &mut Hook<'_>) {
        if let Hook::Metrics { now, missing, .. } = hook
            && (self.from..self.to).contains(now)
        {
            **missing = true;
        }
    }
}
