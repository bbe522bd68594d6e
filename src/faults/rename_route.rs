//! `rename_route`: the route the runbook names has moved to another name.

use super::{Fault, Hook};

#[derive(Debug)]
pub struct RenameRoute {
    pub from: String,
    pub to: String,
}

impl Fault for RenameRoute {
    fn apply(&self, hook: &mut Hook<'_>) {
        if let Hook::Setup { registry } = hook {
            registry.rename(&self.from, &self.to);
        }
    }
}
