//! The event queue: ordered by (time, insertion sequence), so simultaneous events run first in,
//! first out. Events are a closed `Copy` enum stored inline: once the calendar's buckets and
//! heap have grown to the run's peak, pushing and popping allocate nothing.

use super::calendar::{Calendar, Keyed};
use crate::time::Nanos;
use std::collections::VecDeque;

/// What happens at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    /// The next connection of traffic generator `generator` arrives.
    Arrival { generator: u32 },
    /// Connection `conn` (a slot of the connection table) closes, if the slot still holds the
    /// connection of `generation` (a broken connection's slot may serve another one since).
    Close { conn: u32, generation: u32 },
    /// The NAT binding `held` (an id in the run's TIME_WAIT entries) leaves TIME_WAIT (or the
    /// UDP timeout) and is freed.
    Release { held: u32 },
    /// Take a time-series sample.
    Sample,
    /// The warm-up ends: counting starts from here (`scenario::warmup`).
    WarmupEnd,
    /// Scenario event `event` (a failure or a recovery) happens.
    Failure { event: u32 },
    /// A control-plane reaction (index into the run's pending reactions) takes effect.
    Control { pending: u32 },
}

/// The queue: a calendar queue (`calendar.rs`: the timed events — arrivals, closes, samples,
/// control reactions), plus FIFO lanes for events that are always scheduled a constant delay
/// ahead (NAT releases after TIME_WAIT or the UDP timeout) — those arrive in time order, so a
/// deque holds them at no cost. Order is (time, insertion sequence) across all of them: one key,
/// (time << 64) | sequence.
#[derive(Clone, Debug, Default)]
pub struct EventQueue {
    cal: Calendar<Event>,
    lanes: [VecDeque<(Nanos, u64, Event)>; 2],
    seq: u64,
}

fn key(at: Nanos, seq: u64) -> u128 {
    (u128::from(at.0) << 64) | u128::from(seq)
}

impl EventQueue {
    pub fn push(&mut self, at: Nanos, e: Event) {
        self.cal.push(Keyed {
            key: key(at, self.seq),
            item: e,
        });
        self.seq += 1;
    }

    /// Pushes onto FIFO lane `lane` (0 or 1); each lane's times must not decrease (a constant
    /// delay from a non-decreasing clock), otherwise the event goes to the calendar.
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
        // The lanes are usually empty or later than the calendar's first: one key comparison each.
        let lane_key = |l: &VecDeque<(Nanos, u64, Event)>| {
            l.front().map_or(u128::MAX, |(t, s, _)| key(*t, *s))
        };
        let cal = self.cal.peek_key().unwrap_or(u128::MAX);
        let (l0, l1) = (lane_key(&self.lanes[0]), lane_key(&self.lanes[1]));
        if cal == u128::MAX && l0 == u128::MAX && l1 == u128::MAX {
            return None;
        }
        if cal <= l0 && cal <= l1 {
            return self
                .cal
                .pop()
                .map(|e| (Nanos((e.key >> 64) as u64), e.item));
        }
        let lane = usize::from(l1 < l0);
        self.lanes[lane].pop_front().map(|(t, _, e)| (t, e))
    }

    /// What comes soon (a hint for fetching ahead, not the order): the calendar's entries of
    /// today not yet popped, and a count that changes with each new day (`Calendar::today`).
    pub fn today(&self) -> (impl Iterator<Item = &Event>, u64) {
        let (entries, day) = self.cal.today();
        (entries.iter().map(|e| &e.item), day)
    }

    /// FIFO lane `lane`'s `k`-th entry from its front (a hint, as [`EventQueue::today`]).
    pub fn upcoming_in_lane(&self, lane: usize, k: usize) -> Option<&Event> {
        self.lanes.get(lane)?.get(k).map(|(_, _, e)| e)
    }

    pub fn len(&self) -> usize {
        self.cal.len() + self.lanes[0].len() + self.lanes[1].len()
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
