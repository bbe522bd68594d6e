//! `metrics_lag`: metrics arrive `lag` late.

use super::{Fault, Hook};
use crate::scenario::Dur;

#[derive(Debug)]
pub struct MetricsLag {
    pub lag: Dur,
}

impl Fault for MetricsLag {
    fn apply(&self, hook: &mut Hook<'_>) {
        if let Hook::Metrics { read_at, .. } = hook {
            **read_at = read_at.saturating_sub(self.lag.0);
        }
    }
}
