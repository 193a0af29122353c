//! A NAT table: source-port choice with uniqueness on the whole 5-tuple, as Linux's nf_nat does.
//!
//! The search itself follows the node's kernel (`nat::kernel`): keep the original port if it lies
//! in the allowed range and the translated tuple is unused (not with `--random-fully`); otherwise
//! the kernel's bounded search from random offsets, or, as a setting, the whole range.
//! A 6.5+ kernel may evict a TIME_WAIT entry: the table then remembers which ports are closing
//! and reports the evicted connection to the engine ([`NatTable::take_evicted`]).

use super::kernel::{Found, PortSearch, Probe, cilium_bpf_port, unique_port};
use super::ports::PortSet;
use crate::net::hash::mix64;
use crate::net::{Endpoint, Flow, Proto};
// A fixed hasher (no per-process seed: every run the same) that hashes a word at a time; the
// tables are looked up per connection and never iterated into output.
use rustc_hash::FxHashMap;
use std::net::Ipv4Addr;

/// The part of a translated tuple that must be unique together with the source port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NatKey {
    pub proto: Proto,
    pub nat_ip: Ipv4Addr,
    pub remote: Endpoint,
}

/// Ports in use per (protocol, NAT IP, remote endpoint). A key whose last port is freed leaves the
/// table when its set holds no heap storage (a masquerade towards one backend pod: most keys), so
/// the table holds the live keys, not every key ever used; a set that grew onto the heap stays
/// with its storage. Either way steady-state traffic does not allocate.
#[derive(Clone, Debug)]
pub struct NatTable {
    used: FxHashMap<NatKey, PortSet>,
    /// The seed talk's sizing rule: one port per connection whatever the destination (ports are
    /// unique per NAT IP only). Off: the kernel's uniqueness on the whole 5-tuple.
    strict: bool,
    search: PortSearch,
    /// TCP ports in TIME_WAIT that a 6.5+ kernel may take over: the connection's slot and its
    /// original source (only kept for [`PortSearch::BoundedEvict`]).
    closing: FxHashMap<(NatKey, u16), (u32, Endpoint)>,
    /// Draws so far: each random value is a hash of the flow and this counter.
    draws: u64,
    evicted: Option<u32>,
    /// TIME_WAIT entries taken over by new connections.
    pub evictions: u64,
    /// Ports in use over every key.
    in_use: usize,
}

impl Default for NatTable {
    fn default() -> Self {
        NatTable::new(PortSearch::WholeRange, false)
    }
}

impl NatTable {
    pub fn new(search: PortSearch, strict: bool) -> Self {
        NatTable {
            used: FxHashMap::default(),
            strict,
            search,
            closing: FxHashMap::default(),
            draws: 0,
            evicted: None,
            evictions: 0,
            in_use: 0,
        }
    }

    /// A table with the talk's strict accounting (see the field).
    pub fn strict() -> Self {
        NatTable::new(PortSearch::WholeRange, true)
    }

    pub fn search(&self) -> PortSearch {
        self.search
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
    /// `random_fully` (iptables `--random-fully`) skips keeping the original port. `offset`
    /// places the start of a whole-range search (0: first free from `lo`). `None` when the
    /// search finds no port (the kernel drops the SYN).
    pub fn allocate(
        &mut self,
        flow: &Flow,
        nat_ip: Ipv4Addr,
        (lo, hi): (u16, u16),
        offset: u32,
        random_fully: bool,
    ) -> Option<u16> {
        self.evicted = None;
        let key = self.key(flow.proto, nat_ip, flow.dst);
        let used = self.used.entry(key).or_default();
        let orig = flow.src.port;
        if self.search == PortSearch::CiliumBpf {
            let draw = draws(&mut self.draws, flow_seed(flow, nat_ip));
            let port = cilium_bpf_port((lo, hi), orig, draw, |p| !used.contains(p))?;
            self.in_use += usize::from(used.insert(port));
            return Some(port);
        }
        if !random_fully && (lo..=hi).contains(&orig) && !used.contains(orig) {
            self.in_use += usize::from(used.insert(orig));
            return Some(orig);
        }
        let port = match self.search {
            PortSearch::WholeRange | PortSearch::CiliumBpf => {
                let span = u32::from(hi - lo) + 1;
                used.first_free_from(lo, hi, lo + (offset % span) as u16)?
            }
            search => {
                let draw = draws(&mut self.draws, flow_seed(flow, nat_ip));
                let closing = &self.closing;
                let evict = (search == PortSearch::BoundedEvict && flow.proto == Proto::Tcp)
                    .then_some(flow.src);
                let found = unique_port(
                    (lo, hi),
                    draw,
                    |p| {
                        if !used.contains(p) {
                            Probe::Free
                        } else if let Some((slot, src)) = closing.get(&(key, p)) {
                            Probe::Closing(*slot, *src)
                        } else {
                            Probe::Taken
                        }
                    },
                    evict,
                );
                match found {
                    Found::Port(p) => p,
                    Found::Evicted(p, slot) => {
                        self.closing.remove(&(key, p));
                        self.evicted = Some(slot);
                        self.evictions += 1;
                        return Some(p); // the port stays in use, now by this connection
                    }
                    Found::Refused => return None,
                }
            }
        };
        self.in_use += usize::from(used.insert(port));
        Some(port)
    }

    /// A TCP connection holding `port` closed: its entry sits in TIME_WAIT (evictable by a 6.5+
    /// kernel) until [`NatTable::release`]. `slot` names the connection for the engine.
    pub fn closing(
        &mut self,
        nat_ip: Ipv4Addr,
        remote: Endpoint,
        port: u16,
        slot: u32,
        src: Endpoint,
    ) {
        if self.search == PortSearch::BoundedEvict {
            let key = self.key(Proto::Tcp, nat_ip, remote);
            self.closing.insert((key, port), (slot, src));
        }
    }

    /// The connection whose TIME_WAIT entry the last [`NatTable::allocate`] evicted.
    pub fn take_evicted(&mut self) -> Option<u32> {
        self.evicted.take()
    }

    /// Frees a port (after TIME_WAIT, in the engine).
    pub fn release(&mut self, proto: Proto, nat_ip: Ipv4Addr, remote: Endpoint, port: u16) {
        let key = self.key(proto, nat_ip, remote);
        // One probe for the look-up and the removal.
        if let std::collections::hash_map::Entry::Occupied(mut e) = self.used.entry(key) {
            self.in_use -= usize::from(e.get_mut().remove(port));
            if e.get().is_empty_inline() {
                e.remove();
            }
        }
        if !self.closing.is_empty() {
            self.closing.remove(&(key, port));
        }
    }

    /// Ports in use: a running count (the sum over every key's set, kept as they change).
    pub fn in_use(&self) -> usize {
        self.in_use
    }
}

/// The table's random draws for one search: hashes of the flow's seed and a running counter
/// (the kernel draws afresh for every connection; this stays deterministic).
fn draws(counter: &mut u64, seed: u64) -> impl FnMut() -> u64 + '_ {
    move || {
        *counter += 1;
        mix64(seed ^ counter.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
}

/// A per-flow seed for the random draws (the kernel's are independent per connection).
fn flow_seed(flow: &Flow, nat_ip: Ipv4Addr) -> u64 {
    let a = u64::from(u32::from(flow.src.ip)) << 16 | u64::from(flow.src.port);
    let b = u64::from(u32::from(flow.dst.ip)) << 16 | u64::from(flow.dst.port);
    mix64(a ^ mix64(b ^ u64::from(u32::from(nat_ip)) << 1))
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
            t.allocate(
                &flow(40000, [1, 1, 1, 1], 443),
                snat,
                (5000, 5002),
                0,
                false
            ),
            Some(5000)
        );
        assert_eq!(
            t.allocate(
                &flow(40001, [1, 1, 1, 1], 443),
                snat,
                (5000, 5002),
                0,
                false
            ),
            Some(5001)
        );
        // Another destination: port 5000 is free again for that 5-tuple.
        assert_eq!(
            t.allocate(
                &flow(40000, [8, 8, 8, 8], 443),
                snat,
                (5000, 5002),
                0,
                false
            ),
            Some(5000)
        );
        // An original port inside the range is kept.
        assert_eq!(
            t.allocate(&flow(5002, [1, 1, 1, 1], 443), snat, (5000, 5002), 0, false),
            Some(5002)
        );
        // The range is full towards 1.1.1.1:443.
        assert_eq!(
            t.allocate(
                &flow(40002, [1, 1, 1, 1], 443),
                snat,
                (5000, 5002),
                0,
                false
            ),
            None
        );
        t.release(
            Proto::Tcp,
            snat,
            Endpoint::new(Ipv4Addr::new(1, 1, 1, 1), 443),
            5001,
        );
        assert_eq!(
            t.allocate(
                &flow(40003, [1, 1, 1, 1], 443),
                snat,
                (5000, 5002),
                0,
                false
            ),
            Some(5001)
        );
        assert_eq!(t.in_use(), 4);
    }

    #[test]
    fn a_key_whose_last_port_is_freed_leaves_the_table() {
        // A masquerade towards many backends: one key per remote, each with one port.
        let nat = Ipv4Addr::new(10, 32, 0, 5);
        let mut t = NatTable::default();
        let mut held = Vec::new();
        for k in 0..1000u16 {
            let f = flow(40000 + k, [10, 64, (k >> 8) as u8, k as u8], 443);
            let port = t.allocate(&f, nat, (1, 65535), 0, false).unwrap();
            held.push((f.dst, port));
        }
        assert_eq!((t.used.len(), t.in_use()), (1000, 1000));
        for (remote, port) in held {
            t.release(Proto::Tcp, nat, remote, port);
        }
        assert_eq!((t.used.len(), t.in_use()), (0, 0));
    }
}
