//! `stale_cache`: clients cache routing for `ttl`, so a rollback reaches
//! traffic that much later than the routers have it.

use super::{Fault, Hook};
use crate::scenario::Dur;

#[derive(Debug)]
pub struct StaleCache {
    pub ttl: Dur,
}

impl Fault for StaleCache {
    fn apply(&self, hook: &mut Hook<'_>) {
        if let Hook::Propagation { extra, .. } = hook {
            **extra = Dur(extra.0 + self.ttl.0);
        }
    }
}
