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
#[derive(Debug, Default)]
pub struct EventQueue {
    heap: BinaryHeap<Reverse<(Nanos, u64, Event)>>,
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
        self.heap.push(Reverse((at, self.seq, e)));
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
        let heap = self.heap.peek().map(|Reverse((t, s, _))| (*t, *s));
        let l0 = self.lanes[0].front().map(|(t, s, _)| (*t, *s));
        let l1 = self.lanes[1].front().map(|(t, s, _)| (*t, *s));
        let best = [heap, l0, l1]
            .into_iter()
            .enumerate()
            .filter_map(|(i, k)| k.map(|k| (k, i)))
            .min()?;
        let (t, _, e) = match best.1 {
            0 => self.heap.pop().map(|Reverse(x)| x)?,
            i => self.lanes[i - 1].pop_front()?,
        };
        Some((t, e))
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
