//! The engine against theory and its invariants: Erlang-B for SNAT port exhaustion,
//! conservation of connections, determinism.

mod common;
use common::*;
use fabsim::scenario::Scenario;
use fabsim::sim::{engine, run_all};
use fabsim::time::Nanos;
use proptest::prelude::*;

/// Erlang-B by the recursion B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1)) (FACTS §4).
fn erlang_b(c: u32, a: f64) -> f64 {
    (1..=c).fold(1.0, |b, k| a * b / (k as f64 + a * b))
}

/// One node, one SNAT IP, one chunk of 40 ports (5000–5040 by 40: the chunk 5000–5039), the
/// given `traffic` lines: a loss system with c = 40 servers per SNAT key.
fn erlang_scenario(seed: u64, accounting: &str, traffic: &str, time_wait: &str) -> Scenario {
    load_text(&format!(
        "name: erlang
seed: {seed}
duration: 600s
fabric:
  spines: [201]
  racks: [{{ id: 1, leaves: [101, 102], border: true, nodes: [n1] }}]
  external: [{{ name: internet, prefix: 0.0.0.0/0 }}]
cluster:
  namespaces: [{{ name: a }}]
  deployments: [{{ name: job, namespace: a, replicas: 1, labels: {{ app: job }} }}]
designs:
  - name: aci-cni
    cni: aci-cni
    snat_accounting: {accounting}
    net_config: {{ node_subnet: 10.32.0.1/16, pod_subnet: 10.33.0.1/16, extern_dynamic: 10.34.0.1/24, node_svc_subnet: 10.36.0.1/24 }}
    kube_config: {{ allow_pods_external_access: true, snat_operator: {{ port_range: {{ start: 5000, end: 5040, ports_per_node: 40 }} }} }}
    snat_policies: [{{ name: p, snat_ip: [10.20.30.1] }}]
traffic:
{traffic}
conntrack: {{ time_wait: {time_wait} }}
"
    ))
}

/// The SNAT-refused fraction over ten seeds: mean and standard error.
fn refused_fraction(accounting: &str, traffic: &str, time_wait: &str, seeds: u64) -> (f64, f64) {
    let fractions: Vec<f64> = (1..=seeds)
        .map(|seed| {
            let s = erlang_scenario(seed, accounting, traffic, time_wait);
            let c = engine::run(&s, &s.designs[0], Nanos::from_secs(10))
                .unwrap()
                .connections;
            c.refused.get("snat-port-exhausted").copied().unwrap_or(0) as f64 / c.attempted as f64
        })
        .collect();
    let n = fractions.len() as f64;
    let mean = fractions.iter().sum::<f64>() / n;
    let sd = if n > 1.0 {
        (fractions.iter().map(|f| (f - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    (mean, sd / n.sqrt())
}

fn assert_erlang(accounting: &str, traffic: &str, time_wait: &str, erlangs: f64) {
    let expected = erlang_b(40, erlangs);
    let (mean, se) = refused_fraction(accounting, traffic, time_wait, 10);
    eprintln!(
        "Erlang-B(40, {erlangs:.1}) = {expected:.5}; simulated {mean:.5} ± {se:.5} (10 runs of 600 s)"
    );
    assert!(
        (mean - expected).abs() <= 3.0 * se,
        "simulated {mean} vs Erlang-B {expected} (SE {se})"
    );
}

const ONE_DEST_1500MS: &str = "  - { name: t, from: 'deployment:a/job', to: '1.1.1.1:443/tcp', arrivals: { poisson: 20/s }, duration: { exponential: 1500ms } }";

#[test]
fn snat_refusals_follow_erlang_b_without_time_wait() {
    // A = λ·h = 20/s × 1.5 s = 30 erlangs on c = 40 ports: B(40, 30) ≈ 0.0144.
    assert_erlang("per-tuple", ONE_DEST_1500MS, "0s", 30.0);
}

#[test]
fn snat_refusals_follow_erlang_b_with_time_wait_in_the_holding_time() {
    // h = lifetime + TIME_WAIT = 1 s + 0.5 s: the same 30 erlangs.
    let t = ONE_DEST_1500MS.replace("1500ms", "1s");
    assert_erlang("per-tuple", &t, "500ms", 30.0);
}

/// Two destinations at 10/s each, 1.5 s lifetimes: the kernel's per-tuple uniqueness gives each
/// destination its own 40 ports (A = 15 each: B ≈ 2·10⁻⁷); the talk's strict rule shares them
/// (A = 30 on 40 ports: B ≈ 0.0144).
#[test]
fn strict_snat_accounting_is_the_talks_sizing_rule() {
    let two = "  - { name: one, from: 'deployment:a/job', to: '1.1.1.1:443/tcp', arrivals: { poisson: 10/s }, duration: { exponential: 1500ms } }
  - { name: two, from: 'deployment:a/job', to: '2.2.2.2:443/tcp', arrivals: { poisson: 10/s }, duration: { exponential: 1500ms } }";
    assert_erlang("strict", two, "0s", 30.0);
    assert!(refused_fraction("per-tuple", two, "0s", 1).0 < 1e-3);
}

#[test]
fn the_same_seed_gives_byte_identical_results_and_another_seed_differs() {
    let s = load("scenarios/brkdcn-2663.yaml");
    let a = serde_json::to_string(&run_all(&s, &[], Nanos::from_secs(10)).unwrap()).unwrap();
    let b = serde_json::to_string(&run_all(&s, &[], Nanos::from_secs(10)).unwrap()).unwrap();
    assert_eq!(a, b);
    let mut s2 = s.clone();
    s2.seed = 2;
    let c = serde_json::to_string(&run_all(&s2, &[], Nanos::from_secs(10)).unwrap()).unwrap();
    assert_ne!(a, c);
}

/// Counting starts at the end of the warm-up with the connections open then (`active_at_start`).
fn conservation(c: &fabsim::sim::metrics::Connections) -> bool {
    c.attempted == c.established + c.refused.values().sum::<u64>()
        && c.active_at_start + c.established
            == c.completed + c.broken.values().sum::<u64>() + c.active_at_end
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// attempted = established + Σrefused; active_at_start + established = completed + Σbroken
    /// + active_at_end (the warm-up, automatic here, ends by the failure), for every design and every generator, through a node failure and its recovery.
    #[test]
    fn every_connection_is_counted_once(
        nodes in 1usize..4,
        replicas in 1usize..6,
        rate_a in 1u32..80,
        rate_b in 1u32..80,
        life_ms in 100u64..5000,
        tw_ms in 0u64..3000,
        ppn in prop::sample::select(vec![8u32, 3000]),
        seed in any::<u64>(),
        fail_s in 1u64..15,
        down_s in 1u64..10,
    ) {
        let recover_s = fail_s + down_s;
        let y = format!(
            "name: cons
seed: {seed}
duration: 20s
fabric:
  spines: [201]
  racks:
    - {{ id: 1, leaves: [101, 102], border: true, nodes: {{ count: {nodes}, prefix: a }} }}
    - {{ id: 2, leaves: [103, 104], anchor: false, nodes: {{ count: {nodes}, prefix: b }} }}
  external: [{{ name: clients, prefix: 192.168.0.0/24 }}, {{ name: internet, prefix: 0.0.0.0/0 }}]
cluster:
  pod_subnet: 10.33.0.0/16
  service_subnet: 10.96.0.0/12
  namespaces: [{{ name: s }}]
  deployments:
    - {{ name: web, namespace: s, replicas: {replicas}, labels: {{ app: web }} }}
    - {{ name: job, namespace: s, replicas: {replicas}, labels: {{ app: job }} }}
  services:
    - {{ name: web, namespace: s, type: LoadBalancer, selector: {{ app: web }}, ports: [{{ port: 80 }}] }}
designs:
  - name: aci-cni
    cni: aci-cni
    net_config: {{ node_subnet: 10.32.0.1/16, pod_subnet: 10.33.0.1/16, extern_dynamic: 10.34.0.1/24, node_svc_subnet: 10.36.0.1/24 }}
    kube_config: {{ allow_pods_external_access: true, snat_operator: {{ port_range: {{ start: 5000, end: 65000, ports_per_node: {ppn} }} }} }}
    snat_policies: [{{ name: p, snat_ip: [10.20.30.1], selector: {{ labels: {{ app: job }} }} }}]
  - {{ name: calico, cni: calico, bgp: {{ fabric_asn: 2 }}, advertise: {{ service_loadbalancer_ips: [10.34.0.0/24] }} }}
  - {{ name: kube-router, cni: kube-router, bgp: {{ fabric_asn: 2 }}, args: [--advertise-loadbalancer-ip], load_balancer: {{ pool: [10.34.0.0/24] }} }}
  - {{ name: cilium, cni: cilium, bgp: {{ fabric_asn: 2 }}, load_balancer: {{ algorithm: maglev, pool: [10.34.0.0/24] }} }}
traffic:
  - {{ name: in, from: 'external:clients', to: 'service:s/web:80', arrivals: {{ poisson: {rate_a}/s }}, duration: {{ exponential: {life_ms}ms }} }}
  - {{ name: out, from: 'deployment:s/job', to: '1.1.1.1:443/tcp', arrivals: {{ poisson: {rate_b}/s }}, duration: {{ constant: {life_ms}ms }} }}
  - {{ name: dns, from: 'deployment:s/job', to: '8.8.8.8:53/udp', arrivals: {{ constant: {rate_b}/s }}, duration: {{ lognormal: {{ mean: 200ms, sigma: 1.0 }} }} }}
conntrack: {{ time_wait: {tw_ms}ms }}
events:
  - {{ at: {fail_s}s, fail: 'node:a1' }}
  - {{ at: {recover_s}s, recover: 'node:a1' }}
"
        );
        let s = load_text(&y);
        let r = run_all(&s, &[], Nanos::from_secs(1)).unwrap();
        prop_assert_eq!(r.designs.len(), 4);
        for d in &r.designs {
            prop_assert!(conservation(&d.connections), "{}: {:?}", d.name, d.connections);
            prop_assert!(d.connections.attempted > 0);
            for (g, x) in &d.traffic {
                prop_assert!(conservation(&x.connections), "{} / {g}: {:?}", d.name, x.connections);
            }
            let sum: u64 = d.traffic.values().map(|x| x.connections.attempted).sum();
            prop_assert_eq!(sum, d.connections.attempted);
        }
    }
}

/// The warm-up, worked by hand: 100 connections/s arriving evenly, each open 2 s, run 20 s.
/// With `warmup: 5s` the arrivals of [5 s, 20 s] are counted (1,500) and the 200 open at 5 s are
/// carried in as open at start; the automatic warm-up counts from 2 s (a constant 2 s lifetime is
/// within 1% of its steady state from 1.98 s on; whole seconds), 1,800 arrivals. Without a
/// warm-up every arrival counts (2,000) and none is open at the start.
#[test]
fn the_warmup_is_simulated_but_not_counted() {
    let design = "  - { name: d, cni: calico, bgp: { fabric_asn: 2 }, advertise: { service_loadbalancer_ips: [10.34.0.0/24] } }";
    let run = |warmup: &str| {
        let s = four_node_rack(design, "2s", "  []", &format!("20s\nwarmup: {warmup}"));
        engine::run(&s, &s.designs[0], Nanos::from_secs(1)).unwrap()
    };
    let near = |x: u64, want: u64| x.abs_diff(want) <= 1;
    let fixed = run("5s");
    let c = &fixed.connections;
    assert!(near(c.attempted, 1500), "{c:?}");
    assert!(near(c.active_at_start, 200), "{c:?}");
    assert!(fixed.steady_state.steady);
    assert_eq!(fixed.steady_state.counted_from_s, 5.0);
    let auto = run("auto");
    assert!(
        near(auto.connections.attempted, 1800),
        "{:?}",
        auto.connections
    );
    assert_eq!(auto.steady_state.counted_from_s, 2.0);
    let none = run("0s");
    assert!(near(none.connections.attempted, 2000));
    assert_eq!(none.connections.active_at_start, 0);
    // The time series covers the whole run, warm-up included.
    assert_eq!(none.timeseries.t_s.len(), fixed.timeseries.t_s.len());
}

/// A fixed warm-up that would swallow the first event, or the whole run, is an error there.
#[test]
fn a_warmup_past_the_first_event_is_an_error() {
    let y = std::fs::read_to_string(common::root().join("scenarios/brkdcn-2663.yaml")).unwrap();
    let dir = common::root().join("scenarios");
    let (errors, _) = common::messages(
        &dir,
        &y.replace("duration: 360s", "duration: 360s\nwarmup: 200s"),
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("warmup 200s runs past the first event at 150s")),
        "{errors:?}"
    );
    let (errors, _) = common::messages(
        &dir,
        &y.replace("duration: 360s", "duration: 360s\nwarmup: 400s"),
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("warmup 400s leaves nothing of the 6m run to count")),
        "{errors:?}"
    );
}
