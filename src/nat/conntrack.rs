//! A NAT table: source-port choice with uniqueness on the whole 5-tuple, as Linux's nf_nat does.
//!
//! Rule (nf_nat_core.c `get_unique_tuple`): keep the original source port if it lies in the
//! allowed range and the translated tuple is unused; otherwise take the first unused port of the
//! range counting up from its start (no random offset: OVS's `nat(src=ip:lo-hi)` without
//! `random`). Approximation: the kernel gives up after a bounded number of attempts; we search
//! the whole range, so a refusal here means the range is truly full for that destination.

use super::ports::PortSet;
use crate::net::{Endpoint, Flow, Proto};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::Ipv4Addr;

/// The part of a translated tuple that must be unique together with the source port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NatKey {
    pub proto: Proto,
    pub nat_ip: Ipv4Addr,
    pub remote: Endpoint,
}

/// FNV-1a: a fixed, fast hasher, so the table behaves the same in every run. The table is never
/// iterated into output (only summed), so its hash order cannot leak into results.
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
        self.0 = h;
    }
}

/// Ports in use per (protocol, NAT IP, remote endpoint). Entries stay once created (empty sets
/// keep their storage), so steady-state traffic does not allocate.
#[derive(Clone, Debug, Default)]
pub struct NatTable {
    used: HashMap<NatKey, PortSet, BuildHasherDefault<Fnv>>,
    /// The seed talk's sizing rule: one port per connection whatever the destination (ports are
    /// unique per NAT IP only). Off: the kernel's uniqueness on the whole 5-tuple.
    strict: bool,
}

impl NatTable {
    /// A table with the talk's strict accounting (see the field).
    pub fn strict() -> Self {
        NatTable {
            strict: true,
            ..NatTable::default()
        }
    }

    fn key(&self, proto: Proto, nat_ip: Ipv4Addr, remote: Endpoint) -> NatKey {
        let remote = if self.strict {
            Endpoint::new(Ipv4Addr::UNSPECIFIED, 0)
        } else {
            remote
        };
        NatKey {
            proto,
            nat_ip,
            remote,
        }
    }

    /// Chooses and reserves a source port in `lo..=hi` for `flow` translated to `nat_ip`.
    /// `None` when every port of the range is in use towards that destination.
    pub fn allocate(&mut self, flow: &Flow, nat_ip: Ipv4Addr, lo: u16, hi: u16) -> Option<u16> {
        let key = self.key(flow.proto, nat_ip, flow.dst);
        let used = self.used.entry(key).or_default();
        let orig = flow.src.port;
        let port = if (lo..=hi).contains(&orig) && !used.contains(orig) {
            orig
        } else {
            used.first_free(lo, hi)?
        };
        used.insert(port);
        Some(port)
    }

    /// Like [`NatTable::allocate`], but the search starts at `offset` into the range and wraps
    /// (Linux masquerade searches from a random offset; callers pass a flow-derived one). With
    /// `random_fully` (iptables `--random-fully`, NF_NAT_RANGE_PROTO_RANDOM_FULLY) the original
    /// port is not tried first: the kernel skips that step for the RANDOM_ALL flags.
    pub fn allocate_from(
        &mut self,
        flow: &Flow,
        nat_ip: Ipv4Addr,
        (lo, hi): (u16, u16),
        offset: u32,
        random_fully: bool,
    ) -> Option<u16> {
        let key = self.key(flow.proto, nat_ip, flow.dst);
        let used = self.used.entry(key).or_default();
        let orig = flow.src.port;
        let span = u32::from(hi - lo) + 1;
        let port = if !random_fully && (lo..=hi).contains(&orig) && !used.contains(orig) {
            orig
        } else {
            used.first_free_from(lo, hi, lo + (offset % span) as u16)?
        };
        used.insert(port);
        Some(port)
    }

    /// Frees a port (after TIME_WAIT, in the engine).
    pub fn release(&mut self, proto: Proto, nat_ip: Ipv4Addr, remote: Endpoint, port: u16) {
        let key = self.key(proto, nat_ip, remote);
        if let Some(set) = self.used.get_mut(&key) {
            set.remove(port);
        }
    }

    pub fn in_use(&self) -> usize {
        self.used.values().map(PortSet::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(sport: u16, dst: [u8; 4], dport: u16) -> Flow {
        Flow {
            proto: Proto::Tcp,
            src: Endpoint::new(Ipv4Addr::new(10, 33, 0, 2), sport),
            dst: Endpoint::new(Ipv4Addr::from(dst), dport),
        }
    }

    #[test]
    fn a_port_is_reused_across_destinations_but_not_towards_one() {
        let snat = Ipv4Addr::new(10, 20, 30, 1);
        let mut t = NatTable::default();
        // Original port 40000 is outside the chunk: the first free port of the chunk is taken.
        assert_eq!(
            t.allocate(&flow(40000, [1, 1, 1, 1], 443), snat, 5000, 5002),
            Some(5000)
        );
        assert_eq!(
            t.allocate(&flow(40001, [1, 1, 1, 1], 443), snat, 5000, 5002),
            Some(5001)
        );
        // Another destination: port 5000 is free again for that 5-tuple.
        assert_eq!(
            t.allocate(&flow(40000, [8, 8, 8, 8], 443), snat, 5000, 5002),
            Some(5000)
        );
        // An original port inside the range is kept.
        assert_eq!(
            t.allocate(&flow(5002, [1, 1, 1, 1], 443), snat, 5000, 5002),
            Some(5002)
        );
        // The range is full towards 1.1.1.1:443.
        assert_eq!(
            t.allocate(&flow(40002, [1, 1, 1, 1], 443), snat, 5000, 5002),
            None
        );
        t.release(
            Proto::Tcp,
            snat,
            Endpoint::new(Ipv4Addr::new(1, 1, 1, 1), 443),
            5001,
        );
        assert_eq!(
            t.allocate(&flow(40003, [1, 1, 1, 1], 443), snat, 5000, 5002),
            Some(5001)
        );
        assert_eq!(t.in_use(), 4);
    }
}
