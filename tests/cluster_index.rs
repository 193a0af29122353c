//! The per-node endpoint index against the scan it replaces (the oracle): same pods, same order.

mod common;

use fabsim::cluster::{Cluster, NodeId, PodId, ServiceId};
use proptest::prelude::*;

/// Every (service, node) pair of the cluster.
fn pairs(c: &Cluster) -> impl Iterator<Item = (ServiceId, NodeId)> + '_ {
    (0..c.services.len() as u32).map(ServiceId).flat_map(|svc| {
        (0..c.nodes.len() as u32)
            .map(NodeId)
            .map(move |node| (svc, node))
    })
}

/// The oracle: a scan of the service's endpoints for the node's pods, in pod order.
fn scan(c: &Cluster, svc: ServiceId, node: NodeId) -> Vec<PodId> {
    c.service(svc)
        .endpoints
        .iter()
        .copied()
        .filter(|p| c.pod(*p).node == node)
        .collect()
}

/// Every (service, node): the ready count and each k-th ready endpoint the index gives, against
/// the scan's ready pods.
fn assert_ready_counts_match_a_scan(c: &Cluster) -> Result<(), TestCaseError> {
    // A service's nodes with endpoints, in node order, with their ready counts and places.
    for svc in (0..c.services.len() as u32).map(ServiceId) {
        let listed: Vec<(NodeId, usize)> = c
            .endpoint_nodes(svc)
            .map(|(node, at, ready)| {
                assert_eq!(Some(at), c.endpoints_at(svc, node));
                (node, ready)
            })
            .collect();
        let scanned: Vec<(NodeId, usize)> = (0..c.nodes.len() as u32)
            .map(NodeId)
            .map(|node| (node, scan(c, svc, node)))
            .filter(|(_, on)| !on.is_empty())
            .map(|(node, on)| (node, on.iter().filter(|p| c.pod_ready(**p)).count()))
            .collect();
        prop_assert_eq!(listed, scanned, "{:?}", svc);
    }
    for (svc, node) in pairs(c) {
        let on_node = scan(c, svc, node);
        let scan: Vec<PodId> = on_node
            .iter()
            .copied()
            .filter(|p| c.pod_ready(*p))
            .collect();
        prop_assert_eq!(
            c.ready_on(svc, node).1,
            scan.len(),
            "{:?} on {:?}",
            svc,
            node
        );
        // A PBR destination keeps the pair's place across readiness changes.
        let at = c.endpoints_at(svc, node);
        prop_assert_eq!(at.is_some(), !on_node.is_empty());
        for (k, p) in scan.iter().enumerate() {
            prop_assert_eq!(c.pick_ready_on(svc, node, |_| k), Some((*p, scan.len())));
            prop_assert_eq!(c.pick_ready_at(at.unwrap(), |_| k), Some((*p, scan.len())));
        }
        prop_assert_eq!(
            c.pick_ready_on(svc, node, |n| n),
            None,
            "past the last ready one"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Nodes marked NotReady and back in any order (what a node failure and its recovery do):
    /// the index's ready counts follow.
    #[test]
    fn ready_counts_follow_readiness_changes(changes in prop::collection::vec((0usize..64, any::<bool>()), 0..12)) {
        let mut s = common::load("scenarios/failure-catalogue.yaml");
        let nodes = s.cluster.nodes.len();
        for (n, ready) in changes {
            s.cluster.set_ready_on(NodeId((n % nodes) as u32), ready);
            assert_ready_counts_match_a_scan(&s.cluster)?;
        }
    }
}

#[test]
fn a_nodes_endpoints_are_those_a_scan_finds_in_pod_order() {
    for scenario in ["brkdcn-2663.yaml", "failure-catalogue.yaml"] {
        let s = common::load(&format!("scenarios/{scenario}"));
        let c = &s.cluster;
        let mut compared = 0;
        for (svc, node) in pairs(c) {
            let scan = scan(c, svc, node);
            let indexed: Vec<_> = c.endpoints_on(svc, node).collect();
            assert_eq!(
                indexed, scan,
                "{scenario}: service {svc:?} on node {node:?}"
            );
            compared += scan.len();
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

/// Every leaf's route look-up (one table per prefix, shared by the leaves) against a linear scan
/// of that leaf's whole table: the longest prefix with a next hop that contains the address.
#[test]
fn a_leaf_route_lookup_is_the_longest_usable_prefix_of_its_table() {
    use fabsim::design::bgp::compile::{BgpState, Expired};
    use fabsim::fabric::LeafId;
    use std::net::Ipv4Addr;
    let mut compared = 0;
    for scenario in [
        "brkdcn-2663.yaml",
        "failure-catalogue.yaml",
        "calico-flavour.yaml",
    ] {
        let s = common::load(&format!("scenarios/{scenario}"));
        for design in s.designs.iter().filter_map(|d| d.bgp()) {
            // Once as compiled, once with the first node's sessions expired (routes whose
            // every path is excluded on some leaves).
            let mut expired = Expired {
                nodes: vec![false; s.cluster.nodes.len()],
                ..Expired::default()
            };
            let plain = BgpState::compile(&s.fabric, &s.cluster, design);
            expired.nodes[0] = true;
            let failed = BgpState::compile_with(&s.fabric, &s.cluster, design, &expired);
            for st in [&plain, &failed] {
                for l in (0..s.fabric.leaves.len() as u32).map(LeafId) {
                    let table = st.tables.table(l);
                    let mut probes: Vec<Ipv4Addr> = vec![Ipv4Addr::new(1, 1, 1, 1)];
                    for r in &table {
                        let (lo, hi) = (
                            u32::from(r.prefix.network()),
                            u32::from(r.prefix.broadcast()),
                        );
                        probes.extend(
                            [lo, hi, lo.saturating_sub(1), hi.saturating_add(1)]
                                .map(Ipv4Addr::from),
                        );
                    }
                    for ip in probes {
                        let oracle = table
                            .iter()
                            .filter(|r| !r.next_hops.is_empty() && r.prefix.contains(&ip))
                            .max_by_key(|r| r.prefix.prefix_len());
                        let found = st.tables.lookup(l, ip);
                        assert_eq!(
                            found.map(|r| (r.prefix, r.next_hops)),
                            oracle.map(|r| (r.prefix, r.next_hops.as_slice())),
                            "{scenario}: leaf {l:?}, {ip}"
                        );
                        // The explanation of a blackhole: the longest prefix with no usable path.
                        let unusable = table
                            .iter()
                            .filter(|r| r.next_hops.is_empty() && r.prefix.contains(&ip))
                            .max_by_key(|r| r.prefix.prefix_len());
                        assert_eq!(
                            st.tables
                                .unusable(l, ip)
                                .as_ref()
                                .map(|r| (r.prefix, &r.excluded)),
                            unusable.map(|r| (r.prefix, &r.excluded)),
                            "{scenario}: leaf {l:?}, {ip} unusable"
                        );
                        compared += 1;
                    }
                }
            }
        }
    }
    assert!(compared > 1000, "{compared} look-ups compared");
}

/// A pod's reference hashed in parts is the hash of the reference written out (the Maglev
/// tables seed their permutations with it).
#[test]
fn pod_ref_salt_is_the_salt_of_the_reference() {
    let s = common::load("scenarios/brkdcn-2663.yaml");
    for i in 0..s.cluster.pods.len() as u32 {
        let p = fabsim::cluster::PodId(i);
        assert_eq!(
            s.cluster.pod_ref_salt(p),
            fabsim::net::hash::salt(&s.cluster.pod_ref(p))
        );
    }
}

/// Each node's pods from the index are the pods a scan finds on it, in pod order.
#[test]
fn a_nodes_pods_are_those_a_scan_finds() {
    for file in [
        "scenarios/brkdcn-2663.yaml",
        "scenarios/failure-catalogue.yaml",
    ] {
        let s = common::load(file);
        let by_node = s.cluster.pods_by_node();
        assert_eq!(by_node.len(), s.cluster.nodes.len());
        for (n, pods) in by_node.iter().enumerate() {
            let scan: Vec<PodId> = (0..s.cluster.pods.len() as u32)
                .map(PodId)
                .filter(|p| s.cluster.pod(*p).node == NodeId(n as u32))
                .collect();
            assert_eq!(*pods, scan.as_slice(), "{file}: node {n}");
        }
    }
}

/// Deployments and services by namespace and name (a binary search over the name index) against
/// a scan of every record: each one found where it is, names in another namespace and unknown
/// names not found.
#[test]
fn names_find_what_a_scan_finds() {
    for file in [
        "scenarios/brkdcn-2663.yaml",
        "scenarios/failure-catalogue.yaml",
        "scenarios/scale-500-nodes.yaml",
    ] {
        let s = common::load(file);
        let c = &s.cluster;
        for ns in c
            .namespaces
            .iter()
            .map(|n| n.name.as_str())
            .chain(["no-such-namespace"])
        {
            let names = c
                .deployments
                .iter()
                .map(|d| d.name.as_str())
                .chain(c.services.iter().map(|x| x.name.as_str()))
                .chain(["no-such-name"]);
            for name in names {
                let scan_d = c
                    .deployments
                    .iter()
                    .position(|d| c.namespace_name(d.namespace) == ns && d.name == name);
                let scan_s = c
                    .services
                    .iter()
                    .position(|x| c.namespace_name(x.namespace) == ns && x.name == name);
                assert_eq!(
                    c.deployment_by_name(ns, name).map(|d| d.index()),
                    scan_d,
                    "{file} deployment {ns}/{name}"
                );
                assert_eq!(
                    c.service_by_name(ns, name).map(|x| x.index()),
                    scan_s,
                    "{file} service {ns}/{name}"
                );
            }
        }
    }
}
