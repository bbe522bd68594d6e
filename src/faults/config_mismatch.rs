//! `config_mismatch`: the runbook's config no longer matches the registry;
//! its writes are refused until a person repairs the config, `fix_after`
//! after the first attempt.

use super::{Fault, Hook};
use crate::scenario::Dur;

#[derive(Debug)]
pub struct ConfigMismatch {
    pub fix_after: Dur,
}

impl Fault for ConfigMismatch {
    fn apply(&self, hook: &mut Hook<'_>) {
        if let Hook::RegistryCall(call) = hook
            && call.write
        {
            let repaired = call.first_write_at.unwrap_or(call.now) + self.fix_after.0;
            if call.now < repaired {
                call.repaired_at = Some(repaired);
            }
        }
    }
}
