//! `metrics_gap`: no metrics at all from `at` for `for`.

use super::{Fault, Hook};
use crate::scenario::Dur;

#[derive(Debug)]
pub struct MetricsGap {
    pub at: Dur,
    pub for_: Dur,
}

impl Fault for MetricsGap {
    fn apply(&self, hook: &mut Hook<'_>) {
        if let Hook::Metrics { now, missing, .. } = hook
            && (self.at.0..self.at.0 + self.for_.0).contains(now)
        {
            **missing = true;
        }
    }
}
