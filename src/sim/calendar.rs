//! A calendar queue for the engine's timed events (R. Brown, "Calendar queues", CACM 1988, with
//! fixed-width days): the events of the next few seconds sit in buckets one 2^20 ns (≈ 1 ms)
//! wide, a bucket is sorted only when the clock reaches it, and the events further out wait in a
//! binary heap until the window comes to them. A connection's close is pushed into a bucket in
//! O(1) and popped from a short sorted bucket, where a heap of 25,000 pending closes costs
//! fifteen levels of compares and cache misses per pop.
//!
//! The order is exactly a heap's: by key, (time << 64) | insertion sequence, so the engine's
//! results do not depend on which queue holds the events. Keys pushed are never below the last
//! key popped (the clock does not run backwards; see [`Calendar::push`]).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A bucket spans 2^SHIFT nanoseconds.
const SHIFT: u32 = 20;
/// Buckets in the window (2^12 × 2^20 ns ≈ 4.4 s ahead).
const BUCKETS: u64 = 1 << 12;

/// An entry ordered by its key alone (the key is unique: it holds the insertion sequence).
#[derive(Clone, Copy, Debug)]
pub struct Keyed<T> {
    pub key: u128,
    pub item: T,
}

impl<T> PartialEq for Keyed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl<T> Eq for Keyed<T> {}
impl<T> PartialOrd for Keyed<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Keyed<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// The bucket (day) of a key: its time in units of 2^SHIFT ns.
fn day(key: u128) -> u64 {
    ((key >> 64) as u64) >> SHIFT
}

/// No chunk (end of a bucket's chunks, or of the free list).
const NIL: u32 = u32::MAX;

/// Entries per chunk: a bucket holds its entries in chunks of this many, side by side, so
/// draining a day reads a few contiguous runs (the prefetcher follows them) instead of one
/// list node per entry, each address known only once the previous node arrived (a cache miss
/// per entry, one after another).
const CHUNK: usize = 8;

#[derive(Clone, Debug)]
pub struct Calendar<T> {
    /// Every bucketed entry, in chunks of [`CHUNK`] (chunk `c` is `slab[c * CHUNK..][..CHUNK]`),
    /// in one vector, so the storage grows to the run's peak once instead of 4,096 vectors
    /// each growing on its own peak.
    slab: Vec<Keyed<T>>,
    /// Per chunk: how many of its entries are filled, and the bucket's previous chunk (or the
    /// next free chunk).
    chunk_len: Vec<u8>,
    chunk_next: Vec<u32>,
    /// Free chunks, linked through `chunk_next`.
    free: u32,
    /// Ring of `BUCKETS` heads, each the bucket's last chunk; bucket `d % BUCKETS` holds day
    /// `d` for `d` in the window `today .. today + BUCKETS`.
    heads: Vec<u32>,
    /// The day the clock is in.
    today: u64,
    /// Days drained into `sorted` so far.
    days_sorted: u64,
    /// Today's entries once the clock reached them, sorted descending (smallest key last).
    sorted: Vec<Keyed<T>>,
    /// Whether today's bucket was moved into `sorted`.
    drained: bool,
    /// Entries in the buckets and in `sorted`.
    near: usize,
    /// Entries beyond the window.
    far: BinaryHeap<Reverse<Keyed<T>>>,
}

impl<T: Copy> Default for Calendar<T> {
    fn default() -> Self {
        Calendar {
            slab: Vec::new(),
            chunk_len: Vec::new(),
            chunk_next: Vec::new(),
            free: NIL,
            heads: vec![NIL; BUCKETS as usize],
            today: 0,
            days_sorted: 0,
            sorted: Vec::new(),
            drained: false,
            near: 0,
            far: BinaryHeap::new(),
        }
    }
}

impl<T: Copy> Calendar<T> {
    pub fn len(&self) -> usize {
        self.near + self.far.len()
    }

    /// Adds an entry. Its key must not be below the last key popped (a day before today would
    /// be lost to the ring): such an entry goes to the heap, which still orders it.
    pub fn push(&mut self, e: Keyed<T>) {
        let d = day(e.key);
        if d < self.today || d >= self.today + BUCKETS {
            self.far.push(Reverse(e));
            return;
        }
        self.near += 1;
        if d == self.today && self.drained {
            // Keep today's entries sorted, descending.
            let at = self.sorted.partition_point(|x| x.key > e.key);
            self.sorted.insert(at, e);
            return;
        }
        let bucket = (d % BUCKETS) as usize;
        let head = self.heads[bucket];
        if head != NIL && usize::from(self.chunk_len[head as usize]) < CHUNK {
            let len = &mut self.chunk_len[head as usize];
            self.slab[head as usize * CHUNK + usize::from(*len)] = e;
            *len += 1;
            return;
        }
        // A fresh chunk in front of the bucket's others.
        let chunk = if self.free == NIL {
            // Filled with copies of `e` as placeholders: only the first `len` count.
            self.slab.extend(std::iter::repeat_n(e, CHUNK));
            self.chunk_len.push(0);
            self.chunk_next.push(NIL);
            self.chunk_len.len() as u32 - 1
        } else {
            let c = self.free;
            self.free = self.chunk_next[c as usize];
            c
        };
        self.slab[chunk as usize * CHUNK] = e;
        self.chunk_len[chunk as usize] = 1;
        self.chunk_next[chunk as usize] = head;
        self.heads[bucket] = chunk;
    }

    /// The smallest key, without removing it.
    pub fn peek_key(&mut self) -> Option<u128> {
        self.settle();
        let today = self.sorted.last().map(|e| e.key);
        let far = self.far.peek().map(|Reverse(e)| e.key);
        match (today, far) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Today's entries not yet popped, last first (a hint for what to fetch ahead, not an
    /// order: an entry of the heap may come first), and how many days were sorted so far (it
    /// changes when a new day's entries are here).
    pub fn today(&self) -> (&[Keyed<T>], u64) {
        (&self.sorted, self.days_sorted)
    }

    /// Removes the entry with the smallest key.
    pub fn pop(&mut self) -> Option<Keyed<T>> {
        self.settle();
        // An entry pushed below the window sits in the heap and may come first.
        let far_first = match (self.sorted.last(), self.far.peek()) {
            (Some(a), Some(Reverse(f))) => f.key < a.key,
            (None, Some(_)) => true,
            _ => false,
        };
        if far_first {
            return self.far.pop().map(|Reverse(e)| e);
        }
        let e = self.sorted.pop()?;
        self.near -= 1;
        Some(e)
    }

    /// Moves the clock to the first day with an entry and sorts that day's entries.
    fn settle(&mut self) {
        loop {
            if !self.drained {
                self.drain_today();
            }
            if !self.sorted.is_empty() {
                return;
            }
            // Today is empty: go to the next day, or straight to the heap's first when the
            // window is empty. A heap entry from before today is popped from the heap.
            let to = match self.far.peek() {
                Some(Reverse(next)) if day(next.key) <= self.today => return,
                Some(Reverse(next)) if self.near == 0 => day(next.key),
                None if self.near == 0 => return,
                _ => self.today + 1,
            };
            self.advance(to);
        }
    }

    /// Moves today's bucket into `sorted`, sorted, and frees its chunks.
    fn drain_today(&mut self) {
        let head = &mut self.heads[(self.today % BUCKETS) as usize];
        let mut at = std::mem::replace(head, NIL);
        while at != NIL {
            let c = at as usize;
            let len = usize::from(self.chunk_len[c]);
            self.sorted
                .extend_from_slice(&self.slab[c * CHUNK..c * CHUNK + len]);
            let next = std::mem::replace(&mut self.chunk_next[c], self.free);
            self.free = at;
            at = next;
        }
        self.sorted.sort_unstable_by_key(|e| Reverse(e.key));
        self.drained = true;
        self.days_sorted += 1;
    }

    /// Makes `to` today and brings the heap's entries that now fall in the window into buckets.
    fn advance(&mut self, to: u64) {
        self.today = to;
        self.drained = false;
        while let Some(Reverse(e)) = self.far.peek() {
            let d = day(e.key);
            if d >= self.today + BUCKETS || d < self.today {
                break;
            }
            let Some(Reverse(e)) = self.far.pop() else {
                break;
            };
            self.push(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Fifty entries in one future bucket (seven chunks, the last part-filled), pushed in
    /// descending key order, pop in ascending order; the freed chunks then serve the next
    /// bucket's fifty.
    #[test]
    fn a_bucket_of_many_chunks_pops_in_key_order() {
        let mut cal: Calendar<u32> = Calendar::default();
        let mut days = 0;
        for round in 0..2u64 {
            let day = (round + 1) << SHIFT;
            for i in (0..50u32).rev() {
                let key = (u128::from(day + u64::from(i)) << 64) | u128::from(i);
                cal.push(Keyed { key, item: i });
            }
            let mut popped = Vec::new();
            while let Some(e) = cal.pop() {
                // Within the day, the hint names the entries the next pops return.
                let left: Vec<u32> = cal.today().0.iter().rev().map(|e| e.item).collect();
                assert_eq!(left, (e.item + 1..50).collect::<Vec<u32>>());
                popped.push(e.item);
            }
            assert_eq!(popped, (0..50).collect::<Vec<u32>>(), "round {round}");
            // Each round's day was sorted after the last: the count moved on.
            assert!(cal.today().1 > days, "round {round}");
            days = cal.today().1;
            assert!(cal.pop().is_none());
        }
        // The second bucket's entries reused the first's chunks.
        assert_eq!(cal.chunk_len.len(), 50usize.div_ceil(CHUNK));
    }

    #[test]
    fn an_engine_event_entry_is_32_bytes() {
        assert_eq!(std::mem::size_of::<Keyed<crate::sim::queue::Event>>(), 32);
    }

    proptest! {
        /// Pushes (never before the last pop) and pops in any mix come out in exactly a binary
        /// heap's order: delays of zero (ties broken by sequence), within a bucket, across the
        /// window and far beyond it.
        #[test]
        fn pops_in_a_heaps_order(ops in prop::collection::vec((0u8..4, 0u64..4, any::<u64>()), 1..800)) {
            let mut cal: Calendar<u32> = Calendar::default();
            let mut heap: BinaryHeap<Reverse<Keyed<u32>>> = BinaryHeap::new();
            let (mut now, mut seq) = (0u64, 0u64);
            for (i, (pops, scale, r)) in ops.into_iter().enumerate() {
                let delay = match scale {
                    0 => 0,
                    1 => r % (1 << SHIFT),
                    2 => r % (BUCKETS << SHIFT),
                    _ => r % (1 << 40),
                };
                let key = (u128::from(now + delay) << 64) | u128::from(seq);
                seq += 1;
                cal.push(Keyed { key, item: i as u32 });
                heap.push(Reverse(Keyed { key, item: i as u32 }));
                for _ in 0..pops {
                    let want = heap.pop().map(|Reverse(e)| (e.key, e.item));
                    prop_assert_eq!(cal.peek_key(), want.map(|w| w.0));
                    let got = cal.pop().map(|e| (e.key, e.item));
                    prop_assert_eq!(got, want);
                    if let Some((k, _)) = got {
                        now = (k >> 64) as u64;
                    }
                }
                prop_assert_eq!(cal.len(), heap.len());
            }
            while let Some(Reverse(w)) = heap.pop() {
                prop_assert_eq!(cal.pop().map(|e| (e.key, e.item)), Some((w.key, w.item)));
            }
            prop_assert!(cal.pop().is_none());
        }
    }
}
