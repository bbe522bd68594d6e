//! `partial_propagation`: `stuck` of `routers` never receive the
//! procedure's routing changes; their share of traffic keeps the old route.

use super::{Fault, Hook};

#[derive(Debug)]
pub struct PartialPropagation {
    pub routers: u32,
    pub stuck: u32,
}

impl Fault for PartialPropagation {
    fn apply(&self, hook: &mut Hook<'_>) {
        if let Hook::Propagation { stuck_share, .. } = hook {
            **stuck_share = f64::from(self.stuck) / f64::from(self.routers);
        }
    }
}
