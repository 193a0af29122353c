//! Every leaf's routing table under a BGP design: the anchor leaves' eBGP paths from the
//! nodes (best path, ECMP up to max paths, with the reason each path was dropped), and what the
//! other leaves learn through the fabric (MP-BGP) with the anchor leaf as next hop — one ECMP
//! path per anchor leaf — unless next-hop propagate is set.

use super::config::*;
use super::sessions::Session;
use crate::bgp::{self, Candidate, NextHop, Rejection, Route};
use crate::cluster::Cluster;
use crate::fabric::{Fabric, LeafId};
use crate::net::lpm::LpmTable;
use ipnet::Ipv4Net;
use std::collections::BTreeMap;

/// Each leaf's routes, sorted by prefix, and their LPM index.
pub fn leaf_tables(
    fabric: &Fabric,
    cluster: &Cluster,
    cfg: &BgpConfig,
    sessions: &[Session],
    advertised: &[Vec<Ipv4Net>],
) -> (Vec<Vec<Route>>, Vec<LpmTable<usize>>) {
    let ebgp = ebgp_routes(fabric, cluster, cfg, sessions, advertised);
    let leaf_routes = fabric_routes(fabric, cluster, cfg, &ebgp);
    let leaf_lpm = leaf_routes
        .iter()
        .map(|routes: &Vec<Route>| {
            let mut t = LpmTable::new();
            for (i, r) in routes.iter().enumerate() {
                if !r.next_hops.is_empty() {
                    t.insert(r.prefix, i);
                }
            }
            t
        })
        .collect();
    (leaf_routes, leaf_lpm)
}

/// The routes each leaf learned over eBGP from the nodes it peers with.
fn ebgp_routes(
    fabric: &Fabric,
    cluster: &Cluster,
    cfg: &BgpConfig,
    sessions: &[Session],
    advertised: &[Vec<Ipv4Net>],
) -> Vec<BTreeMap<Ipv4Net, Route>> {
    let nleaves = fabric.leaves.len();
    let mut ebgp: Vec<BTreeMap<Ipv4Net, Route>> = vec![BTreeMap::new(); nleaves];
    let mut by_leaf: Vec<BTreeMap<Ipv4Net, Vec<Candidate>>> = vec![BTreeMap::new(); nleaves];
    for s in sessions {
        let node = cluster.node(s.node);
        let on_leaf = fabric.racks[node.rack.index()].leaves.contains(&s.leaf);
        for (k, p) in advertised[s.node.index()].iter().enumerate() {
            let accepted = cfg.import.iter().any(|i| i.contains(p));
            // APIC bgpPeerPfxPol action reject: the prefixes beyond the limit are refused,
            // the first ones (in the order sent; taken as prefix order) stay.
            let refused = cfg.max_prefix.action == MaxPrefixAction::Reject
                && k as u32 >= cfg.max_prefix.limit;
            let rejected = s
                .down
                .or((!accepted).then_some(Rejection::ImportRouteControl))
                .or(refused.then_some(Rejection::MaxPrefixRefused {
                    limit: cfg.max_prefix.limit,
                }));
            by_leaf[s.leaf.index()]
                .entry(*p)
                .or_default()
                .push(Candidate {
                    node: s.node,
                    next_hop: node.ip,
                    // eBGP: the cluster AS alone (as-override); iBGP: an empty AS path.
                    as_path_len: u8::from(!cfg.ibgp),
                    // ACI 6.1(2) "ignore IGP metric" (with next-hop propagate): a node
                    // behind another leaf costs the same as one on this leaf.
                    nh_cost: u32::from(!on_leaf && !cfg.ignore_igp_metric),
                    rejected,
                });
        }
    }
    for (l, prefixes) in by_leaf.into_iter().enumerate() {
        for (prefix, cands) in prefixes {
            let sel = bgp::select(&cands, cfg.max_paths);
            let route = Route {
                prefix,
                next_hops: sel
                    .installed
                    .iter()
                    .map(|i| NextHop::Node(cands[*i].node))
                    .collect(),
                excluded: sel
                    .excluded
                    .iter()
                    .map(|(i, why)| (NextHop::Node(cands[*i].node), *why))
                    .collect(),
            };
            ebgp[l].insert(prefix, route);
        }
    }
    ebgp
}

/// Every leaf: its own eBGP routes, plus what the others learned, through the fabric; the
/// nodes' subnet where nodes attach; outside through the border leaves.
// Long: per leaf and prefix, its own route or the fabric-learned ones, then the
// connected and default routes; one pass.
fn fabric_routes(
    fabric: &Fabric,
    cluster: &Cluster,
    cfg: &BgpConfig,
    ebgp: &[BTreeMap<Ipv4Net, Route>],
) -> Vec<Vec<Route>> {
    let nleaves = fabric.leaves.len();
    let mut leaf_routes = Vec::with_capacity(nleaves);
    let racks_with_nodes: std::collections::BTreeSet<crate::fabric::RackId> =
        cluster.nodes.iter().map(|n| n.rack).collect();
    // Per prefix, the leaves that installed it (in leaf order): one pass over every table.
    let mut installed_on: BTreeMap<Ipv4Net, Vec<(LeafId, &Route)>> = BTreeMap::new();
    for (o, m) in ebgp.iter().enumerate() {
        for (p, r) in m {
            let e = installed_on.entry(*p).or_default();
            if !r.next_hops.is_empty() {
                e.push((LeafId(o as u32), r));
            }
        }
    }
    for (l, own_routes) in ebgp.iter().enumerate() {
        let mut table: BTreeMap<Ipv4Net, Route> = BTreeMap::new();
        for (prefix, holders) in &installed_on {
            let prefix = *prefix;
            let own = own_routes.get(&prefix).filter(|r| !r.next_hops.is_empty());
            let remote: Vec<(LeafId, &Route)> = holders
                .iter()
                .filter(|(o, _)| o.index() != l)
                .copied()
                .collect();
            let mut route = own_routes.get(&prefix).cloned().unwrap_or(Route {
                prefix,
                next_hops: Vec::new(),
                excluded: Vec::new(),
            });
            let via: Vec<NextHop> = if cfg.next_hop_propagate {
                let mut v: Vec<NextHop> = remote
                    .iter()
                    .flat_map(|(_, r)| r.next_hops.iter().copied())
                    .collect();
                v.sort();
                v.dedup();
                v
            } else {
                remote.iter().map(|(o, _)| NextHop::Leaf(*o)).collect()
            };
            // A leaf's own eBGP path wins over the fabric-learned ones; those are not stored
            // (they would be most of the memory at scale): `routes` lists them on demand.
            if own.is_none() {
                route.next_hops = via;
            }
            if !route.next_hops.is_empty() || !route.excluded.is_empty() {
                table.insert(prefix, route);
            }
        }
        // The nodes' subnet is the L3Out SVI on the leaves the nodes attach to.
        let leaf = fabric.leaf(LeafId(l as u32));
        let has_nodes = racks_with_nodes.contains(&leaf.rack);
        if has_nodes {
            table.insert(
                cluster.node_subnet.net,
                Route {
                    prefix: cluster.node_subnet.net,
                    next_hops: vec![NextHop::Connected],
                    excluded: Vec::new(),
                },
            );
        }
        // Outside: the L3Out on border leaves, the border leaves' TEPs elsewhere.
        let default: Ipv4Net = "0.0.0.0/0".parse().expect("valid");
        let next_hops = if leaf.border {
            vec![NextHop::L3Out]
        } else {
            fabric
                .border_leaves()
                .iter()
                .map(|b| NextHop::Leaf(*b))
                .collect()
        };
        if !next_hops.is_empty() {
            table.insert(
                default,
                Route {
                    prefix: default,
                    next_hops,
                    excluded: Vec::new(),
                },
            );
        }
        leaf_routes.push(table.into_values().collect::<Vec<Route>>());
    }
    leaf_routes
}
