//! `registry_outage`: registry calls fail from `at` for `for`.

use super::{Fault, Hook};

/// In force over `[from, to)`: the plan's window of the fault.
#[derive(Debug)]
pub struct RegistryOutage {
    pub from: u64,
    pub to: u64,
}

impl Fault for RegistryOutage {
    fn apply(&self, hook: &mut Hook<'_>) {
        if let Hook::RegistryCall(call) = hook {
            let end = self.to;
            if (self.from..end).contains(&call.now) {
                call.unavailable_until = Some(call.unavailable_until.map_or(end, |u| u.max(end)));
            }
        }
    }
}
