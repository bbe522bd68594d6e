//! `retire_target`: retention has already removed the rollback target —
//! the versions serving the route before the release.

use super::{Fault, Hook};

#[derive(Debug)]
pub struct RetireTarget {
    pub route: String,
    pub versions: Vec<String>,
}

impl Fault for RetireTarget {
    fn apply(&self, hook: &mut Hook<'_>) {
        if let Hook::Setup { registry } = hook {
            for v in &self.versions {
                registry.retire(&self.route, v);
            }
        }
    }
}
