//! Longest-prefix-match tables: a prefix trie (`prefix-trie`) for the data plane, and a linear
//! scan kept as the oracle the trie is tested against.

use ipnet::Ipv4Net;
use prefix_trie::PrefixMap;
use std::net::Ipv4Addr;

/// An LPM table from IPv4 prefixes to values.
#[derive(Clone, Debug)]
pub struct LpmTable<V> {
    map: PrefixMap<Ipv4Net, V>,
}

impl<V> Default for LpmTable<V> {
    fn default() -> Self {
        LpmTable {
            map: PrefixMap::new(),
        }
    }
}

impl<V> LpmTable<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces the value of `prefix` (host bits are cleared first).
    pub fn insert(&mut self, prefix: Ipv4Net, value: V) -> Option<V> {
        self.map.insert(prefix.trunc(), value)
    }

    pub fn get_exact(&self, prefix: &Ipv4Net) -> Option<&V> {
        self.map.get(&prefix.trunc())
    }

    /// The most specific prefix holding `ip`, with its value.
    pub fn lookup(&self, ip: Ipv4Addr) -> Option<(Ipv4Net, &V)> {
        let host = Ipv4Net::new(ip, 32).expect("/32 is valid");
        self.map.get_lpm(&host)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Ipv4Net, &V)> {
        self.map.iter()
    }

    pub fn len(&self) -> usize {
        self.map.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.map.iter().next().is_none()
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
            prefixes in prop::collection::vec((any::<u32>(), 0u8..=32), 0..60),
            probes in prop::collection::vec(any::<u32>(), 1..60),
        ) {
            let mut trie = LpmTable::new();
            let mut lin = LinearLpm::default();
            for (i, (addr, len)) in prefixes.iter().enumerate() {
                let p = Ipv4Net::new(Ipv4Addr::from(*addr), *len).unwrap();
                trie.insert(p, i);
                lin.insert(p, i);
            }
            // Probe random addresses and the prefixes' own addresses (where the answers are interesting).
            let own = prefixes.iter().map(|(a, _)| *a);
            for a in probes.iter().copied().chain(own) {
                let ip = Ipv4Addr::from(a);
                prop_assert_eq!(trie.lookup(ip).map(|(p, v)| (p, *v)), lin.lookup(ip).map(|(p, v)| (p, *v)));
            }
        }
    }
}
