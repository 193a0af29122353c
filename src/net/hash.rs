//! The data plane's hash functions. Every hash point takes a salt (the device or group it runs
//! on), so that two consecutive hash decisions are not polarised.
//!
//! Invariant: pure functions of their inputs, identical on every platform and run; no
//! `RandomState`, no process-specific seed.

use super::{Endpoint, Flow, Proto};
use std::net::Ipv4Addr;

/// The splitmix64 finaliser: a fast, well-mixed 64-bit permutation.
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn combine(h: u64, v: u64) -> u64 {
    mix64(h ^ v.wrapping_mul(0x2545_F491_4F6C_DD1D))
}

/// A salt from a name ("leaf:101", "pbr:kube_svc_shop_web"), FNV-1a; `const`, so a fixed
/// name's salt is computed at compile time (`const VPC: u64 = salt("vpc")`), not per packet.
pub const fn salt(name: &str) -> u64 {
    salt_more(0xcbf2_9ce4_8422_2325, name)
}

/// The salt of a name continued by `more`: `salt_more(salt(a), b) == salt(a + b)`, so a name
/// made of parts is hashed without being written out.
pub const fn salt_more(mut h: u64, more: &str) -> u64 {
    let bytes = more.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
        i += 1;
    }
    h
}

/// APIC's PBR hash `sip-dip-prototype`: source IP, destination IP and protocol, symmetric, so a
/// request and its reply hash alike (seed: "an hash based on Source IP, Destination IP and Protocol").
pub fn pbr_sip_dip_proto(salt: u64, a: Ipv4Addr, b: Ipv4Addr, proto: Proto) -> u64 {
    let (lo, hi) = if u32::from(a) <= u32::from(b) {
        (a, b)
    } else {
        (b, a)
    };
    let h = combine(salt, u64::from(u32::from(lo)));
    let h = combine(h, u64::from(u32::from(hi)));
    combine(h, u64::from(proto.number()))
}

/// A symmetric L3/L4 hash (both endpoints sorted), as OVS uses for the second-stage choice among
/// local pods; a flow and its reply give the same value.
pub fn symmetric_l4(salt: u64, flow: &Flow) -> u64 {
    let key = |e: &Endpoint| (u64::from(u32::from(e.ip)) << 16) | u64::from(e.port);
    let (x, y) = (key(&flow.src), key(&flow.dst));
    let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
    combine(
        combine(combine(salt, lo), hi),
        u64::from(flow.proto.number()),
    )
}

/// The ordinary (direction-sensitive) 5-tuple hash of ECMP and port-channel member choice.
pub fn five_tuple(salt: u64, flow: &Flow) -> u64 {
    let h = combine(salt, u64::from(u32::from(flow.src.ip)));
    let h = combine(h, u64::from(u32::from(flow.dst.ip)));
    let h = combine(
        h,
        (u64::from(flow.src.port) << 16) | u64::from(flow.dst.port),
    );
    combine(h, u64::from(flow.proto.number()))
}

/// Maps a hash onto `n` choices without the bias of `%` for large `n` (Lemire's multiply-shift).
pub fn pick(hash: u64, n: usize) -> usize {
    debug_assert!(n > 0);
    ((u128::from(hash >> 32) * n as u128) >> 32) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> Flow {
        Flow {
            proto: Proto::Tcp,
            src: Endpoint::new(Ipv4Addr::new(192, 168, 100, 1), 40000),
            dst: Endpoint::new(Ipv4Addr::new(10, 34, 0, 2), 80),
        }
    }

    /// FNV-1a 64 test vectors (Fowler, Noll, Vo: the reference implementation's test suite),
    /// and a name hashed in parts as a whole.
    #[test]
    fn salt_is_fnv1a_and_continues_over_parts() {
        assert_eq!(salt(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(salt("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(salt("foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(salt_more(salt("foo"), "bar"), salt("foobar"));
        assert_eq!(
            salt_more(salt_more(salt("pod:"), "shop"), "/web-0"),
            salt("pod:shop/web-0")
        );
    }

    #[test]
    fn symmetric_hashes_are_symmetric() {
        let f = flow();
        let r = f.reversed();
        assert_eq!(symmetric_l4(7, &f), symmetric_l4(7, &r));
        assert_eq!(
            pbr_sip_dip_proto(7, f.src.ip, f.dst.ip, f.proto),
            pbr_sip_dip_proto(7, r.src.ip, r.dst.ip, r.proto)
        );
        // ...and the PBR hash ignores ports: every connection of one client to one service lands alike.
        let mut g = f;
        g.src.port = 41000;
        assert_eq!(
            pbr_sip_dip_proto(7, f.src.ip, f.dst.ip, f.proto),
            pbr_sip_dip_proto(7, g.src.ip, g.dst.ip, g.proto)
        );
    }

    /// Counts of `pick(h, 6)` over hashes, each bucket within 3 % of an even share: 60,000
    /// draws, σ ≈ 91 per bucket, so 3 % (300) is beyond 3σ.
    fn spreads_evenly(hashes: impl Iterator<Item = u64>) -> bool {
        let mut counts = [0usize; 6];
        for h in hashes {
            counts[pick(h, 6)] += 1;
        }
        counts.iter().all(|c| (9_700..=10_300).contains(c))
    }

    /// Flows that differ in one field only, counted up (a weak hash's worst case: consecutive
    /// ports, consecutive addresses), spread evenly over six next hops with each hash.
    #[test]
    fn flows_differing_in_one_field_spread_evenly() {
        let base = flow();
        let by_sport = (0..60_000u16).map(|i| Flow {
            src: Endpoint::new(base.src.ip, 1024 + i),
            ..base
        });
        let by_src_ip = (0..60_000u32).map(|i| Flow {
            src: Endpoint::new(Ipv4Addr::from(0x0A40_0000 + i), 40000),
            ..base
        });
        let by_dport = (0..60_000u16).map(|i| Flow {
            dst: Endpoint::new(base.dst.ip, 1024 + i),
            ..base
        });
        for (name, flows) in [
            ("source port", by_sport.collect::<Vec<_>>()),
            ("source address", by_src_ip.collect()),
            ("destination port", by_dport.collect()),
        ] {
            assert!(
                spreads_evenly(flows.iter().map(|f| five_tuple(7, f))),
                "five_tuple by {name}"
            );
            assert!(
                spreads_evenly(flows.iter().map(|f| symmetric_l4(7, f))),
                "symmetric_l4 by {name}"
            );
        }
        let by_client = (0..60_000u32).map(|i| {
            pbr_sip_dip_proto(7, Ipv4Addr::from(0x6440_0000 + i), base.dst.ip, Proto::Tcp)
        });
        assert!(
            spreads_evenly(by_client),
            "pbr_sip_dip_proto by client address"
        );
    }

    #[test]
    fn pick_stays_in_range_and_spreads() {
        let mut counts = [0usize; 4];
        for i in 0..40_000u64 {
            counts[pick(mix64(i), 4)] += 1;
        }
        // 10,000 expected per bucket, standard deviation ≈ 87: ±500 is > 5 sigma.
        for c in counts {
            assert!((9_500..=10_500).contains(&c), "{counts:?}");
        }
    }
}
