//! `pager_down`: pages are not delivered; the escalation policy reaches
//! the platform lead by another channel `for` after the page.

use super::{Fault, Hook};
use crate::scenario::Dur;

#[derive(Debug)]
pub struct PagerDown {
    pub for_: Dur,
}

impl Fault for PagerDown {
    fn apply(&self, hook: &mut Hook<'_>) {
        if let Hook::Page {
            delivered,
            escalate_after,
            ..
        } = hook
        {
            **delivered = false;
            **escalate_after = self.for_;
        }
    }
}
