//! `fabsim routes SCENARIO --design NAME --device REF [--json]`: what a leaf's or a node's table
//! holds under a design, with the next hops kept and those dropped, and why.

use super::{EXIT_BAD_INPUT, EXIT_OK, emit, load_valid};
use crate::bgp::{NextHop, Route};
use crate::cluster::Cluster;
use crate::fabric::Fabric;
use crate::scenario::Scenario;
use crate::scenario::reference;
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
    let d = s.design_named(design).map_err(|e| e.to_string())?;
    let r = reference::resolve(device, &s.fabric, &s.cluster).map_err(|m| {
        format!("--device {device}: {m}; routes shows a leaf (leaf:101) or a node (node:NAME)")
    })?;
    let table = d.routes(s, &r)?;
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
