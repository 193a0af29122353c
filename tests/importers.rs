//! The files users already have (issue 11): compact `count` declarations, Kubernetes manifests,
//! product files with everything fabsim does not model listed.

mod common;
use common::*;
use fabsim::dataplane::request::Target;
use fabsim::sim::traffic::Generator;

const COUNTED: &str = r#"
name: counted
fabric:
  spines: [201]
  racks:
    - { count: 2, id: '{i}', leaves: ['{2*i+99}', '{2*i+100}'], border: true, nodes: { count: 2, prefix: 'r{i}-n' } }
cluster:
  node_subnet: 10.32.0.1/16
  pod_subnet: 10.33.0.0/16
  namespaces: [{ name: apps }]
  deployments:
    - { count: 4, name: 'app{i}', namespace: apps, replicas: 2, labels: { app: 'app{i}' } }
  services:
    - { count: 4, name: 'app{i}', namespace: apps, selector: { app: 'app{i}' }, ports: [{ port: 443 }] }
designs:
  - { name: calico, cni: calico, bgp: { fabric_asn: 2 } }
traffic:
  - { name: spread, count: 4, from: 'deployment:apps/app{i}', to: 'service:apps/app{i}:443', arrivals: { poisson: 10/s }, duration: { constant: 1s } }
"#;

const WRITTEN_OUT: &str = r#"
name: counted
fabric:
  spines: [201]
  racks:
    - { id: 1, leaves: [101, 102], border: true, nodes: [r1-n1, r1-n2] }
    - { id: 2, leaves: [103, 104], border: true, nodes: [r2-n1, r2-n2] }
cluster:
  node_subnet: 10.32.0.1/16
  pod_subnet: 10.33.0.0/16
  namespaces: [{ name: apps }]
  deployments:
    - { name: app1, namespace: apps, replicas: 2, labels: { app: app1 } }
    - { name: app2, namespace: apps, replicas: 2, labels: { app: app2 } }
    - { name: app3, namespace: apps, replicas: 2, labels: { app: app3 } }
    - { name: app4, namespace: apps, replicas: 2, labels: { app: app4 } }
  services:
    - { name: app1, namespace: apps, selector: { app: app1 }, ports: [{ port: 443 }] }
    - { name: app2, namespace: apps, selector: { app: app2 }, ports: [{ port: 443 }] }
    - { name: app3, namespace: apps, selector: { app: app3 }, ports: [{ port: 443 }] }
    - { name: app4, namespace: apps, selector: { app: app4 }, ports: [{ port: 443 }] }
designs:
  - { name: calico, cni: calico, bgp: { fabric_asn: 2 } }
"#;

#[test]
fn counted_entries_are_the_entries_written_out() {
    let (c, w) = (load_text(COUNTED), load_text(WRITTEN_OUT));
    let racks = |s: &fabsim::scenario::Scenario| format!("{:?}", s.fabric.racks);
    assert_eq!(racks(&c), racks(&w));
    let nodes = |s: &fabsim::scenario::Scenario| {
        s.cluster
            .nodes
            .iter()
            .map(|n| format!("{} {} {:?}", n.name, n.ip, n.rack))
            .collect::<Vec<_>>()
    };
    assert_eq!(nodes(&c), nodes(&w));
    let deps = |s: &fabsim::scenario::Scenario| format!("{:?}", s.cluster.deployments);
    assert_eq!(deps(&c), deps(&w));
    let svcs = |s: &fabsim::scenario::Scenario| format!("{:?}", s.cluster.services);
    assert_eq!(svcs(&c), svcs(&w));
    assert_eq!(c.traffic.len(), 1);
    assert_eq!(c.traffic[0].pairs.len(), 4);
}

/// A counted traffic entry spreads its connections uniformly over its pairs: over 20,000
/// requests each of the 4 services gets Binomial(20000, 1/4) — 5,000 ± 4σ (σ = 61.2).
#[test]
fn a_counted_generator_spreads_over_every_pair() {
    let s = load_text(COUNTED);
    let mut g = Generator::new(&s.traffic[0], s.seed, &s.fabric, &s.cluster).unwrap();
    let mut per_service = std::collections::BTreeMap::new();
    for _ in 0..20_000 {
        if let Target::Service { svc, .. } = g.request().dst {
            *per_service.entry(svc.index()).or_insert(0u32) += 1;
        }
    }
    assert_eq!(per_service.len(), 4, "{per_service:?}");
    for (svc, n) in per_service {
        assert!((4755..=5245).contains(&n), "service {svc}: {n}");
    }
}

#[test]
fn bad_counts_and_templates_name_the_entry() {
    let y = COUNTED
        .replace(
            "count: 4, name: 'app{i}', namespace: apps, replicas",
            "count: 0, name: 'app{i}', namespace: apps, replicas",
        )
        .replace(
            "to: 'service:apps/app{i}:443'",
            "to: 'service:apps/app{k}:443'",
        );
    let (errors, _) = messages(&root(), &y);
    assert!(
        errors.iter().any(|e| e.contains(
            "cluster.deployments[0].count: `count` must be a whole number from 1 to 100000, found 0"
        )),
        "{errors:#?}"
    );
    assert!(
        errors.iter().any(
            |e| e.contains("traffic[0].to: `service:apps/app{k}:443`: `{k}` is not a template")
        ),
        "{errors:#?}"
    );
}

/// The `kubectl get -o yaml` dump (a `kind: List`) loads as the same scenario written out in
/// fabsim's format: same trace, byte-identical simulation results.
#[test]
fn a_kubectl_dump_runs_like_the_scenario_written_out() {
    let dir = root().join("tests/data/manifests");
    let (errors, warnings) = messages(
        &dir,
        &std::fs::read_to_string(dir.join("dump.yaml")).unwrap(),
    );
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(
        warnings,
        [
            "cluster-dump.yaml:141:3: NetworkPolicy shop/deny-all: warning: NetworkPolicy is read but not modelled yet: the traffic it would deny is simulated as allowed",
            "cluster-dump.yaml:1:1: (document): warning: read but not simulated (nothing in them changes forwarding, NAT or BGP): ConfigMap ×1 (line 149)",
        ]
        .map(|w| format!("{}/{w}", dir.display())),
    );
    for (from, to) in [
        ("external:clients", "service:shop/web:80"),
        ("pod:shop/debug", "service:shop/web:80"),
        ("pod:shop/web-5d8f7-g5h6i", "1.1.1.1:443/tcp"),
    ] {
        let trace = |f: &str| {
            fabsim(&[
                "trace",
                &format!("tests/data/manifests/{f}.yaml"),
                "--design",
                "kube-router",
                "--from",
                from,
                "--to",
                to,
            ])
            .1
        };
        let (a, b) = (trace("dump"), trace("written"));
        assert!(a.contains("verdict:"), "{a}");
        assert_eq!(a, b, "{from} → {to}");
    }
    let tmp = std::env::temp_dir().join(format!("fabsim-manifests-{}", std::process::id()));
    let results = |f: &str| {
        let out = tmp.join(f);
        let (code, _, err) = fabsim(&[
            "simulate",
            &format!("tests/data/manifests/{f}.yaml"),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        std::fs::read(out.join("results.json")).unwrap()
    };
    assert_eq!(results("dump"), results("written"));
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Pods are where the dump says, with their own names; the not-ready one is not an endpoint;
/// racks come from the `rack_id` label; node addresses and podCIDRs are the dump's.
#[test]
fn the_dump_places_nodes_and_pods_where_it_says() {
    let s = load("tests/data/manifests/dump.yaml");
    let c = &s.cluster;
    let nodes: Vec<String> = c
        .nodes
        .iter()
        .map(|n| {
            format!(
                "{} rack{} {} {:?}",
                n.name,
                n.rack.0 + 1,
                n.ip,
                n.pod_cidr.map(|p| p.to_string())
            )
        })
        .collect();
    assert_eq!(
        nodes,
        [
            "k8s-r1-1 rack1 10.32.0.2 Some(\"10.33.0.0/24\")",
            "k8s-r1-2 rack1 10.32.0.3 Some(\"10.33.1.0/24\")",
            "k8s-r2-1 rack2 10.32.0.4 Some(\"10.33.2.0/24\")",
        ]
    );
    let pods: Vec<String> = c
        .pods
        .iter()
        .map(|p| format!("{} {} {}", p.name, c.nodes[p.node.index()].name, p.ready))
        .collect();
    assert_eq!(
        pods,
        [
            "web-5d8f7-a1b2c k8s-r2-1 true",
            "web-5d8f7-d3e4f k8s-r2-1 false",
            "web-5d8f7-g5h6i k8s-r1-2 true",
            "debug k8s-r1-1 true",
        ]
    );
    // The named targetPort `http` is the container's 8080.
    assert_eq!(c.services[0].ports[0].target_port, 8080);
}
