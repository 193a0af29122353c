//! A NAT table: source-port choice with uniqueness on the whole 5-tuple, as Linux's nf_nat does.
//!
//! The search itself follows the node's kernel (`nat::kernel`): keep the original port if it lies
//! in the allowed range and the translated tuple is unused (not with `--random-fully`); otherwise
//! the kernel's bounded search from random offsets, or, as a setting, the whole range.
//! A 6.5+ kernel may evict a TIME_WAIT entry: the table then remembers which ports are closing
//! and reports the evicted connection to the engine ([`NatTable::take_evicted`]).

use super::kernel::{Found, PortSearch, Probe, cilium_bpf_port, unique_port};
use super::key_map::{self, KeyMap};
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
    /// Per key its one port in place, or its set in `sets` ([`Held`], packed): 16 bytes an
    /// entry where a set in place took 48, one cache line read per look-up.
    used: KeyMap,
    /// The sets of keys with more than one port in use (or a set on the heap), and the free
    /// places among them.
    sets: Vec<PortSet>,
    free_sets: Vec<u32>,
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

/// A key's ports: one in place (most keys: a masquerade towards one backend pod holds one
/// connection at a time), or a set of [`NatTable::sets`].
#[derive(Clone, Copy, Debug)]
enum Held {
    One(u16),
    Set(u32),
}

/// A set's index has the top bit set in a packed [`Held`].
const SET_BIT: u32 = 1 << 31;

impl Held {
    fn pack(self) -> u32 {
        match self {
            Held::One(p) => u32::from(p),
            // Below 2^31 sets: each holds more than one port of a key, and there are 2^16
            // ports per (NAT IP, remote) key — far beyond memory before the bit is reached.
            Held::Set(i) => SET_BIT | i,
        }
    }

    fn unpack(v: u32) -> Held {
        if v & SET_BIT != 0 {
            Held::Set(v & !SET_BIT)
        } else {
            Held::One(v as u16)
        }
    }
}

/// What a search decided.
enum Chosen {
    /// A free port, to be marked in use.
    Port(u16),
    /// A port taken over from a TIME_WAIT entry (it stays in use, now by the new connection),
    /// and the slot of the connection that held it.
    Evicted(u16, u32),
}

impl Default for NatTable {
    fn default() -> Self {
        NatTable::new(PortSearch::WholeRange, false)
    }
}

impl NatTable {
    pub fn new(search: PortSearch, strict: bool) -> Self {
        NatTable {
            used: KeyMap::default(),
            sets: Vec::new(),
            free_sets: Vec::new(),
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
        range: (u16, u16),
        offset: u32,
        random_fully: bool,
    ) -> Option<u16> {
        self.evicted = None;
        let key = self.key(flow.proto, nat_ip, flow.dst);
        let NatTable {
            used,
            sets,
            free_sets,
            search,
            closing,
            draws: counter,
            ..
        } = self;
        // One probe of the table: the search reads the key's ports, the slot then takes the
        // chosen one.
        let probe = used.probe(&key);
        let one;
        let held: &PortSet = match probe {
            key_map::Probe::Vacant(_) => &EMPTY,
            key_map::Probe::Found(i) => match Held::unpack(used.value(i)) {
                Held::One(p) => {
                    one = PortSet::of(p);
                    &one
                }
                Held::Set(i) => &sets[i as usize],
            },
        };
        let chosen = choose(
            *search,
            counter,
            closing,
            key,
            held,
            flow,
            nat_ip,
            range,
            offset,
            random_fully,
        )?;
        let port = match chosen {
            Chosen::Port(p) => p,
            Chosen::Evicted(p, slot) => {
                self.closing.remove(&(key, p));
                self.evicted = Some(slot);
                self.evictions += 1;
                return Some(p);
            }
        };
        let added = match probe {
            key_map::Probe::Vacant(v) => {
                used.insert(v, &key, Held::One(port).pack());
                true
            }
            key_map::Probe::Found(at) => match Held::unpack(used.value(at)) {
                Held::One(p) if p == port => false,
                Held::One(p) => {
                    let mut set = PortSet::of(p);
                    set.insert(port);
                    let i = match free_sets.pop() {
                        Some(i) => {
                            sets[i as usize] = set;
                            i
                        }
                        None => {
                            sets.push(set);
                            sets.len() as u32 - 1
                        }
                    };
                    used.set_value(at, Held::Set(i).pack());
                    true
                }
                Held::Set(i) => sets[i as usize].insert(port),
            },
        };
        self.in_use += usize::from(added);
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
        if let key_map::Probe::Found(at) = self.used.probe(&key) {
            match Held::unpack(self.used.value(at)) {
                Held::One(p) if p == port => {
                    self.used.remove(at);
                    self.in_use -= 1;
                }
                Held::One(_) => {}
                Held::Set(i) => {
                    let set = &mut self.sets[i as usize];
                    self.in_use -= usize::from(set.remove(port));
                    if set.is_empty_inline() {
                        self.used.remove(at);
                        self.free_sets.push(i);
                    }
                }
            }
        }
        if !self.closing.is_empty() {
            self.closing.remove(&(key, port));
        }
    }

    /// Starts fetching what [`NatTable::release`] of the same arguments reads (see
    /// `KeyMap::touch`).
    pub fn touch_release(&self, proto: Proto, nat_ip: Ipv4Addr, remote: Endpoint) {
        self.used.touch(&self.key(proto, nat_ip, remote));
    }

    /// Ports in use: a running count (the sum over every key's set, kept as they change).
    pub fn in_use(&self) -> usize {
        self.in_use
    }
}

/// No port in use (a key not in the table).
static EMPTY: PortSet = PortSet::EMPTY;

/// The port for `flow` among `held` (the ports in use towards its key), as the node's kernel
/// searches: the original port if free (not with `random_fully`), else the search; `None`
/// when it finds none.
// Long argument list: the table's fields the search reads, apart from the key map, whose probed
// slot takes the chosen port afterwards.
#[allow(clippy::too_many_arguments)]
fn choose(
    search: PortSearch,
    counter: &mut u64,
    closing: &FxHashMap<(NatKey, u16), (u32, Endpoint)>,
    key: NatKey,
    held: &PortSet,
    flow: &Flow,
    nat_ip: Ipv4Addr,
    (lo, hi): (u16, u16),
    offset: u32,
    random_fully: bool,
) -> Option<Chosen> {
    let orig = flow.src.port;
    if search == PortSearch::CiliumBpf {
        let draw = draws(counter, flow_seed(flow, nat_ip));
        return cilium_bpf_port((lo, hi), orig, draw, |p| !held.contains(p)).map(Chosen::Port);
    }
    if !random_fully && (lo..=hi).contains(&orig) && !held.contains(orig) {
        return Some(Chosen::Port(orig));
    }
    match search {
        PortSearch::WholeRange | PortSearch::CiliumBpf => {
            let span = u32::from(hi - lo) + 1;
            held.first_free_from(lo, hi, lo + (offset % span) as u16)
                .map(Chosen::Port)
        }
        search => {
            let draw = draws(counter, flow_seed(flow, nat_ip));
            let evict = (search == PortSearch::BoundedEvict && flow.proto == Proto::Tcp)
                .then_some(flow.src);
            let found = unique_port(
                (lo, hi),
                draw,
                |p| {
                    if !held.contains(p) {
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
                Found::Port(p) => Some(Chosen::Port(p)),
                Found::Evicted(p, slot) => Some(Chosen::Evicted(p, slot)),
                Found::Refused => None,
            }
        }
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

    proptest::proptest! {
        /// Allocations and releases over a few keys against a set of (key, port) in use: the
        /// whole-range search gives the first port free from the offset (wrapping), the
        /// original port when it is free and in range, nothing when the range is full; the
        /// count in use is the set's size.
        #[test]
        fn whole_range_matches_a_set_of_ports_in_use(
            ops in proptest::collection::vec((0u8..3, 0u16..12, proptest::bool::ANY, 0u32..8), 1..300)
        ) {
            use proptest::prelude::prop_assert_eq;
            let nat = Ipv4Addr::new(10, 20, 30, 1);
            let (lo, hi) = (5000u16, 5007u16);
            let mut t = NatTable::default();
            let mut oracle = std::collections::BTreeSet::new();
            for (dst, sport, alloc, offset) in ops {
                let f = flow(4998 + sport, [1, 1, 1, dst], 443);
                if alloc {
                    let free = |p: &u16| !oracle.contains(&(dst, *p));
                    let expect = if (lo..=hi).contains(&f.src.port) && free(&f.src.port) {
                        Some(f.src.port)
                    } else {
                        let start = lo + (offset % 8) as u16;
                        (start..=hi).chain(lo..start).find(free)
                    };
                    prop_assert_eq!(t.allocate(&f, nat, (lo, hi), offset, false), expect);
                    if let Some(p) = expect {
                        oracle.insert((dst, p));
                    }
                } else {
                    let p = lo + sport % 8;
                    t.release(Proto::Tcp, nat, f.dst, p);
                    oracle.remove(&(dst, p));
                }
                prop_assert_eq!(t.in_use(), oracle.len());
            }
        }
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
