//! `registry_slow`: every registry call takes `add` longer.

use super::{Fault, Hook};
use crate::scenario::Dur;

#[derive(Debug)]
pub struct RegistrySlow {
    pub add: Dur,
}

impl Fault for RegistrySlow {
    fn apply(&self, hook: &mut Hook<'_>) {
        if let Hook::RegistryCall(call) = hook {
            call.extra = Dur(call.extra.0 + self.add.0);
        }
    }
}
