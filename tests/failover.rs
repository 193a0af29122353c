//! Failover worked by hand: a node fails and new connections the fabric still sends it are
//! blackholed until the design's own timer removes it — 3 s of BGP hold time, 3 × 5 s of IP SLA
//! tracking for ACI-CNI with pbr_tracking_non_snat, the 40 s node-monitor grace period without.

mod common;
use common::*;
use fabsim::scenario::Scenario;
use fabsim::sim::engine;
use fabsim::time::Nanos;

/// Four nodes on one anchor rack, 100 new client connections per second of 100 ms, node n2
/// fails at 10 s for good.
fn scenario(design: &str) -> Scenario {
    four_node_rack(design, "100ms", "  - { at: 10s, fail: 'node:n2' }", "80s")
}

const ACI: &str = "  - name: d
    cni: aci-cni
    net_config: { node_subnet: 10.32.0.1/16, pod_subnet: 10.33.0.1/16, extern_dynamic: 10.34.0.1/24, node_svc_subnet: 10.36.0.1/24, pbr_tracking_non_snat: TRACK }";

/// Blackholed connections and the detection time of the one failure.
fn blackholed(design: &str) -> (u64, f64, Vec<f64>) {
    let s = scenario(design);
    let r = engine::run(&s, &s.designs[0], Nanos::from_secs(1)).unwrap();
    let f = &failover_json(&r)[0];
    let series = r.timeseries.new_connection_success_ratio.clone();
    (
        f["blackholed"].as_u64().unwrap(),
        f["detection_s"].as_f64().unwrap(),
        series,
    )
}

#[test]
fn calico_blackholes_for_the_hold_time() {
    let (n, detection, series) = blackholed(
        "  - { name: d, cni: calico, bgp: { fabric_asn: 2, hold_time: 3s }, advertise: { service_loadbalancer_ips: [10.34.0.0/24] } }",
    );
    assert_eq!(detection, 3.0);
    assert_quarter_of(n, 3.0);
    // From the sample after the withdrawal on, every new connection succeeds.
    assert!(series[14..].iter().all(|r| *r == 1.0), "{series:?}");
}

#[test]
fn aci_cni_with_tracking_blackholes_for_three_probe_intervals() {
    let (n, detection, _) = blackholed(&ACI.replace("TRACK", "true"));
    assert_eq!(detection, 15.0);
    assert_quarter_of(n, 15.0);
}

#[test]
fn aci_cni_without_tracking_waits_for_the_grace_period() {
    let (n, _, series) = blackholed(&ACI.replace("TRACK", "false"));
    assert_quarter_of(n, 40.0);
    assert!(series[51..].iter().all(|r| *r == 1.0));
}

/// A spine and then one leaf of a vPC pair fail: the fabric reconverges and ACI-CNI connections
/// survive (stateless switches, vPC). When the pair's second leaf fails, the rack is cut off and
/// its nodes fail with everything they served.
#[test]
fn spine_and_leaf_failures_under_aci_cni() {
    let y = "name: fabric-failures
seed: 9
duration: 60s
fabric:
  spines: [201, 202]
  racks:
    - { id: 1, leaves: [101, 102], border: true, nodes: [a1, a2] }
    - { id: 2, leaves: [103, 104], border: true, nodes: [b1, b2] }
  external: [{ name: clients, prefix: 172.16.0.0/16 }]
cluster:
  namespaces: [{ name: a }]
  deployments: [{ name: web, namespace: a, replicas: 4, labels: { app: web } }]
  services:
    - { name: web, namespace: a, type: LoadBalancer, selector: { app: web }, ports: [{ port: 80 }] }
designs:
  - name: aci-cni
    cni: aci-cni
    net_config: { node_subnet: 10.32.0.1/16, pod_subnet: 10.33.0.1/16, extern_dynamic: 10.34.0.1/24, node_svc_subnet: 10.36.0.1/24 }
traffic:
  - { name: in, from: 'external:clients', to: 'service:a/web:80', arrivals: { constant: 100/s }, duration: { constant: 5s } }
events:
  - { at: 10s, fail: 'spine:201' }
  - { at: 15s, recover: 'spine:201' }
  - { at: 20s, fail: 'leaf:101' }
  - { at: 30s, fail: 'leaf:102' }
";
    let s = load_text(y);
    let r = engine::run(&s, &s.designs[0], Nanos::from_secs(1)).unwrap();
    let f = &failover_json(&r);
    assert_eq!(f[0]["target"], "spine:201");
    assert_eq!(f[0]["broken_at_failure"], 0);
    assert_eq!(f[0]["node_recovered_at_s"], 15.0);
    assert_eq!(f[1]["target"], "leaf:101");
    assert_eq!(f[1]["broken_at_failure"], 0);
    // leaf:102 cuts rack 1 off: its two nodes fail, with the connections they served.
    assert_eq!(f[2]["target"], "leaf:102");
    let nodes: Vec<&str> = f[3..]
        .iter()
        .map(|x| x["target"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["node:a1", "node:a2"]);
    let broken: u64 = f[3..]
        .iter()
        .map(|x| x["broken_at_failure"].as_u64().unwrap())
        .sum();
    assert!(broken > 0);
    // Until 30 s nothing failed a connection.
    assert!(
        r.timeseries.new_connection_success_ratio[..29]
            .iter()
            .all(|x| *x == 1.0),
        "{:?}",
        r.timeseries.new_connection_success_ratio
    );
}

/// One BGP session (node n2 to leaf 101) fails under Calico: nothing is blackholed (the node is
/// up), and after the 3 s hold time leaf 101 has no route from n2 while leaf 102 still has one.
#[test]
fn a_single_bgp_session_failure_withdraws_only_its_routes() {
    let mut s = scenario(
        "  - { name: d, cni: calico, bgp: { fabric_asn: 2, hold_time: 3s, node_to_node_mesh: false }, advertise: { service_loadbalancer_ips: [10.34.0.0/24] } }",
    );
    let target = fabsim::scenario::reference::resolve("bgp:n2/101", &s.fabric, &s.cluster).unwrap();
    s.events[0].target = target;
    let r = engine::run(&s, &s.designs[0], Nanos::from_secs(1)).unwrap();
    let f = &failover_json(&r)[0];
    assert_eq!(f["target"], "bgp:n2/101");
    assert_eq!(f["blackholed"], 0);
    assert_eq!(f["detection_s"], 3.0);
    assert_eq!(r.connections.refused.values().sum::<u64>(), 0);
    // The state after the hold time: leaf 101 learned n2's block over the failed session only.
    use fabsim::bgp::NextHop;
    use fabsim::design::bgp::{BgpState, compile::Expired};
    let n2 = s.cluster.node_by_name("n2").unwrap();
    let (l101, l102) = (
        s.fabric.leaf_by_number(101).unwrap(),
        s.fabric.leaf_by_number(102).unwrap(),
    );
    let mut expired = Expired {
        nodes: vec![false; 4],
        ..Expired::default()
    };
    expired.sessions.insert((n2, l101));
    let st = BgpState::compile_with(&s.fabric, &s.cluster, s.designs[0].bgp().unwrap(), &expired);
    let block = st.node_pod_prefixes[n2.index()][0];
    let on = |leaf: fabsim::fabric::LeafId| {
        st.tables
            .table(leaf)
            .into_iter()
            .find(|r| r.prefix == block)
            .unwrap()
            .clone()
    };
    assert_eq!(on(l102).next_hops, [NextHop::Node(n2)]);
    // Leaf 101 now reaches it through leaf 102 (learned through the fabric).
    assert_eq!(on(l101).next_hops, [NextHop::Leaf(l102)]);
    assert!(
        on(l101)
            .excluded
            .iter()
            .any(|(h, why)| *h == NextHop::Node(n2)
                && why.to_string().contains("hold timer expired"))
    );
}

/// Resilient PBR sends the failed node's flows to ONE remaining node (Cisco's PBR white paper):
/// the load plot's hotspot. Four nodes, 100 connections/s hashed a quarter each; n2 fails at
/// 10 s, IP SLA removes it at 25 s (3 × 5 s). By hand over 80 s: n1 and n4 serve
/// 0.25 × 100 × 80 = 2000 each; n3, the heir, 0.25 × 100 × 25 + 0.5 × 100 × 55 = 3375
/// (ratio 1.69). Without resilient hashing the three survivors share alike: 625 + 100 × 55 / 3
/// ≈ 2458 each.
#[test]
fn resilient_pbr_moves_a_failed_nodes_flows_to_one_node() {
    let load = |extra: &str| {
        let d = ACI.replace("TRACK", "true") + extra;
        let s = scenario(&d);
        let r = engine::run(&s, &s.designs[0], Nanos::from_secs(1)).unwrap();
        r.paths.load_per_node.clone()
    };
    let l = load("");
    let (n1, n3, n4) = (l[0] as f64, l[2] as f64, l[3] as f64);
    assert!((n3 / n1 - 3375.0 / 2000.0).abs() < 0.15, "{l:?}");
    assert!((n1 / n4 - 1.0).abs() < 0.1, "{l:?}");
    let l = load("\n    kube_config: { disable_resilient_hashing: true }");
    let (n1, n3, n4) = (l[0] as f64, l[2] as f64, l[3] as f64);
    for x in [n1, n3, n4] {
        assert!((x / 2458.0 - 1.0).abs() < 0.12, "{l:?}");
    }
}

/// Two overlapping node failures under Calico (hold time 3 s), and a controller failure Calico
/// does not depend on. Each blackholed connection is the failure of the node it was dropped at:
/// n1 fails at 10 s and blackholes its quarter of 100 connections/s until its routes go at 13 s
/// (75 expected); n2 fails at 11 s and blackholes a quarter until 13 s, then a third (n1's
/// routes gone) until 14 s (2 × 25 + 33.3 = 83.3 expected). The two add up to the design's total;
/// the controller reports zeros and says it changed nothing.
#[test]
fn overlapping_failures_each_own_their_refusals() {
    let s = four_node_rack(
        "  - { name: d, cni: calico, bgp: { fabric_asn: 2, hold_time: 3s }, advertise: { service_loadbalancer_ips: [10.34.0.0/24] } }",
        "100ms",
        "  - { at: 10s, fail: 'node:n1' }\n  - { at: 11s, fail: 'node:n2' }\n  - { at: 10500ms, fail: 'controller:aci-containers-controller' }",
        "40s",
    );
    let r = engine::run(&s, &s.designs[0], Nanos::from_secs(1)).unwrap();
    let by = |t: &str| failover_json(&r).iter().find(|f| f["target"] == t).unwrap();
    let (n1, n2) = (by("node:n1"), by("node:n2"));
    let (b1, b2) = (
        n1["blackholed"].as_u64().unwrap(),
        n2["blackholed"].as_u64().unwrap(),
    );
    assert_quarter_of(b1, 3.0);
    // n2: Binomial(200, 1/4) + Binomial(100, 1/3): mean 83.3, σ = √(37.5 + 22.2) = 7.7.
    assert!((83.3 - b2 as f64).abs() <= 4.0 * 7.73, "{b2}");
    let total: u64 = r.connections.refused.values().sum();
    assert_eq!(b1 + b2, total, "{:?}", r.connections.refused);
    let c = by("controller:aci-containers-controller");
    assert_eq!(c["refused_while_failed"], 0);
    assert_eq!(c["changed_nothing"], true);
    assert_eq!(c["success_ratio_back_after_s"], 0.0);
}

/// Each failure against the same run without it (common random numbers): the run without the
/// failure is the plain run of the scenario without events, so the excess is exactly the
/// difference of the two runs; under Calico with nothing else going on, the excess refused are
/// the blackholed connections and the success ratio matches the run without the failure from the
/// hold timer's expiry on (3 s, plus the sample that holds the last refusal).
#[test]
fn each_failure_is_measured_against_the_run_without_it() {
    let design = "  - { name: d, cni: calico, bgp: { fabric_asn: 2, hold_time: 3s }, advertise: { service_loadbalancer_ips: [10.34.0.0/24] } }";
    let with = four_node_rack(design, "100ms", "  - { at: 10s, fail: 'node:n2' }", "40s");
    let plain = four_node_rack(design, "100ms", "  []", "40s");
    let r = fabsim::sim::run_all(&with, &[], Nanos::from_secs(1)).unwrap();
    let p = engine::run(&plain, &plain.designs[0], Nanos::from_secs(1)).unwrap();
    let f = &failover_json(&r.designs[0])[0];
    let w = &f["against_run_without"];
    let sum = |m: &std::collections::BTreeMap<&'static str, u64>| m.values().sum::<u64>() as i64;
    assert_eq!(
        w["excess_refused"].as_i64().unwrap(),
        sum(&r.designs[0].connections.refused) - sum(&p.connections.refused)
    );
    assert_eq!(sum(&p.connections.refused), 0);
    assert_eq!(w["excess_refused"], f["blackholed"]);
    assert_eq!(w["success_ratio_matches_after_s"], 4.0);
    assert_eq!(w["changed_nothing"], false);
}
