//! The drivers' agenda: events ordered by time, ties in insertion order.
//!
//! Both the simulated and the live driver pop the earliest event, act on
//! it, and push what it schedules; insertion order breaks ties so a run is
//! deterministic.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

pub struct Agenda<E: Ord> {
    heap: BinaryHeap<Reverse<(u64, u64, E)>>,
    seq: u64,
}

impl<E: Ord> Default for Agenda<E> {
    fn default() -> Self {
        Agenda {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<E: Ord> Agenda<E> {
    pub fn push(&mut self, at: u64, event: E) {
        self.heap.push(Reverse((at, self.seq, event)));
        self.seq += 1;
    }

    /// The earliest event and its time.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        self.heap.pop().map(|Reverse((at, _, e))| (at, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_then_insertion_order() {
        let mut a = Agenda::default();
        a.push(20, 'c');
        a.push(10, 'z');
        a.push(10, 'a');
        let order: Vec<_> = std::iter::from_fn(|| a.pop()).collect();
        assert_eq!(order, [(10, 'z'), (10, 'a'), (20, 'c')]);
    }
}
