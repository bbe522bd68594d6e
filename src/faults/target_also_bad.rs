//! `target_also_bad`: the rollback target regressed too, from the release
//! on (a shared dependency broke both).

use super::{Fault, Hook};
use crate::scenario::Behaviour;

#[derive(Debug)]
pub struct TargetAlsoBad {
    pub versions: Vec<String>,
    pub from: u64,
    pub behaviour: Behaviour,
}

impl Fault for TargetAlsoBad {
    fn apply(&self, hook: &mut Hook<'_>) {
        if let Hook::Behaviour {
            version,
            now,
            behaviour,
        } = hook
            && *now >= self.from
            && self.versions.iter().any(|v| v == version)
        {
            **behaviour = self.behaviour;
        }
    }
}
