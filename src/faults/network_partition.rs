//! `network_partition`: the registry is cut off from the drill's network
//! from `at` for `for`. Packets go nowhere, so each call waits for the
//! client's timeout before the runbook can retry.

use super::{Fault, Hook};

/// In force over `[from, to)`: the plan's window of the fault.
#[derive(Debug)]
pub struct NetworkPartition {
    pub from: u64,
    pub to: u64,
}

impl Fault for NetworkPartition {
    fn apply(&self, hook: &mut Hook<'_>) {
        if let Hook::RegistryCall(call) = hook {
            super::hang(call, self.from, self.to);
        }
    }
}
