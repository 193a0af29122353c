//! The files users already have (issue 11): compact `count` declarations, Kubernetes manifests,
//! product files with everything fabsim does not model listed.

mod common;
use common::*;
use fabsim::dataplane::request::Target;
use fabsim::sim::traffic::Generator;

const COUNTED: &str = r#"
name: counted
duration: 10s
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
duration: 10s
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
    let mut g = Generator::new(&s.traffic[0], s.seed, &s.fabric, &s.cluster);
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
        &std::fs::read_to_string(dir.join("from-dump.yaml")).unwrap(),
    );
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(
        warnings,
        [
            "cluster-dump.yaml:148:3: Service default/kubernetes: warning: the API server's service (its endpoints are the control-plane nodes' addresses) is not simulated as a service; reach the API server at a node's address",
            "cluster-dump.yaml:185:3: NetworkPolicy shop/deny-all: warning: NetworkPolicy is read but not modelled yet: the traffic it would deny is simulated as allowed",
            "cluster-dump.yaml:113:12: (document): warning: read, not modelled: status.podIP (pod addresses: fabsim allocates its own, per design); the first is at this line",
            "cluster-dump.yaml:1:1: (document): warning: read but not simulated (nothing in them changes forwarding, NAT or BGP): ConfigMap ×1 (line 193)",
        ]
        .map(|w| format!("{}/{w}", dir.display())),
    );
    for (from, to) in [
        ("external:clients", "service:shop/web:80"),
        ("pod:shop/debug", "service:shop/web:80"),
        ("pod:shop/web-5d8f7-g5h6i", "1.1.1.1:443/tcp"),
        ("pod:shop/db-1", "pod:shop/log-agent-0:24224"),
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
        let (a, b) = (trace("from-dump"), trace("written-out"));
        assert!(a.contains("verdict:"), "{a}");
        assert_eq!(a, b, "{from} → {to}");
    }
    let scratch_tmp = scratch("manifests");
    let tmp = scratch_tmp.path().to_path_buf();
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
    assert_eq!(results("from-dump"), results("written-out"));
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Pods are where the dump says, with their own names; the not-ready one is not an endpoint;
/// racks come from the `rack_id` label; node addresses and podCIDRs are the dump's.
#[test]
fn the_dump_places_nodes_and_pods_where_it_says() {
    let s = load("tests/data/manifests/from-dump.yaml");
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
        .enumerate()
        .map(|(i, p)| {
            let ready = c.pod_ready(fabsim::cluster::PodId(i as u32));
            format!("{} {} {}", p.name, c.nodes[p.node.index()].name, ready)
        })
        .collect();
    assert_eq!(
        pods,
        [
            "web-5d8f7-a1b2c k8s-r2-1 true",
            "web-5d8f7-d3e4f k8s-r2-1 false",
            "web-5d8f7-g5h6i k8s-r1-2 true",
            "db-0 k8s-r1-1 true",
            "db-1 k8s-r2-1 true",
            // The DaemonSet's pods are not in the dump: one per node.
            "log-agent-0 k8s-r1-1 true",
            "log-agent-1 k8s-r1-2 true",
            "log-agent-2 k8s-r2-1 true",
            "debug k8s-r1-1 true",
        ]
    );
    // The named targetPort `http` is the container's 8080.
    assert_eq!(c.services[0].ports[0].target_port, 8080);
}

/// Calico resources in three files (one a `BGPPeerList`): BGPPeers apply to the nodes their
/// nodeSelector or `node` picks, a `node.<name>` BGPConfiguration gives that node its own AS, and
/// everything not modelled is named. Sessions: n1, n2 (rack 1) and n4 up to both anchor leaves
/// (6); n3 speaks AS 64999 where the fabric expects 64512 (2 down); n5 has no rack_id label, so
/// no BGPPeer selects it (2 down).
#[test]
fn calico_per_node_objects_apply_to_the_nodes_they_select() {
    let (code, out, err) = fabsim(&["validate", "tests/data/calico-per-node.yaml"]);
    assert_eq!(code, 0, "{err}");
    let err = format!("{out}{err}");
    for w in [
        "tests/data/calico/bgp-default.yaml:3:1: BGPConfiguration: warning: read, no effect on what fabsim simulates: logSeverityScreen",
        "tests/data/calico/bgp-nodes.yaml:10:9: BGPConfiguration node.n1.spec.listenPort: warning: read, not modelled: BIRD on this node listens on another port; it still connects out to the fabric's 179, so its sessions come up",
        "tests/data/calico/bgp-nodes.yaml:10:27: BGPConfiguration node.n1.spec.nodeToNodeMeshEnabled: warning: `nodeToNodeMeshEnabled` is read by Calico only from the `default` BGPConfiguration: ignored on a node's",
        "tests/data/calico/bgp-peers.yaml:7:3: BGPPeer rack1-leaf101: warning: 1 of 5 node(s) are selected by no BGP peer (n5; check the nodes' labels against the peers' selectors, e.g. rack_id): they have no session to the fabric",
        "tests/data/calico/bgp-peers.yaml:18:79: BGPPeer.spec.keepOriginalNextHop: warning: read, not modelled: the next hop is always the advertising node in fabsim",
        "tests/data/calico/bgp-peers.yaml:22:32: BGPPeer.spec.peerSelector: warning: read, not modelled: peering between nodes (route reflectors) is not modelled; this peer is left out",
        "tests/data/calico/bgp-peers.yaml:23:3: BGPPeer n4-remote: warning: peer address 192.0.2.1 is off the node subnet: single-hop eBGP from the node does not reach it: 1 node(s) have no session from it",
    ] {
        assert!(err.contains(w), "missing {w}\n{err}");
    }
    for l in [
        "6/10 BGP sessions up",
        "warning: 4 of 10 BGP sessions cannot come up (2 node(s) affected)",
        "node:n3 ↔ leaf:103: session down: the node speaks AS 64999 (its own BGPConfiguration), the fabric's peer expects the cluster's AS 64512",
        "node:n5 ↔ leaf:103: no session: none of the node's BGP peers",
    ] {
        assert!(out.contains(l), "missing {l}\n{out}");
    }
}

/// A BGPPeer Calico would refuse is an error: no peerIP nor peerSelector, a malformed
/// nodeSelector, an unknown field.
#[test]
fn a_malformed_bgp_peer_is_an_error() {
    let scratch_dir = scratch("badpeer");
    let dir = scratch_dir.path().to_path_buf();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("peers.yaml"),
        "kind: BGPPeer\nmetadata: { name: a }\nspec: { asNumber: 2 }\n---\nkind: BGPPeer\nmetadata: { name: b }\nspec: { peerIP: 10.32.0.201, nodeSelector: \"rack_id = '1'\" }\n---\nkind: BGPPeer\nmetadata: { name: c }\nspec: { peerIP: 10.32.0.202, peerIp: 10.32.0.203 }\n",
    )
    .unwrap();
    let y = "name: bad\nfabric:\n  spines: [201]\n  racks: [{ id: 1, leaves: [101, 102], border: true, nodes: [n1] }]\ncluster: { node_subnet: 10.32.0.1/16, pod_subnet: 10.33.0.0/16 }\ndesigns:\n  - { name: c, cni: calico, bgp: { fabric_asn: 2 }, resources: { file: peers.yaml } }\n";
    let (errors, _) = messages(&dir, y);
    let f = dir.join("peers.yaml").display().to_string();
    assert_eq!(
        errors,
        [
            format!(
                "{f}:1:1: BGPPeer a: a BGPPeer needs peerIP or peerSelector (Calico refuses it)"
            ),
            format!(
                "{f}:7:44: BGPPeer b: nodeSelector: after label `rack_id` expected ==, !=, in, not in, contains, starts with or ends with (Calico refuses the BGPPeer)"
            ),
            format!(
                "{f}:11:30: BGPPeer.spec.peerIp: `peerIp` is not a field of a Calico BGPPeer; did you mean `peerIP`? (calicoctl refuses unknown fields)"
            ),
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// kube-router's flags come from its DaemonSet manifest (the kube-router container's args), peer
/// flags included; a flag in the design's `args` comes later and wins.
#[test]
fn kube_router_flags_come_from_its_daemonset() {
    let (code, out, err) = fabsim(&["validate", "tests/data/kube-router-daemonset.yaml"]);
    assert_eq!(code, 0, "{err}");
    let err = format!("{out}{err}");
    assert!(
        out.contains("AS 64512 ↔ fabric AS 2 (eBGP), 4/4 BGP sessions up, hold time 9s (node 9s"),
        "{out}"
    );
    assert_eq!(
        err.lines()
            .filter(|l| l.contains(": warning:"))
            .collect::<Vec<_>>(),
        [
            "tests/data/kube-router/daemonset.yaml:24:11: DaemonSet kube-router.args[0]: warning: read, no effect on what fabsim simulates (API access, metrics, logging, sync periods, local ports): --run-router, --kubeconfig, --metrics-port",
            "tests/data/kube-router/daemonset.yaml:25:11: DaemonSet kube-router.args[1]: warning: --run-firewall: read, not modelled — NetworkPolicy enforcement is not modelled: traffic is simulated as allowed",
        ]
    );
}

/// A CiliumBGPClusterConfig's nodeSelector decides which nodes run BGP: without the label, a
/// node has no session to the fabric.
#[test]
fn cilium_bgp_runs_only_on_the_nodes_its_cluster_config_selects() {
    let y = std::fs::read_to_string(root().join("tests/data/cilium-crds.yaml"))
        .unwrap()
        .replace("n2: { bgp: fabric }", "n2: { bgp: other }");
    let s = load_text_in(&root().join("tests/data"), &y);
    let st = fabsim::design::bgp::compile::BgpState::compile(
        &s.fabric,
        &s.cluster,
        s.design("cilium").unwrap().bgp().unwrap(),
    );
    let up: Vec<String> = st
        .sessions
        .iter()
        .filter(|x| x.down.is_none())
        .map(|x| s.cluster.nodes[x.node.index()].name.clone())
        .collect();
    assert_eq!(up, ["n1", "n1"]);
}

/// Every real file in `../shared/fixtures` (the products' own examples and test data) loads
/// with the parts fabsim does not model named; none is an error. acc-provision's are covered in
/// `tests/acc_provision.rs`.
#[test]
fn every_real_product_file_loads_with_its_unmodelled_parts_named() {
    let fx = root().join("../shared/fixtures");
    if !fx.is_dir() {
        eprintln!("skipped: {} is not present on this machine", fx.display());
        return;
    }
    let f = |p: &str| fx.join(p).display().to_string();
    let scenario = |cluster: &str, design: &str| {
        format!(
            "name: fx\nfabric:\n  spines: [201]\n  racks: [{{ id: 1, leaves: [101, 102], border: true, nodes: [kube-master, kube-node-1, kube-node-2] }}]\ncluster:\n  node_subnet: 10.192.0.1/16\n  pod_subnet: 192.168.0.0/16\n  service_subnet: 10.96.0.0/16\n{cluster}designs:\n  - {design}\n"
        )
    };
    let cases = [
        (
            scenario(
                "",
                &format!(
                    "{{ name: d, cni: calico, resources: {{ file: {} }} }}",
                    f("calico/confd-explicit_peering-selectors.input.yaml")
                ),
            ),
            vec![
                "peerSelector: warning: read, not modelled: peering between nodes",
                "listenPort: warning: read, not modelled",
            ],
        ),
        (
            scenario(
                "",
                &format!(
                    "{{ name: d, cni: calico, resources: {{ file: {} }} }}",
                    f("calico/confd-mesh-ipip-off.input.yaml")
                ),
            ),
            vec![
                "dual stack: fabsim models IPv4 only; these IPv6 parts are not simulated: 2002::/64",
            ],
        ),
        (
            scenario(
                "",
                &format!(
                    "{{ name: d, cni: cilium, resources: [{{ file: {} }}, {{ file: {} }}] }}",
                    f("cilium/containerlab-bgpv2-service-bgp.yaml"),
                    f("cilium/containerlab-bgpv2-service-lb-ip.yaml")
                ),
            ),
            vec![
                "IPv6 peering is not modelled",
                "a Kubernetes Service among the BGP resources is not read here",
            ],
        ),
        (
            scenario(
                "",
                &format!(
                    "{{ name: d, cni: kube-router, daemonset: {{ file: {} }} }}",
                    f("kube-router/generic-kuberouter-all-features-advertise-routes.yaml")
                ),
            ),
            vec![
                "--run-firewall: read, not modelled",
                "peer address 10.1.201.254 is off the node subnet",
            ],
        ),
        (
            scenario(
                &format!(
                    "  manifests: [{}]\n",
                    f("kubernetes/guestbook-all-in-one.yaml")
                ),
                "{ name: d, cni: calico, bgp: { fabric_asn: 2 } }",
            ),
            vec![],
        ),
    ];
    for (y, expected) in cases {
        let (errors, warnings) = messages(&root(), &y);
        assert!(errors.is_empty(), "{errors:#?}\n{y}");
        for e in expected {
            assert!(
                warnings.iter().any(|w| w.contains(e)),
                "missing {e}\n{warnings:#?}"
            );
        }
    }
    let s = load_text(&scenario(
        &format!(
            "  manifests: [{}]\n",
            f("kubernetes/guestbook-all-in-one.yaml")
        ),
        "{ name: d, cni: calico, bgp: { fabric_asn: 2 } }",
    ));
    assert_eq!((s.cluster.pods.len(), s.cluster.services.len()), (6, 3));
}

/// A dump's traps: pods belong to their owner (the canary's pod is not the main Deployment's,
/// though its selector matches), finished and evicted pods do not run, fabsim places a Deployment
/// without pods only on schedulable nodes (not the cordoned w2 nor the tainted cp1), a bare pod's
/// named port resolves, an SCTP port is left out with a word, a pod on an unknown node is said,
/// and the LoadBalancer keeps the address its status shows (inside extern_dynamic).
#[test]
fn a_dumps_owners_phases_and_cordons_are_honoured() {
    let dir = root().join("tests/data/manifests");
    let y = std::fs::read_to_string(dir.join("edge-cases-scenario.yaml")).unwrap();
    let (errors, mut warnings) = messages(&dir, &y);
    assert!(errors.is_empty(), "{errors:#?}");
    warnings.sort();
    let epg = "t.yaml:13:5: designs[0]: warning: EPG `web-epg` is named by an endpoint-group annotation but by no contract of this design (acc-provision does not create it): its pods reach only each other; give its contracts under `contracts`".to_string();
    assert!(warnings.contains(&epg), "{warnings:#?}");
    warnings.retain(|w| *w != epg);
    let f = dir.join("edge-cases.yaml").display().to_string();
    assert_eq!(
        warnings,
        [
            "15:3: Deployment default/web: warning: Deployment asks for 2 replicas and the files hold 1 of its Pods: the Pods are simulated, where they run",
            "40:3: Pod default/web-7f9-evicted: warning: the Pod's phase is Failed (Evicted): it no longer runs; not simulated",
            "49:3: Pod default/report-28630980-k5c7j: warning: the Pod's phase is Succeeded: it no longer runs; not simulated",
            "61:21: Pod default/stray: warning: the Pod runs on node w9, which is in no rack of the fabric: not simulated",
            "65:118: Service default/legacy: warning: port 3868 is SCTP: only TCP and UDP are modelled; this port is left out",
        ]
        .map(|w| format!("{f}:{w}"))
    );
    let s = load_text_in(&dir, &y);
    let c = &s.cluster;
    let pods: Vec<String> = c
        .pods
        .iter()
        .map(|p| format!("{} {}", p.name, c.nodes[p.node.index()].name))
        .collect();
    assert_eq!(
        pods,
        [
            "web-7f9-a w1",
            "web-canary-5c4-x w2",
            "metrics-0 w1",
            "metrics-1 w1",
            "legacy w1"
        ]
    );
    let legacy = c.services.iter().find(|x| x.name == "legacy").unwrap();
    assert_eq!((legacy.ports.len(), legacy.ports[0].target_port), (1, 8081));
    let out = fabsim(&["validate", "tests/data/manifests/edge-cases-scenario.yaml"]).1;
    assert!(
        out.contains("LoadBalancer default/web: 10.34.0.20"),
        "{out}"
    );
}

/// A flag kube-router would refuse is an error at the flag's own line in the DaemonSet manifest;
/// a flag given twice is said (kube-router takes the last).
#[test]
fn bad_kube_router_flags_are_errors_at_their_line() {
    let scratch_dir = scratch("krflags");
    let dir = scratch_dir.path().to_path_buf();
    std::fs::create_dir_all(&dir).unwrap();
    let ds = std::fs::read_to_string(root().join("tests/data/kube-router/daemonset.yaml"))
        .unwrap()
        .replace("\"--cluster-asn=64512\"", "\"--cluster-asn=65OO1\"")
        .replace(
            "\"--bgp-holdtime=30s\"",
            "\"--bgp-holdtime=5\"\n        - \"--run-router=false\"",
        );
    std::fs::write(dir.join("ds.yaml"), ds).unwrap();
    let y = "name: kr\nfabric:\n  spines: [201]\n  racks: [{ id: 1, leaves: [101, 102], border: true, nodes: [n1] }]\ncluster: { node_subnet: 10.32.0.1/16, pod_subnet: 10.33.0.0/16 }\ndesigns:\n  - { name: kr, cni: kube-router, bgp: { fabric_asn: 2 }, daemonset: { file: ds.yaml } }\n";
    let (errors, warnings) = messages(&dir, y);
    let f = dir.join("ds.yaml").display().to_string();
    assert_eq!(
        errors,
        [
            format!(
                "{f}:30:11: DaemonSet kube-router.args[6]: --cluster-asn `65OO1` is not an AS number (1–4294967295): kube-router refuses to start"
            ),
            format!(
                "{f}:31:11: DaemonSet kube-router.args[7]: --bgp-holdtime: `5` has no unit; write it like 5us, 100ms, 3s or 2m"
            ),
        ]
    );
    assert!(
        warnings.iter().any(|w| w.starts_with(&format!("{f}:32:11: DaemonSet kube-router.args[8]: warning: --run-router is given again (first at {f}:24"))),
        "{warnings:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A dual-stack dump simulates its IPv4 half, with one warning listing the IPv6 parts.
#[test]
fn a_dual_stack_dump_runs_its_ipv4_half_with_one_warning() {
    let dir = root().join("tests/data/manifests");
    let y = "name: ds\nfabric:\n  spines: [201]\n  racks: [{ id: 1, leaves: [101, 102], border: true }]\ncluster: { node_subnet: 10.32.0.1/16, pod_subnet: 10.33.0.0/16, service_subnet: 10.96.0.0/16, manifests: [dual-stack.yaml], rack_label: rack_id }\ndesigns:\n  - { name: kr, cni: kube-router, bgp: { fabric_asn: 2 }, args: [--cluster-asn=64512] }\n";
    let (errors, warnings) = messages(&dir, y);
    assert!(errors.is_empty(), "{errors:#?}");
    let f = dir.join("dual-stack.yaml").display().to_string();
    let dual: Vec<&String> = warnings
        .iter()
        .filter(|w| w.contains("dual stack"))
        .collect();
    assert_eq!(
        dual,
        [&format!(
            "{f}:9:59: (document): warning: dual stack: fabsim models IPv4 only; 4 IPv6 part(s) are not simulated: Node n1 podCIDRs fd00:33::/64 (line 9), Node n1 addresses fd00:32::2 (line 10), Pod default/web podIPs fd00:33::5 (line 15), Service default/web clusterIPs fd00:96::10 (line 19)"
        )]
    );
    let s = load_text_in(&dir, y);
    assert_eq!(s.cluster.nodes[0].ip.to_string(), "10.32.0.2");
    assert_eq!(s.cluster.services.len(), 1);
}
