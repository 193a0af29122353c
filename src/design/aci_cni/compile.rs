//! Compiles the cluster under an ACI-CNI configuration into data-plane state: IPAM (pod chunks,
//! node service IPs, LoadBalancer IPs), EPGs and contracts, external EPGs, PBR redirect policies,
//! SNAT policy stacks and the controller's chunk allocation.
//!
//! Invariant: a pure function of (fabric, cluster, config); no I/O, deterministic order
//! (nodes sorted by name where the controller sorts by name, otherwise declaration order).

use super::config::*;
use super::snat_scope::{self, StackEntry};
use crate::cluster::{Cluster, NodeId, PodId, ServiceId, ServiceType};
use crate::nat::snat::SnatGlobalInfo;
use crate::net::buckets::HashGroup;
use crate::net::{Subnet, host};
use crate::policy::*;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// What a redirect policy serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectKind {
    Service(ServiceId),
    Snat,
}

/// A PBR redirect policy: its destinations (nodes, by their node service IP) and hash table.
#[derive(Clone, Debug)]
pub struct Redirect {
    pub name: String,
    pub kind: RedirectKind,
    pub group: HashGroup<NodeId>,
    /// Nodes beyond `max_nodes_svc_graph`, left out.
    pub capped: Vec<NodeId>,
}

/// Why an endpoint is in its EPG.
#[derive(Clone, Debug)]
pub enum EpgReason {
    Default,
    SystemNamespace,
    NamespaceAnnotation,
    DeploymentAnnotation,
    PodAnnotation,
}

impl std::fmt::Display for EpgReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EpgReason::Default => "the cluster's default EPG",
            EpgReason::SystemNamespace => "namespace kube-system maps to the system EPG",
            EpgReason::NamespaceAnnotation => "the namespace's endpoint-group annotation",
            EpgReason::DeploymentAnnotation => "the deployment's endpoint-group annotation",
            EpgReason::PodAnnotation => "the pod's endpoint-group annotation",
        })
    }
}

#[derive(Clone, Debug)]
pub struct AciState {
    pub cfg: AciConfig,
    pub pod_ip: Vec<Ipv4Addr>,
    pub ip_to_pod: BTreeMap<Ipv4Addr, PodId>,
    pub node_svc_ip: Vec<Ipv4Addr>,
    pub lb_ip: Vec<Option<Ipv4Addr>>,
    pub lb_to_service: BTreeMap<Ipv4Addr, ServiceId>,
    pub policy: PolicyModel,
    pub pod_epg: Vec<(EpgId, EpgReason)>,
    pub kube_nodes: EpgId,
    /// Node IPs, sorted (kube-nodes endpoints).
    pub node_ips: Vec<Ipv4Addr>,
    pub l3out_epgs: Vec<EpgId>,
    pub l3out_contract: ContractId,
    pub redirects: Vec<Redirect>,
    pub svc_redirect: Vec<Option<RedirectId>>,
    pub snat_redirect: Option<RedirectId>,
    /// Effective SNAT IPs per policy (SERVICE scope: the selected services' LoadBalancer IPs).
    pub policy_ips: Vec<Vec<Ipv4Addr>>,
    pub snat: SnatGlobalInfo,
    pub pod_stack: Vec<Vec<StackEntry>>,
}

/// Node ids sorted by node name, as the controller lists PBR destinations.
fn by_name(cluster: &Cluster, nodes: impl IntoIterator<Item = NodeId>) -> Vec<NodeId> {
    let mut v: Vec<NodeId> = nodes.into_iter().collect();
    v.sort_by(|a, b| cluster.node(*a).name.cmp(&cluster.node(*b).name));
    v.dedup();
    v
}

fn nth(subnets: &[Subnet], n: u64) -> Ipv4Addr {
    crate::net::nth_host(subnets, n).unwrap_or(Ipv4Addr::UNSPECIFIED)
}

impl AciState {
    pub fn compile(cluster: &Cluster, cfg: &AciConfig) -> AciState {
        let cfg = cfg.clone();
        // IPAM: node k gets ceil(pods/chunk) chunks of pod_subnet_chunk_size addresses, in node
        // order (approximation of the controller's allocator: contiguous chunks, first fit).
        let chunk = u64::from(cfg.pod_subnet_chunk_size.max(1));
        let mut pod_ip = vec![Ipv4Addr::UNSPECIFIED; cluster.pods.len()];
        let mut next_chunk = 0u64;
        let pods_by_node = cluster.pods_by_node();
        for on_node in &pods_by_node {
            let chunks = (on_node.len() as u64).div_ceil(chunk).max(1);
            for (j, p) in on_node.iter().enumerate() {
                pod_ip[p.index()] = nth(&cfg.pod_subnets, next_chunk * chunk + j as u64);
            }
            next_chunk += chunks;
        }
        let ip_to_pod = pod_ip
            .iter()
            .enumerate()
            .map(|(i, ip)| (*ip, PodId(i as u32)))
            .collect();
        let node_svc_ip = (0..cluster.nodes.len())
            .map(|k| nth(&[cfg.node_svc_subnet], k as u64))
            .collect();

        // LoadBalancer IPs: requested (extern_static), else lowest free of extern_dynamic from .2.
        let mut lb_ip = vec![None; cluster.services.len()];
        let mut used: Vec<Ipv4Addr> = cluster
            .services
            .iter()
            .filter_map(|s| s.requested_lb_ip)
            .collect();
        let mut cursor = 0u64;
        for (i, s) in cluster.services.iter().enumerate() {
            if s.kind != ServiceType::LoadBalancer {
                continue;
            }
            lb_ip[i] = Some(match s.requested_lb_ip {
                Some(ip) => ip,
                None => loop {
                    let ip = nth(&cfg.extern_dynamic, cursor);
                    cursor += 1;
                    if !used.contains(&ip) {
                        used.push(ip);
                        break ip;
                    }
                },
            });
        }
        let lb_to_service = lb_ip
            .iter()
            .enumerate()
            .filter_map(|(i, ip)| ip.map(|ip| (ip, ServiceId(i as u32))))
            .collect();

        // EPGs and acc-provision's default contracts (FACTS §1 "Policy model").
        let mut policy = PolicyModel::default();
        let default = policy.add_epg("kube-default", EpgKind::App);
        let system = policy.add_epg("kube-system", EpgKind::App);
        let nodes = policy.add_epg("kube-nodes", EpgKind::App);
        let l3out_epgs: Vec<EpgId> = cfg
            .external_networks
            .iter()
            .map(|n| policy.add_epg(n, EpgKind::External))
            .collect();
        // The L3Out's external EPGs classify every outside address (0.0.0.0/0), the usual setup.
        if let Some(first) = l3out_epgs.first() {
            policy.add_external_subnet("0.0.0.0/0".parse().expect("valid"), *first);
        }
        let c = |name: &str, filters: Vec<Filter>, providers: Vec<EpgId>, consumers: Vec<EpgId>| {
            Contract {
                name: name.into(),
                filters,
                providers,
                consumers,
                graph: None,
            }
        };
        policy.add_contract(c(
            "kube-api",
            vec![Filter::tcp(6443), Filter::tcp(8443)],
            vec![nodes],
            vec![default],
        ));
        policy.add_contract(c(
            "dns",
            vec![Filter::udp(53), Filter::tcp(53)],
            vec![system, nodes],
            vec![default],
        ));
        policy.add_contract(c(
            "icmp",
            vec![Filter::proto(crate::net::Proto::Icmp)],
            vec![system, nodes],
            vec![default],
        ));
        policy.add_contract(c(
            "health-check",
            vec![Filter::proto(crate::net::Proto::Tcp)],
            vec![default, system],
            vec![nodes],
        ));
        let mut l3out_consumers = vec![nodes];
        if cfg.add_external_contract_to_default_epg {
            l3out_consumers.push(default);
        }
        let l3out_contract = policy.add_contract(c(
            "kube-l3out-allow-all",
            vec![Filter::ANY],
            l3out_epgs.clone(),
            l3out_consumers,
        ));

        // Endpoint EPGs: default < kube-system namespace < namespace annotation < deployment annotation.
        let pod_epg = cluster
            .pods
            .iter()
            .map(|p| {
                let dep = &cluster.deployments[p.deployment.index()];
                let ns = &cluster.namespaces[p.namespace.index()];
                let ann = |a: &crate::scenario::decode::Labels| {
                    a.get(EPG_ANNOTATION)
                        .and_then(|v| epg_from_annotation(v).ok())
                };
                if let Some(n) = ann(&p.annotations) {
                    (policy.add_epg(&n, EpgKind::App), EpgReason::PodAnnotation)
                } else if let Some(n) = ann(&dep.annotations) {
                    (
                        policy.add_epg(&n, EpgKind::App),
                        EpgReason::DeploymentAnnotation,
                    )
                } else if let Some(n) = ann(&ns.annotations) {
                    (
                        policy.add_epg(&n, EpgKind::App),
                        EpgReason::NamespaceAnnotation,
                    )
                } else if ns.name == "kube-system" {
                    (system, EpgReason::SystemNamespace)
                } else {
                    (default, EpgReason::Default)
                }
            })
            .collect();
        for u in &cfg.contracts {
            let ids = |names: &[String], policy: &mut PolicyModel| -> Vec<EpgId> {
                names
                    .iter()
                    .filter_map(|n| {
                        policy
                            .epg_by_name(n)
                            .or_else(|| Some(policy.add_epg(n, EpgKind::App)))
                    })
                    .collect()
            };
            let providers = ids(&u.providers, &mut policy);
            let consumers = ids(&u.consumers, &mut policy);
            policy.add_contract(c(&u.name, u.filters.clone(), providers, consumers));
        }

        let cap = cfg.max_nodes_svc_graph as usize;
        let mut redirects = Vec::new();
        let mut make_redirect = |name: String, kind: RedirectKind, members: Vec<NodeId>| {
            let (kept, capped) = if members.len() > cap {
                (members[..cap].to_vec(), members[cap..].to_vec())
            } else {
                (members, Vec::new())
            };
            redirects.push(Redirect {
                name,
                kind,
                group: HashGroup::new(kept, cfg.resilient_hashing),
                capped,
            });
            RedirectId(redirects.len() as u32 - 1)
        };

        // Per LoadBalancer service: external EPG with the LB IP/32, contract with the service's
        // ports consumed by the L3Out's EPGs, service graph redirecting to nodes with a ready endpoint.
        let sys = cfg.system_id.clone();
        let mut svc_redirect = vec![None; cluster.services.len()];
        for (i, s) in cluster.services.iter().enumerate() {
            let Some(ip) = lb_ip[i] else { continue };
            let ns = cluster.namespace_name(s.namespace);
            let ready_nodes = by_name(
                cluster,
                s.endpoints
                    .iter()
                    .filter(|p| cluster.pod(**p).ready)
                    .map(|p| cluster.pod(*p).node),
            );
            if ready_nodes.is_empty() {
                continue; // created once at least one node qualifies
            }
            let name = format!("{sys}_svc_{ns}_{}", s.name);
            let rid = make_redirect(
                name.clone(),
                RedirectKind::Service(ServiceId(i as u32)),
                ready_nodes,
            );
            let epg = policy.add_epg(&name, EpgKind::External);
            policy.add_external_subnet(host(ip), epg);
            let filters = s
                .ports
                .iter()
                .map(|p| Filter {
                    proto: Some(p.proto),
                    ports: Some((p.port, p.port)),
                })
                .collect();
            policy.add_contract(Contract {
                name,
                filters,
                providers: vec![epg],
                consumers: l3out_epgs.clone(),
                graph: Some(Graph {
                    redirect: rid,
                    toward: epg,
                }),
            });
            svc_redirect[i] = Some(rid);
        }

        // SNAT: effective IPs per policy; SERVICE-scope policies reuse LoadBalancer IPs.
        let policy_ips: Vec<Vec<Ipv4Addr>> = cfg
            .snat_policies
            .iter()
            .map(|p| match &p.snat_ips {
                Some(ips) => ips.clone(),
                None => cluster
                    .services
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| {
                        p.labels
                            .as_ref()
                            .is_some_and(|l| crate::cluster::selects(l, &s.labels))
                    })
                    .filter(|(_, s)| p.namespace.is_none_or(|n| n == s.namespace))
                    .filter_map(|(i, _)| lb_ip[i])
                    .collect(),
            })
            .collect();
        let pod_stack: Vec<Vec<StackEntry>> = (0..cluster.pods.len())
            .map(|p| snat_scope::stack(&cfg.snat_policies, cluster, PodId(p as u32)))
            .collect();

        let mut snat_redirect = None;
        let explicit_ips: Vec<Ipv4Addr> = cfg
            .snat_policies
            .iter()
            .filter(|p| p.failed.is_none())
            .filter_map(|p| p.snat_ips.clone())
            .flatten()
            .collect();
        if !explicit_ips.is_empty() {
            let name = format!("{sys}_snat_svcgraph");
            let all = by_name(cluster, (0..cluster.nodes.len()).map(|n| NodeId(n as u32)));
            let rid = make_redirect(name.clone(), RedirectKind::Snat, all);
            let epg = policy.add_epg(&name, EpgKind::External);
            for ip in &explicit_ips {
                policy.add_external_subnet(host(*ip), epg);
            }
            // TCP and UDP only: the protocols with return flows through SNAT (FACTS §1).
            policy.add_contract(Contract {
                name,
                filters: vec![
                    Filter::proto(crate::net::Proto::Tcp),
                    Filter::proto(crate::net::Proto::Udp),
                ],
                providers: l3out_epgs.clone(),
                consumers: vec![epg],
                graph: Some(Graph {
                    redirect: rid,
                    toward: epg,
                }),
            });
            snat_redirect = Some(rid);
        }
        // SERVICE-scope SNAT returns through the service's own contract: approximation, the
        // SNAT port range is added to that contract's filter.
        for (pi, p) in cfg.snat_policies.iter().enumerate() {
            if p.snat_ips.is_some() || p.failed.is_some() {
                continue;
            }
            for ip in &policy_ips[pi] {
                let Some((_, epg)) = policy.classify_external(*ip) else {
                    continue;
                };
                if let Some(c) = policy
                    .contracts
                    .iter_mut()
                    .find(|c| c.providers == vec![epg])
                {
                    let pr = cfg.port_range;
                    for proto in [crate::net::Proto::Tcp, crate::net::Proto::Udp] {
                        c.filters.push(Filter {
                            proto: Some(proto),
                            ports: Some((pr.start as u16, pr.end as u16)),
                        });
                    }
                }
            }
        }

        // The controller's allocation: nodes by name; a node asks for a policy that selects at
        // least one pod on it.
        let mut requests = Vec::new();
        for n in by_name(cluster, (0..cluster.nodes.len()).map(|n| NodeId(n as u32))) {
            for (pi, _) in cfg.snat_policies.iter().enumerate() {
                if pods_by_node[n.index()]
                    .iter()
                    .any(|p| pod_stack[p.index()].iter().any(|e| e.policy == pi))
                {
                    requests.push((n, pi));
                }
            }
        }
        let snat = SnatGlobalInfo::allocate(&cfg.port_range, &policy_ips, requests);

        AciState {
            cfg,
            pod_ip,
            ip_to_pod,
            node_svc_ip,
            lb_ip,
            lb_to_service,
            policy,
            pod_epg,
            kube_nodes: nodes,
            node_ips: {
                let mut v: Vec<Ipv4Addr> = cluster.nodes.iter().map(|n| n.ip).collect();
                v.sort();
                v
            },
            l3out_epgs,
            l3out_contract,
            redirects,
            svc_redirect,
            snat_redirect,
            policy_ips,
            snat,
            pod_stack,
        }
    }

    pub fn redirect(&self, id: RedirectId) -> &Redirect {
        &self.redirects[id.index()]
    }

    /// Whether an address belongs to the cluster (no SNAT towards it): pod, node, node service,
    /// cluster service subnets.
    pub fn is_cluster_internal(&self, cluster: &Cluster, ip: Ipv4Addr) -> bool {
        self.cfg
            .pod_subnets
            .iter()
            .chain(&self.cfg.node_subnets)
            .any(|s| s.net.contains(&ip))
            || self.cfg.node_svc_subnet.net.contains(&ip)
            || self
                .cfg
                .cluster_svc_subnet
                .is_some_and(|s| s.net.contains(&ip))
            || cluster.service_subnet.is_some_and(|s| s.net.contains(&ip))
    }
}
