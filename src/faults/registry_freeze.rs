//! `registry_freeze`: the registry process is paused from `at` for `for`.
//! A paused server still accepts connections (the kernel does that) but
//! never answers, so each call hangs until the client's timeout.

use super::{Fault, Hook};

/// In force over `[from, to)`: the plan's window of the fault.
#[derive(Debug)]
pub struct RegistryFreeze {
    pub from: u64,
    pub to: u64,
}

impl Fault for RegistryFreeze {
    fn apply(&self, hook: &mut Hook<'_>) {
        if let Hook::RegistryCall(call) = hook {
            super::hang(call, self.from, self.to);
        }
    }
}
