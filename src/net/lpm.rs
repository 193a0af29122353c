//! Longest-prefix-match tables: a prefix trie (`prefix-trie`) holds the prefixes, and the
//! look-up the data plane does per packet reads a flat copy of it — the address space cut into
//! intervals that each have one answer, searched by bisection — built on the first look-up after
//! a change. A linear scan is kept as the oracle both are tested against.

use ipnet::Ipv4Net;
use prefix_trie::PrefixMap;
use std::net::Ipv4Addr;
use std::sync::OnceLock;

/// An LPM table from IPv4 prefixes to values.
#[derive(Clone, Debug)]
pub struct LpmTable<V> {
    /// Prefix → index into `entries`.
    map: PrefixMap<Ipv4Net, usize>,
    entries: Vec<(Ipv4Net, V)>,
    /// The look-up's flat copy, built on demand and dropped by any change.
    flat: OnceLock<Flat>,
}

/// The address space as intervals: `starts[k]` begins interval `k` (`starts[0]` is 0), whose
/// answer is `entries[answer[k]]`, or none for [`Flat::NONE`]. Neighbours differ in answer.
/// `by_16[o]` is the first interval starting at or after the /16 `o` (`o` the address's top
/// 16 bits; `by_16[65536]` the count): a look-up bisects only the intervals starting in its
/// /16 — one step for an address in a /16 no prefix cuts (256 KB, of which a look-up reads
/// one entry pair).
#[derive(Clone, Debug, Default)]
struct Flat {
    starts: Vec<u32>,
    answer: Vec<u32>,
    by_16: Vec<u32>,
}

impl Flat {
    const NONE: u32 = u32::MAX;

    /// Cuts the space at every prefix's first and one-past-last address; each piece's answer is
    /// the trie's longest match for its first address (every address of a piece has the same
    /// prefixes over it, so the same longest one).
    fn build(map: &PrefixMap<Ipv4Net, usize>) -> Flat {
        let mut cuts: Vec<u64> = vec![0];
        for (p, _) in map.iter() {
            cuts.push(u64::from(u32::from(p.network())));
            cuts.push(u64::from(u32::from(p.broadcast())) + 1);
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut flat = Flat::default();
        for c in cuts.into_iter().filter(|c| *c <= u64::from(u32::MAX)) {
            let at = c as u32;
            let host = Ipv4Net::new(Ipv4Addr::from(at), 32).expect("/32 is valid");
            let answer = map.get_lpm(&host).map_or(Flat::NONE, |(_, i)| *i as u32);
            if flat.answer.last() != Some(&answer) {
                flat.starts.push(at);
                flat.answer.push(answer);
            }
        }
        let mut k = 0;
        flat.by_16 = (0..=65536u64)
            .map(|o| {
                while k < flat.starts.len() && u64::from(flat.starts[k]) < o << 16 {
                    k += 1;
                }
                k as u32
            })
            .collect();
        flat
    }

    fn find(&self, ip: Ipv4Addr) -> Option<usize> {
        let ip = u32::from(ip);
        let top = (ip >> 16) as usize;
        let (from, to) = (self.by_16[top] as usize, self.by_16[top + 1] as usize);
        // The last interval starting at or before `ip`: in the /16's run, else the one before
        // it (`starts[0]` is 0, so there is one).
        let k = from + self.starts[from..to].partition_point(|s| *s <= ip) - 1;
        let a = self.answer[k];
        (a != Flat::NONE).then_some(a as usize)
    }
}

impl<V> Default for LpmTable<V> {
    fn default() -> Self {
        LpmTable {
            map: PrefixMap::new(),
            entries: Vec::new(),
            flat: OnceLock::new(),
        }
    }
}

impl<V> LpmTable<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces the value of `prefix` (host bits are cleared first).
    pub fn insert(&mut self, prefix: Ipv4Net, value: V) -> Option<V> {
        let p = prefix.trunc();
        if let Some(&i) = self.map.get(&p) {
            return Some(std::mem::replace(&mut self.entries[i].1, value));
        }
        self.map.insert(p, self.entries.len());
        self.entries.push((p, value));
        self.flat = OnceLock::new();
        None
    }

    pub fn get_exact(&self, prefix: &Ipv4Net) -> Option<&V> {
        self.map.get(&prefix.trunc()).map(|i| &self.entries[*i].1)
    }

    /// The most specific prefix holding `ip`, with its value.
    pub fn lookup(&self, ip: Ipv4Addr) -> Option<(Ipv4Net, &V)> {
        let i = self.flat.get_or_init(|| Flat::build(&self.map)).find(ip)?;
        let (p, v) = &self.entries[i];
        Some((*p, v))
    }

    /// The prefixes in prefix order, with their values.
    pub fn iter(&self) -> impl Iterator<Item = (Ipv4Net, &V)> {
        self.map.iter().map(|(p, i)| (p, &self.entries[*i].1))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The obvious implementation: scan every prefix, keep the longest that contains the address.
/// It is the oracle for [`LpmTable`] in tests and the baseline in the benchmark.
#[derive(Clone, Debug, Default)]
pub struct LinearLpm<V> {
    entries: Vec<(Ipv4Net, V)>,
}

impl<V> LinearLpm<V> {
    pub fn insert(&mut self, prefix: Ipv4Net, value: V) {
        let p = prefix.trunc();
        self.entries.retain(|(q, _)| *q != p);
        self.entries.push((p, value));
    }

    pub fn lookup(&self, ip: Ipv4Addr) -> Option<(Ipv4Net, &V)> {
        self.entries
            .iter()
            .filter(|(p, _)| p.contains(&ip))
            .max_by_key(|(p, _)| p.prefix_len())
            .map(|(p, v)| (*p, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn most_specific_wins_as_on_the_lpm_slides() {
        // Seed, "Service Graphs and PBR": the client 192.168.100.1 falls in the default extEPG
        // (0.0.0.0/0) while the service IP 10.34.0.5 matches its /32 external EPG.
        let mut t = LpmTable::new();
        t.insert(net("0.0.0.0/0"), "default_extepg");
        t.insert(net("10.34.0.5/32"), "svc_x_extepg");
        assert_eq!(
            t.lookup("192.168.100.1".parse().unwrap()).unwrap().1,
            &"default_extepg"
        );
        assert_eq!(
            t.lookup("10.34.0.5".parse().unwrap()).unwrap().1,
            &"svc_x_extepg"
        );
        assert_eq!(
            t.lookup("10.34.0.6".parse().unwrap()).unwrap().1,
            &"default_extepg"
        );
    }

    proptest! {
        #[test]
        fn trie_agrees_with_linear_scan(
            prefixes in prop::collection::vec((any::<u32>(), 0u8..=32), 0..200),
            probes in prop::collection::vec(any::<u32>(), 1..60),
        ) {
            let mut trie = LpmTable::new();
            let mut lin = LinearLpm::default();
            for (i, (addr, len)) in prefixes.iter().enumerate() {
                let p = Ipv4Net::new(Ipv4Addr::from(*addr), *len).unwrap();
                trie.insert(p, i);
                lin.insert(p, i);
                // A look-up between inserts: the flat copy must follow every change.
                let ip = Ipv4Addr::from(*addr);
                prop_assert_eq!(trie.lookup(ip).map(|(p, v)| (p, *v)), lin.lookup(ip).map(|(p, v)| (p, *v)));
            }
            // Probe random addresses and the prefixes' own addresses (where the answers are interesting).
            // And both ends of the space, the edges of every /8, and those of each prefix's /16.
            let own = prefixes.iter().map(|(a, _)| *a);
            let octets = (0..=255u32).flat_map(|o| [o << 24, (o << 24) | 0x00ff_ffff]);
            let sixteens = prefixes.iter().flat_map(|(a, _)| [a & 0xffff_0000, a | 0xffff]);
            let edges = octets.chain(sixteens);
            for a in probes.iter().copied().chain(own).chain([0, u32::MAX]).chain(edges) {
                let ip = Ipv4Addr::from(a);
                prop_assert_eq!(trie.lookup(ip).map(|(p, v)| (p, *v)), lin.lookup(ip).map(|(p, v)| (p, *v)));
            }
        }
    }
}
