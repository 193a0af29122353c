//! Compiles the cluster under a BGP design: pod addressing (Calico blocks or per-node podCIDRs),
//! LoadBalancer IPs, what each node advertises, the sessions to the anchor leaves, and every
//! leaf's routing table with the reasons for each path kept or dropped.
//!
//! Floating L3Out (FACTS §2): nodes of an anchor rack peer with their rack's leaves; nodes of a
//! non-anchor rack peer with the anchor leaves of the first anchor rack, through the fabric, so
//! their paths cost more. Leaves learn the others' routes through the fabric (MP-BGP) with the
//! anchor leaf as next hop — one ECMP path per anchor leaf — unless next-hop propagate is set.

use super::config::*;
use crate::bgp::{self, Candidate, NextHop, Rejection, Route};
use crate::cluster::{Cluster, NodeId, PodId, ServiceId, ServiceType, TrafficPolicy};
use crate::fabric::{Fabric, LeafId};
use crate::net::host;
use crate::net::lpm::LpmTable;
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Sessions whose hold timer expired: all of a node's (it failed), or single (node, leaf) ones.
#[derive(Clone, Debug, Default)]
pub struct Expired {
    pub nodes: Vec<bool>,
    pub sessions: std::collections::BTreeSet<(NodeId, LeafId)>,
}

impl Expired {
    pub fn is(&self, node: NodeId, leaf: LeafId) -> bool {
        self.nodes.get(node.index()).copied().unwrap_or(false)
            || self.sessions.contains(&(node, leaf))
    }
}

/// A BGP session between a node and a leaf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub node: NodeId,
    pub leaf: LeafId,
    /// Why it is down, if it is.
    pub down: Option<Rejection>,
}

#[derive(Clone, Debug)]
pub struct BgpState {
    pub cfg: BgpConfig,
    pub pod_ip: Vec<Ipv4Addr>,
    pub ip_to_pod: BTreeMap<Ipv4Addr, PodId>,
    /// The pod prefixes (blocks or podCIDR) of each node.
    pub node_pod_prefixes: Vec<Vec<Ipv4Net>>,
    pub lb_ip: Vec<Option<Ipv4Addr>>,
    pub lb_to_service: BTreeMap<Ipv4Addr, ServiceId>,
    /// What each node announces.
    pub advertised: Vec<Vec<Ipv4Net>>,
    pub sessions: Vec<Session>,
    /// Routes of every leaf, sorted by prefix, and their LPM index.
    pub leaf_routes: Vec<Vec<Route>>,
    leaf_lpm: Vec<LpmTable<usize>>,
}

fn unit_addresses(size: u8) -> u64 {
    1u64 << (32 - u32::from(size))
}

/// The peers (leaves) of a node under the floating L3Out.
pub fn peer_leaves(fabric: &Fabric, cluster: &Cluster, node: NodeId) -> Vec<LeafId> {
    let rack = &fabric.racks[cluster.node(node).rack.index()];
    // Only live leaves hold sessions (a failed leaf's sessions and routes are gone).
    let live = |r: &crate::fabric::Rack| -> Vec<LeafId> {
        r.leaves
            .iter()
            .copied()
            .filter(|l| fabric.leaf(*l).up)
            .collect()
    };
    if rack.anchor {
        return live(rack);
    }
    fabric
        .racks
        .iter()
        .find(|r| r.anchor)
        .map(live)
        .unwrap_or_default()
}

impl BgpState {
    pub fn compile(fabric: &Fabric, cluster: &Cluster, cfg: &BgpConfig) -> BgpState {
        Self::compile_with(fabric, cluster, cfg, &Expired::default())
    }

    /// Like [`BgpState::compile`], with the `expired` sessions down (hold timer): the routes
    /// learned over them are gone from the fabric.
    pub fn compile_with(
        fabric: &Fabric,
        cluster: &Cluster,
        cfg: &BgpConfig,
        expired: &Expired,
    ) -> BgpState {
        let cfg = cfg.clone();
        let pods_by_node = cluster.pods_by_node();
        // Pod addressing.
        let mut pod_ip = vec![Ipv4Addr::UNSPECIFIED; cluster.pods.len()];
        let mut node_pod_prefixes = vec![Vec::new(); cluster.nodes.len()];
        let (pool, unit) = match &cfg.pods {
            PodAddressing::Blocks { pool, block_size } => (*pool, *block_size),
            PodAddressing::PerNodeCidr { pool, len } => (*pool, *len),
        };
        let unit_size = unit_addresses(unit);
        let base = u64::from(u32::from(pool.net.network()));
        match cfg.pods {
            PodAddressing::Blocks { .. } => {
                // Calico IPAM: blocks on demand in node order (none for a node without pods,
                // another when a block is full) while the pool has free blocks; then, with
                // strictAffinity false, a node borrows single addresses from other nodes' blocks
                // and advertises each as a /32. Every address of a block is handed out, .0
                // included (calico#1710, #3825: the pool is routed, not a subnet).
                let total_blocks = unit_addresses(pool.net.prefix_len()) / unit_size;
                let mut next_block = 0u64;
                let mut filled: Vec<u64> = Vec::new(); // addresses used per block
                let mut waiting: Vec<(usize, Vec<PodId>)> = Vec::new();
                for (n, pods) in pods_by_node.iter().enumerate() {
                    let need = (pods.len() as u64).div_ceil(unit_size);
                    let got = need.min(total_blocks - next_block);
                    for b in next_block..next_block + got {
                        if let Ok(p) =
                            Ipv4Net::new(Ipv4Addr::from((base + b * unit_size) as u32), unit)
                        {
                            node_pod_prefixes[n].push(p);
                        }
                        filled.push(0);
                    }
                    let own = (got * unit_size) as usize;
                    for (j, p) in pods.iter().take(own).enumerate() {
                        let b = next_block + j as u64 / unit_size;
                        pod_ip[p.index()] =
                            Ipv4Addr::from((base + b * unit_size + j as u64 % unit_size) as u32);
                        filled[b as usize] += 1;
                    }
                    if pods.len() > own {
                        waiting.push((n, pods[own..].to_vec()));
                    }
                    next_block += got;
                }
                let mut b = 0usize;
                for (n, pods) in waiting {
                    for p in pods {
                        while b < filled.len() && filled[b] >= unit_size {
                            b += 1;
                        }
                        let Some(f) = filled.get_mut(b) else { break };
                        let ip = Ipv4Addr::from((base + b as u64 * unit_size + *f) as u32);
                        *f += 1;
                        pod_ip[p.index()] = ip;
                        node_pod_prefixes[n].push(host(ip));
                    }
                }
            }
            PodAddressing::PerNodeCidr { .. } => {
                // A podCIDR's .1 is the node's bridge or router address, so pods start at .2
                // (approximation of kube-router's and Cilium's IPAM).
                let per_unit = unit_size.saturating_sub(2).max(1);
                for (n, pods) in pods_by_node.iter().enumerate() {
                    // A Node manifest's spec.podCIDR wins over fabsim's numbering.
                    let (start, per_unit) = match cluster.nodes[n].pod_cidr {
                        Some(c) => {
                            node_pod_prefixes[n].push(c);
                            let size = unit_addresses(c.prefix_len());
                            (
                                u64::from(u32::from(c.network())),
                                size.saturating_sub(2).max(1),
                            )
                        }
                        None => {
                            let start = base + n as u64 * unit_size;
                            if let Ok(p) = Ipv4Net::new(Ipv4Addr::from(start as u32), unit) {
                                node_pod_prefixes[n].push(p);
                            }
                            (start, per_unit)
                        }
                    };
                    for (j, p) in pods.iter().enumerate() {
                        let addr = start + 2 + j as u64 % per_unit;
                        pod_ip[p.index()] = Ipv4Addr::from(addr as u32);
                    }
                }
            }
        }
        let ip_to_pod = pod_ip
            .iter()
            .enumerate()
            .map(|(i, ip)| (*ip, PodId(i as u32)))
            .collect();

        // LoadBalancer IPs: requested, else the lowest free address of the pool (first host up).
        let mut lb_ip = vec![None; cluster.services.len()];
        let mut used: Vec<Ipv4Addr> = cluster
            .services
            .iter()
            .filter_map(|s| s.requested_lb_ip.or(s.assigned_lb_ip))
            .collect();
        // A CiliumLoadBalancerIPPool with a serviceSelector serves only the services it selects.
        let pool_serves = |net: &Ipv4Net, svc: &crate::cluster::Service| {
            cfg.lb_pool_selectors
                .iter()
                .find(|(n, _)| n == net)
                .and_then(|(_, sel)| sel.as_ref())
                .is_none_or(|sel| sel.matches(&svc.labels))
        };
        let mut cursors: Vec<Box<dyn Iterator<Item = Ipv4Addr>>> = cfg
            .lb_pool
            .iter()
            .map(|p| Box::new(p.hosts()) as Box<dyn Iterator<Item = Ipv4Addr>>)
            .collect();
        for (i, s) in cluster.services.iter().enumerate() {
            if s.kind != ServiceType::LoadBalancer {
                continue;
            }
            // A dump's status address stays, like a requested one.
            lb_ip[i] = s.requested_lb_ip.or(s.assigned_lb_ip).or_else(|| {
                for (k, net) in cfg.lb_pool.iter().enumerate() {
                    if !pool_serves(net, s) {
                        continue;
                    }
                    if let Some(ip) = cursors[k].by_ref().find(|a| !used.contains(a)) {
                        used.push(ip);
                        return Some(ip);
                    }
                }
                None
            });
        }
        let lb_to_service = lb_ip
            .iter()
            .enumerate()
            .filter_map(|(i, ip)| ip.map(|ip| (ip, ServiceId(i as u32))))
            .collect();

        // Advertisements per node.
        // A node "has" a service when it holds a ready endpoint of it. A dead node's speaker
        // sends no withdrawal: the fabric keeps what it advertised until the hold timer (or BFD)
        // takes its sessions down, even once Kubernetes marks its pods not ready
        // (approximation: what it advertised is taken as its pods being endpoints).
        let has_endpoint = |svc: usize, node: NodeId| {
            if cluster.node(node).up {
                !cluster
                    .ready_local_endpoints(ServiceId(svc as u32), node)
                    .is_empty()
            } else {
                cluster.services[svc]
                    .endpoints
                    .iter()
                    .any(|p| cluster.pod(*p).node == node)
            }
        };
        let mut advertised: Vec<Vec<Ipv4Net>> = vec![Vec::new(); cluster.nodes.len()];
        for (n, adv) in advertised.iter_mut().enumerate() {
            if cfg.advertise_pod_cidr {
                adv.extend(node_pod_prefixes[n].iter().copied());
            }
            adv.extend(cfg.advertise_cluster_ips.iter().copied());
            adv.extend(cfg.advertise_external_ips.iter().copied());
            // Calico with serviceLoadBalancerAggregation (default Enabled): every node announces
            // each serviceLoadBalancerIPs CIDR, always (confd `client.go` updateGlobalRoutes).
            if cfg.cni == BgpCni::Calico {
                adv.extend(cfg.advertise_lb.iter().copied());
            }
        }
        for (i, s) in cluster.services.iter().enumerate() {
            // ClusterIPs as /32s: kube-router --advertise-cluster-ip from every node, or only
            // from nodes with a local endpoint for internalTrafficPolicy Local (`ecmp_vip.go`);
            // Calico adds the ClusterIP /32 of an externalTrafficPolicy Local service from its
            // local-endpoint nodes when serviceClusterIPs covers it (`routes.go`
            // getAllRoutesForService).
            if let Some(cip) = s.cluster_ip {
                let calico_local = cfg.cni == BgpCni::Calico
                    && s.external_traffic_policy == TrafficPolicy::Local
                    && cfg.advertise_cluster_ips.iter().any(|r| r.contains(&cip));
                for (n, adv) in advertised.iter_mut().enumerate() {
                    let node = NodeId(n as u32);
                    let kr = cfg.cluster_ip_host_routes
                        && (s.internal_traffic_policy == TrafficPolicy::Cluster
                            || has_endpoint(i, node));
                    if kr || (calico_local && has_endpoint(i, node)) {
                        adv.push(host(cip));
                    }
                }
            }
            let Some(ip) = lb_ip[i] else { continue };
            // Cilium resources: only services a Service advertisement's selector picks.
            if let Some(sels) = &cfg.lb_service_selectors
                && !sels.iter().any(|sel| sel.matches(&s.labels))
            {
                continue;
            }
            // Only a LoadBalancer IP inside the advertised ranges (Calico: serviceLoadBalancerIPs,
            // `routes.go` isAllowedLoadBalancerIP; serviceExternalIPs does not authorise it).
            if !cfg.advertise_lb.iter().any(|r| r.contains(&ip)) {
                continue;
            }
            match s.external_traffic_policy {
                TrafficPolicy::Local => {
                    for (n, adv) in advertised.iter_mut().enumerate() {
                        if has_endpoint(i, NodeId(n as u32)) {
                            adv.push(host(ip));
                        }
                    }
                }
                TrafficPolicy::Cluster => {
                    // Calico's aggregated CIDR already covers it; kube-router and Cilium
                    // announce the /32 from every node.
                    if cfg.cni != BgpCni::Calico {
                        for adv in advertised.iter_mut() {
                            adv.push(host(ip));
                        }
                    }
                }
            }
        }
        for adv in advertised.iter_mut() {
            adv.sort();
            adv.dedup();
        }

        // Sessions.
        let password_ok = cfg.node_password == cfg.fabric_password;
        let mut sessions = Vec::new();
        for (n, adv) in advertised.iter().enumerate() {
            let node = NodeId(n as u32);
            let count = adv.len() as u32;
            let own = cfg.node_peering.get(n);
            let peer_asn = own.and_then(|o| o.peer_asn).or(cfg.node_peer_asn);
            for leaf in peer_leaves(fabric, cluster, node) {
                let down = if expired.is(node, leaf) {
                    Some(Rejection::HoldTimerExpired)
                } else if own
                    .and_then(|o| o.leaves.as_ref())
                    .is_some_and(|l| !l.contains(&leaf))
                {
                    Some(Rejection::NoPeerConfigured)
                } else if let Some(asn) = own.and_then(|o| o.asn).filter(|a| *a != cfg.cluster_asn)
                {
                    Some(Rejection::LocalAsMismatch {
                        node: asn,
                        expected: cfg.cluster_asn,
                    })
                } else if let Some(expected) = peer_asn.filter(|a| *a != cfg.fabric_asn) {
                    Some(Rejection::PeerAsMismatch {
                        expected,
                        fabric: cfg.fabric_asn,
                    })
                } else if !password_ok {
                    Some(Rejection::PasswordMismatch)
                } else if count > cfg.max_prefix.limit
                    && matches!(
                        cfg.max_prefix.action,
                        MaxPrefixAction::Restart | MaxPrefixAction::Shut
                    )
                {
                    Some(Rejection::MaxPrefixExceeded {
                        limit: cfg.max_prefix.limit,
                        advertised: count,
                        action: cfg.max_prefix.action,
                    })
                } else {
                    None
                };
                sessions.push(Session { node, leaf, down });
            }
        }

        // eBGP on the anchor leaves.
        let nleaves = fabric.leaves.len();
        let mut ebgp: Vec<BTreeMap<Ipv4Net, Route>> = vec![BTreeMap::new(); nleaves];
        let mut by_leaf: Vec<BTreeMap<Ipv4Net, Vec<Candidate>>> = vec![BTreeMap::new(); nleaves];
        for s in &sessions {
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

        // Every leaf: its own eBGP routes, plus what the others learned, through the fabric.
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
        BgpState {
            cfg,
            pod_ip,
            ip_to_pod,
            node_pod_prefixes,
            lb_ip,
            lb_to_service,
            advertised,
            sessions,
            leaf_routes,
            leaf_lpm,
        }
    }

    /// Whether `ip` lies in the pod pool (a cheap test before the pod lookup).
    pub fn is_pod_ip(&self, ip: Ipv4Addr) -> bool {
        match &self.cfg.pods {
            PodAddressing::Blocks { pool, .. } | PodAddressing::PerNodeCidr { pool, .. } => {
                pool.net.contains(&ip)
            }
        }
    }

    /// The route a leaf uses for `ip` (longest prefix with a next hop).
    pub fn lookup(&self, leaf: LeafId, ip: Ipv4Addr) -> Option<&Route> {
        self.leaf_lpm[leaf.index()]
            .lookup(ip)
            .map(|(_, i)| &self.leaf_routes[leaf.index()][*i])
    }

    /// The most specific route for `ip` on a leaf that has no usable next hop (every path
    /// excluded), for explaining a blackhole. A scan: only used to explain.
    pub fn unusable(&self, leaf: LeafId, ip: Ipv4Addr) -> Option<&Route> {
        self.leaf_routes[leaf.index()]
            .iter()
            .filter(|r| r.next_hops.is_empty() && r.prefix.contains(&ip))
            .max_by_key(|r| r.prefix.prefix_len())
    }

    /// The hold time a session runs with: the lower of the two sides' (RFC 4271 §4.2).
    pub fn negotiated_hold_time(&self) -> crate::time::Nanos {
        self.cfg.negotiated_hold_time()
    }
}
