//! The compiled ACI-CNI state against FACTS.md §1: SNAT scopes, precedence and destIp stacking;
//! the max_nodes_svc_graph cap; resilient hashing on by default and off by setting.

mod common;
use common::*;
use fabsim::design::aci_cni::AciState;
use fabsim::design::aci_cni::snat_scope::{Scope, scope_of, select};
use fabsim::scenario::Scenario;
use std::net::Ipv4Addr;

const HEAD: &str = "name: t
fabric:
  spines: [201]
  racks: [{ id: 1, leaves: [101, 102], border: true, nodes: { count: NODES, prefix: n } }]
  external: [{ name: internet, prefix: 0.0.0.0/0 }]
";

const NET: &str = "    net_config: { node_subnet: 10.32.0.1/16, pod_subnet: 10.33.0.1/16, extern_dynamic: 10.34.0.1/24, node_svc_subnet: 10.36.0.1/24 }\n";

#[test]
fn scopes_precedence_and_dest_ip_stacking() {
    let y = HEAD.replace("NODES", "2")
        + "cluster:
  namespaces: [{ name: ns1, labels: { team: a } }, { name: ns2 }]
  deployments:
    - { name: d1, namespace: ns1, replicas: 1, labels: { app: d1, tier: x } }
    - { name: d2, namespace: ns2, replicas: 1, labels: { app: d2 } }
    - { name: d3, namespace: ns1, replicas: 1, labels: { app: d3 } }
    - { name: d4, namespace: ns1, replicas: 1, labels: { app: d4 } }
  services:
    - { name: s4, namespace: ns1, type: LoadBalancer, selector: { app: d4 }, labels: { expose: 'yes' }, ports: [{ port: 80 }] }
designs:
  - name: aci-cni
    cni: aci-cni
" + NET + "    snat_policies:
      - { name: cluster, snat_ip: [10.20.0.1] }
      - { name: ns, snat_ip: [10.20.0.2], selector: { namespace: ns1 } }
      - { name: nslabel, snat_ip: [10.20.0.3], selector: { labels: { team: a } } }
      - { name: svc, selector: { labels: { expose: 'yes' } } }
      - { name: dst, snat_ip: [10.20.0.5], dest_ip: [8.8.8.0/24], selector: { labels: { tier: x } } }
      - { name: pod, snat_ip: [10.20.0.4], selector: { labels: { app: d1 } } }
";
    let s = load_text(&y);
    let cfg = s.designs[0].aci().unwrap();
    let p = |n: &str| {
        s.cluster
            .pod_by_name(n.split('/').next().unwrap(), n.split('/').nth(1).unwrap())
            .unwrap()
    };
    let pol = |n: &str| cfg.snat_policies.iter().position(|x| x.name == n).unwrap();
    let (d1, d2, d3, d4) = (p("ns1/d1-0"), p("ns2/d2-0"), p("ns1/d3-0"), p("ns1/d4-0"));
    let state = AciState::compile(&s.cluster, cfg);
    let lbs = state.addr.lb_ip.clone();
    let stack = |pod: fabsim::cluster::PodId| state.pod_stack(pod).entries.clone();
    // Each policy's scope for d1: labels matching the pod → POD; namespace only → NAMESPACE; …
    assert_eq!(
        scope_of(&cfg.snat_policies[pol("pod")], &s.cluster, &lbs, d1),
        Some(Scope::Pod)
    );
    assert_eq!(
        scope_of(&cfg.snat_policies[pol("ns")], &s.cluster, &lbs, d1),
        Some(Scope::Namespace)
    );
    assert_eq!(
        scope_of(&cfg.snat_policies[pol("nslabel")], &s.cluster, &lbs, d1),
        Some(Scope::Namespace)
    );
    assert_eq!(
        scope_of(&cfg.snat_policies[pol("cluster")], &s.cluster, &lbs, d1),
        Some(Scope::Cluster)
    );
    assert_eq!(
        scope_of(&cfg.snat_policies[pol("svc")], &s.cluster, &lbs, d1),
        None
    );
    assert_eq!(
        scope_of(&cfg.snat_policies[pol("svc")], &s.cluster, &lbs, d4),
        Some(Scope::Service)
    );
    // d1's stack: dst (POD, 8.8.8.0/24) then pod (POD, no destIp → 0/0, ends the stack).
    let st = stack(d1);
    assert_eq!(
        st.iter()
            .map(|e| &cfg.snat_policies[e.policy].name[..])
            .collect::<Vec<_>>(),
        ["dst", "pod"]
    );
    assert_eq!(
        select(&st, Ipv4Addr::new(8, 8, 8, 8)).unwrap().policy,
        pol("dst")
    );
    assert_eq!(
        select(&st, Ipv4Addr::new(1, 1, 1, 1)).unwrap().policy,
        pol("pod")
    );
    // d2 (other namespace, no labels matched): only the cluster policy.
    assert_eq!(
        select(&stack(d2), Ipv4Addr::new(1, 1, 1, 1))
            .unwrap()
            .policy,
        pol("cluster")
    );
    // d3: NAMESPACE beats CLUSTER; between two NAMESPACE policies the first written wins.
    assert_eq!(
        select(&stack(d3), Ipv4Addr::new(1, 1, 1, 1))
            .unwrap()
            .policy,
        pol("ns")
    );
    // d4: SERVICE beats NAMESPACE, and its SNAT IP is the service's LoadBalancer IP (10.34.0.2).
    let e = select(&stack(d4), Ipv4Addr::new(1, 1, 1, 1)).unwrap();
    assert_eq!((e.policy, e.scope), (pol("svc"), Scope::Service));
    let unit = state.units.iter().find(|u| u.policy == pol("svc")).unwrap();
    assert_eq!(unit.ips, [Ipv4Addr::new(10, 34, 0, 2)]);
}

fn lb_cluster(nodes: usize, kube_config: &str) -> Scenario {
    let y = HEAD.replace("NODES", &nodes.to_string())
        + &format!(
            "cluster:
  namespaces: [{{ name: a }}]
  deployments: [{{ name: web, namespace: a, replicas: {nodes}, labels: {{ app: web }} }}]
  services: [{{ name: web, namespace: a, type: LoadBalancer, selector: {{ app: web }}, ports: [{{ port: 80 }}] }}]
designs:
  - name: aci-cni
    cni: aci-cni
{NET}    kube_config: {kube_config}
    snat_policies: [{{ name: all, snat_ip: [10.20.30.1, 10.20.30.2] }}]
"
        );
    load_text(&y)
}

#[test]
fn only_the_snat_graph_is_capped_at_max_nodes_svc_graph() {
    // aci-containers services.go: updateServiceDeviceInstance lists every node with a ready
    // endpoint (no cap); updateServiceDeviceInstanceSnat breaks at itr == MaxSvcGraphNodes.
    // 40 nodes, one web replica each, the default cap 32.
    let s = lb_cluster(40, "{}");
    let st = AciState::compile(&s.cluster, s.designs[0].aci().unwrap());
    let sizes: Vec<(&str, usize, usize)> = st
        .redirects
        .iter()
        .map(|r| (r.name.as_str(), r.group.members().len(), r.capped.len()))
        .collect();
    assert_eq!(
        sizes,
        [("kube_svc_a_web", 40, 0), ("kube_snat_svcgraph", 32, 8)]
    );
    let s = lb_cluster(40, "{ max_nodes_svc_graph: 64 }");
    let st = AciState::compile(&s.cluster, s.designs[0].aci().unwrap());
    assert!(
        st.redirects
            .iter()
            .all(|r| r.group.members().len() == 40 && r.capped.is_empty())
    );
    // 40 nodes, 2 SNAT IPs with 20 chunks each: all 40 nodes get a chunk, 20 per IP.
    assert_eq!(st.snat.by_node.len(), 40);
    assert!(st.snat.exhausted.is_empty());
}

#[test]
fn resilient_hashing_is_on_by_default_and_off_by_setting() {
    let s = lb_cluster(4, "{}");
    let st = AciState::compile(&s.cluster, s.designs[0].aci().unwrap());
    assert!(st.redirects.iter().all(|r| r.group.is_resilient()));
    let s = lb_cluster(4, "{ disable_resilient_hashing: true }");
    let st = AciState::compile(&s.cluster, s.designs[0].aci().unwrap());
    assert!(st.redirects.iter().all(|r| !r.group.is_resilient()));
}

#[test]
fn loadbalancer_graph_lists_only_nodes_with_a_ready_endpoint() {
    let y = HEAD.replace("NODES", "4")
        + "cluster:
  namespaces: [{ name: a }]
  deployments: [{ name: web, namespace: a, replicas: 3, labels: { app: web }, not_ready: [1] }]
  services: [{ name: web, namespace: a, type: LoadBalancer, selector: { app: web }, ports: [{ port: 80 }] }]
designs:
  - name: aci-cni
    cni: aci-cni
" + NET;
    let s = load_text(&y);
    let st = AciState::compile(&s.cluster, s.designs[0].aci().unwrap());
    // Replicas on n1, n2, n3; web-1 (on n2) is not ready: destinations n1 and n3.
    let names: Vec<&str> = st.redirects[0]
        .nodes()
        .iter()
        .map(|n| s.cluster.node(*n).name.as_str())
        .collect();
    assert_eq!(names, ["n1", "n3"]);
}
