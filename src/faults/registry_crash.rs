//! `registry_crash`: the registry is killed at `at` and comes back after
//! `restart_after` with every acknowledged change (its state is durable).
//! While it is down, connections are refused at once.

use super::{Fault, Hook};
use crate::scenario::Dur;

#[derive(Debug)]
pub struct RegistryCrash {
    pub at: Dur,
    pub restart_after: Dur,
}

impl Fault for RegistryCrash {
    fn apply(&self, hook: &mut Hook<'_>) {
        if let Hook::RegistryCall(call) = hook {
            let end = self.at.0.saturating_add(self.restart_after.0);
            if (self.at.0..end).contains(&call.now) {
                call.unavailable_until = Some(call.unavailable_until.map_or(end, |u| u.max(end)));
            }
        }
    }
}
