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
