//! How a node's Linux kernel picks a NAT source port: OVS's `ct(nat(src=IP:lo-hi))` (ACI-CNI
//! SNAT) and iptables MASQUERADE / SNAT (Calico, kube-router) both end in nf_nat.
//!
//! Source: `net/netfilter/nf_nat_core.c` (mainline, read through a mirror of 6.17-rc3):
//! - `get_unique_tuple`: without `NF_NAT_RANGE_PROTO_RANDOM_ALL` (OVS's `nat(src=…)` sets
//!   neither `random` nor `hash`; iptables `--random-fully` sets RANDOM_FULLY) the original port
//!   is kept when it lies in the range and the translated tuple is unused.
//! - `nf_nat_l4proto_unique_tuple`: otherwise consecutive ports `min + off % range_size` from a
//!   random 16-bit offset (`get_random_u16`, `off` a u16 that wraps), `attempts` = min(range,
//!   128); when a round fails, `attempts /= 2` and a new random offset: rounds of 128, 64, 32,
//!   16 and 8 ports (248 tries), then it gives up and the packet is dropped at confirmation
//!   (`__nf_conntrack_confirm`, TCP has no `allow_clash`): the range refuses before it is full.
//!   Since commit a504b703bb1d "netfilter: nat: limit port clash resolution attempts" (mainline
//!   around 5.0, backported to 4.9/4.14/4.19 stable in 2022); before it, the whole range.
//! - Linux 6.5 (commit 4589725502871, "netfilter: snat: evict closing tcp entries on reply tuple
//!   collision"), `nf_nat_used_tuple_harder`: when at most `NF_NAT_HARDER_THRESH` = 32 attempts
//!   are left in a round, a new TCP connection (SYN_SENT) may kill the colliding SNAT entry if
//!   that one is in TIME_WAIT or later (`nf_nat_may_kill`) and the new SYN's sequence number is
//!   past the old connection's (`nf_seq_has_advanced`), and take its port.

use crate::net::Endpoint;

/// The kernel's bound on one round of the search (`NF_NAT_MAX_ATTEMPTS`).
pub const MAX_ATTEMPTS: u32 = 128;
/// Attempts left in a round from which a 6.5+ kernel may evict (`NF_NAT_HARDER_THRESH`).
pub const HARDER_THRESH: u32 = MAX_ATTEMPTS / 4;

/// How the port search behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortSearch {
    /// Linux before 6.5: the original port, else rounds of 128, 64, 32, 16, 8 consecutive
    /// ports from random offsets, then refuse.
    Bounded,
    /// Linux 6.5 and later: as `Bounded`, and a new TCP connection may take over a colliding
    /// TIME_WAIT entry whose sequence number it has passed, in a round's last 32 attempts.
    BoundedEvict,
    /// An ideal allocator: any free port of the range (first free from the start or the offset).
    /// Erlang-B's assumption; the model fabsim used before it followed the kernel.
    WholeRange,
    /// Not the kernel: Cilium's BPF masquerade (`bpf.masquerade=true`), `bpf/lib/nat.h`
    /// `snat_v4_new_mapping`: the original port if in range (`__snat_try_keep_port`, else a
    /// random one), then one more random port, then `port + 1` again and again, 128 probes in all
    /// (SNAT_COLLISION_RETRIES), each clamped as `val % (max − min) + min` — applied to a port
    /// number, so in 32768–65535 the "next" port is two further on; then the packet is dropped
    /// (DROP_NAT_NO_MAPPING).
    CiliumBpf,
}

impl PortSearch {
    /// The search a kernel version uses (`major.minor`, e.g. "5.15", "6.8").
    pub fn for_kernel(major: u32, minor: u32) -> PortSearch {
        if (major, minor) >= (6, 5) {
            PortSearch::BoundedEvict
        } else {
            PortSearch::Bounded
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            PortSearch::Bounded => {
                "Linux < 6.5: the original port if free, else at most 128 + 64 + 32 + 16 + 8 consecutive ports from random offsets, then refused (nf_nat_l4proto_unique_tuple)"
            }
            PortSearch::BoundedEvict => {
                "Linux ≥ 6.5: as before 6.5, and in a round's last 32 attempts a new TCP connection may evict a colliding TIME_WAIT entry whose sequence number it has passed (nf_nat_used_tuple_harder)"
            }
            PortSearch::WholeRange => "every port of the range is tried (an ideal allocator)",
            PortSearch::CiliumBpf => {
                "Cilium BPF masquerade: the original port, a random one, then port + 1 through its clamp — 128 probes, then dropped (snat_v4_new_mapping)"
            }
        }
    }
}

/// What the search needs to know about a port it tries.
pub enum Probe {
    Free,
    /// Held by a live connection (or one that cannot be evicted).
    Taken,
    /// Held by a TIME_WAIT entry: (the connection's slot, its original source).
    Closing(u32, Endpoint),
}

/// The outcome of a search.
pub enum Found {
    Port(u16),
    /// The port of a TIME_WAIT entry this connection evicts (the old connection's slot).
    Evicted(u16, u32),
    Refused,
}

/// `nf_nat_l4proto_unique_tuple` over `lo..=hi`. `draw` gives random 64-bit values (the kernel's
/// `get_random_u16`, and the coin of `nf_seq_has_advanced`); `probe` says what holds a port;
/// `evict_tcp`: a 6.5+ kernel and a new TCP connection from `src` (its original source).
pub fn unique_port(
    (lo, hi): (u16, u16),
    mut draw: impl FnMut() -> u64,
    probe: impl Fn(u16) -> Probe,
    evict_tcp: Option<Endpoint>,
) -> Found {
    let range_size = u32::from(hi - lo) + 1;
    let mut attempts = range_size.min(MAX_ATTEMPTS);
    let mut off = draw() as u16;
    loop {
        for i in 0..attempts {
            let port = lo + (u32::from(off) % range_size) as u16;
            off = off.wrapping_add(1);
            match probe(port) {
                Probe::Free => return Found::Port(port),
                Probe::Taken => {}
                Probe::Closing(slot, old_src) => {
                    if let Some(src) = evict_tcp
                        && attempts - i <= HARDER_THRESH
                        && seq_has_advanced(src, old_src, &mut draw)
                    {
                        return Found::Evicted(port, slot);
                    }
                }
            }
        }
        if attempts >= range_size || attempts < 16 {
            return Found::Refused;
        }
        attempts /= 2;
        off = draw() as u16;
    }
}

/// Cilium's BPF SNAT retries (`SNAT_COLLISION_RETRIES` with a large instruction limit).
pub const CILIUM_SNAT_RETRIES: u32 = 128;

/// `snat_v4_new_mapping`'s port choice over `lo..=hi` for a connection from source port `orig`.
pub fn cilium_bpf_port(
    (lo, hi): (u16, u16),
    orig: u16,
    mut draw: impl FnMut() -> u64,
    free: impl Fn(u16) -> bool,
) -> Option<u16> {
    // `__snat_clamp_port_range`: (val % (u16)(end − start)) + start.
    let span = hi - lo;
    let clamp = |v: u16| if span == 0 { lo } else { v % span + lo };
    let mut port = if (lo..=hi).contains(&orig) {
        orig
    } else {
        clamp(draw() as u16)
    };
    for retry in 0..CILIUM_SNAT_RETRIES {
        if free(port) {
            return Some(port);
        }
        port = if retry == 0 {
            clamp(draw() as u16)
        } else {
            clamp(port.wrapping_add(1))
        };
    }
    None
}

/// `nf_seq_has_advanced`: the new SYN's sequence number against the old connection's last one.
/// Linux's ISN (`secure_tcp_seq`) is a keyed hash of the 4-tuple plus a 64 ns clock: for the
/// same original 4-tuple the clock has moved on (advanced); for another one the keyed hashes are
/// unrelated, so the sign of the 32-bit difference is a coin flip. Approximation: the old
/// connection's bytes sent are taken as small against the clock's advance.
fn seq_has_advanced(new_src: Endpoint, old_src: Endpoint, draw: &mut impl FnMut() -> u64) -> bool {
    new_src == old_src || draw() & 1 == 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// The sequence of offsets handed to the search.
    fn draws(values: &[u64]) -> impl FnMut() -> u64 + '_ {
        let i = Cell::new(0);
        move || {
            let v = values[i.get() % values.len()];
            i.set(i.get() + 1);
            v
        }
    }

    #[test]
    fn rounds_of_128_64_32_16_8_then_refused() {
        // Every port taken: count the probes. 248 = 128 + 64 + 32 + 16 + 8 (the commit message).
        let probes = Cell::new(0);
        let f = unique_port(
            (5000, 7999),
            draws(&[0, 100, 200, 300, 400]),
            |_| {
                probes.set(probes.get() + 1);
                Probe::Taken
            },
            None,
        );
        assert!(matches!(f, Found::Refused));
        assert_eq!(probes.get(), 248);
    }

    #[test]
    fn consecutive_ports_from_the_offset_wrapping_in_the_range() {
        // Range 5000–7999 (3000 ports), offset 2998: 7998, 7999, then 5000 (2998 + 2 = 3000 ≡ 0).
        let f = unique_port(
            (5000, 7999),
            draws(&[2998]),
            |p| if p == 5000 { Probe::Free } else { Probe::Taken },
            None,
        );
        assert!(matches!(f, Found::Port(5000)));
    }

    #[test]
    fn a_small_range_gets_one_round_over_all_of_it() {
        // 40 ports ≤ 128: one round of 40 attempts, then refused (attempts >= range_size).
        let probes = Cell::new(0);
        let f = unique_port(
            (5000, 5039),
            draws(&[7]),
            |_| {
                probes.set(probes.get() + 1);
                Probe::Taken
            },
            None,
        );
        assert!(matches!(f, Found::Refused));
        assert_eq!(probes.get(), 40);
    }

    #[test]
    fn cilium_bpf_probes_original_random_then_consecutive() {
        // Range 32768–65535 (span 32767). Original 40000 taken; the random draw 5 clamps to
        // 32773; then `clamp(port + 1)` = (32774 % 32767) + 32768 = 32775: the clamp is applied
        // to a port number, not an offset, so the "next" probes step by 2. 128 probes in all.
        let probed = std::cell::RefCell::new(Vec::new());
        let got = cilium_bpf_port((32768, 65535), 40000, draws(&[5]), |p| {
            probed.borrow_mut().push(p);
            false
        });
        assert_eq!(got, None);
        let probed = probed.into_inner();
        assert_eq!(probed.len(), 128);
        assert_eq!(&probed[..4], &[40000, 32773, 32775, 32777]);
        // A free original port is kept.
        assert_eq!(
            cilium_bpf_port((32768, 65535), 40000, draws(&[5]), |_| true),
            Some(40000)
        );
    }

    #[test]
    fn eviction_only_in_the_last_32_attempts_of_a_round() {
        // Every port in TIME_WAIT, the coin always heads: the first eviction happens at the
        // 97th probe of the 128 round (attempts left 128 − 96 = 32).
        let probes = Cell::new(0);
        let src = Endpoint::new(std::net::Ipv4Addr::new(10, 33, 0, 2), 40000);
        let other = Endpoint::new(std::net::Ipv4Addr::new(10, 33, 0, 3), 40000);
        let f = unique_port(
            (5000, 7999),
            draws(&[0, 1]),
            |_| {
                probes.set(probes.get() + 1);
                Probe::Closing(9, other)
            },
            Some(src),
        );
        // Offset 0: ports 5000, 5001, … the 97th probe is 5096.
        assert!(matches!(f, Found::Evicted(5096, 9)));
        assert_eq!(probes.get(), 97);
        // Without eviction (kernel < 6.5) the same table refuses.
        let f = unique_port(
            (5000, 7999),
            draws(&[0]),
            |_| Probe::Closing(9, other),
            None,
        );
        assert!(matches!(f, Found::Refused));
    }
}
