//! What a node's speaker announces under a BGP design: its pod prefixes, the service ranges
//! and the /32s of the services it holds an endpoint of — per node, so a change of one node's
//! endpoints re-announces that node's prefixes only.
//!
//! The announcements every node makes alike (the ranges, and the /32s of services whose
//! policy is Cluster) are worked out once per design ([`Advertiser`]); a node adds its pod
//! prefixes and the /32s of the services it holds an endpoint of. At the envelope (5,000 nodes,
//! 1,000 services) that is one pass over the services instead of one per node.

use super::config::*;
use crate::cluster::{Cluster, NodeId, ServiceId, TrafficPolicy};
use crate::net::host;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// What one node announces: the part every node announces alike (one shared copy) and its own
/// prefixes (sorted, none of them in the shared part); the two merged in prefix order are its
/// list (the eBGP compile merges their ranks: `ebgp::Ranked`).
#[derive(Clone, Debug)]
pub struct Announcement {
    every: Arc<[Ipv4Net]>,
    own: Vec<Ipv4Net>,
}

impl Announcement {
    /// How many prefixes.
    pub fn len(&self) -> usize {
        self.every.len() + self.own.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The part every node announces alike (the same `Arc` on every node of a design).
    pub fn shared(&self) -> &Arc<[Ipv4Net]> {
        &self.every
    }

    /// The node's own prefixes, sorted.
    pub fn own(&self) -> &[Ipv4Net] {
        &self.own
    }
}

/// A design's announcements, split into what every node announces and what depends on the
/// node's endpoints.
#[derive(Clone, Debug)]
pub struct Advertiser {
    pod_cidr: bool,
    /// Announced by every node, sorted, each once.
    every_node: Arc<[Ipv4Net]>,
    /// Per service, the /32s a node announces only while it holds an endpoint of it.
    with_endpoint: Vec<(ServiceId, Vec<Ipv4Net>)>,
}

impl Advertiser {
    /// `lb_ip`: each service's LoadBalancer IP.
    pub fn new(cluster: &Cluster, cfg: &BgpConfig, lb_ip: &[Option<Ipv4Addr>]) -> Advertiser {
        let mut every_node = Vec::new();
        every_node.extend(cfg.advertise_cluster_ips.iter().copied());
        every_node.extend(cfg.advertise_external_ips.iter().copied());
        // Calico with serviceLoadBalancerAggregation (default Enabled): every node announces
        // each serviceLoadBalancerIPs CIDR, always (confd `client.go` updateGlobalRoutes).
        if cfg.cni == BgpCni::Calico {
            every_node.extend(cfg.advertise_lb.iter().copied());
        }
        let mut with_endpoint = Vec::new();
        for (i, s) in cluster.services.iter().enumerate() {
            let mut local = Vec::new();
            // ClusterIPs as /32s: kube-router --advertise-cluster-ip from every node, or only
            // from nodes with a local endpoint for internalTrafficPolicy Local (`ecmp_vip.go`);
            // Calico adds the ClusterIP /32 of an externalTrafficPolicy Local service from its
            // local-endpoint nodes when serviceClusterIPs covers it (`routes.go`
            // getAllRoutesForService).
            if let Some(cip) = s.cluster_ip {
                let calico_local = cfg.cni == BgpCni::Calico
                    && s.external_traffic_policy == TrafficPolicy::Local
                    && cfg.advertise_cluster_ips.iter().any(|r| r.contains(&cip));
                if cfg.cluster_ip_host_routes && s.internal_traffic_policy == TrafficPolicy::Cluster
                {
                    every_node.push(host(cip));
                } else if cfg.cluster_ip_host_routes || calico_local {
                    local.push(host(cip));
                }
            }
            if let Some(ip) = lb_ip[i]
                // Cilium resources: only services a Service advertisement's selector picks.
                && cfg
                    .lb_service_selectors
                    .as_ref()
                    .is_none_or(|sels| sels.iter().any(|sel| sel.matches(&s.labels)))
                // Only a LoadBalancer IP inside the advertised ranges (Calico:
                // serviceLoadBalancerIPs, `routes.go` isAllowedLoadBalancerIP;
                // serviceExternalIPs does not authorise it).
                && cfg.advertise_lb.iter().any(|r| r.contains(&ip))
            {
                match s.external_traffic_policy {
                    TrafficPolicy::Local => local.push(host(ip)),
                    // Calico's aggregated CIDR already covers it; kube-router and Cilium
                    // announce the /32 from every node.
                    TrafficPolicy::Cluster if cfg.cni != BgpCni::Calico => {
                        every_node.push(host(ip))
                    }
                    TrafficPolicy::Cluster => {}
                }
            }
            if !local.is_empty() {
                with_endpoint.push((ServiceId(i as u32), local));
            }
        }
        every_node.sort();
        every_node.dedup();
        Advertiser {
            pod_cidr: cfg.advertise_pod_cidr,
            every_node: every_node.into(),
            with_endpoint,
        }
    }

    /// What `node` announces (`pod_prefixes`: the node's own blocks or podCIDR).
    pub fn advertisement(
        &self,
        cluster: &Cluster,
        node: NodeId,
        pod_prefixes: &[Ipv4Net],
    ) -> Announcement {
        let mut own = Vec::new();
        if self.pod_cidr {
            own.extend_from_slice(pod_prefixes);
        }
        for (svc, local) in &self.with_endpoint {
            if has_endpoint(cluster, *svc, node) {
                own.extend_from_slice(local);
            }
        }
        own.sort();
        own.dedup();
        own.retain(|p| self.every_node.binary_search(p).is_err());
        Announcement {
            every: Arc::clone(&self.every_node),
            own,
        }
    }
}

/// A node "has" a service when it holds a ready endpoint of it. A dead node's speaker sends no
/// withdrawal: the fabric keeps what it advertised until the hold timer (or BFD) takes its
/// sessions down, even once Kubernetes marks its pods not ready (approximation: what it
/// advertised is taken as its pods being endpoints).
fn has_endpoint(cluster: &Cluster, svc: ServiceId, node: NodeId) -> bool {
    let mut on_node = cluster.endpoints_on(svc, node);
    if cluster.node_up(node) {
        on_node.any(|p| cluster.pod_ready(p))
    } else {
        on_node.next().is_some()
    }
}
