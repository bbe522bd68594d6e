//! `registry_freeze`: the registry process is paused from `at` for `for`.
//! A paused server still accepts connections (the kernel does that) but
//! never answers, so each call hangs until the client's timeout.

use super::{Fault, Hook};
use crate::scenario::Dur;

#[derive(Debug)]
pub struct RegistryFreeze {
    pub at: Dur,
    pub for_: Dur,
}

impl Fault for RegistryFreeze {
    fn apply(&self, hook: &mut Hook<'_>) {
        if let Hook::RegistryCall(call) = hook {
            super::hang(call, self.at.0, self.at.0.saturating_add(self.for_.0));
        }
    }
}
