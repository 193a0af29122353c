//! Compiles the cluster under an ACI-CNI configuration into data-plane state: IPAM (pod chunks,
//! node service IPs, LoadBalancer IPs), EPGs and contracts, external EPGs, PBR redirect policies,
//! SNAT units, stacks and the controller's chunk allocation.
//!
//! Invariant: a pure function of (cluster, config); no I/O, deterministic order (nodes sorted by
//! name where the controller sorts by name, otherwise declaration order).

use super::config::*;
use super::epgs;
pub use super::epgs::EpgReason;
use super::snat_scope::{self, SnatUnit, Stack};
use crate::cluster::{Cluster, EndpointsAt, NodeId, PodId, ServiceId, ServiceType};
use crate::dataplane::addresses::Addresses;
use crate::nat::snat::SnatGlobalInfo;
use crate::net::buckets::HashGroup;
use crate::net::{Subnet, host};
use crate::policy::*;
use ipnet::Ipv4Net;
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
    /// The hash salt of the name (`net::hash::salt`), computed once.
    pub salt: u64,
    pub kind: RedirectKind,
    pub group: HashGroup<PbrDest>,
    /// SNAT graph only: nodes past `max_nodes_svc_graph` in name order, left out.
    pub capped: Vec<NodeId>,
    /// SNAT graph only: nodes within the cap left out by `node_snat_redirect_exclude` (their
    /// slots are not given to others).
    pub excluded: Vec<NodeId>,
}

/// A PBR destination: a node, and in a service's graph where the node's endpoints of the
/// service are recorded (OVS's second stage reads them per connection with no look-up).
/// Eight bytes: a bucket's owner is read per connection from 256 per service graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PbrDest {
    pub node: NodeId,
    pub endpoints: Option<EndpointsAt>,
}

impl Redirect {
    /// `node` as a destination of this policy.
    fn dest(&self, cluster: &Cluster, node: NodeId) -> PbrDest {
        PbrDest {
            node,
            endpoints: match self.kind {
                RedirectKind::Service(svc) => cluster.endpoints_at(svc, node),
                RedirectKind::Snat => None,
            },
        }
    }

    /// The destination nodes, in the group's order.
    pub fn nodes(&self) -> Vec<NodeId> {
        self.group.members().iter().map(|d| d.node).collect()
    }

    /// Adds `node` (appended); false if it is one already.
    pub fn add_node(&mut self, cluster: &Cluster, node: NodeId) -> bool {
        let d = self.dest(cluster, node);
        self.group.add(d)
    }

    /// Removes `node`; false if it was not one.
    pub fn remove_node(&mut self, node: NodeId) -> bool {
        let d = self
            .group
            .members()
            .iter()
            .find(|d| d.node == node)
            .copied();
        d.is_some_and(|d| self.group.remove(d))
    }
}

const _: () = assert!(std::mem::size_of::<PbrDest>() == 8);

#[derive(Clone, Debug)]
pub struct AciState {
    pub cfg: AciConfig,
    /// Pod and LoadBalancer addresses.
    pub addr: Addresses,
    /// Pod address chunks each node holds.
    pub pod_chunks: Vec<u32>,
    pub node_svc_ip: Vec<Ipv4Addr>,
    pub cluster_ip_to_service: BTreeMap<Ipv4Addr, ServiceId>,
    pub policy: PolicyModel,
    pub pod_epg: Vec<(EpgId, EpgReason)>,
    pub default_epg: EpgId,
    pub kube_nodes: EpgId,
    /// Node IPs, sorted (kube-nodes endpoints).
    pub node_ips: Vec<Ipv4Addr>,
    pub l3out_epgs: Vec<EpgId>,
    pub l3out_contract: ContractId,
    pub redirects: Vec<Redirect>,
    pub svc_redirect: Vec<Option<RedirectId>>,
    /// Each LoadBalancer service's contract (provided by its /32 external EPG).
    pub svc_contract: Vec<Option<ContractId>>,
    pub snat_redirect: Option<RedirectId>,
    /// What the controller allocates chunks for (policies with snatIp; SERVICE policies per
    /// service IP).
    pub units: Vec<SnatUnit>,
    pub snat: SnatGlobalInfo,
    /// The distinct SNAT flow stacks; each pod's index among them is its tag in `addr`
    /// (`pod_stack`, read with the pod's address and node). Most pods share one (a
    /// cluster-scope policy gives every pod on an allocated node the same), so the walk reads a
    /// stack that stays in cache instead of one allocation per pod.
    stacks: Vec<Stack>,
    /// `snat.by_node` by node × unit, for the walk's look-up.
    alloc_of: Vec<Option<crate::nat::snat::Allocation>>,
    /// The routing domain's internal subnets: OVS routes them inside the fabric at priority
    /// 300 + prefix length, above every SNAT flow (opflex `IntFlowManager.cpp`
    /// `handleRoutingDomainUpdate`). The BD subnets of the VRF (node, pod, node service) from
    /// the controller's rdconfig (`rdconfig.go` `syncRdConfig`, DiscoveredSubnets), plus
    /// extern_dynamic/extern_static with `add_external_subnets_to_rdconfig` (UserSubnets).
    pub internal: Vec<Ipv4Net>,
}

/// Node ids sorted by node name, as the controller lists PBR destinations.
fn by_name(cluster: &Cluster, nodes: impl IntoIterator<Item = NodeId>) -> Vec<NodeId> {
    let mut v: Vec<NodeId> = nodes.into_iter().collect();
    v.sort_by_key(|n| cluster.name_rank(*n));
    v.dedup();
    v
}

fn all_nodes(cluster: &Cluster) -> Vec<NodeId> {
    by_name(cluster, (0..cluster.nodes.len()).map(|n| NodeId(n as u32)))
}

/// Chunks of `chunk` pod addresses a node holds for `pods` pods: the controller adds one when
/// the node's pods exceed size − chunk/2 (aci-containers `pkg/controller/nodes.go`
/// `allocateIpChunk`: `len(nodePods) > size - PodIpPoolChunkSize/2`, integer division), so 20
/// pods with chunks of 32 hold 2 chunks.
pub fn pod_chunks(pods: u64, chunk: u64) -> u64 {
    let chunk = chunk.max(1);
    let mut k = 1;
    while pods > k * chunk - chunk / 2 {
        k += 1;
    }
    k
}

/// Whether a node carries every `node-role.kubernetes.io/<label>` of one exclusion entry
/// (aci-containers `services.go` `nodeLabelsInExcludeList`: key presence only).
fn excluded(cfg: &AciConfig, labels: &crate::cluster::Labels) -> bool {
    cfg.node_snat_redirect_exclude.iter().any(|group| {
        !group.is_empty()
            && group
                .iter()
                .all(|l| labels.contains_key(&format!("node-role.kubernetes.io/{l}")))
    })
}

impl AciState {
    // Long: the compile steps in order, then the state they make (a 40-line struct
    // literal).
    pub fn compile(cluster: &Cluster, cfg: &AciConfig) -> AciState {
        let cfg = cfg.clone();
        let pods_by_node = cluster.pods_by_node();
        let (pod_ip, chunks_held) = pod_addresses(cluster, &cfg, &pods_by_node);
        let node_svc_ip = (0..cluster.nodes.len())
            .map(|k| {
                crate::net::nth_host(&[cfg.node_svc_subnet], k as u64)
                    .unwrap_or(Ipv4Addr::UNSPECIFIED)
            })
            .collect();
        let lb_ip = allocate_lb_ips(cluster, &cfg);
        let cluster_ip_to_service = cluster
            .services
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.cluster_ip.map(|ip| (ip, ServiceId(i as u32))))
            .collect();

        let mut dp = epgs::default_policy(&cfg);
        let pod_epg = epgs::place_pods(cluster, &mut dp);
        user_contracts(&cfg, &mut dp.policy);
        let mut policy = dp.policy;
        let l3out_epgs = dp.l3out_epgs;

        let mut redirects = Vec::new();

        let (svc_redirect, svc_contract) = service_graphs(
            cluster,
            &cfg,
            &lb_ip,
            &mut policy,
            &mut redirects,
            &l3out_epgs,
            dp.default,
        );

        let units = snat_units(cluster, &cfg, &lb_ip);
        let unit_of = |policy: usize, service: Option<ServiceId>| {
            units
                .iter()
                .position(|u| u.policy == policy && u.service == service)
        };

        let snat_redirect = snat_graph(
            cluster,
            &cfg,
            &units,
            &mut policy,
            &mut redirects,
            &l3out_epgs,
        );
        // SERVICE-scope SNAT returns through the service's own contract: approximation, the
        // SNAT port range is added to that contract's filter.
        for u in units.iter().filter(|u| u.service.is_some()) {
            let Some(c) = u.service.and_then(|s| svc_contract[s.index()]) else {
                continue;
            };
            let pr = cfg.port_range;
            for proto in [crate::net::Proto::Tcp, crate::net::Proto::Udp] {
                policy.add_filter(
                    c,
                    Filter {
                        proto: Some(proto),
                        ports: Some((pr.start as u16, pr.end as u16)),
                    },
                );
            }
        }

        // Demand (hostagent `syncSnatNodeInfo`): a node asks for every policy matching one of its
        // pods, whatever wins per pod; the controller then allocates each of the policy's units.
        // Approximation: requests reach the controller in node-name order, and per node in
        // policy order (the controller takes them in event order from a work queue).
        let requests = snat_requests(cluster, &cfg, &lb_ip, &units, &pods_by_node);
        let unit_ips: Vec<Vec<Ipv4Addr>> = units.iter().map(|u| u.ips.clone()).collect();
        let snat = SnatGlobalInfo::allocate(&cfg.port_range, &unit_ips, requests);
        let internal = internal_subnets(&cfg);
        let mut alloc_of = vec![None; cluster.nodes.len() * units.len()];
        for ((node, unit), alloc) in &snat.by_node {
            if let Some(slot) = alloc_of.get_mut(node.index() * units.len() + unit) {
                *slot = Some(*alloc);
            }
        }
        let (stacks, stack_of) = pod_stacks(cluster, &cfg, &lb_ip, unit_of, &alloc_of, units.len());

        AciState {
            addr: Addresses::new(
                pod_ip
                    .into_iter()
                    .zip(cluster.pods.iter())
                    .zip(stack_of)
                    .map(|((ip, p), s)| (ip, p.node, s)),
                lb_ip,
            ),
            pod_chunks: chunks_held,
            node_svc_ip,
            cluster_ip_to_service,
            policy,
            pod_epg,
            default_epg: dp.default,
            kube_nodes: dp.nodes,
            node_ips: {
                let mut v: Vec<Ipv4Addr> = cluster.nodes.iter().map(|n| n.ip).collect();
                v.sort();
                v
            },
            l3out_epgs,
            l3out_contract: dp.l3out_contract,
            redirects,
            svc_redirect,
            svc_contract,
            snat_redirect,
            units,
            snat,
            alloc_of,
            stacks,
            internal,
            cfg,
        }
    }

    pub fn redirect(&self, id: RedirectId) -> &Redirect {
        &self.redirects[id.index()]
    }

    /// The internal subnet holding `ip`, if any (no SNAT towards it, never through the L3Out).
    pub fn internal_subnet(&self, ip: Ipv4Addr) -> Option<Ipv4Net> {
        self.internal.iter().copied().find(|n| n.contains(&ip))
    }

    /// Pod `pod`'s SNAT flows.
    pub fn pod_stack(&self, pod: PodId) -> &Stack {
        &self.stacks[self.addr.pod_tag(pod) as usize]
    }

    /// The allocation of `node` for the stack entry's unit (a direct index of the controller's
    /// `snat.by_node`).
    pub fn allocation(&self, node: NodeId, unit: usize) -> Option<crate::nat::snat::Allocation> {
        match self.units.len() {
            0 => None,
            n if unit < n => self
                .alloc_of
                .get(node.index() * n + unit)
                .copied()
                .flatten(),
            _ => None,
        }
    }
}

/// LoadBalancer IPs (aci-containers `services.go` `allocateServiceIps`): a requested IP comes
/// from extern_static's pool only (else none: RequestedIpsNotAllocatable, reported by the
/// loader); the others take the lowest free address of extern_dynamic's pool, hosts
/// n[2]..n[−2] (acc-provision `cidr_split`).
fn allocate_lb_ips(cluster: &Cluster, cfg: &AciConfig) -> Vec<Option<Ipv4Addr>> {
    let mut lb_ip = vec![None; cluster.services.len()];
    let mut used: Vec<Ipv4Addr> = Vec::new();
    for (i, s) in cluster.services.iter().enumerate() {
        if s.kind != ServiceType::LoadBalancer {
            continue;
        }
        if let Some(ip) = s.requested_lb_ip
            && in_pool(&cfg.extern_static, ip)
            && !used.contains(&ip)
        {
            used.push(ip);
            lb_ip[i] = Some(ip);
        }
    }
    // An address the service already has (a dump's status) stays when a pool holds it.
    for (i, s) in cluster.services.iter().enumerate() {
        if let (None, Some(ip)) = (s.requested_lb_ip, s.assigned_lb_ip)
            && s.kind == ServiceType::LoadBalancer
            && (in_pool(&cfg.extern_dynamic, ip) || in_pool(&cfg.extern_static, ip))
            && !used.contains(&ip)
        {
            used.push(ip);
            lb_ip[i] = Some(ip);
        }
    }
    let mut cursor = 0u64;
    for (i, s) in cluster.services.iter().enumerate() {
        if s.kind != ServiceType::LoadBalancer || s.requested_lb_ip.is_some() || lb_ip[i].is_some()
        {
            continue;
        }
        while let Some(ip) = pool_host(&cfg.extern_dynamic, cursor) {
            cursor += 1;
            if !used.contains(&ip) {
                used.push(ip);
                lb_ip[i] = Some(ip);
                break;
            }
        }
    }
    lb_ip
}

/// IPAM: each node's chunks are consecutive, in node order (approximation: the controller hands
/// out the lowest free chunk as pods arrive, so a node's second chunk may sit after other nodes'
/// first; the addresses differ, the counts do not). Each pod's address and each node's chunks.
fn pod_addresses(
    cluster: &Cluster,
    cfg: &AciConfig,
    pods_by_node: &[&[PodId]],
) -> (Vec<Ipv4Addr>, Vec<u32>) {
    let chunk = u64::from(cfg.pod_subnet_chunk_size.max(1));
    let mut pod_ip = vec![Ipv4Addr::UNSPECIFIED; cluster.pods.len()];
    let mut next_chunk = 0u64;
    let mut chunks_held = Vec::with_capacity(cluster.nodes.len());
    for on_node in pods_by_node {
        let chunks = pod_chunks(on_node.len() as u64, chunk);
        for (j, p) in on_node.iter().enumerate() {
            pod_ip[p.index()] =
                crate::net::nth_host(&cfg.pod_subnets, next_chunk * chunk + j as u64)
                    .unwrap_or(Ipv4Addr::UNSPECIFIED);
        }
        next_chunk += chunks;
        chunks_held.push(chunks as u32);
    }
    (pod_ip, chunks_held)
}

/// Per LoadBalancer service (aci-containers `services.go` `updateServiceDeviceInstance`): a
/// redirect policy over EVERY node with a ready endpoint, sorted by name — no
/// max_nodes_svc_graph cap, no exclusion list; an external EPG with the LB IP/32 whose contract
/// (the service's ports) the L3Out's external EPGs consume, and with
/// add_external_contract_to_default_epg the default EPG too (`apicDefaultEgCons`). Each
/// service's redirect policy and contract.
#[allow(clippy::type_complexity)]
fn service_graphs(
    cluster: &Cluster,
    cfg: &AciConfig,
    lb_ip: &[Option<Ipv4Addr>],
    policy: &mut PolicyModel,
    redirects: &mut Vec<Redirect>,
    l3out_epgs: &[EpgId],
    default_epg: EpgId,
) -> (Vec<Option<RedirectId>>, Vec<Option<ContractId>>) {
    let sys = &cfg.system_id;
    let mut svc_redirect = vec![None; cluster.services.len()];
    let mut svc_contract = vec![None; cluster.services.len()];
    let (mut found, mut by_name): (Vec<PbrDest>, Vec<u64>) = (Vec::new(), Vec::new());
    for (i, s) in cluster.services.iter().enumerate() {
        let Some(ip) = lb_ip[i] else { continue };
        let ns = cluster.namespace_name(s.namespace);
        // The nodes with a ready endpoint, by name, each with where its endpoints are recorded.
        let svc = ServiceId(i as u32);
        found.clear();
        found.extend(
            cluster
                .endpoint_nodes(svc)
                .filter(|(_, _, ready)| *ready > 0)
                .map(|(node, at, _)| PbrDest {
                    node,
                    endpoints: Some(at),
                }),
        );
        if found.is_empty() {
            continue; // created once at least one node qualifies
        }
        // By name: (name rank, place in `found`) packed in one word. The ranks are distinct,
        // so an unstable sort of integers orders them as a stable sort by name would (a key
        // sort, even `sort_by_cached_key`, took a millisecond more over 1,000 services).
        by_name.clear();
        by_name.extend(
            found
                .iter()
                .enumerate()
                .map(|(k, d)| u64::from(cluster.name_rank(d.node)) << 32 | k as u64),
        );
        by_name.sort_unstable();
        let ready_nodes: Vec<PbrDest> = by_name.iter().map(|k| found[*k as u32 as usize]).collect();
        let name = format!("{sys}_svc_{ns}_{}", s.name);
        redirects.push(Redirect {
            salt: crate::net::hash::salt(&name),
            name: name.clone(),
            kind: RedirectKind::Service(svc),
            group: HashGroup::new(ready_nodes, cfg.resilient_hashing),
            capped: Vec::new(),
            excluded: Vec::new(),
        });
        let rid = RedirectId(redirects.len() as u32 - 1);
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
        let mut consumers = l3out_epgs.to_vec();
        if cfg.add_external_contract_to_default_epg {
            consumers.push(default_epg);
        }
        svc_contract[i] = Some(policy.add_contract(Contract {
            name,
            filters,
            providers: vec![epg],
            consumers,
            graph: Some(Graph {
                redirect: rid,
                toward: epg,
            }),
            reverse_tcp_established: false,
        }));
        svc_redirect[i] = Some(rid);
    }
    (svc_redirect, svc_contract)
}

/// SNAT allocation units: each policy with snatIp; each selected service of a SERVICE-scope
/// policy (its LoadBalancer IP).
fn snat_units(cluster: &Cluster, cfg: &AciConfig, lb_ip: &[Option<Ipv4Addr>]) -> Vec<SnatUnit> {
    let mut units: Vec<SnatUnit> = Vec::new();
    for (pi, p) in cfg.snat_policies.iter().enumerate() {
        if p.failed.is_some() {
            continue;
        }
        match &p.snat_ips {
            Some(ips) => units.push(SnatUnit {
                policy: pi,
                service: None,
                ips: ips.clone(),
            }),
            None => {
                for svc in snat_scope::selected_services(p, cluster, lb_ip) {
                    if let Some(ip) = lb_ip[svc.index()] {
                        units.push(SnatUnit {
                            policy: pi,
                            service: Some(svc),
                            ips: vec![ip],
                        });
                    }
                }
            }
        }
    }
    units
}

/// The SNAT service graph (`updateServiceDeviceInstanceSnat`): nodes sorted by name, the list
/// cut at max_nodes_svc_graph BEFORE excluded nodes are skipped; none without an explicit
/// snatIp.
fn snat_graph(
    cluster: &Cluster,
    cfg: &AciConfig,
    units: &[SnatUnit],
    policy: &mut PolicyModel,
    redirects: &mut Vec<Redirect>,
    l3out_epgs: &[EpgId],
) -> Option<RedirectId> {
    let sys = &cfg.system_id;
    let mut snat_redirect = None;
    let explicit_ips: Vec<Ipv4Addr> = units
        .iter()
        .filter(|u| u.service.is_none())
        .flat_map(|u| u.ips.iter().copied())
        .collect();
    if !explicit_ips.is_empty() {
        let name = format!("{sys}_snat_svcgraph");
        let all = all_nodes(cluster);
        let cap = (cfg.max_nodes_svc_graph as usize).min(all.len());
        let (within, capped) = all.split_at(cap);
        let (excl, kept): (Vec<NodeId>, Vec<NodeId>) = within
            .iter()
            .partition(|n| excluded(cfg, &cluster.node(**n).labels));
        redirects.push(Redirect {
            salt: crate::net::hash::salt(&name),
            name: name.clone(),
            kind: RedirectKind::Snat,
            group: HashGroup::new(
                kept.into_iter()
                    .map(|node| PbrDest {
                        node,
                        endpoints: None,
                    })
                    .collect(),
                cfg.resilient_hashing,
            ),
            capped: capped.to_vec(),
            excluded: excl,
        });
        let rid = RedirectId(redirects.len() as u32 - 1);
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
            providers: l3out_epgs.to_vec(),
            consumers: vec![epg],
            graph: Some(Graph {
                redirect: rid,
                toward: epg,
            }),
            reverse_tcp_established: false,
        });
        snat_redirect = Some(rid);
    }
    snat_redirect
}

/// Demand (hostagent `syncSnatNodeInfo`): a node asks for every policy matching one of its pods,
/// whatever wins per pod; the controller then allocates each of the policy's units.
/// Approximation: requests reach the controller in node-name order, and per node in policy
/// order (the controller takes them in event order from a work queue).
fn snat_requests(
    cluster: &Cluster,
    cfg: &AciConfig,
    lb_ip: &[Option<Ipv4Addr>],
    units: &[SnatUnit],
    pods_by_node: &[&[PodId]],
) -> Vec<(NodeId, usize)> {
    let mut requests = Vec::new();
    for n in all_nodes(cluster) {
        for (pi, p) in cfg.snat_policies.iter().enumerate() {
            let wanted = pods_by_node[n.index()]
                .iter()
                .any(|pod| snat_scope::scope_of(p, cluster, lb_ip, *pod).is_some());
            if wanted {
                for (ui, _) in units.iter().enumerate().filter(|(_, u)| u.policy == pi) {
                    requests.push((n, ui));
                }
            }
        }
    }
    requests
}

/// Every pod's SNAT flow stack, as the distinct stacks and each pod's index among them. A pod's
/// stack is its deployment's template (`snat_scope::Template`: worked out once per deployment)
/// on its node, which holds a chunk of some of the template's units (`alloc_of`, per node and
/// unit): the stack is built once per (template, units held) and looked up for the others (was
/// a stack built, compared and dropped per pod: 150,000 on the envelope).
fn pod_stacks(
    cluster: &Cluster,
    cfg: &AciConfig,
    lb_ip: &[Option<Ipv4Addr>],
    unit_of: impl Fn(usize, Option<crate::cluster::ServiceId>) -> Option<usize> + Copy,
    alloc_of: &[Option<crate::nat::snat::Allocation>],
    units: usize,
) -> (Vec<Stack>, Vec<u32>) {
    let mut stacks: Vec<Stack> = Vec::new();
    let mut known: BTreeMap<Stack, u32> = BTreeMap::new();
    let mut templates: BTreeMap<snat_scope::Template, u32> = BTreeMap::new();
    // (template, the template's positions whose unit the node holds) → stack.
    let mut built: rustc_hash::FxHashMap<(u32, u64), u32> = Default::default();
    let mut current: Option<(crate::cluster::DeploymentId, u32, snat_scope::Template)> = None;
    let mut stack_of = Vec::with_capacity(cluster.pods.len());
    let mut last: Option<((u32, u64), u32)> = None;
    for (p, pod) in cluster.pods.iter().enumerate() {
        let id = PodId(p as u32);
        // The deployment's template, worked out at its first pod (pods come by deployment).
        let (_, tid, t) = match current.take() {
            Some(same) if same.0 == pod.deployment => current.insert(same),
            _ => {
                let t = snat_scope::template(&cfg.snat_policies, cluster, lb_ip, id, unit_of);
                let n = templates.len() as u32;
                let tid = *templates.entry(t.clone()).or_insert(n);
                current.insert((pod.deployment, tid, t))
            }
        };
        let node = cluster.pod_node(id).index();
        let allocated = |u: usize| alloc_of.get(node * units + u).is_some_and(|a| a.is_some());
        let mut intern = |stack: Stack| {
            *known.entry(stack).or_insert_with_key(|stack| {
                stacks.push(stack.clone());
                stacks.len() as u32 - 1
            })
        };
        let held = t.units().enumerate().try_fold(0u64, |m, (k, u)| {
            (k < 64).then(|| m | u64::from(allocated(u)) << k)
        });
        let s = match held {
            Some(held) => match last {
                // The pod before it mostly had the same: no look-up.
                Some((k, s)) if k == (*tid, held) => s,
                _ => {
                    let s = match built.get(&(*tid, held)) {
                        Some(s) => *s,
                        None => {
                            let s = intern(t.stack(allocated));
                            built.insert((*tid, held), s);
                            s
                        }
                    };
                    last = Some(((*tid, held), s));
                    s
                }
            },
            // More than 64 positions: built for the pod.
            None => intern(t.stack(allocated)),
        };
        stack_of.push(s);
    }
    (stacks, stack_of)
}

/// The routing domain's internal subnets (see [`AciState::internal`]).
fn internal_subnets(cfg: &AciConfig) -> Vec<Ipv4Net> {
    let mut internal: Vec<Ipv4Net> = cfg
        .node_subnets
        .iter()
        .chain(&cfg.pod_subnets)
        .chain(std::iter::once(&cfg.node_svc_subnet))
        .map(|s: &Subnet| s.net)
        .collect();
    if cfg.add_external_subnets_to_rdconfig {
        internal.extend(
            cfg.extern_dynamic
                .iter()
                .chain(&cfg.extern_static)
                .map(|s| s.net),
        );
    }

    internal
}

/// The contracts the scenario declares between application EPGs (created when named first).
fn user_contracts(cfg: &AciConfig, policy: &mut PolicyModel) {
    for u in &cfg.contracts {
        let mut ids = |names: &[String]| -> Vec<EpgId> {
            names
                .iter()
                .map(|n| {
                    policy
                        .epg_by_name(n)
                        .unwrap_or_else(|| policy.add_epg(n, EpgKind::App))
                })
                .collect()
        };
        let providers = ids(&u.providers);
        let consumers = ids(&u.consumers);
        policy.add_contract(Contract {
            name: u.name.clone(),
            filters: u.filters.clone(),
            providers,
            consumers,
            graph: None,
            reverse_tcp_established: false,
        });
    }
}
