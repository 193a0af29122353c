//! Routing tables of the BGP designs, worked out by hand from the scenarios.

mod common;
use common::*;
use fabsim::cli::routes::{JsonRoutes, routes};
use fabsim::cli::trace::{Query, trace};
use fabsim::dataplane::{Reason, Verdict};

fn table(s: &fabsim::scenario::Scenario, design: &str, device: &str) -> JsonRoutes {
    routes(s, design, device).expect("routes")
}

fn route<'a>(t: &'a JsonRoutes, prefix: &str) -> &'a fabsim::cli::routes::JsonRoute {
    t.routes
        .iter()
        .find(|r| r.prefix == prefix)
        .unwrap_or_else(|| panic!("{prefix} missing in {}", fabsim::cli::routes::to_text(t)))
}

/// scenarios/brkdcn-2663.yaml under calico, by hand:
/// - placement: web-0..5 on r1-1..r2-2; batch-0, batch-1 on r2-3, r2-4 (least loaded), batch-2..7
///   on r1-1..r2-2: every node has 1 or 2 pods, so one /26 block each, in node order:
///   r1-1 10.33.0.0/26, r1-2 .64, r1-3 .128, r1-4 .192, r2-1 10.33.1.0/26, … r2-4 10.33.1.192/26;
/// - the LoadBalancer IP is the first host of serviceLoadBalancerIPs 10.34.0.0/24: 10.34.0.1;
///   web is externalTrafficPolicy Local, so the /32 comes from the six nodes with a web pod;
/// - rack 1 is the anchor: its nodes reach leaf 101 at cost 0; rack 2 (non-anchor) peers with
///   rack 1's leaves through the fabric, cost 1, so for the shared /32 and the serviceClusterIPs
///   CIDR only rack 1's nodes are installed;
/// - leaf 103 (non-anchor) sees every prefix through the two anchor leaves (one path per leaf).
#[test]
fn calico_two_racks_by_hand() {
    let s = load("scenarios/brkdcn-2663.yaml");
    let t = table(&s, "calico", "leaf:101");
    let blocks = [
        ("10.33.0.0/26", "node:k8s-r1-1"),
        ("10.33.0.64/26", "node:k8s-r1-2"),
        ("10.33.0.128/26", "node:k8s-r1-3"),
        ("10.33.0.192/26", "node:k8s-r1-4"),
        ("10.33.1.0/26", "node:k8s-r2-1"),
        ("10.33.1.64/26", "node:k8s-r2-2"),
        ("10.33.1.128/26", "node:k8s-r2-3"),
        ("10.33.1.192/26", "node:k8s-r2-4"),
    ];
    for (p, n) in blocks {
        assert_eq!(route(&t, p).next_hops, [n], "{p}");
    }
    let lb = route(&t, "10.34.0.1/32");
    assert_eq!(
        lb.next_hops,
        [
            "node:k8s-r1-1",
            "node:k8s-r1-2",
            "node:k8s-r1-3",
            "node:k8s-r1-4"
        ]
    );
    let excluded: Vec<&str> = lb
        .excluded
        .iter()
        .filter(|e| e.next_hop.starts_with("node:"))
        .map(|e| e.next_hop.as_str())
        .collect();
    assert_eq!(excluded, ["node:k8s-r2-1", "node:k8s-r2-2"]);
    assert!(lb.excluded[0].reason.contains("higher next-hop cost"));
    let svc = route(&t, "10.96.0.0/12");
    assert_eq!(svc.next_hops.len(), 4);
    assert_eq!(
        svc.excluded
            .iter()
            .filter(|e| e.reason.contains("higher next-hop cost"))
            .count(),
        4
    );
    assert_eq!(route(&t, "0.0.0.0/0").next_hops, ["l3out"]);
    // Calico's serviceLoadBalancerAggregation: the serviceLoadBalancerIPs CIDR from all 8 nodes
    // (confd updateGlobalRoutes); leaf 101 installs its own rack's 4.
    let agg = route(&t, "10.34.0.0/24");
    assert_eq!(agg.next_hops.len(), 4);
    assert_eq!(
        agg.excluded
            .iter()
            .filter(|e| e.reason.contains("higher next-hop cost"))
            .count(),
        4
    );
    // web is externalTrafficPolicy Local and its ClusterIP (10.96.0.2) lies in
    // serviceClusterIPs: its /32 from the 6 nodes with a web pod (routes.go
    // getAllRoutesForService), the same next hops as the LoadBalancer /32.
    assert_eq!(route(&t, "10.96.0.2/32").next_hops, lb.next_hops);
    // Nothing else: the 8 blocks, the two /32s, the two CIDRs, the node subnet and the default.
    assert_eq!(t.routes.len(), 14);

    let t = table(&s, "calico", "leaf:103");
    for (p, _) in blocks {
        assert_eq!(route(&t, p).next_hops, ["leaf:101", "leaf:102"], "{p}");
    }
    assert_eq!(
        route(&t, "10.34.0.1/32").next_hops,
        ["leaf:101", "leaf:102"]
    );
    assert_eq!(route(&t, "0.0.0.0/0").next_hops, ["leaf:101", "leaf:102"]);
}

#[test]
fn kube_router_pod_cidrs_are_slash_24_per_node_in_node_order() {
    let s = load("scenarios/brkdcn-2663.yaml");
    let t = table(&s, "kube-router", "leaf:102");
    for (i, n) in [
        "k8s-r1-1", "k8s-r1-2", "k8s-r1-3", "k8s-r1-4", "k8s-r2-1", "k8s-r2-2", "k8s-r2-3",
        "k8s-r2-4",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(
            route(&t, &format!("10.33.{i}.0/24")).next_hops,
            [format!("node:{n}")]
        );
    }
    // --advertise-loadbalancer-ip with Local: the /32 from the nodes with a web pod.
    assert_eq!(route(&t, "10.34.0.1/32").next_hops.len(), 4);
}

#[test]
fn sixty_five_nodes_one_slash_32_installs_sixty_four() {
    let s = load("tests/data/bgp-65-nodes.yaml");
    let t = table(&s, "kube-router", "leaf:101");
    let r = route(&t, "10.34.0.1/32");
    assert_eq!(r.next_hops.len(), 64);
    let over: Vec<_> = r
        .excluded
        .iter()
        .filter(|e| e.reason.contains("maximum-paths 64"))
        .collect();
    assert_eq!(over.len(), 1);
    // Ordered by next-hop address: n65 has the highest node IP (10.32.0.66) and is the one left out.
    assert_eq!(over[0].next_hop, "node:n65");
    // Without fabric.bgp the fabric keeps APIC's bgpCtxAfPol default, maxEcmp 16.
    let text = std::fs::read_to_string(root().join("tests/data/bgp-65-nodes.yaml")).unwrap();
    let s = load_text(&text.replace("  bgp: { max_paths: 64 }\n", ""));
    let t = table(&s, "kube-router", "leaf:101");
    assert_eq!(route(&t, "10.34.0.1/32").next_hops.len(), 16);
}

#[test]
fn sessions_with_different_passwords_never_come_up() {
    let s = load("tests/data/bgp-cluster-policy.yaml");
    let t = table(&s, "cilium", "leaf:101");
    let lb = route(&t, "10.34.0.1/32");
    assert!(lb.next_hops.is_empty());
    assert!(
        lb.excluded
            .iter()
            .all(|e| e.reason.contains("passwords differ"))
    );
    let (tr, o) = trace(
        &s,
        &Query {
            design: "cilium",
            from: "external:clients",
            to: "service:a/web:80",
            proto: None,
            sport: None,
        },
    )
    .unwrap();
    assert_eq!(o.reason, Reason::NoRoute);
    assert!(tr.reason.contains("blackholed"), "{}", tr.reason);
}

#[test]
fn cluster_policy_second_hop_snats_to_the_node_ip() {
    let s = load("tests/data/bgp-cluster-policy.yaml");
    let (t, o) = trace(
        &s,
        &Query {
            design: "kube-router",
            from: "external:clients",
            to: "service:a/web:80",
            proto: None,
            sport: None,
        },
    )
    .unwrap();
    assert_eq!(o.verdict, Verdict::Delivered);
    let dnat = t.forward.iter().find(|h| h.action == "dnat").unwrap();
    if dnat.detail.contains("client IP is lost") {
        assert!(
            dnat.src.starts_with("10.32.0."),
            "SNAT to a node IP: {}",
            dnat.src
        );
        assert_eq!(t.forward.last().unwrap().src, dnat.src);
    } else {
        assert!(dnat.src.starts_with("192.168.100."));
    }
    // IPVS round-robin: two connections in a row on one node go to the two backends in turn.
    assert!(dnat.detail.contains("round-robin"));
}

/// scenarios/calico-flavour.yaml: AS numbers, secret, max-prefix and block size come from the
/// acc-provision Calico flavour; blocks of /28 (16 addresses) in node order: c1 10.240.0.0/28,
/// c2 .16/28, c3 (21 pods) .32/28 and .48/28, c4 .64/28.
#[test]
fn calico_built_from_the_acc_provision_flavour() {
    let s = load("scenarios/calico-flavour.yaml");
    let cfg = s.design("calico").unwrap().bgp().unwrap();
    assert_eq!(
        (cfg.cluster_asn, cfg.fabric_asn, cfg.max_prefix.limit),
        (64512, 65010, 500)
    );
    // The fabric side as acc-provision's Calico flavour provisions it (apic_provision.py
    // bgp_timers: kaIntvl 1, holdIntvl 3, staleIntvl 6; bgp_addr_family_context: maxEcmp 64;
    // bgp_peer_prefix: action reject).
    assert_eq!(
        (
            cfg.fabric_keepalive.as_secs_f64(),
            cfg.fabric_hold_time.as_secs_f64(),
            cfg.fabric_stale.as_secs_f64(),
            cfg.max_paths,
            cfg.max_prefix.action
        ),
        (
            1.0,
            3.0,
            6.0,
            64,
            fabsim::design::bgp::config::MaxPrefixAction::Reject
        )
    );
    assert_eq!(cfg.node_password.as_deref(), Some("lab-secret"));
    // calico_config.net_config.nat_outgoing is absent: acc-provision's default "Disabled".
    assert!(!cfg.masquerade);
    assert_eq!(s.cluster.node_subnet.net.to_string(), "192.168.50.0/24");
    let t = table(&s, "calico", "leaf:103");
    assert_eq!(route(&t, "10.240.0.32/28").next_hops, ["node:c3"]);
    assert_eq!(route(&t, "10.240.0.48/28").next_hops, ["node:c3"]);
    assert_eq!(route(&t, "10.240.0.64/28").next_hops, ["node:c4"]);
    assert_eq!(
        route(&t, "10.240.0.0/28").next_hops,
        ["leaf:101", "leaf:102"]
    );
    // externalTrafficPolicy Cluster: Calico advertises the serviceLoadBalancerIPs CIDR from every node.
    assert_eq!(route(&t, "10.241.0.0/24").next_hops, ["node:c3", "node:c4"]);
    let t = table(&s, "calico", "leaf:101");
    assert_eq!(route(&t, "10.241.0.0/24").next_hops, ["node:c1", "node:c2"]);
}

#[test]
fn max_prefix_actions_and_next_hop_propagate() {
    let s = load("tests/data/bgp-max-prefix.yaml");
    // p1's three /30 blocks: 10.33.0.0, .4, .8; p2's: 10.33.0.12/30. Action reject: the first two
    // stay, the third is refused, the session stays up.
    let t = table(&s, "calico", "leaf:101");
    for p in ["10.33.0.0/30", "10.33.0.4/30"] {
        assert_eq!(route(&t, p).next_hops, ["node:p1"], "{p}");
    }
    let r = route(&t, "10.33.0.8/30");
    assert!(r.next_hops.is_empty());
    assert!(
        r.excluded[0]
            .reason
            .contains("refused by max-prefix 2, action reject")
            && r.excluded[0].reason.contains("the session stays up"),
        "{}",
        r.excluded[0].reason
    );
    assert_eq!(
        route(&t, "10.33.0.12/30").next_hops,
        ["leaf:103", "leaf:104"]
    );
    // Action shut: p1's session is down and all three blocks go.
    let t = table(&s, "calico-shut", "leaf:101");
    for p in ["10.33.0.0/30", "10.33.0.4/30", "10.33.0.8/30"] {
        let r = route(&t, p);
        assert!(r.next_hops.is_empty(), "{p}");
        assert!(
            r.excluded[0]
                .reason
                .contains("advertised 3 prefixes, above max-prefix 2, action shut"),
            "{}",
            r.excluded[0].reason
        );
    }
    // Next-hop propagate: leaf 101 sees p2 itself, not the anchor leaves of rack 2.
    let t = table(&s, "calico-propagate", "leaf:101");
    assert_eq!(route(&t, "10.33.0.12/30").next_hops, ["node:p2"]);
    assert_eq!(route(&t, "10.33.0.0/30").next_hops, ["node:p1"]);
}

#[test]
fn cilium_configured_by_its_crds() {
    let s = load("tests/data/cilium-crds.yaml");
    let c = s.design("cilium").unwrap().bgp().unwrap();
    assert_eq!((c.cluster_asn, c.fabric_asn), (65100, 65200));
    assert_eq!(
        (c.node_hold_time.to_string(), c.node_keepalive.to_string()),
        ("9s".into(), "3s".into())
    );
    assert!(c.graceful_restart);
    assert!(!c.advertise_pod_cidr);
    let t = table(&s, "cilium", "leaf:101");
    // Only the LoadBalancer /32 (first host of 10.50.0.0/24), from both nodes (each has a web pod).
    let bgp: Vec<&str> = t
        .routes
        .iter()
        .filter(|r| r.next_hops.iter().any(|h| h.starts_with("node:")))
        .map(|r| r.prefix.as_str())
        .collect();
    assert_eq!(bgp, ["10.50.0.1/32"]);
    assert_eq!(route(&t, "10.50.0.1/32").next_hops, ["node:n1", "node:n2"]);
}

#[test]
fn kube_router_peers_from_node_annotations() {
    let s = load("tests/data/kube-router-annotations.yaml");
    let r = |design: &str| route(&table(&s, design, "leaf:101"), "10.33.0.0/24").clone();
    assert_eq!(r("matching").next_hops, ["node:n1"]);
    let w = r("wrong-asn");
    assert!(w.next_hops.is_empty());
    assert_eq!(
        w.excluded[0].reason,
        "session down: the node expects peer AS 3, the fabric is AS 2"
    );
    let w = r("wrong-password");
    assert!(w.next_hops.is_empty());
    assert!(w.excluded[0].reason.contains("passwords differ"));
}

#[test]
fn import_route_control_refuses_prefixes_outside_the_accepted_subnets() {
    let s = load("tests/data/bgp-cluster-policy.yaml");
    let t = table(&s, "kube-router-import", "leaf:101");
    let lb = route(&t, "10.34.0.1/32");
    assert!(lb.next_hops.is_empty());
    assert!(
        lb.excluded
            .iter()
            .all(|e| e.reason.starts_with("import route control"))
    );
    // The default import list accepts it (node, pod and service subnets, the LB pool).
    let t = table(&s, "kube-router", "leaf:101");
    assert!(!route(&t, "10.34.0.1/32").next_hops.is_empty());
}

/// kube-proxy (iptables), which Calico runs behind, marks external traffic to an
/// `externalTrafficPolicy: Cluster` service for masquerade before it picks the backend
/// (kubernetes `pkg/proxy/iptables/proxier.go`, KUBE-MARK-MASQ): on a one-node cluster, where the
/// backend is necessarily local, Calico still SNATs to the node IP; Cilium (SNAT mode) keeps the
/// client's address for a local backend.
#[test]
fn cluster_policy_masquerades_before_the_backend_is_chosen_behind_kube_proxy() {
    let y = "name: one-node
fabric:
  spines: [201]
  racks: [{ id: 1, leaves: [101, 102], border: true, nodes: [n1] }]
  external: [{ name: clients, prefix: 192.168.100.0/24 }]
  bgp: { keepalive: 1s, hold_time: 3s }
cluster:
  node_subnet: 10.32.0.1/16
  pod_subnet: 10.33.0.0/16
  namespaces: [{ name: a }]
  deployments: [{ name: web, namespace: a, replicas: 1, labels: { app: web } }]
  services:
    - { name: web, namespace: a, type: LoadBalancer, selector: { app: web }, ports: [{ port: 80 }], external_traffic_policy: Cluster }
designs:
  - { name: calico, cni: calico, bgp: { fabric_asn: 2 }, advertise: { service_loadbalancer_ips: [10.34.0.0/24] } }
  - { name: cilium, cni: cilium, bgp: { cluster_asn: 64512, fabric_asn: 2 }, load_balancer: { pool: [10.34.0.0/24] } }
";
    let s = load_text(y);
    let q = |design| Query {
        design,
        from: "external:clients",
        to: "service:a/web:80",
        proto: None,
        sport: None,
    };
    let (t, o) = trace(&s, &q("calico")).unwrap();
    assert_eq!(o.verdict, Verdict::Delivered);
    let dnat = t.forward.iter().find(|h| h.action == "dnat").unwrap();
    assert!(dnat.src.starts_with("10.32.0.2:"), "{}", dnat.src);
    assert!(dnat.detail.contains("KUBE-MARK-MASQ"), "{}", dnat.detail);
    assert!(o.snat.is_some(), "the NAT port counts in the metrics");
    let (t, o) = trace(&s, &q("cilium")).unwrap();
    assert_eq!(o.verdict, Verdict::Delivered);
    let dnat = t.forward.iter().find(|h| h.action == "dnat").unwrap();
    assert!(dnat.src.starts_with("192.168.100."), "{}", dnat.src);
}

/// kube-router --advertise-cluster-ip announces each ClusterIP as a /32 — from every node, or for
/// internalTrafficPolicy Local only from nodes with a local endpoint (`ecmp_vip.go`
/// getAllVIPsForService / nodeHasEndpointsForService). Two nodes, one pod on n1; the service
/// subnet's .2 and .3 are the two ClusterIPs.
#[test]
fn kube_router_cluster_ips_as_host_routes() {
    let y = "name: cips
fabric:
  spines: [201]
  racks: [{ id: 1, leaves: [101, 102], border: true, nodes: [n1, n2] }]
  external: [{ name: clients, prefix: 192.168.100.0/24 }]
cluster:
  node_subnet: 10.32.0.1/16
  pod_subnet: 10.33.0.0/16
  service_subnet: 10.96.0.0/12
  namespaces: [{ name: a }]
  deployments: [{ name: web, namespace: a, replicas: 1, labels: { app: web }, placement: [n1] }]
  services:
    - { name: all, namespace: a, selector: { app: web }, ports: [{ port: 80 }] }
    - { name: near, namespace: a, selector: { app: web }, ports: [{ port: 80 }], internal_traffic_policy: Local }
designs:
  - name: kube-router
    cni: kube-router
    bgp: { fabric_asn: 2 }
    args: [--cluster-asn=64512, --advertise-cluster-ip=true]
";
    let s = load_text(y);
    let t = table(&s, "kube-router", "leaf:101");
    assert_eq!(route(&t, "10.96.0.2/32").next_hops, ["node:n1", "node:n2"]);
    assert_eq!(route(&t, "10.96.0.3/32").next_hops, ["node:n1"]);
    assert!(t.routes.iter().all(|r| r.prefix != "10.96.0.0/12"));
}

/// Cilium masquerades with iptables unless Helm's `bpf.masquerade` is set (FACTS §2): iptables
/// MASQUERADE keeps a source port ≥ 1024 while the tuple is unique (nf_nat); the BPF allocator
/// works in 32768–65535 (`snat_v4_new_mapping`), so a pod's port 2000 is replaced.
#[test]
fn cilium_masquerade_iptables_by_default_bpf_by_setting() {
    let text = std::fs::read_to_string(root().join("scenarios/brkdcn-2663.yaml")).unwrap();
    let q = Query {
        design: "cilium",
        from: "pod:shop/batch-1",
        to: "1.1.1.1:443",
        proto: None,
        sport: Some(2000),
    };
    let port_of = |s: &fabsim::scenario::Scenario| {
        let (t, _) = trace(s, &q).unwrap();
        let h = t.forward.iter().find(|h| h.action == "snat").unwrap();
        let port: u16 = h.src.rsplit(':').next().unwrap().parse().unwrap();
        (port, h.detail.clone())
    };
    let (port, detail) = port_of(&load("scenarios/brkdcn-2663.yaml"));
    assert_eq!(port, 2000);
    assert!(detail.contains("iptables MASQUERADE"), "{detail}");
    let bpf = text.replace(
        "load_balancer: { algorithm: maglev, pool: [10.34.0.0/24] }",
        "load_balancer: { algorithm: maglev, pool: [10.34.0.0/24] }\n    bpf_masquerade: true",
    );
    let (port, detail) = port_of(&load_text_in(&root().join("scenarios"), &bpf));
    assert!((32768..=65535).contains(&port), "{port}");
    assert!(detail.contains("BPF masquerade"), "{detail}");
}

/// IPVS `mh` (kube-router's `kube-router.io/service.scheduler: mh`) hashes the source address
/// only (`ip_vs_mh.c`, no port flag), over a table of 4093: one client keeps its backend whatever
/// its source port. Cilium applies Maglev to north-south traffic only: a pod → ClusterIP choice
/// says random.
#[test]
fn ipvs_mh_hashes_the_source_and_cilium_maglev_is_north_south_only() {
    let y = "name: mh
fabric:
  spines: [201]
  racks: [{ id: 1, leaves: [101, 102], border: true, nodes: [n1] }]
  external: [{ name: clients, prefix: 192.168.100.0/24 }]
cluster:
  node_subnet: 10.32.0.1/16
  pod_subnet: 10.33.0.0/16
  service_subnet: 10.96.0.0/12
  namespaces: [{ name: a }]
  deployments: [{ name: web, namespace: a, replicas: 8, labels: { app: web } }, { name: c, namespace: a, replicas: 1, labels: { app: c } }]
  services:
    - { name: web, namespace: a, type: LoadBalancer, selector: { app: web }, ports: [{ port: 80 }], annotations: { kube-router.io/service.scheduler: mh } }
designs:
  - name: kube-router
    cni: kube-router
    bgp: { fabric_asn: 2 }
    args: [--cluster-asn=64512, --advertise-loadbalancer-ip]
    load_balancer: { pool: [10.34.0.0/24] }
  - { name: cilium, cni: cilium, bgp: { cluster_asn: 64512, fabric_asn: 2 }, load_balancer: { algorithm: maglev, pool: [10.34.0.0/24] } }
";
    let s = load_text(y);
    let backend = |design, from, sport| {
        let (t, o) = trace(
            &s,
            &Query {
                design,
                from,
                to: "service:a/web:80",
                proto: None,
                sport: Some(sport),
            },
        )
        .unwrap();
        assert_eq!(o.verdict, Verdict::Delivered);
        let dnat = t.forward.iter().find(|h| h.action == "dnat").unwrap();
        (dnat.dst.clone(), dnat.detail.clone())
    };
    let first = backend("kube-router", "external:clients", 40000);
    assert!(
        first
            .1
            .contains("IPVS mh (table of 4093, hash of the source address)"),
        "{}",
        first.1
    );
    for sport in [40001, 45000, 50000, 60999] {
        assert_eq!(backend("kube-router", "external:clients", sport).0, first.0);
    }
    let (_, how) = backend("cilium", "pod:a/c-0", 40000);
    assert!(how.contains("north-south traffic only"), "{how}");
    let (_, how) = backend("cilium", "external:clients", 40000);
    assert!(how.contains("Maglev (table of 16381"), "{how}");
}

/// kube-router's global peers from its flags (`--peer-router-ips/asns/passwords`, passwords in
/// base64): a peer AS other than the fabric's keeps the sessions down; a password mismatch too.
#[test]
fn kube_router_global_peer_flags() {
    let base = std::fs::read_to_string(root().join("tests/data/bgp-65-nodes.yaml")).unwrap();
    let with = |extra: &str| {
        base.replace(
            "--enable-pod-egress=false]",
            &format!("--enable-pod-egress=false, {extra}]"),
        )
    };
    // The fabric is AS 2: peering it as AS 65001 fails on every session.
    let s = load_text(&with(
        "--peer-router-ips=10.32.0.1, --peer-router-asns=65001",
    ));
    let c = s.design("kube-router").unwrap().bgp().unwrap();
    assert_eq!(c.node_peer_asn, Some(65001));
    let t = table(&s, "kube-router", "leaf:101");
    assert!(
        t.routes
            .iter()
            .all(|r| r.next_hops.iter().all(|n| !n.starts_with("node:")))
    );
    // "c2VjcmV0" is base64 for "secret" (the fabric side takes the same unless fabric_password).
    let s = load_text(&with("--peer-router-passwords=c2VjcmV0"));
    let c = s.design("kube-router").unwrap().bgp().unwrap();
    assert_eq!(c.node_password.as_deref(), Some("secret"));
    // Not base64: an error that does not echo the value.
    let (errs, _) = messages(&root(), &with("--peer-router-passwords=not*base64"));
    assert!(
        errs.iter()
            .any(|e| e.contains("--peer-router-passwords is not base64"))
    );
    assert!(errs.iter().all(|e| !e.contains("not*base64")));
}

/// Cilium resources decide what is advertised (tests/data/cilium-selectors.yaml): only the
/// advertisements the peer config's family selects (no PodCIDR: that one is not selected), a
/// Service advertisement without a selector selects nothing, and the LoadBalancer IP pool with
/// a serviceSelector serves only the services it selects.
#[test]
fn cilium_resources_select_what_is_advertised() {
    let y = "name: cilium-selectors
fabric:
  spines: [201]
  racks: [{ id: 1, leaves: [101, 102], border: true, nodes: [n1] }]
  external: [{ name: clients, prefix: 192.168.100.0/24 }]
cluster:
  node_subnet: 10.32.0.1/16
  pod_subnet: 10.33.0.0/16
  namespaces: [{ name: a }]
  deployments: [{ name: web, namespace: a, replicas: 1, labels: { app: web } }]
  services:
    - { name: shown, namespace: a, type: LoadBalancer, selector: { app: web }, labels: { expose: bgp, tenant: blue }, ports: [{ port: 80 }] }
    - { name: hidden, namespace: a, type: LoadBalancer, selector: { app: web }, ports: [{ port: 80 }] }
designs:
  - { name: cilium, cni: cilium, resources: { file: cilium-selectors.yaml } }
";
    let s = load_text_in(&root().join("tests/data"), y);
    let st = fabsim::design::bgp::BgpState::compile(
        &s.fabric,
        &s.cluster,
        s.design("cilium").unwrap().bgp().unwrap(),
    );
    // `shown` (tenant blue) draws from the blue pool, `hidden` from the default one.
    assert_eq!(
        st.addr.lb_ip,
        [
            Some("10.60.0.1".parse().unwrap()),
            Some("10.50.0.1".parse().unwrap())
        ]
    );
    let t = table(&s, "cilium", "leaf:101");
    let bgp: Vec<&str> = t
        .routes
        .iter()
        .filter(|r| r.next_hops.iter().any(|n| n.starts_with("node:")))
        .map(|r| r.prefix.as_str())
        .collect();
    assert_eq!(bgp, ["10.60.0.1/32"]);
}

/// A cluster in the fabric's own AS peers over iBGP (Cilium's documentation does): its routes
/// are installed (an empty AS path, nothing for maxAsLimit to refuse), and another leaf's copy
/// loses to the leaf's own path by the route reflectors' cluster list.
#[test]
fn a_cluster_in_the_fabrics_as_peers_over_ibgp() {
    let text = std::fs::read_to_string(root().join("scenarios/brkdcn-2663.yaml")).unwrap();
    let y = text.replace(
        "bgp: { cluster_asn: 64512, fabric_asn: 2, hold_time: 3s, keepalive: 1s }",
        "bgp: { cluster_asn: 65002, fabric_asn: 65002, hold_time: 3s, keepalive: 1s }",
    );
    let s = load_text_in(&root().join("scenarios"), &y);
    let c = s.design("cilium").unwrap().bgp().unwrap();
    assert!(c.ibgp);
    let t = table(&s, "cilium", "leaf:101");
    let r = route(&t, "10.33.0.0/24");
    assert_eq!(r.next_hops, ["node:k8s-r1-1"]);
    assert!(
        r.excluded
            .iter()
            .any(|e| e.reason.contains("cluster list (RFC 4456)")),
        "{:?}",
        r.excluded.iter().map(|e| &e.reason).collect::<Vec<_>>()
    );
    let (code, out, _) = fabsim(&["validate", "scenarios/brkdcn-2663.yaml"]);
    assert_eq!(code, 0);
    assert!(out.contains("(eBGP)"));
}

/// Calico IPAM borrowing (strictAffinity false): a /27 pool of /29 blocks holds 4 blocks;
/// nodes a (10 pods) and b (10 pods) claim 2 each; c (4 pods) finds no free block and borrows
/// addresses from the first block with room — a's second, 10.33.0.8/29, whose .8 and .9 a
/// uses: c takes .10 … .13 and advertises each as a /32, by hand. (Which block Calico borrows
/// from first is its block iteration order; the pool's order is the approximation.)
#[test]
fn calico_borrows_addresses_when_the_pool_has_no_free_block() {
    let y = "name: borrow
fabric:
  spines: [201]
  racks: [{ id: 1, leaves: [101, 102], border: true, nodes: [a, b, c] }]
  external: [{ name: clients, prefix: 192.168.100.0/24 }]
cluster:
  node_subnet: 10.32.0.1/16
  namespaces: [{ name: x }]
  deployments:
    - { name: big, namespace: x, replicas: 20, labels: { app: big }, placement: [a, b] }
    - { name: small, namespace: x, replicas: 4, labels: { app: small }, placement: [c] }
designs:
  - name: calico
    cni: calico
    bgp: { fabric_asn: 2, node_to_node_mesh: false }
    ip_pool: { cidr: 10.33.0.0/27, block_size: 29 }
";
    let loaded = load_with_diagnostics(&root(), y);
    let warnings: Vec<String> = loaded
        .diagnostics
        .warnings()
        .map(|w| w.to_string())
        .collect();
    assert!(
        warnings.iter().any(|w| w.contains("borrow addresses")),
        "{warnings:?}"
    );
    let s = loaded.scenario.unwrap();
    let t = table(&s, "calico", "leaf:101");
    assert_eq!(route(&t, "10.33.0.0/29").next_hops, ["node:a"]);
    assert_eq!(route(&t, "10.33.0.24/29").next_hops, ["node:b"]);
    for ip in 10..=13 {
        assert_eq!(
            route(&t, &format!("10.33.0.{ip}/32")).next_hops,
            ["node:c"],
            "{ip}"
        );
    }
}

/// Calico's serviceExternalIPs CIDRs are announced from every node but do not authorise a
/// LoadBalancer IP: only serviceLoadBalancerIPs do (`routes.go` isAllowedLoadBalancerIP). A
/// Local service whose IP (10.70.0.5) lies in serviceExternalIPs only gets no /32.
#[test]
fn calico_external_ips_do_not_authorise_loadbalancer_ips() {
    let y = "name: ext
fabric:
  spines: [201]
  racks: [{ id: 1, leaves: [101, 102], border: true, nodes: [n1] }]
  external: [{ name: clients, prefix: 192.168.100.0/24 }]
cluster:
  node_subnet: 10.32.0.1/16
  pod_subnet: 10.33.0.0/16
  namespaces: [{ name: a }]
  deployments: [{ name: web, namespace: a, replicas: 1, labels: { app: web } }]
  services:
    - { name: web, namespace: a, type: LoadBalancer, selector: { app: web }, ports: [{ port: 80 }], external_traffic_policy: Local, load_balancer_ip: 10.70.0.5 }
designs:
  - { name: calico, cni: calico, bgp: { fabric_asn: 2 }, advertise: { service_loadbalancer_ips: [10.34.0.0/24], service_external_ips: [10.70.0.0/24] } }
";
    let s = load_text(y);
    let t = table(&s, "calico", "leaf:101");
    assert_eq!(route(&t, "10.70.0.0/24").next_hops, ["node:n1"]);
    assert_eq!(route(&t, "10.34.0.0/24").next_hops, ["node:n1"]);
    assert!(t.routes.iter().all(|r| r.prefix != "10.70.0.5/32"));
}

/// `validate` says how many sessions cannot come up, and counts the designs' warnings in its
/// header: calico-shut's p1 (2 sessions) is down on max-prefix.
#[test]
fn validate_counts_sessions_that_cannot_come_up() {
    let (code, out, _) = fabsim(&["validate", "tests/data/bgp-max-prefix.yaml"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("2 of 4 BGP sessions cannot come up (1 node(s) affected)"),
        "{out}"
    );
    assert!(
        !out.lines().next().unwrap().contains(" 0 warning(s)"),
        "{out}"
    );
}

/// A resources file with nothing fabsim reads is refused; kinds it does not read are named.
#[test]
fn a_resources_file_without_a_known_kind_is_refused() {
    let y = "name: nores
fabric:
  spines: [201]
  racks: [{ id: 1, leaves: [101, 102], border: true, nodes: [n1] }]
cluster:
  node_subnet: 10.32.0.1/16
  pod_subnet: 10.33.0.0/16
designs:
  - { name: calico, cni: calico, bgp: { fabric_asn: 2 }, resources: { file: not-resources.yaml } }
";
    let loaded = load_with_diagnostics(&root().join("tests/data"), y);
    let all: Vec<String> = loaded
        .diagnostics
        .items
        .iter()
        .map(|x| x.to_string())
        .collect();
    assert!(
        all.iter()
            .any(|x| x.contains("holds no Calico or Cilium resource")),
        "{all:?}"
    );
    assert!(
        all.iter()
            .any(|x| x.contains("kind `ConfigMap` is not a resource fabsim reads")),
        "{all:?}"
    );
    assert!(
        all.iter().any(|x| x.contains("a document without `kind`")),
        "{all:?}"
    );
}

/// Inside the cluster's own ranges the BGP designs do not take the default route: a pod reaches
/// a node's address (the API server on :6443) across the leaves on the node subnet, masqueraded
/// by Calico's natOutgoing (its pools exclude node addresses); an address of the pod pool or the
/// service range that nothing holds is dropped, never sent out of the L3Out.
#[test]
fn addresses_inside_the_cluster_never_leave_through_the_l3out() {
    let s = load("scenarios/brkdcn-2663.yaml");
    let (t, o) = walk_design(&s, "calico", "pod:shop/batch-1", "10.32.0.2:6443", None);
    assert_eq!(o.verdict, fabsim::dataplane::Verdict::Delivered);
    let text = serde_json::to_string(&t).unwrap();
    assert!(
        text.contains("on the node subnet") && text.contains("its host network"),
        "{text}"
    );
    assert!(!text.contains("L3Out"), "{text}");
    assert!(
        text.contains("natOutgoing"),
        "Calico masquerades to a node address: {text}"
    );
    // kube-router's pod-egress rule skips node addresses (`pod_egress.go`).
    let (t, _) = walk_design(
        &s,
        "kube-router",
        "pod:shop/batch-1",
        "10.32.0.2:6443",
        None,
    );
    let text = serde_json::to_string(&t).unwrap();
    assert!(
        text.contains("skips node addresses") && !text.contains("\"snat\""),
        "{text}"
    );
    for design in ["calico", "kube-router", "cilium"] {
        for to in ["10.33.200.77:80", "10.96.200.77:80"] {
            let (t, o) = walk_design(&s, design, "pod:shop/batch-1", to, None);
            assert_eq!(
                o.reason,
                fabsim::dataplane::Reason::NoRoute,
                "{design} {to}"
            );
            assert!(
                !serde_json::to_string(&t).unwrap().contains("L3Out"),
                "{design} {to}"
            );
        }
    }
}
