//! The acc-provision importer on the project's own inputs and, when the workplace's copies are
//! present, on the real files in ../shared/fixtures/acc-provision/.

mod common;
use common::*;
use fabsim::nat::snat::PortRange;
use fabsim::scenario::{acc_provision, diag::Diagnostics};

#[test]
fn every_key_of_our_full_input_is_read_and_the_rest_ignored() {
    let s = load("tests/data/acc-provision-full.yaml");
    let c = s.designs[0].aci().unwrap();
    assert_eq!(c.system_id, "lab1");
    assert_eq!(c.vrf, "lab-vrf");
    assert_eq!(c.l3out, "lab-l3out");
    assert_eq!(c.external_networks, ["lab-ext", "lab-ext-2"]);
    assert_eq!(c.node_subnets[0].net.to_string(), "10.40.0.0/16");
    assert_eq!(
        c.pod_subnets
            .iter()
            .map(|p| p.net.to_string())
            .collect::<Vec<_>>(),
        ["10.41.0.0/24", "10.41.1.0/24"]
    );
    assert_eq!(c.pod_subnet_chunk_size, 16);
    assert_eq!(c.extern_static[0].gateway.to_string(), "10.43.0.1");
    assert_eq!(c.node_svc_subnet.net.to_string(), "10.44.0.0/24");
    assert_eq!(c.service_monitor_interval, 10);
    assert!(c.pbr_tracking_non_snat);
    assert_eq!(c.max_nodes_svc_graph, 64);
    assert!(!c.resilient_hashing);
    assert_eq!(
        c.port_range,
        PortRange {
            start: 50000,
            end: 59999,
            ports_per_node: 1000
        }
    );
    assert_eq!(c.port_range.chunks().len(), 9);
    // The node subnet of the cluster comes from acc-provision: nodes from 10.40.0.2.
    assert_eq!(s.cluster.nodes[0].ip.to_string(), "10.40.0.2");
    // The inline override wins over the file.
    assert!(s.designs[1].aci().unwrap().resilient_hashing);
}

#[test]
fn the_real_acc_provision_files_load() {
    let dir = root().join("../shared/fixtures/acc-provision");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: {} is not present on this machine", dir.display());
        return;
    };
    let mut files: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".inp.yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let mut d = Diagnostics::default();
        let c = acc_provision::load_text(&f.display().to_string(), &text, &mut d);
        assert!(!d.has_errors(), "{}: {:?}", f.display(), d.items);
        let c = c.unwrap();
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("flavor_") {
            continue; // Calico flavour: its BGP keys belong to the BGP designs.
        }
        // The ACI-CNI ones carry the subnets a design needs, and resolve into a whole design.
        assert!(
            c.node_subnet.is_some() && c.pod_subnet.is_some() && c.node_svc_subnet.is_some(),
            "{name}"
        );
        let scenario = format!(
            "name: fx\nfabric:\n  spines: [201]\n  racks: [{{ id: 1, leaves: [101, 102], border: true, nodes: {{ count: 3, prefix: n }} }}]\ncluster: {{}}\ndesigns:\n  - {{ name: aci-cni, cni: aci-cni, acc_provision: {{ file: {name} }} }}\n"
        );
        load_text_in(&dir, &scenario);
        match name.as_str() {
            "base_case_snat.inp.yaml" => {
                let r = c.port_range.as_ref().unwrap().value.clone();
                assert_eq!(
                    (r.start, r.end, r.ports_per_node),
                    (Some(6000), Some(62000), Some(500))
                );
                assert_eq!(c.max_nodes_svc_graph.as_ref().unwrap().value, 64);
                // 6000 + 500k + 499 ≤ 61999 → k ≤ 111: 112 chunks, worked by hand.
                assert_eq!(
                    PortRange {
                        start: 6000,
                        end: 62000,
                        ports_per_node: 500
                    }
                    .chunks()
                    .len(),
                    112
                );
            }
            "with_overrides.inp.yaml" => {
                assert_eq!(c.disable_resilient_hashing, Some(true));
                assert_eq!(c.pod_subnet_chunk_size.as_ref().unwrap().value, 24);
            }
            "with_pbr_non_snat.inp.yaml" => {
                assert_eq!(c.pbr_tracking_non_snat, Some(true));
                assert_eq!(c.service_monitor_interval.as_ref().unwrap().value, 10);
            }
            "multiple_subnets.inp.yaml" => {
                assert_eq!(c.node_subnet.as_ref().unwrap().value.len(), 2);
                assert_eq!(c.extern_static.as_ref().unwrap().value.len(), 2);
            }
            _ => {}
        }
    }
}

#[test]
fn the_real_calico_flavour_loads_with_its_resources() {
    let dir = root().join("../shared/fixtures/acc-provision");
    if !dir.join("flavor_calico-3.26.3.inp.yaml").exists() {
        eprintln!("skipped: {} is not present on this machine", dir.display());
        return;
    }
    // The fixture's topology: rack 1 = leaves 101, 102 with k8s-node1, 2; rack 2 = leaf 103 with 3, 4.
    let scenario = "name: fx\nfabric:\n  spines: [201]\n  racks:\n    - { id: 1, leaves: [101, 102], border: true, nodes: [k8s-node1, k8s-node2] }\n    - { id: 2, leaves: [103], nodes: [k8s-node3, k8s-node4] }\ncluster: {}\ndesigns:\n  - { name: calico, cni: calico, acc_provision: { file: flavor_calico-3.26.3.inp.yaml }, resources: { file: flavor_calico-3.26.3.calico-resources.yaml } }\n  - { name: calico-export, cni: calico, acc_provision: { file: flavor_with_cluster_svc_export_calico-3.26.3.inp.yaml } }\n";
    let s = load_text_in(&dir, scenario);
    let c = s.designs[0].bgp().unwrap();
    assert_eq!(
        (c.cluster_asn, c.fabric_asn, c.max_prefix.limit),
        (64512, 2, 500)
    );
    assert_eq!(c.node_password.as_deref(), Some("test"));
    assert_eq!(s.cluster.node_subnet.net.to_string(), "2.100.101.0/24");
}

/// A near miss of a key fabsim reads in a real acc-provision file is a warning with a
/// did-you-mean (its default would apply silently otherwise).
#[test]
fn a_misspelled_acc_provision_key_is_named() {
    let y = "name: typo
fabric:
  spines: [201]
  racks: [{ id: 1, leaves: [101, 102], border: true, nodes: [n1] }]
cluster: {}
designs:
  - { name: a, cni: aci-cni, acc_provision: { file: acc-provision/typo.inp.yaml } }
";
    let loaded = load_with_diagnostics(&root().join("tests/data"), y);
    let w: Vec<String> = loaded
        .diagnostics
        .warnings()
        .map(|x| x.to_string())
        .collect();
    assert!(
        w.iter().any(
            |x| x.contains("kube_config.snat_operator.port_range.ports_per_nod")
                && x.contains("did you mean `ports_per_node`")
        ),
        "{w:?}"
    );
    let s = loaded.scenario.unwrap();
    assert_eq!(s.designs[0].aci().unwrap().port_range.ports_per_node, 3000);
}

/// Every key of an acc-provision file fabsim does not model is named with its line: modes it
/// does not simulate one by one with what is simulated instead, administrative keys together,
/// an unknown key with "did you mean"; no credential appears anywhere.
#[test]
fn every_unmodelled_acc_provision_key_is_listed_and_no_secret_shown() {
    let y = "name: modes
fabric:
  spines: [201]
  racks: [{ id: 1, leaves: [101, 102], border: true, nodes: [n1] }]
cluster: {}
designs:
  - { name: a, cni: aci-cni, acc_provision: { file: acc-provision/modes.inp.yaml } }
";
    let dir = root().join("tests/data");
    let (errors, warnings) = messages(&dir, y);
    assert!(errors.is_empty(), "{errors:#?}");
    let file = dir
        .join("acc-provision/modes.inp.yaml")
        .display()
        .to_string();
    let w: Vec<String> = warnings.iter().map(|x| x.replace(&file, "F")).collect();
    let expected = [
        "F:6:3: aci_config: warning: read, not modelled — no effect on what fabsim simulates (APIC access, VMM and VLAN settings, images, logging, operator timers): apic_hosts (line 6), apic_login.username (line 8), apic_login.password (line 9), vmm_domain.encap_type (line 11)",
        "F:12:5: aci_config.vmm_domain.nested_inside: warning: `aci_config.vmm_domain.nested_inside`: nodes as VMs behind a vSwitch are not modelled; simulated as bare-metal nodes on the leaves",
        "F:22:3: net_config.interface_mtu: warning: read, not modelled: MTU of pod/host interfaces (1280-8900); hostagent interface-mtu — fabsim simulates without it",
        "F:24:3: cilium_chaining.enable: warning: `cilium_chaining.enable`: ACI-CNI chained with Cilium is not modelled; simulated as plain ACI-CNI (opflex forwarding, no Cilium data path)",
        "F:28:3: kube_config.max_node_svc_graph: warning: `max_node_svc_graph` is not an acc-provision key; did you mean `max_nodes_svc_graph`? As written, acc-provision ignores it, and so does fabsim (the default applies)",
        "F:30:3: registry: warning: read, not modelled — no effect on what fabsim simulates (APIC access, VMM and VLAN settings, images, logging, operator timers): image_prefix (line 30)",
    ];
    for e in expected {
        assert!(w.iter().any(|x| x.starts_with(e)), "missing {e}\nin {w:#?}");
    }
    assert_eq!(w.len(), expected.len(), "{w:#?}");
    // No credential in any message or in the resolved scenario's text.
    let loaded = load_with_diagnostics(&dir, y);
    assert!(!format!("{:?}", loaded.diagnostics).contains("Sup3rS3cret"));
    let (_, out, err) = fabsim(&[
        "validate",
        "tests/data/acc-provision/../acc-provision-modes.yaml",
    ]);
    assert!(!out.contains("Sup3rS3cret") && !err.contains("Sup3rS3cret"));
}

/// Dual stack simulates the IPv4 half with one warning listing the IPv6 subnets; IPv6 only is
/// one error that says IPv6 is not modelled, with no follow-on "needs node_subnet".
#[test]
fn dual_stack_runs_its_ipv4_half_and_ipv6_only_is_refused_once() {
    let y = |f: &str| {
        format!(
            "name: ds\nfabric:\n  spines: [201]\n  racks: [{{ id: 1, leaves: [101, 102], border: true, nodes: [n1] }}]\ncluster: {{}}\ndesigns:\n  - {{ name: a, cni: aci-cni, acc_provision: {{ file: acc-provision/{f} }} }}\n"
        )
    };
    let dir = root().join("tests/data");
    let (errors, warnings) = messages(&dir, &y("dualstack.inp.yaml"));
    assert!(errors.is_empty(), "{errors:#?}");
    let f = dir
        .join("acc-provision/dualstack.inp.yaml")
        .display()
        .to_string();
    assert_eq!(
        warnings,
        [format!(
            "{f}:6:3: net_config: warning: dual stack: fabsim models IPv4 only; these IPv6 subnets are not simulated: node_subnet 2001:db8:1::1/64 (line 6), pod_subnet 2001:db8:2::1/64 (line 7), extern_dynamic 2001:db8:3::1/120 (line 8)"
        )]
    );
    let s = load_text_in(&dir, &y("dualstack.inp.yaml"));
    assert_eq!(s.cluster.node_subnet.to_string(), "10.1.0.0/16");

    let (errors, _) = messages(&dir, &y("ipv6-only.inp.yaml"));
    let f = dir
        .join("acc-provision/ipv6-only.inp.yaml")
        .display()
        .to_string();
    assert_eq!(
        errors,
        [format!(
            "{f}:5:3: net_config: IPv6 only: fabsim models IPv4 only, so this design cannot be simulated (node_subnet 2001:db8:1::1/64 (line 5), pod_subnet 2001:db8:2::1/64 (line 6), extern_dynamic 2001:db8:3::1/120 (line 7), node_svc_subnet 2001:db8:5::1/120 (line 8))"
        )]
    );
}
