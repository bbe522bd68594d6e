//! `network_partition`: the registry is cut off from the drill's network
//! from `at` for `for`. Packets go nowhere, so each call waits for the
//! client's timeout before the runbook can retry.

use super::{Fault, Hook};
use crate::scenario::Dur;

#[derive(Debug)]
pub struct NetworkPartition {
    pub at: Dur,
    pub for_: Dur,
}

impl Fault for NetworkPartition {
    fn apply(&self, hook: &mut Hook<'_>) {
        if let Hook::RegistryCall(call) = hook {
            super::hang(call, self.at.0, self.at.0.saturating_add(self.for_.0));
        }
    }
}
