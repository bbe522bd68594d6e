//! `registry_outage`: registry calls fail from `at` for `for`.

use super::{Fault, Hook};
use crate::scenario::Dur;

#[derive(Debug)]
pub struct RegistryOutage {
    pub at: Dur,
    pub for_: Dur,
}

impl Fault for RegistryOutage {
    fn apply(&self, hook: &mut Hook<'_>) {
        if let Hook::RegistryCall(call) = hook {
            let end = self.at.0 + self.for_.0;
            if (self.at.0..end).contains(&call.now) {
                call.unavailable_until = Some(call.unavailable_until.map_or(end, |u| u.max(end)));
            }
        }
    }
}
