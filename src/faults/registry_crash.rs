//! `registry_crash`: the registry is killed at `at` and comes back after
//! `restart_after` with every acknowledged change (its state is durable).
//! While it is down, connections are refused at once.

use super::{Fault, Hook};

/// Down over `[from, to)`: from the crash to the restart (the plan's window).
#[derive(Debug)]
pub struct RegistryCrash {
    pub from: u64,
    pub to: u64,
}

impl Fault for RegistryCrash {
    fn apply(&self, hook: &mut Hook<'_>) {
        if let Hook::RegistryCall(call) = hook {
            let end = self.to;
            if (self.from..end).contains(&call.now) {
                call.unavailable_until = Some(call.unavailable_until.map_or(end, |u| u.max(end)));
            }
        }
    }
}
