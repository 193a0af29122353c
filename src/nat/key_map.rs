//! The NAT table's map from a key (protocol, NAT IP, remote endpoint) to the ports it holds:
//! open addressing with linear probing, key and value side by side in 16 bytes, so a look-up
//! reads one cache line. A SwissTable (hashbrown) reads its control bytes and then the entry:
//! two misses per look-up on the envelope's half a million keys in TIME_WAIT (17 % of a calico
//! run went there), where this map takes one.
//!
//! Invariants: at most half the slots are taken (probe runs stay short); a key is found by
//! walking from its home slot to the first empty one, so a removal shifts back the entries
//! behind it whose home allows (Knuth's algorithm R: no tombstones). Never iterated into any
//! output; the order of slots is a function of the keys inserted and removed.

use super::conntrack::NatKey;
use crate::net::hash::mix64;

/// A taken or empty slot. `rest` packs the protocol number (never 0) with the remote port: 0
/// marks an empty slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    ips: u64,
    rest: u32,
    value: u32,
}

const EMPTY: Slot = Slot {
    ips: 0,
    rest: 0,
    value: 0,
};

const _: () = assert!(std::mem::size_of::<Slot>() == 16);

fn pack(k: &NatKey) -> (u64, u32) {
    let ips = (u64::from(u32::from(k.nat_ip)) << 32) | u64::from(u32::from(k.remote.ip));
    let rest = (u32::from(k.proto.number()) << 16) | u32::from(k.remote.port);
    (ips, rest)
}

/// Where a look-up ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The key's slot.
    Found(usize),
    /// Not there; this empty slot would take it.
    Vacant(usize),
}

/// Key → a 32-bit value (the table's `Held`, packed).
#[derive(Clone, Debug, Default)]
pub struct KeyMap {
    slots: Vec<Slot>,
    len: usize,
}

impl KeyMap {
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    fn home(&self, ips: u64, rest: u32) -> usize {
        let h = mix64(ips ^ u64::from(rest).rotate_left(40));
        // The high bits: the slot count is a power of two.
        (h >> 32) as usize & (self.slots.len() - 1)
    }

    /// Finds `key`.
    pub fn probe(&self, key: &NatKey) -> Probe {
        if self.slots.is_empty() {
            return Probe::Vacant(0);
        }
        let (ips, rest) = pack(key);
        let mask = self.slots.len() - 1;
        let mut i = self.home(ips, rest);
        loop {
            let s = &self.slots[i];
            if s.rest == 0 {
                return Probe::Vacant(i);
            }
            if s.ips == ips && s.rest == rest {
                return Probe::Found(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Reads `key`'s home slot and nothing else: called an event or two before the look-up,
    /// its cache line is on its way while other work runs (a read whose value is kept, so the
    /// compiler leaves it in; no safe prefetch instruction exists).
    pub fn touch(&self, key: &NatKey) {
        if self.slots.is_empty() {
            return;
        }
        let (ips, rest) = pack(key);
        std::hint::black_box(self.slots[self.home(ips, rest)].rest);
    }

    /// The value in a slot [`KeyMap::probe`] found.
    pub fn value(&self, found: usize) -> u32 {
        self.slots[found].value
    }

    pub fn set_value(&mut self, found: usize, value: u32) {
        self.slots[found].value = value;
    }

    /// Puts `key` in the slot [`KeyMap::probe`] left `Vacant` (no change since); grows first
    /// when it would fill more than half the slots.
    pub fn insert(&mut self, vacant: usize, key: &NatKey, value: u32) {
        let (ips, rest) = pack(key);
        let slot = Slot { ips, rest, value };
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
            let Probe::Vacant(i) = self.probe(key) else {
                unreachable!("a key probed vacant is not in the map");
            };
            self.slots[i] = slot;
        } else {
            self.slots[vacant] = slot;
        }
        self.len += 1;
    }

    fn grow(&mut self) {
        let slots = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; slots]);
        let mask = self.slots.len() - 1;
        for s in old.into_iter().filter(|s| s.rest != 0) {
            let mut i = self.home(s.ips, s.rest);
            while self.slots[i].rest != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
        }
    }

    /// Empties a slot [`KeyMap::probe`] found, shifting back the entries of its probe run that
    /// may move (each stays reachable from its home slot).
    pub fn remove(&mut self, found: usize) {
        let mask = self.slots.len() - 1;
        let mut hole = found;
        let mut j = found;
        loop {
            j = (j + 1) & mask;
            let s = self.slots[j];
            if s.rest == 0 {
                break;
            }
            let home = self.home(s.ips, s.rest);
            // The entry at j stays when its home lies cyclically in (hole, j].
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.slots[hole] = s;
                hole = j;
            }
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{Endpoint, Proto};
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::net::Ipv4Addr;

    fn key(n: u16, remote: u8, proto: bool) -> NatKey {
        NatKey {
            proto: if proto { Proto::Tcp } else { Proto::Udp },
            nat_ip: Ipv4Addr::new(10, 0, 0, (n % 7) as u8),
            remote: Endpoint::new(Ipv4Addr::new(10, 1, 0, remote), n / 7),
        }
    }

    proptest! {
        /// Inserts, updates and removals in any order: every key's value is the one a BTreeMap
        /// holds, absent keys are absent, and the count matches (long probe runs and removals
        /// in their middle included: keys are drawn from a few hundred).
        #[test]
        fn agrees_with_an_ordered_map(ops in prop::collection::vec((0u8..3, 0u16..300, 0u8..3, any::<bool>(), any::<u32>()), 0..2000)) {
            let mut map = KeyMap::default();
            let mut oracle = BTreeMap::new();
            for (op, n, remote, proto, value) in ops {
                let k = key(n, remote, proto);
                match (op, map.probe(&k)) {
                    (0, Probe::Vacant(i)) => { map.insert(i, &k, value); oracle.insert(k, value); }
                    (0, Probe::Found(i)) => { map.set_value(i, value); oracle.insert(k, value); }
                    (_, Probe::Found(i)) => { map.remove(i); oracle.remove(&k); }
                    (_, Probe::Vacant(_)) => prop_assert!(!oracle.contains_key(&k)),
                }
                prop_assert_eq!(map.len(), oracle.len());
            }
            for n in 0..300 {
                for remote in 0..3 {
                    for proto in [false, true] {
                        let k = key(n, remote, proto);
                        let got = match map.probe(&k) {
                            Probe::Found(i) => Some(map.value(i)),
                            Probe::Vacant(_) => None,
                        };
                        prop_assert_eq!(got, oracle.get(&k).copied());
                    }
                }
            }
        }
    }

    #[test]
    fn stays_at_most_half_full() {
        let mut map = KeyMap::default();
        for n in 0..5000 {
            let k = key(n, 0, true);
            let Probe::Vacant(i) = map.probe(&k) else {
                panic!("new key found")
            };
            map.insert(i, &k, 0);
            assert!(map.len() * 2 <= map.slots.len());
        }
        assert_eq!(map.slots.len(), 16384);
    }
}
