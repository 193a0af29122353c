//! `fabsim routes` under a BGP design: a leaf's table with the paths it kept and those it
//! dropped (and why), or a node's own table.

use super::BgpConfig;
use super::BgpState;
use crate::bgp::{Excluded, NextHop, Route};
use crate::fabric::LeafId;
use crate::scenario::Scenario;
use crate::scenario::reference::Ref;

/// The table of `device` under the design `cfg`.
pub fn routes(s: &Scenario, cfg: &BgpConfig, device: &Ref) -> Result<Vec<Route>, String> {
    let st = BgpState::compile(&s.fabric, &s.cluster, cfg);
    match *device {
        Ref::Leaf(l) => Ok(leaf_table(&st, cfg, l)),
        Ref::Node(n) => Ok(node_table(s, &st, n)),
        _ => Err("--device must be a leaf (leaf:ID) or a node (node:NAME)".into()),
    }
}

/// A leaf's table: its own eBGP routes and the fabric-learned ones, with the paths other anchor
/// leaves learned for the same prefix listed as excluded (they lose to this leaf's own).
fn leaf_table(st: &BgpState, cfg: &BgpConfig, l: LeafId) -> Vec<Route> {
    let mut table = st.tables.table(l);
    let others: Vec<Vec<Route>> = (0..st.tables.leaves())
        .map(|o| {
            if o == l.index() {
                Vec::new()
            } else {
                st.tables.table(LeafId(o as u32))
            }
        })
        .collect();
    // The paths other anchor leaves learned for the same prefix lose to this leaf's own.
    for r in table
        .iter_mut()
        .filter(|r| r.next_hops.iter().any(|h| matches!(h, NextHop::Node(_))))
    {
        for (o, other) in others.iter().enumerate().filter(|(o, _)| *o != l.index()) {
            let Ok(i) = other.binary_search_by_key(&r.prefix, |x| x.prefix) else {
                continue;
            };
            if other[i]
                .next_hops
                .iter()
                .any(|h| matches!(h, NextHop::Node(_)))
            {
                let via: Vec<NextHop> = if cfg.next_hop_propagate {
                    other[i].next_hops.clone()
                } else {
                    vec![NextHop::Leaf(LeafId(o as u32))]
                };
                r.excluded.extend(via.into_iter().map(|h| {
                    (
                        h,
                        if cfg.ibgp {
                            Excluded::FabricReflected
                        } else {
                            Excluded::FabricLearned
                        },
                    )
                }));
            }
        }
    }
    table
}

/// A node's own table: its pod prefixes and the nodes' subnet connected, outside via its leaves.
fn node_table(s: &Scenario, st: &BgpState, n: crate::cluster::NodeId) -> Vec<Route> {
    let mut v: Vec<Route> = st.node_pod_prefixes[n.index()]
        .iter()
        .map(|p| Route {
            prefix: *p,
            next_hops: vec![NextHop::Connected],
            excluded: Vec::new(),
        })
        .collect();
    v.push(Route {
        prefix: s.cluster.node_subnet.net,
        next_hops: vec![NextHop::Connected],
        excluded: Vec::new(),
    });
    let leaves = s.fabric.racks[s.cluster.node(n).rack.index()]
        .leaves
        .iter()
        .map(|l| NextHop::Leaf(*l))
        .collect();
    v.push(Route {
        prefix: "0.0.0.0/0".parse().expect("valid"),
        next_hops: leaves,
        excluded: Vec::new(),
    });
    v
}
