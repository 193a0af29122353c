//! ACI-CNI as the controller, the host agent and opflex do it (issue 9). Every expectation is
//! worked by hand from the source named in the test (aci-containers 1f9b69b = 6.1.2.1, opflex
//! d83a8c5, acc-provision 6.1.2.1), not read off fabsim's output.

mod common;
use common::*;
use fabsim::design::aci_cni::AciState;
use fabsim::design::aci_cni::compile::pod_chunks;
use fabsim::design::aci_cni::snat_scope::select;
use fabsim::scenario::Scenario;
use std::net::Ipv4Addr;

fn fabric(nodes: usize) -> String {
    format!(
        "name: t
fabric:
  spines: [201]
  racks: [{{ id: 1, leaves: [101, 102], border: true, nodes: {{ count: {nodes}, prefix: n }} }}]
  external: [{{ name: internet, prefix: 0.0.0.0/0 }}]
"
    )
}

const NET: &str = "    net_config: { node_subnet: 10.32.0.1/16, pod_subnet: 10.33.0.1/16, extern_dynamic: 10.34.0.1/24, extern_static: 10.35.0.1/24, node_svc_subnet: 10.36.0.1/24 }\n";

fn state(s: &Scenario) -> AciState {
    AciState::compile(&s.cluster, s.designs[0].aci().unwrap())
}

fn trace_of(s: &Scenario, from: &str, to: &str) -> fabsim::dataplane::trace::JsonTrace {
    walk(s, from, to, None).0
}

/// Item 1 — opflex `handleRoutingDomainUpdate`: internal subnets at priority 300 + prefix length
/// beat every SNAT flow (≤ 300). A pod under a CLUSTER policy reaching a node's API server, a
/// literal ClusterIP or an unused pod address is never SNATed and never reaches the L3Out.
#[test]
fn nothing_inside_the_fabric_is_snated() {
    let y = fabric(2)
        + "cluster:
  service_subnet: 10.96.0.0/12
  namespaces: [{ name: a }]
  deployments: [{ name: web, namespace: a, replicas: 2, labels: { app: web } }]
  services: [{ name: web, namespace: a, type: ClusterIP, selector: { app: web }, ports: [{ port: 80, target_port: 8080 }] }]
designs:
  - name: aci-cni
    cni: aci-cni
" + NET + "    snat_policies: [{ name: everyone, snat_ip: [10.20.30.1] }]
";
    let s = load_text(&y);
    let no_snat_no_l3out = |t: &fabsim::dataplane::trace::JsonTrace| {
        assert!(
            t.forward
                .iter()
                .chain(&t.ret)
                .all(|h| h.action != "snat" && !h.device.starts_with("external:")),
            "{}",
            t.reason
        );
    };
    // Node n1 is 10.32.0.2 (node IPs from .2). The pod EPG consumes the api contract (tcp/6443).
    let t = trace_of(&s, "pod:a/web-1", "10.32.0.2:6443");
    assert_eq!(t.verdict, "delivered");
    no_snat_no_l3out(&t);
    assert!(
        t.forward[1].detail.contains("priority 316"),
        "/16 → 300 + 16"
    );
    // kubelet's port has no contract from the default EPG: dropped by policy, still not SNATed.
    let t = trace_of(&s, "pod:a/web-1", "10.32.0.2:10250");
    assert_eq!(t.verdict, "dropped");
    no_snat_no_l3out(&t);
    // The ClusterIP (the service subnet's .2, literal): OVS DNATs it to a pod.
    let t = trace_of(&s, "pod:a/web-1", "10.96.0.2:80");
    assert_eq!(t.verdict, "delivered");
    no_snat_no_l3out(&t);
    assert!(t.forward.iter().any(|h| h.action == "dnat"));
    // An unused address of the pod subnet: dropped inside the fabric.
    let t = trace_of(&s, "pod:a/web-1", "10.33.200.1:80");
    assert_eq!(t.verdict, "dropped");
    no_snat_no_l3out(&t);
    // The outside is SNATed.
    let t = trace_of(&s, "pod:a/web-1", "1.1.1.1:443");
    assert!(t.forward.iter().any(|h| h.action == "snat"));
}

/// Item 2 — hostagent `syncSnatNodeInfo`: a node asks for every policy matching one of its pods,
/// whatever wins. 22 nodes; a namespace policy with two IPs covers every pod and wins for each;
/// the cluster policy with one IP (20 chunks at 5000–65000/3000) still gets asked for by all 22:
/// 20 get a chunk, 2 do not, and the cluster policy is IpPortsExhausted.
#[test]
fn every_matching_policy_consumes_a_chunk() {
    let y = fabric(22)
        + "cluster:
  namespaces: [{ name: a }]
  deployments: [{ name: w, namespace: a, replicas: 22, labels: { app: w } }]
designs:
  - name: aci-cni
    cni: aci-cni
" + NET + "    snat_policies:
      - { name: ns, snat_ip: [10.20.30.1, 10.20.30.2], selector: { namespace: a } }
      - { name: cluster, snat_ip: [10.20.31.1] }
";
    let s = load_text(&y);
    let st = state(&s);
    let unit_of = |name: &str| {
        let pi = st
            .cfg
            .snat_policies
            .iter()
            .position(|p| p.name == name)
            .unwrap();
        st.units.iter().position(|u| u.policy == pi).unwrap()
    };
    let (ns, cluster) = (unit_of("ns"), unit_of("cluster"));
    let holders = |u| st.snat.by_node.keys().filter(|(_, x)| *x == u).count();
    assert_eq!(holders(ns), 22);
    assert_eq!(holders(cluster), 20);
    assert_eq!(st.snat.exhausted[&cluster].len(), 2);
    // Each pod's stack: the NAMESPACE policy (no destIp) ends it, so traffic uses ns's IPs.
    let e = select(
        &st.pod_stack(fabsim::cluster::PodId(0)).entries,
        Ipv4Addr::new(1, 1, 1, 1),
    )
    .unwrap();
    assert_eq!(e.unit, ns);
    // validate --json shows the same allocation.
    let json = fabsim::design::aci_cni::allocation::Allocation::of("aci-cni", &s.cluster, &st);
    let c = json
        .snat_policies
        .iter()
        .find(|p| p.name == "cluster")
        .unwrap();
    assert_eq!(
        (c.status, c.chunks.len(), c.nodes_without_chunk.len()),
        ("IpPortsExhausted", 20, 2)
    );
}

/// Item 3 — SERVICE scope (no snatIp), controller `handleSnatNodeInfo`/`getServiceIpMap`: one
/// chunk per (node, service IP) for every selected service; a pod leaves with its own service's
/// IP. A namespace-only selector is valid.
#[test]
fn service_scope_allocates_per_service_ip() {
    let y = fabric(2)
        + "cluster:
  namespaces: [{ name: a }]
  deployments:
    - { name: x, namespace: a, replicas: 2, labels: { app: x } }
    - { name: y, namespace: a, replicas: 2, labels: { app: y } }
  services:
    - { name: x, namespace: a, type: LoadBalancer, selector: { app: x }, ports: [{ port: 80 }] }
    - { name: y, namespace: a, type: LoadBalancer, selector: { app: y }, ports: [{ port: 80 }] }
designs:
  - name: aci-cni
    cni: aci-cni
" + NET + "    snat_policies: [{ name: svc, selector: { namespace: a } }]
";
    let s = load_text(&y);
    let st = state(&s);
    // Dynamic LB IPs from extern_dynamic's n[2]: x → 10.34.0.2, y → 10.34.0.3.
    let ips: Vec<Vec<Ipv4Addr>> = st.units.iter().map(|u| u.ips.clone()).collect();
    assert_eq!(
        ips,
        [
            vec![Ipv4Addr::new(10, 34, 0, 2)],
            vec![Ipv4Addr::new(10, 34, 0, 3)]
        ]
    );
    // 2 nodes × 2 service IPs = 4 chunks, each the first chunk of its IP on the first node.
    assert_eq!(st.snat.by_node.len(), 4);
    for (pod, ip) in [("a/x-0", [10, 34, 0, 2]), ("a/y-0", [10, 34, 0, 3])] {
        let t = trace_of(&s, &format!("pod:{pod}"), "1.1.1.1:443");
        let snat = t.forward.iter().find(|h| h.action == "snat").unwrap();
        assert!(
            snat.src.starts_with(&Ipv4Addr::from(ip).to_string()),
            "{pod}: {}",
            snat.src
        );
    }
}

/// Item 4 — `GetIPsFromCIDR`/`ExpandCIDRs`: hosts only, sorted numerically, a /31 gives none.
#[test]
fn snat_ips_expand_to_hosts_sorted() {
    let y = fabric(1)
        + "cluster: {}
designs:
  - name: aci-cni
    cni: aci-cni
" + NET
        + "    snat_policies: [{ name: p, snat_ip: [10.20.30.8/30, 10.20.30.1, 10.20.40.0/31] }]
";
    let s = load_text(&y);
    let p = &s.designs[0].aci().unwrap().snat_policies[0];
    // /30 → .9 and .10 (network .8 and broadcast .11 dropped); /31 → nothing; sorted.
    assert_eq!(
        p.snat_ips.clone().unwrap(),
        [[10, 20, 30, 1], [10, 20, 30, 9], [10, 20, 30, 10]].map(Ipv4Addr::from)
    );
}

/// Item 5 — opflex `flowsEndpointSNAT`: priority 300 − position in the pod's stack; the
/// higher-precedence policy wins even when a later one has the longer prefix; at most 32 flows.
#[test]
fn stack_order_not_longest_prefix_decides() {
    let dests: Vec<String> = (0..40).map(|i| format!("9.{i}.0.0/16")).collect();
    let y = fabric(1)
        + "cluster:
  namespaces: [{ name: a }]
  deployments: [{ name: d, namespace: a, replicas: 1, labels: { app: d } }]
designs:
  - name: aci-cni
    cni: aci-cni
" + NET + &format!("    snat_policies:
      - {{ name: pod, snat_ip: [10.20.30.1], dest_ip: [8.0.0.0/8], selector: {{ labels: {{ app: d }} }} }}
      - {{ name: ns, snat_ip: [10.20.30.2], dest_ip: [8.8.8.0/24], selector: {{ namespace: a }} }}
      - {{ name: many, snat_ip: [10.20.30.3], dest_ip: [{}] }}
", dests.join(", "));
    let s = load_text(&y);
    let st = state(&s);
    let stack = &st.pod_stack(fabsim::cluster::PodId(0));
    // POD first (priority 300), NAMESPACE next (299), then the CLUSTER policy's 40 destinations:
    // 30 fit (positions 2..31), 10 are skipped.
    assert_eq!(
        (stack.entries[0].priority, stack.entries[1].priority),
        (300, 299)
    );
    assert_eq!((stack.entries.len(), stack.skipped.len()), (32, 10));
    let e = select(&stack.entries, Ipv4Addr::new(8, 8, 8, 8)).unwrap();
    assert_eq!(st.cfg.snat_policies[e.policy].name, "pod");
    // 9.35.0.1 falls in a skipped destination: no SNAT flow, and the trace says why.
    assert!(select(&stack.entries, Ipv4Addr::new(9, 35, 0, 1)).is_none());
    let t = trace_of(&s, "pod:a/d-0", "9.35.0.1:443");
    assert!(t.forward.iter().all(|h| h.action != "snat"));
    assert!(
        t.forward
            .iter()
            .any(|h| h.detail.contains("Limit 32 reached")),
        "{}",
        t.reason
    );
}

/// Item 7 — `updateServiceDeviceInstanceSnat`: nodes by name, the loop breaks at
/// max_nodes_svc_graph BEFORE excluded nodes are skipped (`nodeLabelsInExcludeList`: every
/// `node-role.kubernetes.io/<label>` of one entry present). Cap 3 over n1..n5 with n2 a router:
/// members n1, n3; n2 excluded; n4, n5 past the cap.
#[test]
fn snat_graph_cap_counts_excluded_nodes() {
    let y = fabric(5)
        + "cluster:
  node_labels: { n2: { node-role.kubernetes.io/router: '', node-role.kubernetes.io/infra: '' }, n4: { node-role.kubernetes.io/router: '' } }
designs:
  - name: aci-cni
    cni: aci-cni
" + NET + "    kube_config: { max_nodes_svc_graph: 3, node_snat_redirect_exclude: [{ group: router, labels: [router, infra] }] }
    snat_policies: [{ name: p, snat_ip: [10.20.30.1] }]
";
    let s = load_text(&y);
    let st = state(&s);
    let r = st
        .redirects
        .iter()
        .find(|r| r.name.ends_with("_snat_svcgraph"))
        .unwrap();
    let names = |v: &[fabsim::cluster::NodeId]| -> Vec<String> {
        v.iter().map(|n| s.cluster.node(*n).name.clone()).collect()
    };
    assert_eq!(names(&r.nodes()), ["n1", "n3"]);
    assert_eq!(names(&r.excluded), ["n2"]);
    assert_eq!(names(&r.capped), ["n4", "n5"]);
}

/// Item 8 — contracts that open the way out (acc-provision `kube_tn`, controller
/// `apicDefaultEgCons`). Without allow_pods_external_access the default EPG does not consume
/// l3out-allow-all; a system-namespace pod does, but its un-NATed reply has no route back (the
/// pod subnet is not advertised). With it, the walk is whole.
#[test]
fn external_access_needs_allow_pods_external_access() {
    let base = fabric(1)
        + "cluster:
  namespaces: [{ name: a }]
  deployments:
    - { name: d, namespace: a, replicas: 1, labels: { app: d } }
    - { name: s, namespace: kube-system, replicas: 1, labels: { app: s } }
designs:
  - name: aci-cni
    cni: aci-cni
" + NET;
    let s = load_text(&base);
    assert_eq!(trace_of(&s, "pod:a/d-0", "1.1.1.1:443").verdict, "dropped");
    let t = trace_of(&s, "pod:kube-system/s-0", "1.1.1.1:443");
    assert_eq!(t.verdict, "dropped");
    assert!(t.reason.contains("no route back"), "{}", t.reason);
    let s = load_text(&(base + "    kube_config: { allow_pods_external_access: true }\n"));
    assert_eq!(
        trace_of(&s, "pod:a/d-0", "1.1.1.1:443").verdict,
        "delivered"
    );
}

/// Item 8 — a pod → LoadBalancer IP goes up to the fabric: with
/// add_external_contract_to_default_epg the default EPG consumes the service's contract, PBR
/// sends it to a node with a ready endpoint, whose OVS DNATs it.
#[test]
fn pod_to_lb_ip_through_pbr_with_the_default_epg_contract() {
    let y = fabric(2)
        + "cluster:
  namespaces: [{ name: a }]
  deployments:
    - { name: web, namespace: a, replicas: 1, labels: { app: web } }
    - { name: c, namespace: a, replicas: 1, labels: { app: c } }
  services: [{ name: web, namespace: a, type: LoadBalancer, selector: { app: web }, ports: [{ port: 80, target_port: 8080 }] }]
designs:
  - name: aci-cni
    cni: aci-cni
" + NET + "    kube_config: { add_external_contract_to_default_epg: true }
";
    let s = load_text(&y);
    let t = trace_of(&s, "pod:a/c-0", "10.34.0.2:80");
    assert_eq!(t.verdict, "delivered");
    let acts = actions(&t.forward);
    assert!(
        acts.contains(&"pbr-redirect") && acts.contains(&"dnat"),
        "{acts:?}"
    );
}

/// Item 9 — acc-provision 6.1.2.1 names and health-check `est`: nodes reach pods on any TCP
/// port; a pod cannot open a TCP connection to a node through health-check.
#[test]
fn default_epgs_and_health_check_are_acc_provisions() {
    let y = fabric(1)
        + "cluster:
  namespaces: [{ name: a }]
  deployments: [{ name: d, namespace: a, replicas: 1, labels: { app: d } }]
designs:
  - name: aci-cni
    cni: aci-cni
" + NET;
    let s = load_text(&y);
    let st = state(&s);
    let names: Vec<&str> = st
        .policy
        .epgs()
        .iter()
        .take(3)
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "aci-containers-default",
            "aci-containers-system",
            "aci-containers-nodes"
        ]
    );
    let c: Vec<&str> = st
        .policy
        .contracts()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        c,
        [
            "aci-containers-kube-api",
            "aci-containers-kube-dns",
            "aci-containers-kube-icmp",
            "aci-containers-kube-health-check",
            "kube-l3out-allow-all"
        ]
    );
    use fabsim::net::Proto;
    use fabsim::policy::Verdict;
    let (pods, nodes) = (st.default_epg, st.kube_nodes);
    assert!(matches!(
        st.policy
            .check(nodes, pods, Proto::Tcp, (40000, 8080), true),
        Verdict::Permit { .. }
    ));
    assert!(matches!(
        st.policy
            .check(pods, nodes, Proto::Tcp, (8080, 10250), true),
        Verdict::Deny
    ));
    let legacy = load_text(&y.replace(
        "    net_config:",
        "    aci_config: { use_legacy_kube_naming_convention: true }\n    net_config:",
    ));
    assert_eq!(state(&legacy).policy.epgs()[0].name, "kube-default");
}

/// Item 10 — `allocateIpChunk`: a new chunk when pods > size − chunk/2.
#[test]
fn pod_chunks_follow_the_controller_threshold() {
    // chunk 32: 1 chunk up to 16 pods (16 > 32 − 16 is false), 2 from 17, 3 from 49.
    assert_eq!(
        [0, 16, 17, 20, 48, 49].map(|n| pod_chunks(n, 32)),
        [1, 1, 2, 2, 2, 3]
    );
    let y = fabric(1)
        + "cluster:
  namespaces: [{ name: a }]
  deployments: [{ name: d, namespace: a, replicas: 20, labels: { app: d } }]
designs:
  - name: aci-cni
    cni: aci-cni
" + NET;
    assert_eq!(state(&load_text(&y)).pod_chunks, [2]);
}

/// Item 11 — acc-provision `cidr_split`: pools are n[2]..n[-2]; a requested IP outside the
/// static pool (extern_static 10.35.0.1/24 → .2–.254) gets no IP (RequestedIpsNotAllocatable).
#[test]
fn lb_pools_and_requested_ips() {
    let y = fabric(1)
        + "cluster:
  namespaces: [{ name: a }]
  deployments: [{ name: d, namespace: a, replicas: 1, labels: { app: d } }]
  services:
    - { name: dyn, namespace: a, type: LoadBalancer, selector: { app: d }, ports: [{ port: 80 }] }
    - { name: one, namespace: a, type: LoadBalancer, selector: { app: d }, ports: [{ port: 80 }], load_balancer_ip: 10.35.0.1 }
    - { name: top, namespace: a, type: LoadBalancer, selector: { app: d }, ports: [{ port: 80 }], load_balancer_ip: 10.35.0.254 }
designs:
  - name: aci-cni
    cni: aci-cni
" + NET;
    let loaded = load_with_diagnostics(&root(), &y);
    let warned: Vec<String> = loaded
        .diagnostics
        .warnings()
        .map(|w| w.to_string())
        .collect();
    assert!(
        warned
            .iter()
            .any(|w| w.contains("a/one") && w.contains("RequestedIpsNotAllocatable")),
        "{warned:?}"
    );
    let s = loaded.scenario.unwrap();
    assert_eq!(
        state(&s).addr.lb_ip,
        [
            Some(Ipv4Addr::new(10, 34, 0, 2)),
            None,
            Some(Ipv4Addr::new(10, 35, 0, 254))
        ]
    );
}

/// Item 15 — `validate --json`: the controller's allocation as data. The talk's exhaustion
/// scenario (25 nodes, one SNAT IP, 20 chunks at the defaults): 20 chunks, 5 nodes without.
#[test]
fn validate_json_reports_the_allocation() {
    let (code, out, _) = fabsim(&["validate", "scenarios/aci-snat-exhaustion.yaml", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("stdout is JSON");
    let p = &v["aci_cni"][0]["snat_policies"][0];
    assert_eq!(p["status"], "IpPortsExhausted");
    assert_eq!(p["chunks"].as_array().unwrap().len(), 20);
    assert_eq!(p["nodes_without_chunk"].as_array().unwrap().len(), 5);
    assert_eq!(p["chunks"][0]["start"], 5000);
    assert_eq!(p["chunks"][0]["end"], 7999);
}

/// A policy that got no chunk on a node writes no flow there (hostagent `updateEpFiles` lists only
/// the node's own allocations; opflex builds flows only for a local Snat), so the next flow of the
/// stack takes the traffic — here the CLUSTER policy — at the freed priority. One chunk per IP
/// (5000–8000 by 3000): the POD policy's one IP goes to n1 (first by name); n2 gets none.
#[test]
fn a_policy_without_a_chunk_yields_to_the_next_flow() {
    let y = fabric(2)
        + "cluster:
  namespaces: [{ name: a }]
  deployments: [{ name: d, namespace: a, replicas: 2, labels: { app: d } }]
designs:
  - name: aci-cni
    cni: aci-cni
" + NET + "    kube_config: { snat_operator: { port_range: { start: 5000, end: 8000, ports_per_node: 3000 } } }
    snat_policies:
      - { name: pod, snat_ip: [10.20.30.1], dest_ip: [8.0.0.0/8], selector: { labels: { app: d } } }
      - { name: cluster, snat_ip: [10.20.31.1, 10.20.31.2] }
";
    let s = load_text(&y);
    let st = state(&s);
    let node_of = |pod: &str| {
        s.cluster
            .node(s.cluster.pod(s.cluster.pod_by_name("a", pod).unwrap()).node)
            .name
            .clone()
    };
    assert_eq!((node_of("d-0"), node_of("d-1")), ("n1".into(), "n2".into()));
    let snat_src = |pod: &str| {
        let t = trace_of(&s, &format!("pod:a/{pod}"), "8.8.8.8:443");
        t.forward
            .iter()
            .find(|h| h.action == "snat")
            .map(|h| (h.src.clone(), h.detail.clone()))
            .unwrap()
    };
    let (src, detail) = snat_src("d-0");
    assert!(src.starts_with("10.20.30.1:"), "{src}");
    assert!(detail.contains("priority 300"));
    let (src, detail) = snat_src("d-1");
    assert!(src.starts_with("10.20.31.2:"), "{src}");
    assert!(
        detail.contains("policy cluster") && detail.contains("priority 300"),
        "{detail}"
    );
    let pi = st
        .cfg
        .snat_policies
        .iter()
        .position(|p| p.name == "pod")
        .unwrap();
    assert_eq!(st.pod_stack(fabsim::cluster::PodId(1)).unallocated.len(), 1);
    assert_eq!(st.pod_stack(fabsim::cluster::PodId(1)).unallocated[0].0, pi);
}

/// Item 6 — controller `validateCr`: a second policy without labels in the same namespace (here
/// two CLUSTER policies) is `Failed` and gets nothing, as one whose snatIp overlaps an earlier
/// one's (10.20.30.0/29 contains 10.20.30.1). Item 14 — ports_per_node 0 passes the controller's
/// range checks and loops forever in `ExpandPortRanges`: an error, not a default.
#[test]
fn conflicting_policies_fail_and_ports_per_node_zero_is_an_error() {
    let y = fabric(1)
        + "cluster:
  namespaces: [{ name: a }]
  deployments: [{ name: d, namespace: a, replicas: 1, labels: { app: d } }]
designs:
  - name: aci-cni
    cni: aci-cni
" + NET + "    snat_policies:
      - { name: first, snat_ip: [10.20.30.1] }
      - { name: second, snat_ip: [10.20.31.1] }
      - { name: overlap, snat_ip: [10.20.30.0/29], selector: { namespace: a } }
";
    let s = load_text(&y);
    let st = state(&s);
    let failed: Vec<(&str, bool)> = st
        .cfg
        .snat_policies
        .iter()
        .map(|p| (p.name.as_str(), p.failed.is_some()))
        .collect();
    assert_eq!(
        failed,
        [("first", false), ("second", true), ("overlap", true)]
    );
    assert_eq!(st.units.len(), 1, "only `first` is allocated");
    let bad = y.replace(
        "    snat_policies:",
        "    kube_config: { snat_operator: { port_range: { ports_per_node: 0 } } }\n    snat_policies:",
    );
    let (errors, _) = messages(&root(), &bad);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("loops forever in ExpandPortRanges")),
        "{errors:?}"
    );
}

/// `updateServiceDeviceInstanceSnat` leaves an excluded node out whatever its health: IP SLA
/// bringing it back after a failure does not add it, so replies never land on it (no bounce).
/// And a walk that fails after SNAT frees its port: with the SNAT graph empty (the one node within
/// max_nodes_svc_graph 1 is excluded) every reply is lost and no port stays held.
#[test]
fn excluded_nodes_stay_out_and_failed_walks_free_their_ports() {
    // Sixteen destinations: the SNAT graph hashes (source IP, destination IP), so replies from
    // several servers spread over the buckets.
    let traffic: String = (1..=16)
        .map(|k| format!("  - {{ name: e{k}, from: 'deployment:a/d', to: '1.1.1.{k}:443/tcp', arrivals: {{ poisson: 5/s }}, duration: {{ exponential: 1s }} }}\n"))
        .collect();
    let run = |router: &str, cap: u32, events: &str| {
        let y = fabric(2).replace("name: t\n", "name: t\nduration: 60s\n")
            + &format!("cluster:
  node_labels: {{ {router}: {{ node-role.kubernetes.io/router: '' }} }}
  namespaces: [{{ name: a }}]
  deployments: [{{ name: d, namespace: a, replicas: 1, labels: {{ app: d }} }}]
designs:
  - name: aci-cni
    cni: aci-cni
{NET}    kube_config: {{ allow_pods_external_access: true, max_nodes_svc_graph: {cap}, node_snat_redirect_exclude: [{{ group: r, labels: [router] }}] }}
    snat_policies: [{{ name: p, snat_ip: [10.20.30.1] }}]
traffic:
{traffic}events: [{events}]
conntrack: {{ time_wait: 5s }}
");
        let s = load_text(&y);
        fabsim::sim::engine::run(&s, &s.designs[0], fabsim::time::Nanos::from_secs(1)).unwrap()
    };
    // The pod sits on n1 (first placed); n2 is the excluded router. It fails and returns.
    let r = run(
        "n2",
        2,
        "{ at: 10s, fail: 'node:n2' }, { at: 20s, recover: 'node:n2' }",
    );
    assert!(r.connections.established > 1000);
    assert_eq!(r.paths.replies_bounced_share, 0.0);
    // n1 excluded and n2 past the cap: no destination; every walk fails after SNAT and frees
    // its port.
    let r = run("n1", 1, "");
    assert_eq!(r.connections.established, 0);
    assert!(
        r.timeseries.nat_ports_in_use.iter().all(|p| *p == 0),
        "{:?}",
        r.timeseries.nat_ports_in_use
    );
}

/// `allocateIpChunk`'s rule also bounds what `validate` accepts: 7 nodes × 3 pods with chunks of
/// 4 need 2 chunks each (3 > 4 − 2), 56 addresses, and a /27 pod subnet has 29 usable.
#[test]
fn validate_counts_pod_chunks_as_the_controller_gives_them() {
    let y = fabric(7)
        + "cluster:
  namespaces: [{ name: a }]
  deployments: [{ name: w, namespace: a, replicas: 21, labels: { app: w } }]
designs:
  - name: aci-cni
    cni: aci-cni
    net_config: { node_subnet: 10.32.0.1/16, pod_subnet: 10.33.0.1/27, pod_subnet_chunk_size: 4, extern_dynamic: 10.34.0.1/24, node_svc_subnet: 10.36.0.1/24 }
";
    let loaded = load_with_diagnostics(&root(), &y);
    let errors: Vec<String> = loaded.diagnostics.errors().map(|e| e.to_string()).collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("holds 29 usable addresses but the nodes need 56")),
        "{errors:?}"
    );
}

/// The controller's `getServicesBySelector` keeps only services with a LoadBalancer IP: a
/// SERVICE-scope policy whose service got none selects nobody, so the CLUSTER policy applies.
/// And `validateCr` compares only with policies that became Ready: `c` overlaps the Failed `b`
/// but not `a`, so it is Ready.
#[test]
fn service_scope_needs_an_lb_ip_and_failed_policies_conflict_with_nothing() {
    let y = fabric(1)
        + "cluster:
  namespaces: [{ name: a }]
  deployments: [{ name: web, namespace: a, replicas: 1, labels: { app: web } }]
  services: [{ name: web, namespace: a, type: LoadBalancer, selector: { app: web }, labels: { app: web }, ports: [{ port: 80 }], load_balancer_ip: 10.35.0.1 }]
designs:
  - name: aci-cni
    cni: aci-cni
" + NET + "    snat_policies:
      - { name: svc, selector: { labels: { app: web } } }
      - { name: a, snat_ip: [10.20.30.1] }
      - { name: b, snat_ip: [10.20.31.1] }
      - { name: c, snat_ip: [10.20.31.1], selector: { namespace: a } }
";
    let s = load_text(&y);
    let st = state(&s);
    assert_eq!(
        st.addr.lb_ip[0], None,
        "10.35.0.1 is outside extern_static's pool .2–.254"
    );
    let failed: Vec<bool> = st
        .cfg
        .snat_policies
        .iter()
        .map(|p| p.failed.is_some())
        .collect();
    assert_eq!(failed, [false, false, true, false]);
    // c (NAMESPACE) beats a (CLUSTER) for the pod; svc selects nothing.
    let e = select(
        &st.pod_stack(fabsim::cluster::PodId(0)).entries,
        Ipv4Addr::new(1, 1, 1, 1),
    )
    .unwrap();
    assert_eq!(st.cfg.snat_policies[e.policy].name, "c");
}

/// Each pod's SNAT flow stack — built once per deployment and set of chunks held — against the
/// stack built for the pod alone (its own template on its node), on a mix of POD, NAMESPACE, SERVICE and
/// CLUSTER policies (one past the 32-flow limit) where some nodes get no chunk: 6 chunks of
/// 10.20.30.1 (5000–8000, 500 a node) for 9 nodes.
#[test]
fn every_pods_stack_is_the_stack_built_for_it() {
    let dests: Vec<String> = (0..40).map(|i| format!("9.{i}.0.0/16")).collect();
    let y = fabric(9)
        + "cluster:
  namespaces: [{ name: a }, { name: b }]
  deployments:
    - { name: d1, namespace: a, replicas: 7, labels: { app: d1 } }
    - { name: d2, namespace: a, replicas: 5, labels: { app: d2 } }
    - { name: d3, namespace: b, replicas: 8, labels: { app: d3 } }
  services:
    - { name: s2, namespace: a, type: LoadBalancer, selector: { app: d2 }, ports: [{ port: 80 }] }
designs:
  - name: aci-cni
    cni: aci-cni
" + NET + &format!("    kube_config: {{ snat_operator: {{ port_range: {{ start: 5000, end: 8000, ports_per_node: 500 }} }} }}
    snat_policies:
      - {{ name: pod, snat_ip: [10.20.30.1], dest_ip: [8.0.0.0/8], selector: {{ labels: {{ app: d1 }} }} }}
      - {{ name: ns, snat_ip: [10.20.30.2], dest_ip: [8.8.8.0/24], selector: {{ namespace: b }} }}
      - {{ name: svc, selector: {{ namespace: a }} }}
      - {{ name: many, snat_ip: [10.20.31.3], dest_ip: [{}] }}
", dests.join(", "));
    let s = load_text(&y);
    let st = state(&s);
    let cfg = s.designs[0].aci().unwrap();
    let unit_of = |policy: usize, service: Option<fabsim::cluster::ServiceId>| {
        st.units
            .iter()
            .position(|u| u.policy == policy && u.service == service)
    };
    let (mut unallocated, mut skipped) = (0, 0);
    for p in 0..s.cluster.pods.len() as u32 {
        let pod = fabsim::cluster::PodId(p);
        let node = s.cluster.pod_node(pod);
        let alone = fabsim::design::aci_cni::snat_scope::template(
            &cfg.snat_policies,
            &s.cluster,
            &st.addr.lb_ip,
            pod,
            unit_of,
        )
        .stack(|u| st.snat.by_node.contains_key(&(node, u)));
        assert_eq!(st.pod_stack(pod), &alone, "pod {p}");
        unallocated += usize::from(!alone.unallocated.is_empty());
        skipped += usize::from(!alone.skipped.is_empty());
    }
    // The mix is what the test is about: some pods' nodes hold no chunk, some stacks overflow.
    assert!(unallocated > 0 && skipped > 0, "{unallocated} {skipped}");
}
