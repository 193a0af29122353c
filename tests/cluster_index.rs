//! The per-node endpoint index against the scan it replaces (the oracle): same pods, same order.

mod common;

use fabsim::cluster::{NodeId, ServiceId};

#[test]
fn a_nodes_endpoints_are_those_a_scan_finds_in_pod_order() {
    for scenario in ["brkdcn-2663.yaml", "failure-catalogue.yaml"] {
        let s = common::load(&format!("scenarios/{scenario}"));
        let c = &s.cluster;
        let mut compared = 0;
        for svc in (0..c.services.len() as u32).map(ServiceId) {
            for node in (0..c.nodes.len() as u32).map(NodeId) {
                let scan: Vec<_> = c
                    .service(svc)
                    .endpoints
                    .iter()
                    .copied()
                    .filter(|p| c.pod(*p).node == node)
                    .collect();
                let indexed: Vec<_> = c.endpoints_on(svc, node).collect();
                assert_eq!(
                    indexed, scan,
                    "{scenario}: service {svc:?} on node {node:?}"
                );
                compared += scan.len();
            }
        }
        let all: usize = c.services.iter().map(|s| s.endpoints.len()).sum();
        assert_eq!(
            compared, all,
            "{scenario}: every endpoint is on exactly one node"
        );
    }
}

#[test]
fn a_node_found_by_address_is_the_one_a_scan_finds() {
    let s = common::load("scenarios/failure-catalogue.yaml");
    let c = &s.cluster;
    for (i, n) in c.nodes.iter().enumerate() {
        let scan = c
            .nodes
            .iter()
            .position(|x| x.ip == n.ip)
            .map(|i| NodeId(i as u32));
        assert_eq!(c.node_by_ip(n.ip), scan, "node {i}");
    }
    // Addresses no node has: the gateway, the subnet's broadcast, an outside host.
    for ip in [
        c.node_subnet.gateway,
        c.node_subnet.net.broadcast(),
        "1.1.1.1".parse().unwrap(),
    ] {
        assert_eq!(c.node_by_ip(ip), None, "{ip}");
    }
}
