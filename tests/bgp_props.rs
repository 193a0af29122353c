//! Oracles for the BGP designs: best path against a brute force, Maglev against plain modulo,
//! masquerade port reuse.

mod common;
use common::*;
use fabsim::bgp::{Candidate, Excluded, Rejection, select};
use fabsim::cluster::NodeId;
use fabsim::dataplane::request::{FlowRequest, Source, Target};
use fabsim::dataplane::{Count, Verdict};
use fabsim::design::bgp::BgpState;
use fabsim::design::bgp::maglev::Maglev;
use fabsim::design::bgp::walk::{BgpWalk, NodeTables};
use fabsim::net::Proto;
use fabsim::net::hash::mix64;
use proptest::prelude::*;
use std::net::Ipv4Addr;

/// The decision steps written the long way: a path is installed iff it is valid, no valid path
/// costs less, and fewer than `max_paths` valid equal-cost paths come before it by next hop.
fn oracle(c: &[Candidate], max_paths: usize) -> Vec<Option<Excluded>> {
    let valid = |x: &Candidate| x.rejected.is_none() && x.as_path_len <= 1;
    let best = c.iter().filter(|x| valid(x)).map(|x| x.nh_cost).min();
    c.iter()
        .enumerate()
        .map(|(i, x)| {
            if let Some(r) = x.rejected {
                return Some(Excluded::Rejected(r));
            }
            if x.as_path_len > 1 {
                return Some(Excluded::AsPathTooLong {
                    len: x.as_path_len,
                    limit: 1,
                });
            }
            let best = best.expect("x is valid");
            if x.nh_cost > best {
                return Some(Excluded::HigherNextHopCost {
                    cost: x.nh_cost,
                    best,
                });
            }
            let before = c
                .iter()
                .enumerate()
                .filter(|(j, y)| {
                    valid(y) && y.nh_cost == best && (y.next_hop, *j) < (x.next_hop, i)
                })
                .count();
            (before >= max_paths).then_some(Excluded::BeyondMaxPaths { limit: max_paths })
        })
        .collect()
}

proptest! {
    #[test]
    fn best_path_matches_the_brute_force(
        raw in prop::collection::vec((0u32..3, 1u8..3, 0u8..6, any::<u32>()), 0..40),
        max_paths in 1usize..8,
    ) {
        let cands: Vec<Candidate> = raw.iter().enumerate().map(|(i, (cost, asl, rej, ip))| Candidate {
            node: NodeId(i as u32),
            next_hop: Ipv4Addr::from(*ip),
            as_path_len: *asl,
            nh_cost: *cost,
            rejected: match rej { 0 => Some(Rejection::PasswordMismatch), 1 => Some(Rejection::ImportRouteControl), _ => None },
        }).collect();
        let sel = select(&cands, max_paths);
        let expect = oracle(&cands, max_paths);
        for (i, e) in expect.iter().enumerate() {
            match e {
                None => prop_assert!(sel.installed.contains(&i), "{i} should be installed"),
                Some(why) => prop_assert!(sel.excluded.contains(&(i, *why)), "{i} should be excluded: {why:?}, got {:?}", sel),
            }
        }
        prop_assert_eq!(sel.installed.len() + sel.excluded.len(), cands.len());
    }
}

#[test]
fn maglev_moves_about_one_nth_and_modulo_moves_most() {
    let n = 10;
    let names: Vec<String> = (0..n).map(|i| format!("pod:a/web-{i}")).collect();
    let before = Maglev::new(&names, 16381);
    let mut fewer = names.clone();
    fewer.remove(3);
    let after = Maglev::new(&fewer, 16381);
    let flows: Vec<u64> = (0..100_000u64).map(|i| mix64(i ^ 0xfeed)).collect();
    let (mut moved, mut moved_others, mut on_removed) = (0, 0, 0);
    let (mut moved_mod, total) = (0, flows.len());
    for h in &flows {
        let b = &names[before.lookup(*h).unwrap()];
        let a = &fewer[after.lookup(*h).unwrap()];
        if b != a {
            moved += 1;
            if b != &names[3] {
                moved_others += 1;
            }
        }
        if b == &names[3] {
            on_removed += 1;
        }
        // Plain modulo over the backend list.
        if names[(*h % n as u64) as usize] != fewer[(*h % (n as u64 - 1)) as usize] {
            moved_mod += 1;
        }
    }
    let frac = moved as f64 / total as f64;
    let frac_mod = moved_mod as f64 / total as f64;
    eprintln!("maglev moved {frac:.4} (others {moved_others}), modulo moved {frac_mod:.4}");
    // Maglev: the removed backend's flows (≈1/N = 0.10) plus a small disruption (the paper: a
    // few percent at this table size). Modulo: about (N−1)/N = 0.90.
    assert!((0.08..0.16).contains(&frac), "maglev moved {frac}");
    assert!(on_removed as f64 / total as f64 > 0.08);
    assert!(
        (moved_others as f64 / total as f64) < 0.06,
        "maglev moved {moved_others} flows of other backends"
    );
    assert!(frac_mod > 0.8, "modulo moved {frac_mod}");
}

/// Walks `count` egress connections of one pod through a BGP design, sharing the node tables.
fn masquerade_ports(
    scenario: &str,
    design: &str,
    pod: (&str, &str),
    conns: &[([u8; 4], u16)],
) -> Vec<u16> {
    let s = load(scenario);
    let d = s.design(design).unwrap();
    let st = BgpState::compile(&s.fabric, &s.cluster, d.bgp().unwrap());
    let w = BgpWalk::new(&s.fabric, &s.cluster, &st);
    let pod = s.cluster.pod_by_name(pod.0, pod.1).unwrap();
    let mut tables = NodeTables::default();
    conns
        .iter()
        .map(|(ip, sport)| {
            let req = FlowRequest {
                src: Source::Pod(pod),
                sport: *sport,
                dst: Target::Ip {
                    ip: Ipv4Addr::from(*ip),
                    port: 443,
                },
                proto: Proto::Tcp,
            };
            let o = w.walk(&req, &mut tables, &mut Count::default());
            assert_eq!(o.verdict, Verdict::Delivered);
            o.snat.expect("masqueraded").port
        })
        .collect()
}

#[test]
fn masquerade_shares_a_port_across_destinations_never_towards_one() {
    // Cilium (its masquerade keeps the original port while the tuple is unique): two
    // destinations share 40000; a second connection to the same one gets another port.
    let p = masquerade_ports(
        "tests/data/bgp-cluster-policy.yaml",
        "cilium",
        ("a", "web-0"),
        &[
            ([1, 1, 1, 1], 40000),
            ([8, 8, 8, 8], 40000),
            ([1, 1, 1, 1], 40000),
        ],
    );
    assert_eq!((p[0], p[1]), (40000, 40000));
    assert_ne!(p[2], 40000);
    // Calico and kube-router (--random-fully): ports drawn at random, never twice towards one
    // destination.
    let conns: Vec<([u8; 4], u16)> = (0..200)
        .map(|i| ([1, 1, 1, 1], 40000 + (i % 3) as u16))
        .collect();
    let p = masquerade_ports(
        "scenarios/brkdcn-2663.yaml",
        "calico",
        ("shop", "batch-1"),
        &conns,
    );
    let mut seen = std::collections::BTreeSet::new();
    assert!(
        p.iter()
            .all(|x| seen.insert(*x) && (1024..=65535).contains(x))
    );
    let p = masquerade_ports(
        "tests/data/bgp-cluster-policy.yaml",
        "kube-router",
        ("a", "web-0"),
        &conns,
    );
    let mut seen = std::collections::BTreeSet::new();
    assert!(p.iter().all(|x| seen.insert(*x)));
    assert!(!p.contains(&40000) || p.iter().filter(|x| **x == 40000).count() == 1);
}

/// A leaf's look-up (the compact view the walks read) against a scan of the leaf's whole table
/// as `routes` prints it: the longest prefix holding the address among the routes with a next
/// hop. Probes: every route's first and last address and the addresses just outside it.
#[test]
fn leaf_lookup_matches_a_scan_of_the_leaf_table() {
    for file in [
        "scenarios/brkdcn-2663.yaml",
        "scenarios/failure-catalogue.yaml",
        "scenarios/calico-flavour.yaml",
        "scenarios/scale-500-nodes.yaml",
    ] {
        let s = load(file);
        for d in s.designs.iter().filter(|d| d.bgp().is_some()) {
            let st = BgpState::compile(&s.fabric, &s.cluster, d.bgp().unwrap());
            for leaf in (0..s.fabric.leaves.len() as u32).map(fabsim::fabric::LeafId) {
                let table: Vec<_> = st
                    .tables
                    .table(leaf)
                    .into_iter()
                    .filter(|r| !r.next_hops.is_empty())
                    .collect();
                let probes = table.iter().flat_map(|r| {
                    let (a, b) = (
                        u32::from(r.prefix.network()),
                        u32::from(r.prefix.broadcast()),
                    );
                    [a.wrapping_sub(1), a, b, b.wrapping_add(1)]
                });
                for ip in probes.map(Ipv4Addr::from) {
                    let scan = table
                        .iter()
                        .filter(|r| r.prefix.contains(&ip))
                        .max_by_key(|r| r.prefix.prefix_len());
                    let found = st.lookup(leaf, ip);
                    assert_eq!(
                        found.map(|f| (f.prefix, f.next_hops.to_vec())),
                        scan.map(|r| (r.prefix, r.next_hops.clone())),
                        "{file} {} leaf {} address {ip}",
                        d.name,
                        leaf.index()
                    );
                }
            }
        }
    }
}
