//! The failures beyond a whole node, worked by hand on four nodes of one vPC rack (100 client
//! connections per second, a quarter hashed to each node):
//! - one uplink of a node: LACP moves its flows to the other leaf, nothing breaks; both uplinks:
//!   the node is cut off and fails like a dead node;
//! - a node's BGP speaker restarts: with graceful restart the fabric keeps its routes (nothing
//!   moves) unless the restart time runs out; without, the routes go at once and come back, and
//!   every move breaks the LoadBalancer connections it rehashes;
//! - the aci-containers-controller is down: the redirect-policy update that follows the
//!   grace period waits for it, so a dead node blackholes until the controller is back.

mod common;
use common::*;
use fabsim::cli::trace::{Query, trace};
use fabsim::sim::engine;
use fabsim::sim::metrics::DesignResult;
use fabsim::time::Nanos;

const CALICO: &str = "  - { name: d, cni: calico, bgp: { fabric_asn: 2, hold_time: 3s }, advertise: { service_loadbalancer_ips: [10.34.0.0/24] } }";
/// kube-router's own default: --bgp-graceful-restart=false.
const KUBE_ROUTER_NO_GR: &str = "  - { name: d, cni: kube-router, bgp: { fabric_asn: 2 }, args: [--bgp-holdtime=3s, --advertise-loadbalancer-ip, --enable-ibgp=false, --enable-overlay=false, --override-nexthop=true], load_balancer: { pool: [10.34.0.0/24] } }";
const ACI: &str = "  - name: d
    cni: aci-cni
    net_config: { node_subnet: 10.32.0.1/16, pod_subnet: 10.33.0.1/16, extern_dynamic: 10.34.0.1/24, node_svc_subnet: 10.36.0.1/24, pbr_tracking_non_snat: TRACK }";

fn run(design: &str, lifetime: &str, events: &str, duration: &str) -> DesignResult {
    let s = four_node_rack(design, lifetime, events, duration);
    engine::run(&s, &s.designs[0], Nanos::from_secs(1)).unwrap()
}

fn actions(f: &serde_json::Value) -> Vec<&str> {
    f["reactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect()
}

fn broken(r: &DesignResult) -> u64 {
    r.connections.broken.values().sum()
}

#[test]
fn one_uplink_down_moves_the_bond_and_breaks_nothing() {
    let events =
        "  - { at: 10s, fail: 'uplink:n2/101' }\n  - { at: 20s, recover: 'uplink:n2/101' }";
    for design in [ACI.replace("TRACK", "false").as_str(), CALICO] {
        let r = run(design, "5s", events, "40s");
        assert_eq!(r.connections.refused.values().sum::<u64>(), 0, "{design}");
        assert_eq!(broken(&r), 0, "{design}");
        let f = &failover_json(&r)[0];
        assert_eq!(f["target"], "uplink:n2/101");
        assert_eq!(f["detection_s"], 0.0);
        assert_eq!(actions(f), ["lacp-bond-moves-flows-to-the-other-uplink"]);
        assert_eq!(f["node_recovered_at_s"], 20.0);
    }
}

/// With its link to leaf 101 down, every flow to n2 reaches it from leaf 102, whichever leaf the
/// ECMP or the vPC hash picked (the BGP route on leaf 101 bridges across to 102).
#[test]
fn flows_reach_a_node_only_over_its_live_uplink() {
    let mut s = four_node_rack(CALICO, "5s", "  []", "10s");
    let n2 = s.cluster.node_by_name("n2").unwrap();
    s.cluster.set_uplink_down(n2, 0b01, true); // leaf 101 is the rack's first leaf
    let mut reached = 0;
    for sport in 1024..1424 {
        let q = Query {
            design: "d",
            from: "external:clients",
            to: "service:a/web:80",
            proto: None,
            sport: Some(sport),
        };
        let (t, _) = trace(&s, &q).unwrap();
        let into_n2 = t.forward.windows(2).find(|w| w[1].device == "node:n2");
        if let Some(w) = into_n2 {
            reached += 1;
            assert_eq!(
                w[0].device,
                "leaf:102",
                "{:#?}",
                t.forward.iter().map(|h| &h.device).collect::<Vec<_>>()
            );
        }
    }
    // About a quarter of 400 flows are n2's.
    assert!((50..150).contains(&reached), "{reached}");
}

#[test]
fn both_uplinks_down_cut_the_node_off() {
    let events = "  - { at: 10s, fail: 'uplink:n2/101' }
  - { at: 12s, fail: 'uplink:n2/102' }
  - { at: 30s, recover: 'uplink:n2/102' }";
    let r = run(CALICO, "5s", events, "40s");
    let f: Vec<&str> = failover_json(&r)
        .iter()
        .map(|f| f["target"].as_str().unwrap())
        .collect();
    assert_eq!(f, ["uplink:n2/101", "uplink:n2/102", "node:n2"]);
    let cut = &failover_json(&r)[2];
    assert_eq!(cut["at_s"], 12.0);
    assert_eq!(cut["detection_s"], 3.0); // the BGP hold time
    // Its live connections (about 5 s × 25/s) break; 3 s of new ones are blackholed.
    let b = cut["broken_at_failure"].as_u64().unwrap();
    assert!((80..=170).contains(&b), "{b}");
    assert_quarter_of(cut["blackholed"].as_u64().unwrap(), 3.0);
    assert_eq!(cut["node_recovered_at_s"], 30.0);
}

/// The speaker is down from 10 s to 20 s.
const SPEAKER_RESTART: &str =
    "  - { at: 10s, fail: 'speaker:n2' }\n  - { at: 20s, recover: 'speaker:n2' }";

#[test]
fn graceful_restart_keeps_the_routes_through_a_speaker_restart() {
    // Calico: graceful restart on, restart time 120 s (BIRD's default).
    let r = run(CALICO, "5s", SPEAKER_RESTART, "40s");
    assert_eq!(broken(&r), 0);
    assert_eq!(r.connections.refused.values().sum::<u64>(), 0);
    let f = &failover_json(&r)[0];
    assert_eq!(f["target"], "speaker:n2");
    assert_eq!(
        actions(f),
        [
            "graceful-restart-fabric-keeps-stale-routes",
            "bgp-speaker-up-routes-restored"
        ]
    );
}

#[test]
fn without_graceful_restart_a_speaker_restart_rehashes_twice() {
    let r = run(KUBE_ROUTER_NO_GR, "5s", SPEAKER_RESTART, "40s");
    let f = &failover_json(&r)[0];
    assert_eq!(f["detection_s"], 0.0); // the sessions close with the process
    assert_eq!(
        actions(f),
        [
            "bgp-speaker-stopped-sessions-closed-routes-withdrawn",
            "bgp-speaker-up-routes-restored"
        ]
    );
    // The node still forwards: nothing is blackholed, but each ECMP change (4 → 3 → 4 paths,
    // hash-threshold) moves live LoadBalancer connections, which break.
    assert_eq!(f["blackholed"], 0);
    assert!(f["broken_rehashed"].as_u64().unwrap() > 0);
    assert_eq!(
        r.connections.broken.get("rehashed").copied(),
        f["broken_rehashed"].as_u64()
    );
}

#[test]
fn graceful_restart_ends_when_the_restart_time_runs_out() {
    let design = CALICO.replace("hold_time: 3s", "hold_time: 3s, restart_time: 4s");
    let r = run(&design, "5s", SPEAKER_RESTART, "40s");
    let f = &failover_json(&r)[0];
    let reactions = f["reactions"].as_array().unwrap();
    assert_eq!(
        actions(f),
        [
            "graceful-restart-fabric-keeps-stale-routes",
            "graceful-restart-time-expired-routes-withdrawn",
            "bgp-speaker-up-routes-restored"
        ]
    );
    assert_eq!(reactions[1]["at_s"], 14.0);
    assert!(f["broken_rehashed"].as_u64().unwrap() > 0);
}

/// The controller is down from 5 s to 60 s and node n2 dies at 10 s. Without tracking, the dead
/// node leaves the redirect policy when the controller returns (60 s), not after the 40 s grace
/// period (50 s): 50 s of a quarter of the new connections blackholed instead of 40 s.
#[test]
fn a_down_controller_delays_the_redirect_update() {
    let events = "  - { at: 5s, fail: 'controller:aci-containers-controller' }
  - { at: 10s, fail: 'node:n2' }
  - { at: 60s, recover: 'controller:aci-containers-controller' }";
    let r = run(&ACI.replace("TRACK", "false"), "100ms", events, "80s");
    let ctl = &failover_json(&r)[0];
    assert_eq!(ctl["target"], "controller:aci-containers-controller");
    assert_eq!(
        actions(ctl),
        [
            "aci-controller-down-graph-updates-wait",
            "aci-controller-back-service-graphs-resynced"
        ]
    );
    let node = &failover_json(&r)[1];
    assert_eq!(
        actions(node),
        [
            "ip-sla-removes-node-from-snat-graph", // the fabric's own tracking, at 25 s
            "redirect-policy-update-deferred-until-controller-returns"  // at 50 s
        ]
    );
    assert_quarter_of(node["blackholed"].as_u64().unwrap(), 50.0);
    let ratio = &r.timeseries.new_connection_success_ratio;
    assert!(
        ratio[58] < 0.9 && ratio[61..].iter().all(|x| *x == 1.0),
        "{ratio:?}"
    );

    // IP SLA tracking is the fabric's own: with pbr_tracking_non_snat the controller does not
    // matter, the node leaves after 3 × 5 s.
    let r = run(&ACI.replace("TRACK", "true"), "100ms", events, "80s");
    assert_eq!(failover_json(&r)[1]["detection_s"], 15.0);
    assert_quarter_of(failover_json(&r)[1]["blackholed"].as_u64().unwrap(), 15.0);

    // The BGP designs do not depend on it: the hold timer acts as without it.
    let r = run(CALICO, "100ms", events, "80s");
    assert_eq!(failover_json(&r)[1]["detection_s"], 3.0);
    assert!(actions(&failover_json(&r)[0]).is_empty());
}

/// The IP SLA timers are settings: interval 2 s × detect multiplier 4 → the node leaves after 8 s.
#[test]
fn ip_sla_detection_follows_interval_and_multiplier() {
    let design = ACI.replace("TRACK", "true").replace(
        "pbr_tracking_non_snat: true }",
        "pbr_tracking_non_snat: true, service_monitor_interval: 2 }\n    ip_sla_detect_multiplier: 4",
    );
    let r = run(&design, "100ms", "  - { at: 10s, fail: 'node:n2' }", "40s");
    assert_eq!(failover_json(&r)[0]["detection_s"], 8.0);
    assert_quarter_of(failover_json(&r)[0]["blackholed"].as_u64().unwrap(), 8.0);
}

/// A node's own failure and its reachability are separate: a dead node stays dead when one of
/// its links or its rack's leaves come and go, and a node cut off comes back only when a link does.
#[test]
fn a_failed_node_is_not_revived_by_links_or_leaves() {
    let events = "  - { at: 10s, fail: 'node:n2' }
  - { at: 15s, fail: 'uplink:n2/101' }
  - { at: 20s, recover: 'uplink:n2/101' }
  - { at: 25s, fail: 'leaf:101' }
  - { at: 26s, fail: 'leaf:102' }
  - { at: 30s, recover: 'leaf:102' }";
    let r = run(CALICO, "5s", events, "40s");
    let node: Vec<&serde_json::Value> = failover_json(&r)
        .iter()
        .filter(|f| f["target"] == "node:n2")
        .collect();
    assert_eq!(node.len(), 1, "{:#?}", failover_json(&r));
    assert!(node[0]["node_recovered_at_s"].is_null());
    // The rack cut-off at 26 s fails n1, n3, n4, and leaf 102 brings them back at 30 s.
    for n in ["node:n1", "node:n3", "node:n4"] {
        let f = failover_json(&r).iter().find(|f| f["target"] == n).unwrap();
        assert_eq!(f["at_s"], 26.0);
        assert_eq!(f["node_recovered_at_s"], 30.0);
    }
    // Recovering n2 while its rack is cut off leaves it down until a leaf returns.
    let events = "  - { at: 10s, fail: 'leaf:101' }
  - { at: 11s, fail: 'leaf:102' }
  - { at: 12s, fail: 'node:n2' }
  - { at: 13s, recover: 'node:n2' }
  - { at: 20s, recover: 'leaf:101' }";
    let r = run(CALICO, "5s", events, "40s");
    let f = failover_json(&r)
        .iter()
        .find(|f| f["target"] == "node:n2")
        .unwrap();
    assert_eq!(f["at_s"], 11.0);
    assert_eq!(f["node_recovered_at_s"], 20.0);
}

/// A node's routes come back only when neither its hold timer nor its stopped speaker keeps them
/// out: a node that recovers while its speaker is still down stays withdrawn.
#[test]
fn routes_return_only_when_every_cause_is_gone() {
    use fabsim::design::compiled::Plane;
    use fabsim::sim::failure::Control;
    let s = four_node_rack(KUBE_ROUTER_NO_GR, "5s", "  []", "10s");
    let n2 = s.cluster.node_by_name("n2").unwrap();
    let Plane::Bgp(mut plane) = s.designs[0].compile(&s) else {
        unreachable!("kube-router is a BGP design")
    };
    let mut step = |c: Control| {
        plane.control(&s.fabric, &s.cluster, c, n2, None);
        plane.withdrawn(n2)
    };
    assert!(step(Control::SpeakerStopped));
    assert!(step(Control::Withdraw)); // the node dies too
    assert!(step(Control::Restore)); // it is back, its speaker is not
    assert!(!step(Control::SpeakerUp));
}
