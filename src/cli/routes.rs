//! `fabsim routes SCENARIO --design NAME --device REF [--json]`: what a leaf's or a node's table
//! holds under a design, with the next hops kept and those dropped, and why.

use super::{EXIT_BAD_INPUT, EXIT_OK, emit, load_valid};
use crate::bgp::{NextHop, Route};
use crate::cluster::Cluster;
use crate::design::bgp::BgpState;
use crate::fabric::Fabric;
use crate::scenario::Scenario;
use crate::scenario::reference::{self, Ref};
use serde::Serialize;
use std::fmt::Write;
use std::path::Path;

#[derive(Clone, Serialize)]
pub struct JsonExcluded {
    pub next_hop: String,
    pub reason: String,
}

#[derive(Clone, Serialize)]
pub struct JsonRoute {
    pub prefix: String,
    pub next_hops: Vec<String>,
    pub excluded: Vec<JsonExcluded>,
}

#[derive(Serialize)]
pub struct JsonRoutes {
    pub device: String,
    pub design: String,
    pub routes: Vec<JsonRoute>,
}

fn hop_name(h: &NextHop, fabric: &Fabric, cluster: &Cluster) -> String {
    match h {
        NextHop::Node(n) => cluster.node_ref(*n),
        NextHop::Leaf(l) => fabric.leaf_name(*l),
        NextHop::L3Out => "l3out".into(),
        NextHop::Connected => "connected".into(),
    }
}

fn json_routes(routes: &[Route], fabric: &Fabric, cluster: &Cluster) -> Vec<JsonRoute> {
    routes
        .iter()
        .map(|r| JsonRoute {
            prefix: r.prefix.to_string(),
            next_hops: r
                .next_hops
                .iter()
                .map(|h| hop_name(h, fabric, cluster))
                .collect(),
            excluded: r
                .excluded
                .iter()
                .map(|(h, why)| JsonExcluded {
                    next_hop: hop_name(h, fabric, cluster),
                    reason: why.to_string(),
                })
                .collect(),
        })
        .collect()
}

/// The table of `device` under `design`.
pub fn routes(s: &Scenario, design: &str, device: &str) -> Result<JsonRoutes, String> {
    let d = s.design_named(design)?;
    let r = reference::resolve(device, &s.fabric, &s.cluster).map_err(|m| {
        format!("--device {device}: {m}; routes shows a leaf (leaf:101) or a node (node:NAME)")
    })?;
    let table: Vec<Route> = match (r, &d.aci, &d.bgp) {
        (Ref::Leaf(l), _, Some(cfg)) => {
            let st = BgpState::compile(&s.fabric, &s.cluster, cfg);
            let mut table = st.leaf_routes[l.index()].clone();
            // The paths other anchor leaves learned for the same prefix lose to this leaf's own.
            for r in table
                .iter_mut()
                .filter(|r| r.next_hops.iter().any(|h| matches!(h, NextHop::Node(_))))
            {
                for (o, other) in st
                    .leaf_routes
                    .iter()
                    .enumerate()
                    .filter(|(o, _)| *o != l.index())
                {
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
                            vec![NextHop::Leaf(crate::fabric::LeafId(o as u32))]
                        };
                        r.excluded.extend(via.into_iter().map(|h| {
                            (
                                h,
                                if cfg.ibgp {
                                    crate::bgp::Excluded::FabricReflected
                                } else {
                                    crate::bgp::Excluded::FabricLearned
                                },
                            )
                        }));
                    }
                }
            }
            table
        }
        (Ref::Node(n), _, Some(cfg)) => {
            let st = BgpState::compile(&s.fabric, &s.cluster, cfg);
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
        (Ref::Leaf(l), Some(cfg), _) => {
            // ACI-CNI: the bridge-domain subnets are pervasive on every leaf; outside is the L3Out.
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
            v
        }
        (Ref::Node(_), Some(_), _) => {
            return Err(
                "under aci-cni a node's forwarding is OVS's, not a routing table: ask for a leaf"
                    .into(),
            );
        }
        _ => return Err("--device must be a leaf (leaf:ID) or a node (node:NAME)".into()),
    };
    Ok(JsonRoutes {
        device: reference::Display(&r, &s.fabric, &s.cluster).to_string(),
        design: d.name.clone(),
        routes: json_routes(&table, &s.fabric, &s.cluster),
    })
}

pub fn to_text(t: &JsonRoutes) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} under design {}: {} routes",
        t.device,
        t.design,
        t.routes.len()
    );
    for r in &t.routes {
        let hops = if r.next_hops.is_empty() {
            "(none installed)".to_string()
        } else {
            r.next_hops.join(", ")
        };
        let _ = writeln!(out, "  {:<18} via {hops}", r.prefix);
        for e in &r.excluded {
            let _ = writeln!(out, "  {:<18}   excluded {}: {}", "", e.next_hop, e.reason);
        }
    }
    out
}

pub fn run(scenario: &Path, design: &str, device: &str, json: bool) -> u8 {
    let s = match load_valid(scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match routes(&s, design, device) {
        Ok(t) if json => {
            emit(&(serde_json::to_string_pretty(&t).unwrap_or_default() + "\n"));
            EXIT_OK
        }
        Ok(t) => {
            emit(&to_text(&t));
            EXIT_OK
        }
        Err(m) => {
            eprintln!("{m}");
            EXIT_BAD_INPUT
        }
    }
}
