//! `fabsim routes` under ACI-CNI: a leaf's table (the bridge-domain subnets are pervasive on every
//! leaf; outside is the L3Out). A node's forwarding is OVS's, not a routing table.

use super::AciConfig;
use crate::bgp::{NextHop, Route};
use crate::scenario::Scenario;
use crate::scenario::reference::Ref;

/// The table of `device` under the design `cfg`.
pub fn routes(s: &Scenario, cfg: &AciConfig, device: &Ref) -> Result<Vec<Route>, String> {
    let l = match *device {
        Ref::Leaf(l) => l,
        Ref::Node(_) => {
            return Err(
                "under aci-cni a node's forwarding is OVS's, not a routing table: ask for a leaf"
                    .into(),
            );
        }
        _ => return Err("--device must be a leaf (leaf:ID) or a node (node:NAME)".into()),
    };
    let mut v: Vec<Route> = cfg
        .pod_subnets
        .iter()
        .chain(&cfg.node_subnets)
        .chain(std::iter::once(&cfg.node_svc_subnet))
        .map(|p| Route {
            prefix: p.net,
            next_hops: vec![NextHop::Connected],
            excluded: Vec::new(),
        })
        .collect();
    let out = if s.fabric.leaf(l).border {
        vec![NextHop::L3Out]
    } else {
        s.fabric
            .border_leaves()
            .iter()
            .map(|b| NextHop::Leaf(*b))
            .collect()
    };
    v.push(Route {
        prefix: "0.0.0.0/0".parse().expect("valid"),
        next_hops: out,
        excluded: Vec::new(),
    });
    v.sort_by_key(|r| r.prefix);
    v.dedup_by_key(|r| r.prefix);
    Ok(v)
}
