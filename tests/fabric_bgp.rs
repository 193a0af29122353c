//! The fabric's own BGP settings (`fabric.bgp`) against APIC's and the products' defaults, worked
//! by hand: the session's hold time is the lower of both sides' (RFC 4271 §4.2); BFD needs both
//! ends (kube-router `--enable-bfd`; not Calico or Cilium open source); `compare --set
//! fabric.bgp.hold_time=90s` lengthens the blackhole only where the node side allows it.

mod common;
use common::*;
use fabsim::cli::compare::{Args, run_variants};
use fabsim::time::Nanos;

/// Per design: when the fabric withdrew the dead node's routes (seconds after the failure) and
/// how many new connections were blackholed meanwhile.
fn withdrawals(sets: &[String]) -> Vec<(String, f64, u64)> {
    let scenario = root().join("tests/data/bgp-fabric-timers.yaml");
    let a = Args {
        scenario: &scenario,
        designs: &[],
        sets,
        fails: &[],
        out: None,
        sample_interval: None,
        max_connections: fabsim::sim::estimate::DEFAULT_MAX_CONNECTIONS,
    };
    let (_, runs) = run_variants(&a).unwrap();
    runs.last()
        .unwrap()
        .results
        .designs
        .iter()
        .map(|d| {
            let f = &failover_json(d)[0];
            let at = f["at_s"].as_f64().unwrap();
            let w = f["reactions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["action"] == "bgp-hold-timer-expired-routes-withdrawn")
                .map(|r| r["at_s"].as_f64().unwrap() - at)
                .unwrap();
            (d.name.clone(), w, f["blackholed"].as_u64().unwrap())
        })
        .collect()
}

#[test]
fn the_hold_time_is_the_lower_side_and_bfd_needs_both_ends() {
    // fabric 3 s: calico min(240, 3) = 3; kube-router min(3, 3) = 3. BFD (RFC 5880 §6.8.4): the
    // node's multiplier 3 × the agreed interval max(kube-router's 1000 ms, the fabric's 300 ms)
    // = 3 s, before kube-router-bfd's own 9 s hold time.
    let d = withdrawals(&[]);
    let by = |n: &str| d.iter().find(|x| x.0 == n).unwrap().clone();
    assert_eq!((by("calico").1, by("kube-router").1), (3.0, 3.0));
    assert!((by("kube-router-bfd").1 - 3.0).abs() < 1e-9, "{d:?}");
    // A quarter of 100/s goes to n2 until then: ≈ 75 blackholed in 3 s.
    assert_quarter_of(by("calico").2, 3.0);
    assert_quarter_of(by("kube-router-bfd").2, 3.0);
    // fabric 90 s: calico min(240, 90) = 90 — a dead node sends no withdrawal, so its /32 stays
    // until then (the NotReady at 40 s does not reach the fabric): ≈ 2250 blackholed;
    // kube-router keeps its own 3 s.
    let d = withdrawals(&["fabric.bgp.hold_time=90s".to_string()]);
    let by = |n: &str| d.iter().find(|x| x.0 == n).unwrap().clone();
    assert_eq!((by("calico").1, by("kube-router").1), (90.0, 3.0));
    assert_quarter_of(by("calico").2, 90.0);
    assert_quarter_of(by("kube-router").2, 3.0);
}

#[test]
fn apic_defaults_without_fabric_bgp_and_bfd_warned_where_it_cannot_run() {
    let text = std::fs::read_to_string(root().join("tests/data/bgp-fabric-timers.yaml")).unwrap();
    let bare = text.replace(
        "  bgp: { keepalive: 1s, hold_time: 3s, max_paths: 64, bfd: { min_interval: 300ms, multiplier: 3 } }\n",
        "",
    );
    let s = load_text(&bare);
    let c = s.design("calico").unwrap().bgp().unwrap();
    // APIC bgpCtxPol: keepalive 60 s, hold 180 s, stale 300 s, graceful-restart helper;
    // bgpCtxAfPol maxEcmp 16; bgpPeerPfxPol 20,000, reject.
    assert_eq!(
        (c.fabric_keepalive, c.fabric_hold_time, c.fabric_stale),
        (
            Nanos::from_secs(60),
            Nanos::from_secs(180),
            Nanos::from_secs(300)
        )
    );
    assert_eq!((c.max_paths, c.max_prefix.limit), (16, 20_000));
    assert!(c.gr_helper);
    assert_eq!(
        c.negotiated_hold_time(),
        Nanos::from_secs(180),
        "BIRD 240 s vs APIC 180 s"
    );
    // BFD on the fabric: Calico's speaker does not run it, so a warning and no BFD.
    let loaded = load_with_diagnostics(&root(), &text);
    let warnings: Vec<String> = loaded
        .diagnostics
        .warnings()
        .map(|w| w.to_string())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("design calico") && w.contains("BFD does not come up")),
        "{warnings:?}"
    );
    let s = loaded.scenario.unwrap();
    assert!(s.design("calico").unwrap().bgp().unwrap().bfd.is_none());
    assert!(
        s.design("kube-router-bfd")
            .unwrap()
            .bgp()
            .unwrap()
            .bfd
            .is_some()
    );
}

/// Every reaction (seconds, action) of every failure record of `design` run on `y`.
fn reactions(y: &str, design: &str) -> Vec<(f64, String)> {
    let s = load_text(y);
    let d = s.design(design).unwrap().clone();
    let r = fabsim::sim::engine::run(&s, &d, Nanos::from_secs(1)).unwrap();
    failover_json(&r)
        .iter()
        .flat_map(|f| f["reactions"].as_array().unwrap().clone())
        .map(|x| {
            (
                x["at_s"].as_f64().unwrap(),
                x["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Sessions come back on the node's timers, not at once (the fabric only listens: a
/// dynamic-neighbour peer on the node subnet). Calico's BIRD (Calico's template: connect delay
/// 2 s, connect retry 5 s): 2 s after the node returns, 2.5 s (half a retry period) after a
/// session's path is repaired; GoBGP (kube-router; Cilium's connectRetryTimeSeconds 120): 2 s
/// after a start, 52.5 s (half of 120 s × 0.875) after a repair.
#[test]
fn sessions_come_back_on_the_speakers_timers() {
    let text = std::fs::read_to_string(root().join("tests/data/bgp-fabric-timers.yaml")).unwrap();
    let events = "  - { at: 10s, fail: 'node:n2' }\n";
    let back_after = |ev: &str, design: &str, action: &str| -> f64 {
        reactions(&text.replace(events, ev), design)
            .into_iter()
            .find(|(_, a)| a == action)
            .unwrap_or_else(|| panic!("{design}: no {action}"))
            .0
    };
    let node = "  - { at: 10s, fail: 'node:n2' }\n  - { at: 20s, recover: 'node:n2' }\n";
    assert_eq!(
        back_after(node, "calico", "bgp-session-up-routes-restored"),
        22.0
    );
    assert_eq!(
        back_after(node, "kube-router", "bgp-session-up-routes-restored"),
        22.0
    );
    let session = "  - { at: 10s, fail: 'bgp:n2/101' }\n  - { at: 20s, recover: 'bgp:n2/101' }\n";
    assert_eq!(
        back_after(session, "calico", "bgp-session-up-routes-restored"),
        22.5
    );
    assert_eq!(
        back_after(session, "kube-router", "bgp-session-up-routes-restored"),
        72.5
    );
    let speaker = "  - { at: 10s, fail: 'speaker:n2' }\n  - { at: 20s, recover: 'speaker:n2' }\n";
    assert_eq!(
        back_after(speaker, "kube-router", "bgp-speaker-up-routes-restored"),
        22.0
    );
}

/// Review findings, against BGP's own timers: a session repaired before its hold timer expires
/// never loses its routes (the stale timer of the earlier failure is dropped); a speaker that
/// restarts on a node that then dies does not bring the dead node's routes back.
#[test]
fn flaps_shorter_than_a_timer_and_dead_nodes_keep_their_withdrawal() {
    let text = std::fs::read_to_string(root().join("tests/data/bgp-fabric-timers.yaml")).unwrap();
    let bare = text.replace(
        "  bgp: { keepalive: 1s, hold_time: 3s, max_paths: 64, bfd: { min_interval: 300ms, multiplier: 3 } }\n",
        "",
    );
    let events = "  - { at: 10s, fail: 'node:n2' }\n";
    let reactions = |y: &str, ev: &str, design: &str| reactions(&y.replace(events, ev), design);
    // Calico against APIC's 180 s hold: the session fails at 10 s and is back at 20 s (+2.5 s).
    let r = reactions(
        &bare,
        "  - { at: 10s, fail: 'bgp:n2/101' }\n  - { at: 20s, recover: 'bgp:n2/101' }\n",
        "calico",
    );
    assert!(
        r.iter()
            .all(|(_, a)| a != "bgp-hold-timer-expired-session-routes-withdrawn"),
        "{r:?}"
    );
    // kube-router: speaker restarts 10 → 11 s, the node dies at 12 s: no speaker-up at 13 s.
    let r = reactions(
        &text,
        "  - { at: 10s, fail: 'speaker:n2' }\n  - { at: 11s, recover: 'speaker:n2' }\n  - { at: 12s, fail: 'node:n2' }\n",
        "kube-router",
    );
    assert!(
        r.iter().all(|(_, a)| a != "bgp-speaker-up-routes-restored"),
        "{r:?}"
    );
}

/// Ranges APIC and Calico enforce are errors: max-prefix 1–300000, BFD 50–999 ms × 1–50, a pool
/// at least one block; BFD slower than the hold time leaves the hold timer in charge.
#[test]
fn out_of_range_settings_are_errors_and_bfd_never_slows_detection() {
    let text = std::fs::read_to_string(root().join("tests/data/bgp-fabric-timers.yaml")).unwrap();
    let errors = |y: &str| messages(&root(), y).0;
    let e = errors(&text.replace("max_paths: 64,", "max_paths: 64, max_prefix: { limit: 0 },"));
    assert!(
        e.iter().any(|x| x.contains("outside APIC's 1–300000")),
        "{e:?}"
    );
    let e = errors(&text.replace("min_interval: 300ms", "min_interval: 5s"));
    assert!(
        e.iter()
            .any(|x| x.contains("APIC accepts min_interval 50–999 ms")),
        "{e:?}"
    );
    let e = errors(&text.replace(
        "advertise: { service_loadbalancer_ips: [10.34.0.0/24] } }",
        "advertise: { service_loadbalancer_ips: [10.34.0.0/24] }, ip_pool: { cidr: 10.33.0.0/28, block_size: 26 } }",
    ));
    assert!(
        e.iter().any(|x| x.contains("smaller than one /26 block")),
        "{e:?}"
    );
    // The hold timer runs under BFD too: detection is whichever fires first (3 s each here).
    let s = load_text(&text.replace("--bgp-holdtime=9s", "--bgp-holdtime=3s"));
    let mut c = s.design("kube-router-bfd").unwrap().bgp().unwrap().clone();
    assert_eq!(c.failure_detection(), Nanos::from_secs(3));
    c.bfd = Some((Nanos::from_secs(5), 3));
    assert_eq!(c.failure_detection(), c.negotiated_hold_time());
}

/// kube-router reads node annotations only without global peers (`network_routes_controller.go`),
/// and its --peer-router-asns is the fabric's AS when the design gives none.
#[test]
fn kube_router_global_peers_win_and_name_the_fabric_as() {
    let y = "name: kr
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
designs:
  - name: kube-router
    cni: kube-router
    args: [--cluster-asn=64512, --peer-router-ips=10.32.0.1, --peer-router-asns=65010]
    node_annotations: { kube-router.io/peer.asns: '3' }
";
    let s = load_text(y);
    let c = s.design("kube-router").unwrap().bgp().unwrap();
    assert_eq!((c.fabric_asn, c.node_peer_asn), (65010, Some(65010)));
}
