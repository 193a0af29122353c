//! How a BGP design addresses pods and LoadBalancer services: Calico's IPAM blocks (borrowing
//! single addresses when the pool runs out) or kube-router's and Cilium's per-node podCIDRs, and
//! the LoadBalancer IPs its pools hand out. Fixed for a run: failures move no pod.

use super::config::*;
use crate::cluster::{Cluster, PodId, ServiceType};
use crate::net::host;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

fn unit_addresses(size: u8) -> u64 {
    1u64 << (32 - u32::from(size))
}

/// Each pod's address, and the pod prefixes (blocks or podCIDR) of each node.
pub fn pod_addresses(cluster: &Cluster, cfg: &BgpConfig) -> (Vec<Ipv4Addr>, Vec<Vec<Ipv4Net>>) {
    let pods_by_node = cluster.pods_by_node();
    let (pool, unit) = match cfg.pods {
        PodAddressing::Blocks { pool, block_size } => (pool.net, block_size),
        PodAddressing::PerNodeCidr { pool, len } => (pool.net, len),
    };
    let mut ipam = Ipam {
        pod_ip: vec![Ipv4Addr::UNSPECIFIED; cluster.pods.len()],
        node_pod_prefixes: vec![Vec::new(); cluster.nodes.len()],
        unit,
        unit_size: unit_addresses(unit),
        base: u64::from(u32::from(pool.network())),
    };
    match cfg.pods {
        PodAddressing::Blocks { .. } => ipam.calico_blocks(pool.prefix_len(), &pods_by_node),
        PodAddressing::PerNodeCidr { .. } => ipam.per_node_cidrs(cluster, &pods_by_node),
    }
    (ipam.pod_ip, ipam.node_pod_prefixes)
}

/// What the IPAM hands out, and the pool's units (blocks or podCIDRs).
struct Ipam {
    pod_ip: Vec<Ipv4Addr>,
    node_pod_prefixes: Vec<Vec<Ipv4Net>>,
    /// The unit's prefix length, its addresses, and the pool's first address.
    unit: u8,
    unit_size: u64,
    base: u64,
}

impl Ipam {
    /// Calico IPAM: blocks on demand in node order (none for a node without pods, another when a
    /// block is full) while the pool has free blocks; then, with strictAffinity false, a node
    /// borrows single addresses from other nodes' blocks and advertises each as a /32. Every address
    /// of a block is handed out, .0 included (calico#1710, #3825: the pool is routed, not a subnet).
    fn calico_blocks(&mut self, pool_len: u8, pods_by_node: &[&[PodId]]) {
        let total_blocks = unit_addresses(pool_len) / self.unit_size;
        let mut next_block = 0u64;
        let mut filled: Vec<u64> = Vec::new(); // addresses used per block
        let mut waiting: Vec<(usize, Vec<PodId>)> = Vec::new();
        for (n, pods) in pods_by_node.iter().enumerate() {
            let need = (pods.len() as u64).div_ceil(self.unit_size);
            let got = need.min(total_blocks - next_block);
            for b in next_block..next_block + got {
                if let Ok(p) = Ipv4Net::new(
                    Ipv4Addr::from((self.base + b * self.unit_size) as u32),
                    self.unit,
                ) {
                    self.node_pod_prefixes[n].push(p);
                }
                filled.push(0);
            }
            let own = (got * self.unit_size) as usize;
            for (j, p) in pods.iter().take(own).enumerate() {
                let b = next_block + j as u64 / self.unit_size;
                self.pod_ip[p.index()] = Ipv4Addr::from(
                    (self.base + b * self.unit_size + j as u64 % self.unit_size) as u32,
                );
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
                while b < filled.len() && filled[b] >= self.unit_size {
                    b += 1;
                }
                let Some(f) = filled.get_mut(b) else { break };
                let ip = Ipv4Addr::from((self.base + b as u64 * self.unit_size + *f) as u32);
                *f += 1;
                self.pod_ip[p.index()] = ip;
                self.node_pod_prefixes[n].push(host(ip));
            }
        }
    }

    /// kube-router's and Cilium's per-node podCIDRs: a Node manifest's spec.podCIDR, else the
    /// node's slice of the pool in node order.
    fn per_node_cidrs(&mut self, cluster: &Cluster, pods_by_node: &[&[PodId]]) {
        // A podCIDR's .1 is the node's bridge or router address, so pods start at .2
        // (approximation of kube-router's and Cilium's IPAM).
        let per_unit = self.unit_size.saturating_sub(2).max(1);
        for (n, pods) in pods_by_node.iter().enumerate() {
            // A Node manifest's spec.podCIDR wins over fabsim's numbering.
            let (start, per_unit) = match cluster.nodes[n].pod_cidr {
                Some(c) => {
                    self.node_pod_prefixes[n].push(c);
                    let size = unit_addresses(c.prefix_len());
                    (
                        u64::from(u32::from(c.network())),
                        size.saturating_sub(2).max(1),
                    )
                }
                None => {
                    let start = self.base + n as u64 * self.unit_size;
                    if let Ok(p) = Ipv4Net::new(Ipv4Addr::from(start as u32), self.unit) {
                        self.node_pod_prefixes[n].push(p);
                    }
                    (start, per_unit)
                }
            };
            for (j, p) in pods.iter().enumerate() {
                let addr = start + 2 + j as u64 % per_unit;
                self.pod_ip[p.index()] = Ipv4Addr::from(addr as u32);
            }
        }
    }
}

/// LoadBalancer IPs: requested (or a dump's status address), else the lowest free address of
/// the first pool that serves the service (first host up).
pub fn lb_addresses(cluster: &Cluster, cfg: &BgpConfig) -> Vec<Option<Ipv4Addr>> {
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
    lb_ip
}
