//! `validate`'s summary of a BGP design: its sessions (and why any cannot come up), what each
//! node advertises against the fabric's max-prefix, and the LoadBalancer IPs with those no
//! client outside can reach.

use super::BgpConfig;
use super::compile::{Announced, Expired};
use super::config::MaxPrefixAction;
use crate::scenario::Scenario;
use std::fmt::Write;

/// What a BGP design sets up: sessions (and why any is down), prefixes per node, LoadBalancer IPs.
// Long: the document top to bottom, one block per section or row.
pub fn summary(s: &Scenario, name: &str, cfg: &BgpConfig) -> String {
    let st = Announced::new(&s.fabric, &s.cluster, cfg, &Expired::default());
    let mut out = String::new();
    let up = st.sessions.iter().filter(|x| x.down.is_none()).count();
    let _ = writeln!(
        out,
        "design {name} ({}): AS {} ↔ fabric AS {} ({}), {up}/{} BGP sessions up, hold time {} (node {} / fabric {}), graceful restart {}",
        cfg.cni.name(),
        cfg.cluster_asn,
        cfg.fabric_asn,
        if cfg.ibgp {
            "iBGP: the cluster shares the fabric's AS"
        } else {
            "eBGP"
        },
        st.sessions.len(),
        cfg.negotiated_hold_time(),
        cfg.node_hold_time,
        cfg.fabric_hold_time,
        if cfg.graceful_restart { "on" } else { "off" }
    );
    // A LoadBalancer IP outside what the design advertises, or outside what the fabric imports,
    // is never reachable from outside the cluster.
    let mut unadvertised = Vec::new();
    let mut not_imported = Vec::new();
    for (i, svc) in s.cluster.services.iter().enumerate() {
        if let Some(ip) = st.addr.lb_ip[i] {
            let name = format!("{}/{}", s.cluster.namespace_name(svc.namespace), svc.name);
            let _ = writeln!(out, "  LoadBalancer {name}: {ip}");
            if !cfg.advertise_lb.iter().any(|p| p.contains(&ip)) {
                unadvertised.push(format!("{name} {ip}"));
            } else if !cfg.import.iter().any(|p| p.contains(&ip)) {
                not_imported.push(format!("{name} {ip}"));
            }
        }
    }
    if !unadvertised.is_empty() {
        let _ = writeln!(
            out,
            "  warning: {} LoadBalancer service(s) have an IP outside every prefix the design advertises (Calico serviceLoadBalancerIPs, kube-router/Cilium advertisement): clients outside the cluster cannot reach them: {}",
            unadvertised.len(),
            unadvertised.join(", ")
        );
    }
    if !not_imported.is_empty() {
        let _ = writeln!(
            out,
            "  warning: {} LoadBalancer service(s) have an IP outside the fabric's import route control: the leaves refuse the route, so clients outside cannot reach them: {}",
            not_imported.len(),
            not_imported.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "  fabric side: keepalive {}, hold {}, stale {}, graceful-restart helper {}, BFD {}, max paths {}, max-prefix {}",
        cfg.fabric_keepalive,
        cfg.fabric_hold_time,
        cfg.fabric_stale,
        if cfg.gr_helper { "on" } else { "off" },
        cfg.bfd
            .map_or("off".to_string(), |(i, m)| format!("{i} × {m}")),
        cfg.max_paths,
        cfg.max_prefix
    );
    let most = st.advertised.iter().map(|a| a.len()).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "  prefixes advertised per node: at most {most} (max-prefix {})",
        cfg.max_prefix
    );
    for (n, adv) in st.advertised.iter().enumerate() {
        let over = adv.len() as u32 > cfg.max_prefix.limit;
        match cfg.max_prefix.action {
            MaxPrefixAction::Reject if over => {
                let _ = writeln!(
                    out,
                    "  warning: {} advertises {} prefixes: max-prefix {} refuses the last {} (action reject; the session stays up)",
                    s.cluster.node_ref(crate::cluster::NodeId(n as u32)),
                    adv.len(),
                    cfg.max_prefix.limit,
                    adv.len() as u32 - cfg.max_prefix.limit
                );
            }
            MaxPrefixAction::Log if over => {
                let _ = writeln!(
                    out,
                    "  warning: {} advertises {} prefixes, above max-prefix {}: action log accepts them all",
                    s.cluster.node_ref(crate::cluster::NodeId(n as u32)),
                    adv.len(),
                    cfg.max_prefix.limit
                );
            }
            _ => {}
        }
    }
    let down = st.sessions.iter().filter(|x| x.down.is_some()).count();
    if down > 0 {
        let nodes: std::collections::BTreeSet<_> = st
            .sessions
            .iter()
            .filter(|x| x.down.is_some())
            .map(|x| x.node)
            .collect();
        let _ = writeln!(
            out,
            "  warning: {down} of {} BGP sessions cannot come up ({} node(s) affected): the fabric learns nothing over them",
            st.sessions.len(),
            nodes.len()
        );
    }
    let mut reported = std::collections::BTreeSet::new();
    for x in st.sessions.iter().filter(|x| x.down.is_some()) {
        let why = crate::bgp::Excluded::Rejected(x.down.expect("filtered")).to_string();
        if reported.insert((x.node, why.clone())) {
            let _ = writeln!(
                out,
                "  warning: {} ↔ {}: {why}",
                s.cluster.node_ref(x.node),
                s.fabric.leaf_name(x.leaf)
            );
        }
    }
    out
}
