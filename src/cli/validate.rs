//! `fabsim validate SCENARIO`: every problem at once, `FILE:LINE:COL: yaml.path: message`.

use super::{EXIT_BAD_INPUT, EXIT_OK};
use crate::design::aci_cni::allocation::Allocation;
use crate::design::aci_cni::{AciConfig, AciState};
use crate::scenario::{self, Scenario};
use std::fmt::Write;
use std::path::Path;

pub fn run(path: &Path, quiet: bool, json: bool, max_connections: u64) -> u8 {
    let loaded = scenario::load(path);
    let d = &loaded.diagnostics;
    let mut out = String::new();
    for x in d.sorted() {
        let _ = writeln!(out, "{x}");
    }
    let mut errors = d.errors().count();
    // The work a simulation would do, checked against the limit simulate applies.
    let work = loaded.scenario.as_ref().map(|s| {
        crate::sim::estimate::estimate(s, crate::sim::engine::DEFAULT_SAMPLE_INTERVAL, true)
    });
    if let Some(m) = work.as_ref().and_then(|w| w.over(max_connections))
        && errors == 0
    {
        let _ = writeln!(out, "{}: error: {m}", path.display());
        errors += 1;
    }
    let warnings = d.warnings().count();
    if errors == 0 {
        // The scenario's own what-if variants must load too.
        let (variant_errors, text) = check_variants(path);
        errors += variant_errors;
        out.push_str(&text);
    }
    match &loaded.scenario {
        Some(s) if errors == 0 && json => {
            // Problems (warnings) still go to stderr; stdout is the data.
            eprint!("{out}");
            let designs: Vec<Allocation> = s
                .designs
                .iter()
                .filter_map(|d| d.aci.as_ref().map(|cfg| aci_allocation(s, &d.name, cfg)))
                .collect();
            let doc = serde_json::json!({
                "scenario": s.name,
                "warnings": d.warnings().map(|w| w.to_string()).collect::<Vec<_>>(),
                "aci_cni": designs,
            });
            super::emit(&format!(
                "{}\n",
                serde_json::to_string_pretty(&doc).expect("serializable")
            ));
            EXIT_OK
        }
        Some(s) if errors == 0 => {
            if !quiet {
                let designs: Vec<String> = s
                    .designs
                    .iter()
                    .map(|x| format!("{} ({})", x.name, x.cni.name()))
                    .collect();
                // What each design's controller or fabric would do, with its own warnings
                // (IpPortsExhausted, sessions down, refused prefixes), counted with the loader's.
                let mut summaries = String::new();
                for design in &s.designs {
                    if let Some(cfg) = &design.aci {
                        summaries.push_str(&summarize_aci(s, &design.name, cfg));
                    }
                    if let Some(cfg) = &design.bgp {
                        summaries.push_str(&summarize_bgp(s, &design.name, cfg));
                    }
                }
                let warnings = warnings
                    + summaries
                        .lines()
                        .filter(|l| l.trim_start().starts_with("warning:"))
                        .count();
                let _ = writeln!(
                    out,
                    "{}: valid — {} spines, {} leaves in {} racks, {} nodes, {} pods, {} services; designs: {}; {} warning(s)",
                    path.display(),
                    s.fabric.spines.len(),
                    s.fabric.leaves.len(),
                    s.fabric.racks.len(),
                    s.cluster.nodes.len(),
                    s.cluster.pods.len(),
                    s.cluster.services.len(),
                    designs.join(", "),
                    warnings
                );
                let _ = writeln!(out, "counting: {}", s.warmup.how);
                if let Some(w) = &work {
                    let _ = writeln!(out, "work: {}", w.describe());
                }
                out.push_str(&summaries);
                if !s.defaults_applied.is_empty() {
                    out.push_str("defaults applied:\n");
                    for x in &s.defaults_applied {
                        let _ = writeln!(out, "  {x}");
                    }
                }
            }
            super::emit(&out);
            EXIT_OK
        }
        _ => {
            super::emit(&out);
            eprintln!(
                "{}: {errors} error(s), {warnings} warning(s)",
                path.display()
            );
            EXIT_BAD_INPUT
        }
    }
}

/// Loads each of the scenario's `variants:`; (errors, their messages).
fn check_variants(path: &Path) -> (usize, String) {
    use crate::scenario::{diag::Diagnostics, variant};
    let mut d = Diagnostics::default();
    let Some(root) = variant::parse_file(path, &mut d) else {
        return (0, String::new());
    };
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let mut out = String::new();
    let mut errors = 0;
    for v in variant::listed(&root, &mut d) {
        let loaded = variant::load_variant(&root, &v, base_dir);
        for x in loaded.diagnostics.errors() {
            errors += 1;
            let _ = writeln!(out, "variant `{}`: {x}", v.name);
        }
    }
    (errors, out)
}

/// What the ACI-CNI controller would create: LoadBalancer IPs, redirect policies, SNAT chunks,
/// and the policies left `IpPortsExhausted` or `Failed` (as warnings).
pub fn summarize_aci(s: &Scenario, name: &str, cfg: &AciConfig) -> String {
    aci_allocation(s, name, cfg).text(cfg.port_range.ports_per_node, cfg.port_range.chunks().len())
}

fn aci_allocation(s: &Scenario, name: &str, cfg: &AciConfig) -> Allocation {
    let st = AciState::compile(&s.cluster, cfg);
    Allocation::of(name, &s.cluster, &st)
}

/// What a BGP design sets up: sessions (and why any is down), prefixes per node, LoadBalancer IPs.
pub fn summarize_bgp(s: &Scenario, name: &str, cfg: &crate::design::bgp::BgpConfig) -> String {
    let st = crate::design::bgp::BgpState::compile(&s.fabric, &s.cluster, cfg);
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
        st.negotiated_hold_time(),
        cfg.node_hold_time,
        cfg.fabric_hold_time,
        if cfg.graceful_restart { "on" } else { "off" }
    );
    // A LoadBalancer IP outside what the design advertises, or outside what the fabric imports,
    // is never reachable from outside the cluster.
    let mut unadvertised = Vec::new();
    let mut not_imported = Vec::new();
    for (i, svc) in s.cluster.services.iter().enumerate() {
        if let Some(ip) = st.lb_ip[i] {
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
    let most = st.advertised.iter().map(Vec::len).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "  prefixes advertised per node: at most {most} (max-prefix {})",
        cfg.max_prefix
    );
    use crate::design::bgp::config::MaxPrefixAction;
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
