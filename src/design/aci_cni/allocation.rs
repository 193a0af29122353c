//! What the ACI-CNI controller would create for a cluster, as data: LoadBalancer IPs (or why a
//! service has none), redirect policies with their members, SNAT policies with their status,
//! IPs, chunks and the node each chunk went to, and the nodes left without one. `validate`
//! prints it as text and, with `--json`, as this structure.

use super::compile::{AciState, RedirectKind};
use super::config::in_pool;
use crate::cluster::{Cluster, ServiceType};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Allocation {
    pub design: String,
    pub load_balancers: Vec<LoadBalancer>,
    pub redirect_policies: Vec<RedirectPolicy>,
    pub snat_policies: Vec<SnatPolicy>,
    /// Pod address chunks per node (`pod_subnet_chunk_size` each).
    pub pod_chunks: Vec<NodeCount>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NodeCount {
    pub node: String,
    pub pods: usize,
    pub chunks: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct LoadBalancer {
    pub service: String,
    pub ip: Option<String>,
    /// The Service condition when no IP was given (`RequestedIpsNotAllocatable`).
    pub condition: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RedirectPolicy {
    pub name: String,
    pub kind: &'static str,
    pub resilient_hashing: bool,
    /// Destination nodes, in the controller's order (by name).
    pub members: Vec<String>,
    /// SNAT graph: nodes past max_nodes_svc_graph.
    pub capped: Vec<String>,
    /// SNAT graph: nodes within the cap left out by node_snat_redirect_exclude.
    pub excluded: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SnatPolicy {
    pub name: String,
    /// `Ready`, `Failed` or `IpPortsExhausted` (aci.snat/v1 SnatPolicy status).
    pub status: &'static str,
    pub reason: Option<String>,
    pub snat_ips: Vec<String>,
    pub chunks: Vec<SnatChunk>,
    pub nodes_without_chunk: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SnatChunk {
    pub node: String,
    pub ip: String,
    pub start: u16,
    pub end: u16,
    /// SERVICE scope: the service whose LoadBalancer IP this is.
    pub service: Option<String>,
}

impl Allocation {
    // Long: what the controller creates, one block per object kind (LB IPs, redirect
    // policies, SNAT chunks).
    pub fn of(design: &str, cluster: &Cluster, st: &AciState) -> Allocation {
        let svc_name = |i: usize| {
            let s = &cluster.services[i];
            format!("{}/{}", cluster.namespace_name(s.namespace), s.name)
        };
        let load_balancers = cluster
            .services
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind == ServiceType::LoadBalancer)
            .map(|(i, s)| LoadBalancer {
                service: svc_name(i),
                ip: st.addr.lb_ip[i].map(|ip| ip.to_string()),
                condition: match (st.addr.lb_ip[i], s.requested_lb_ip) {
                    (None, Some(ip)) => Some(format!(
                        "RequestedIpsNotAllocatable: {ip} {}",
                        if in_pool(&st.cfg.extern_static, ip) {
                            "is taken by another service"
                        } else {
                            "is not in extern_static's pool (hosts n[2]..n[-2])"
                        }
                    )),
                    (None, None) => Some("extern_dynamic's pool is exhausted".into()),
                    _ => None,
                },
            })
            .collect();
        let node_name = |n: &crate::cluster::NodeId| cluster.node(*n).name.clone();
        let redirect_policies = st
            .redirects
            .iter()
            .map(|r| RedirectPolicy {
                name: r.name.clone(),
                kind: match r.kind {
                    RedirectKind::Service(_) => "service",
                    RedirectKind::Snat => "snat",
                },
                resilient_hashing: r.group.is_resilient(),
                members: r.nodes().iter().map(node_name).collect(),
                capped: r.capped.iter().map(node_name).collect(),
                excluded: r.excluded.iter().map(node_name).collect(),
            })
            .collect();
        let mut snat_policies = Vec::new();
        for (pi, p) in st.cfg.snat_policies.iter().enumerate() {
            let units: Vec<usize> = (0..st.units.len())
                .filter(|u| st.units[*u].policy == pi)
                .collect();
            let mut chunks = Vec::new();
            let mut without = Vec::new();
            for u in &units {
                let unit = &st.units[*u];
                for ((node, uu), a) in &st.snat.by_node {
                    if uu == u {
                        chunks.push(SnatChunk {
                            node: node_name(node),
                            ip: a.ip.to_string(),
                            start: a.chunk.start,
                            end: a.chunk.end,
                            service: unit.service.map(|s| svc_name(s.index())),
                        });
                    }
                }
                if let Some(left) = st.snat.exhausted.get(u) {
                    without.extend(left.iter().map(node_name));
                }
            }
            chunks.sort_by(|a, b| (&a.node, &a.ip).cmp(&(&b.node, &b.ip)));
            without.sort();
            without.dedup();
            let (status, reason) = match (&p.failed, without.is_empty()) {
                (Some(why), _) => ("Failed", Some(why.clone())),
                (None, false) => (
                    "IpPortsExhausted",
                    Some(format!(
                        "{} node(s) got no chunk; their pods leave un-NATed",
                        without.len()
                    )),
                ),
                (None, true) => ("Ready", None),
            };
            let mut ips: Vec<String> = units
                .iter()
                .flat_map(|u| st.units[*u].ips.iter().map(|i| i.to_string()))
                .collect();
            if p.failed.is_some()
                && let Some(x) = &p.snat_ips
            {
                ips = x.iter().map(|i| i.to_string()).collect();
            }
            snat_policies.push(SnatPolicy {
                name: p.name.clone(),
                status,
                reason,
                snat_ips: ips,
                chunks,
                nodes_without_chunk: without,
            });
        }
        let by_node = cluster.pods_by_node();
        let pod_chunks = cluster
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| NodeCount {
                node: n.name.clone(),
                pods: by_node[i].len(),
                chunks: st.pod_chunks[i],
            })
            .collect();
        Allocation {
            design: design.to_string(),
            load_balancers,
            redirect_policies,
            snat_policies,
            pod_chunks,
        }
    }

    /// The text `validate` prints.
    // Long: the document top to bottom, one block per section or row.
    pub fn text(&self, ports_per_node: u32, chunks_per_ip: usize) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "design {} (aci-cni):", self.design);
        for lb in &self.load_balancers {
            match (&lb.ip, &lb.condition) {
                (Some(ip), _) => {
                    let _ = writeln!(out, "  LoadBalancer {}: {ip}", lb.service);
                }
                (None, Some(c)) => {
                    let _ = writeln!(out, "  warning: LoadBalancer {}: no IP — {c}", lb.service);
                }
                (None, None) => {}
            }
        }
        for r in &self.redirect_policies {
            let mut extra = String::new();
            if !r.capped.is_empty() {
                let _ = write!(
                    extra,
                    ", {} left out by max_nodes_svc_graph",
                    r.capped.len()
                );
            }
            if !r.excluded.is_empty() {
                let _ = write!(
                    extra,
                    ", {} excluded by node_snat_redirect_exclude ({})",
                    r.excluded.len(),
                    r.excluded.join(", ")
                );
            }
            let hashing = if r.resilient_hashing {
                "resilient"
            } else {
                "not resilient"
            };
            let _ = writeln!(
                out,
                "  redirect policy {}: {} node(s){extra}, {hashing}",
                r.name,
                r.members.len()
            );
            if r.members.is_empty() {
                let _ = writeln!(
                    out,
                    "  warning: redirect policy {} has no destination: the fabric has nowhere to send {}",
                    r.name,
                    if r.kind == "snat" {
                        "replies to the SNAT IPs (every SNATed connection fails)"
                    } else {
                        "the service's traffic"
                    }
                );
            }
        }
        for p in &self.snat_policies {
            match p.status {
                "Failed" => {
                    let _ = writeln!(
                        out,
                        "  warning: SNAT policy {}: status Failed: {}",
                        p.name,
                        p.reason.as_deref().unwrap_or("")
                    );
                    continue;
                }
                _ => {
                    let nodes: std::collections::BTreeSet<&str> =
                        p.chunks.iter().map(|c| c.node.as_str()).collect();
                    let _ = writeln!(
                        out,
                        "  SNAT policy {}: IPs [{}], {chunks_per_ip} chunk(s) of {ports_per_node} ports per IP, {} chunk(s) to {} node(s)",
                        p.name,
                        p.snat_ips.join(", "),
                        p.chunks.len(),
                        nodes.len()
                    );
                }
            }
            if !p.nodes_without_chunk.is_empty() {
                let _ = writeln!(
                    out,
                    "  warning: SNAT policy {}: status IpPortsExhausted: {} node(s) got no chunk and their pods leave un-NATed: {}",
                    p.name,
                    p.nodes_without_chunk.len(),
                    p.nodes_without_chunk.join(", ")
                );
            }
        }
        out
    }
}

/// What the ACI-CNI controller would create: LoadBalancer IPs, redirect policies, SNAT chunks,
/// and the policies left `IpPortsExhausted` or `Failed` (as warnings), for `validate`.
pub fn summary(s: &crate::scenario::Scenario, name: &str, cfg: &super::AciConfig) -> String {
    Allocation::of(name, &s.cluster, &AciState::compile(&s.cluster, cfg))
        .text(cfg.port_range.ports_per_node, cfg.port_range.chunks().len())
}
