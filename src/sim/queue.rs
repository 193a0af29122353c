//! The event queue: ordered by (time, insertion sequence), so simultaneous events run first in,
//! first out. Events are a closed `Copy` enum stored inline: once the heap has grown to the
//! run's peak, pushing and popping allocate nothing.

use crate::time::Nanos;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// What happens at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    /// The next connection of traffic generator `generator` arrives.
    Arrival { generator: u32 },
    /// Connection `conn` (a slot of the connection table) closes, if the slot still holds the
    /// connection of `generation` (a broken connection's slot may serve another one since).
    Close { conn: u32, generation: u32 },
    /// The NAT tuple of connection `conn` leaves TIME_WAIT (or the UDP timeout) and is freed.
    Release { conn: u32, generation: u32 },
    /// Take a time-series sample.
    Sample,
    /// The warm-up ends: counting starts from here (`scenario::warmup`).
    WarmupEnd,
    /// Scenario event `event` (a failure or a recovery) happens.
    Failure { event: u32 },
    /// A control-plane reaction (index into the run's pending reactions) takes effect.
    Control { pending: u32 },
}

/// The queue: a binary heap, plus FIFO lanes for events that are always scheduled a constant
/// delay ahead (NAT releases after TIME_WAIT or the UDP timeout) — those arrive in time order, so
/// a deque holds them without the heap's logarithmic cost. Order is (time, insertion sequence)
/// across all of them.
/// A heap entry ordered by its key alone: (time << 64) | insertion sequence, one integer
/// comparison (the sequence is unique, so the event never decides the order).
#[derive(Clone, Copy, Debug)]
struct Entry {
    key: u128,
    event: Event,
}

impl Entry {
    fn new(at: Nanos, seq: u64, event: Event) -> Entry {
        Entry {
            key: (u128::from(at.0) << 64) | u128::from(seq),
            event,
        }
    }

    fn at(&self) -> Nanos {
        Nanos((self.key >> 64) as u64)
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

#[derive(Clone, Debug, Default)]
pub struct EventQueue {
    heap: BinaryHeap<Reverse<Entry>>,
    lanes: [VecDeque<(Nanos, u64, Event)>; 2],
    seq: u64,
}

impl EventQueue {
    pub fn with_capacity(n: usize) -> Self {
        EventQueue {
            heap: BinaryHeap::with_capacity(n),
            lanes: Default::default(),
            seq: 0,
        }
    }

    pub fn push(&mut self, at: Nanos, e: Event) {
        self.heap.push(Reverse(Entry::new(at, self.seq, e)));
        self.seq += 1;
    }

    /// Pushes onto FIFO lane `lane` (0 or 1); each lane's times must not decrease (a constant
    /// delay from a non-decreasing clock), otherwise the event goes to the heap.
    pub fn push_fifo(&mut self, lane: usize, at: Nanos, e: Event) {
        let l = &mut self.lanes[lane.min(1)];
        if l.back().is_some_and(|(t, _, _)| *t > at) {
            self.push(at, e);
            return;
        }
        l.push_back((at, self.seq, e));
        self.seq += 1;
    }

    pub fn pop(&mut self) -> Option<(Nanos, Event)> {
        // The lanes are usually empty or later than the heap's top: one key comparison each.
        let key = |l: &VecDeque<(Nanos, u64, Event)>| {
            l.front().map_or(u128::MAX, |(t, s, _)| {
                (u128::from(t.0) << 64) | u128::from(*s)
            })
        };
        let heap = self.heap.peek().map_or(u128::MAX, |Reverse(e)| e.key);
        let (l0, l1) = (key(&self.lanes[0]), key(&self.lanes[1]));
        if heap == u128::MAX && l0 == u128::MAX && l1 == u128::MAX {
            return None;
        }
        if heap <= l0 && heap <= l1 {
            return self.heap.pop().map(|Reverse(e)| (e.at(), e.event));
        }
        let lane = usize::from(l1 < l0);
        self.lanes[lane].pop_front().map(|(t, _, e)| (t, e))
    }

    pub fn len(&self) -> usize {
        self.heap.len() + self.lanes[0].len() + self.lanes[1].len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_break_first_in_first_out() {
        let mut q = EventQueue::default();
        q.push(
            Nanos(5),
            Event::Close {
                conn: 1,
                generation: 0,
            },
        );
        q.push(Nanos(3), Event::Sample);
        q.push(Nanos(5), Event::Arrival { generator: 0 });
        q.push(
            Nanos(5),
            Event::Close {
                conn: 0,
                generation: 0,
            },
        );
        let order: Vec<Event> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(
            order,
            [
                Event::Sample,
                Event::Close {
                    conn: 1,
                    generation: 0
                },
                Event::Arrival { generator: 0 },
                Event::Close {
                    conn: 0,
                    generation: 0
                }
            ]
        );
    }
}
