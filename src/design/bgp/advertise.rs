//! What a node's speaker announces under a BGP design: its pod prefixes, the service ranges
//! and the /32s of the services it holds an endpoint of — per node, so a change of one node's
//! endpoints re-announces that node's prefixes only.

use super::config::*;
use crate::cluster::{Cluster, NodeId, ServiceId, TrafficPolicy};
use crate::net::host;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// The prefixes `node` announces, sorted, each once (`pod_prefixes`: the node's own blocks or
/// podCIDR; `lb_ip`: each service's LoadBalancer IP).
pub fn advertisement(
    cluster: &Cluster,
    cfg: &BgpConfig,
    node: NodeId,
    pod_prefixes: &[Ipv4Net],
    lb_ip: &[Option<Ipv4Addr>],
) -> Vec<Ipv4Net> {
    let mut adv = Vec::new();
    if cfg.advertise_pod_cidr {
        adv.extend(pod_prefixes.iter().copied());
    }
    adv.extend(cfg.advertise_cluster_ips.iter().copied());
    adv.extend(cfg.advertise_external_ips.iter().copied());
    // Calico with serviceLoadBalancerAggregation (default Enabled): every node announces
    // each serviceLoadBalancerIPs CIDR, always (confd `client.go` updateGlobalRoutes).
    if cfg.cni == BgpCni::Calico {
        adv.extend(cfg.advertise_lb.iter().copied());
    }
    for (i, s) in cluster.services.iter().enumerate() {
        let svc = ServiceId(i as u32);
        // ClusterIPs as /32s: kube-router --advertise-cluster-ip from every node, or only
        // from nodes with a local endpoint for internalTrafficPolicy Local (`ecmp_vip.go`);
        // Calico adds the ClusterIP /32 of an externalTrafficPolicy Local service from its
        // local-endpoint nodes when serviceClusterIPs covers it (`routes.go`
        // getAllRoutesForService).
        if let Some(cip) = s.cluster_ip {
            let calico_local = cfg.cni == BgpCni::Calico
                && s.external_traffic_policy == TrafficPolicy::Local
                && cfg.advertise_cluster_ips.iter().any(|r| r.contains(&cip));
            let kr = cfg.cluster_ip_host_routes
                && (s.internal_traffic_policy == TrafficPolicy::Cluster
                    || has_endpoint(cluster, svc, node));
            if kr || (calico_local && has_endpoint(cluster, svc, node)) {
                adv.push(host(cip));
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
        let announced = match s.external_traffic_policy {
            TrafficPolicy::Local => has_endpoint(cluster, svc, node),
            // Calico's aggregated CIDR already covers it; kube-router and Cilium announce the
            // /32 from every node.
            TrafficPolicy::Cluster => cfg.cni != BgpCni::Calico,
        };
        if announced {
            adv.push(host(ip));
        }
    }
    adv.sort();
    adv.dedup();
    adv
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
