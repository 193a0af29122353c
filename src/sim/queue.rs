//! The event queue: ordered by (time, insertion sequence), so simultaneous events run first in,
//! first out. Events are a closed `Copy` enum stored inline: once the heap has grown to the
//! run's peak, pushing and popping allocate nothing.

use crate::time::Nanos;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// What happens at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    /// The next connection of traffic generator `generator` arrives.
    Arrival { generator: u32 },
    /// Connection `conn` (a slot of the connection table) closes.
    Close { conn: u32 },
    /// The NAT tuple of connection `conn` leaves TIME_WAIT (or the UDP timeout) and is freed.
    Release { conn: u32 },
    /// Take a time-series sample.
    Sample,
    /// Scenario event `event` (a failure or a recovery) happens.
    Failure { event: u32 },
    /// A control-plane reaction (index into the run's pending reactions) takes effect.
    Control { pending: u32 },
}

#[derive(Debug, Default)]
pub struct EventQueue {
    heap: BinaryHeap<Reverse<(Nanos, u64, Event)>>,
    seq: u64,
}

impl EventQueue {
    pub fn with_capacity(n: usize) -> Self {
        EventQueue {
            heap: BinaryHeap::with_capacity(n),
            seq: 0,
        }
    }

    pub fn push(&mut self, at: Nanos, e: Event) {
        self.heap.push(Reverse((at, self.seq, e)));
        self.seq += 1;
    }

    pub fn pop(&mut self) -> Option<(Nanos, Event)> {
        self.heap.pop().map(|Reverse((t, _, e))| (t, e))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_break_first_in_first_out() {
        let mut q = EventQueue::default();
        q.push(Nanos(5), Event::Close { conn: 1 });
        q.push(Nanos(3), Event::Sample);
        q.push(Nanos(5), Event::Arrival { generator: 0 });
        q.push(Nanos(5), Event::Close { conn: 0 });
        let order: Vec<Event> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(
            order,
            [
                Event::Sample,
                Event::Close { conn: 1 },
                Event::Arrival { generator: 0 },
                Event::Close { conn: 0 }
            ]
        );
    }
}
