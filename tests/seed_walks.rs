//! The seed's packet walks (BRKDCN-2663), checked step by step on scenarios/brkdcn-2663.yaml.
//! Expected addresses are worked by hand from the scenario:
//! - nodes sorted by name: k8s-r1-1 … k8s-r1-4, k8s-r2-1 … k8s-r2-4;
//! - LoadBalancer IP: extern_dynamic 10.34.0.1/24, .2 upward → 10.34.0.2;
//! - node service IPs: node_svc 10.36.0.1/24, .2 upward in node order (k8s-r2-2, the 6th → 10.36.0.7);
//! - pod IPs: pod_subnet 10.33.0.1/16 in chunks of 32 per node from 10.33.0.2 (gateway .1 skipped);
//!   web-0 is the first pod of k8s-r1-1 → 10.33.0.2; batch-0 is the first pod of k8s-r2-3, the
//!   7th node → 10.33.0.(2 + 6·32) = 10.33.0.194;
//! - SNAT chunks: nodes by name ask in turn; k8s-r2-3 is 7th → 5000 + 6·3000 = 23000–25999.

mod common;
use common::*;
use fabsim::dataplane::{Reason, Verdict};
use fabsim::net::Proto;

const S: &str = "scenarios/brkdcn-2663.yaml";

#[test]
fn external_client_to_loadbalancer_service() {
    let s = load(S);
    let (t, o) = walk(&s, "external:clients", "service:shop/web:80", None);
    assert_eq!(o.verdict, Verdict::Delivered);
    assert_eq!(t.flow.dst, "10.34.0.2:80");
    // Slides "Service Graphs and PBR" 1–3: LPM classification, contract, PBR redirect to a node.
    let fwd = actions(&t.forward);
    assert_eq!(&fwd[..4], ["route", "classify", "contract", "pbr-redirect"]);
    assert!(
        t.forward[1].detail.contains("0.0.0.0/0") && t.forward[1].detail.contains("10.34.0.2/32")
    );
    // 4–5: the node DNATs to a local pod, then delivery.
    assert_eq!(&fwd[fwd.len() - 2..], ["dnat", "deliver"]);
    let dnat = &t.forward[fwd.len() - 2];
    assert!(
        dnat.dst.ends_with(":8080"),
        "target port 8080: {}",
        dnat.dst
    );
    // PBR leaves the packet unchanged: the destination is still the LB IP until the node.
    assert!(
        t.forward[..fwd.len() - 2]
            .iter()
            .all(|h| h.dst == "10.34.0.2:80")
    );
    // Return 4–7: reply, OVS restores the service IP, shadow EPG (no PBR), contract, client.
    let ret = actions(&t.ret);
    assert_eq!(&ret[..3], ["route", "un-dnat", "classify"]);
    assert!(t.ret[2].detail.contains("shadow EPG"));
    assert_eq!(t.ret[1].src, "10.34.0.2:80");
    assert_eq!(*ret.last().unwrap(), "deliver");
    assert!(!ret.contains(&"pbr-redirect"));
}

#[test]
fn second_stage_load_balancing_when_a_node_has_several_pods() {
    // web pods on one node: the DNAT hop says it chose among them.
    let s = load("tests/data/two-web-pods-per-node.yaml");
    let (t, o) = walk(&s, "external:clients", "service:shop/web:80", None);
    assert_eq!(o.verdict, Verdict::Delivered);
    let dnat = t.forward.iter().find(|h| h.action == "dnat").unwrap();
    assert!(
        dnat.detail
            .contains("second-stage load balancing over 2 local ready pods"),
        "{}",
        dnat.detail
    );
}

#[test]
fn snat_pod_to_external_host_and_back_to_the_very_pod() {
    let s = load(S);
    let (t, o) = walk(&s, "pod:shop/batch-0", "1.1.1.1:443", None);
    assert_eq!(o.verdict, Verdict::Delivered);
    assert_eq!(t.flow.src, "10.33.0.194:32768");
    let fwd = actions(&t.forward);
    // Egress walk 1–4, then the SNAT from the node's chunk. The slide shows OVS checking a
    // contract first; opflex's SNAT flow (IntFlowManager.cpp flowsEndpointPortRangeSNAT) NATs
    // and outputs to the uplink from the SNAT table, before the policy table: the fabric's
    // snat_svcgraph contract governs it, so the walk has no OVS contract hop.
    assert_eq!(&fwd[..2], ["route", "snat"]);
    // The node kernel (5.15 by default) searches the chunk from a random offset
    // (nf_nat_l4proto_unique_tuple): the port is somewhere in k8s-r2-3's chunk 23000–25999.
    let port: u16 = t.forward[1]
        .src
        .strip_prefix("10.20.30.1:")
        .and_then(|p| p.parse().ok())
        .expect("SNATed to 10.20.30.1");
    assert!((23000..=25999).contains(&port), "{port}");
    assert!(
        t.forward[1]
            .detail
            .contains("chunk 23000–25999 of 10.20.30.1")
    );
    // Ingress walk: snat_svcgraph classification, contract, PBR, then un-SNAT to the pod.
    let ret = actions(&t.ret);
    assert_eq!(&ret[..4], ["route", "classify", "contract", "pbr-redirect"]);
    assert!(t.ret[1].detail.contains("kube_snat_svcgraph"));
    assert!(ret.contains(&"un-snat"));
    assert_eq!(t.ret.last().unwrap().dst, "10.33.0.194:32768");
    assert_eq!(t.ret.last().unwrap().device, "pod:shop/batch-0");
}

#[test]
fn snat_reply_landing_on_another_node_is_bounced_to_the_owner() {
    let s = load(S);
    // The PBR hash (1.1.1.1, 10.20.30.1, tcp) lands on one node for all of them; every batch pod
    // on another node needs the bounce. Find the landing node from batch-0's walk, then walk a
    // pod elsewhere.
    let (t0, _) = walk(&s, "pod:shop/batch-0", "1.1.1.1:443", None);
    let landing = t0
        .ret
        .iter()
        .find(|h| h.action == "pbr-redirect")
        .unwrap()
        .detail
        .clone();
    let mut bounced = 0;
    for i in 0..8 {
        let (t, o) = walk(&s, &format!("pod:shop/batch-{i}"), "1.1.1.1:443", None);
        assert_eq!(o.verdict, Verdict::Delivered);
        let pbr = t.ret.iter().find(|h| h.action == "pbr-redirect").unwrap();
        assert_eq!(
            pbr.detail, landing,
            "one (sip, dip, proto) → one landing node"
        );
        if let Some(b) = t.ret.iter().position(|h| h.action == "bounce") {
            bounced += 1;
            // The bounce rewrites the MAC only; un-SNAT happens after it, on the owner node.
            let un = t.ret.iter().position(|h| h.action == "un-snat").unwrap();
            assert!(un > b);
            assert_eq!(
                t.ret[b].dst, t.ret[0].dst,
                "the bounce does not change IP or port"
            );
            assert_ne!(t.ret[b].device, t.ret[un].device);
        }
        assert_eq!(t.ret.last().unwrap().device, format!("pod:shop/batch-{i}"));
    }
    // 8 batch pods on 8 nodes; the reply lands on one of them: the other 7 are bounced.
    assert_eq!(bounced, 7);
}

#[test]
fn the_same_pod_to_a_pod_of_the_cluster_is_not_snated() {
    let s = load(S);
    let (t, o) = walk(&s, "pod:shop/batch-0", "pod:shop/web-0:8080", None);
    assert_eq!(o.verdict, Verdict::Delivered);
    assert!(!actions(&t.forward).contains(&"snat"));
    assert!(
        t.forward[1]
            .detail
            .contains("internal subnet of the VRF, whose OVS route (priority 300 + prefix length) sits above every SNAT flow: no SNAT")
    );
    assert!(t.forward.iter().all(|h| h.src == "10.33.0.194:32768"));
    assert_eq!(t.ret.last().unwrap().device, "pod:shop/batch-0");
}

#[test]
fn icmp_through_snat_is_unsupported() {
    let s = load(S);
    let (t, o) = walk(&s, "pod:shop/batch-0", "1.1.1.1", Some(Proto::Icmp));
    assert_eq!(o.verdict, Verdict::Unsupported);
    assert_eq!(o.reason, Reason::IcmpThroughSnat);
    assert_eq!(t.forward.last().unwrap().action, "drop");
}

#[test]
fn a_pod_without_snat_policy_keeps_its_ip() {
    let s = load(S);
    let (t, o) = walk(&s, "pod:shop/web-0", "1.1.1.1:443", None);
    assert_eq!(o.verdict, Verdict::Delivered);
    assert_eq!(t.flow.src, "10.33.0.2:32768");
    assert!(t.forward.iter().all(|h| h.src == "10.33.0.2:32768"));
    assert!(!actions(&t.ret).contains(&"pbr-redirect"));
    assert_eq!(t.ret.last().unwrap().device, "pod:shop/web-0");
}

#[test]
fn loadbalancer_pbr_destinations_use_node_service_ips() {
    let s = load(S);
    let (t, _) = walk(&s, "external:clients", "service:shop/web:80", None);
    let pbr = &t.forward[3].detail;
    // web has one replica on each of the first six nodes → 6 destinations.
    assert!(pbr.contains("6 destinations"), "{pbr}");
    assert!(pbr.contains("bucket") && pbr.contains("of 256 (resilient hashing)"));
    assert!(pbr.contains("node service IP 10.36.0."));
}

#[test]
fn namespace_isolation_drops_without_a_contract_and_passes_with_one() {
    let s = load("scenarios/aci-namespace-isolation.yaml");
    // front (aci-containers-default) → ledger (payments-epg) on 8080: no contract → dropped, with the reason.
    let (t, o) = walk(&s, "pod:shop/front-0", "pod:payments/ledger-0:8080", None);
    assert_eq!(o.verdict, Verdict::Dropped);
    assert_eq!(o.reason, Reason::PolicyDenied);
    assert!(
        t.reason
            .contains("no contract between EPG aci-containers-default and EPG payments-epg"),
        "{}",
        t.reason
    );
    // …on 8443 the contract shop-to-payments permits it, and the reply too.
    let (t, o) = walk(&s, "pod:shop/front-0", "pod:payments/ledger-0:8443", None);
    assert_eq!(o.verdict, Verdict::Delivered);
    assert!(t.forward[1].detail.contains("contract shop-to-payments"));
    // The deployment annotation beats the namespace's: audit is back in aci-containers-default.
    let (t, o) = walk(&s, "pod:shop/front-0", "pod:payments/audit-0:9000", None);
    assert_eq!(o.verdict, Verdict::Delivered);
    assert!(t.forward[1].detail.contains("intra-EPG"));
    // …and a pod annotation beats the deployment's: vault is in payments-epg again.
    let (t, o) = walk(&s, "pod:shop/front-0", "pod:payments/vault-0:9000", None);
    assert_eq!(o.reason, Reason::PolicyDenied);
    assert!(
        t.reason.contains("the pod's endpoint-group annotation")
            || t.reason.contains("payments-epg"),
        "{}",
        t.reason
    );
}

#[test]
fn without_the_external_contract_pods_cannot_leave() {
    let s = load("scenarios/aci-namespace-isolation.yaml");
    let (t, o) = walk(&s, "pod:shop/front-0", "8.8.8.8:53", Some(Proto::Udp));
    assert_eq!(o.reason, Reason::PolicyDenied);
    assert!(t.reason.contains("aci-containers-default") && t.reason.contains("default"));
}

#[test]
fn exhausted_snat_policy_leaves_pods_un_nated() {
    let s = load("scenarios/aci-snat-exhaustion.yaml");
    // n2-9 sorts last by name: one of the 5 nodes without a chunk.
    let pod = (0..25)
        .map(|i| format!("pod:apps/worker-{i}"))
        .find(|p| {
            let (t, _) = walk(&s, p, "1.1.1.1:443", None);
            t.forward[0].detail.contains("node:n2-9")
        })
        .unwrap();
    let (t, o) = walk(&s, &pod, "1.1.1.1:443", None);
    assert_eq!(o.verdict, Verdict::Delivered);
    assert!(
        t.forward
            .iter()
            .any(|h| h.detail.contains("IpPortsExhausted"))
    );
    assert!(!actions(&t.forward).contains(&"snat"));
}

#[test]
fn no_ready_endpoint_means_no_service_graph_and_static_ips_by_annotation() {
    let s = load("tests/data/lb-no-ready-endpoint.yaml");
    let (t, o) = walk(&s, "external:clients", "service:a/web:80", None);
    assert_eq!(o.reason, Reason::NoServiceGraph);
    assert_eq!(t.flow.dst, "10.34.0.2:80");
    assert!(t.reason.contains("no node hosts a ready endpoint"));
    let (t, o) = walk(&s, "external:clients", "service:a/api:443", None);
    assert_eq!(o.verdict, Verdict::Delivered);
    assert_eq!(t.flow.dst, "10.35.0.9:443");
}

#[test]
fn a_namespace_source_is_its_first_pod_in_trace() {
    let s = load(S);
    let (t, _) = walk(&s, "namespace:shop", "1.1.1.1:443", None);
    // web-0 is the first pod of shop (10.33.0.2, see the header).
    assert_eq!(t.flow.src, "10.33.0.2:32768");
}
