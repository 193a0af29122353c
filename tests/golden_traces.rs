//! Golden traces: the text and JSON of each walk of the seed, kept under tests/golden/ and
//! reviewed by hand against the slides. Refresh with FABSIM_BLESS=1 and review the diff.

mod common;
use common::*;
use fabsim::dataplane::trace::to_text;
use fabsim::net::Proto;

const B: &str = "scenarios/brkdcn-2663.yaml";

/// (name, scenario, design, from, to, proto) for the BGP designs.
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<Proto>,
);
const BGP_CASES: &[Case] = &[
    (
        "calico-lb-ingress",
        B,
        "calico",
        "external:clients",
        "service:shop/web:80",
        None,
    ),
    (
        "calico-egress-masquerade",
        B,
        "calico",
        "pod:shop/batch-1",
        "1.1.1.1:443",
        None,
    ),
    (
        "kube-router-egress-native",
        B,
        "kube-router",
        "pod:shop/batch-1",
        "1.1.1.1:443",
        None,
    ),
    (
        "kube-router-lb-ingress",
        B,
        "kube-router",
        "external:clients",
        "service:shop/web:80",
        None,
    ),
    (
        "cilium-lb-ingress-maglev",
        B,
        "cilium",
        "external:clients",
        "service:shop/web:80",
        None,
    ),
    (
        "cilium-pod-to-pod",
        B,
        "cilium",
        "pod:shop/batch-1",
        "pod:shop/web-0:8080",
        None,
    ),
    (
        "kube-router-cluster-policy",
        "tests/data/bgp-cluster-policy.yaml",
        "kube-router",
        "external:clients",
        "service:a/web:80",
        None,
    ),
    (
        "cilium-password-mismatch",
        "tests/data/bgp-cluster-policy.yaml",
        "cilium",
        "external:clients",
        "service:a/web:80",
        None,
    ),
];

#[test]
fn golden_traces_bgp() {
    for (name, scenario, design, from, to, proto) in BGP_CASES {
        let s = load(scenario);
        let (t, o) = walk_design(&s, design, from, to, *proto);
        let dir = root().join("tests/golden");
        golden(&dir.join(format!("{name}.txt")), &to_text(&t, o.latency));
        golden(
            &dir.join(format!("{name}.json")),
            &(serde_json::to_string_pretty(&t).unwrap() + "\n"),
        );
    }
}

const CASES: &[(&str, &str, &str, &str, Option<Proto>)] = &[
    (
        "lb-ingress",
        "scenarios/brkdcn-2663.yaml",
        "external:clients",
        "service:shop/web:80",
        None,
    ),
    (
        "lb-ingress-second-stage",
        "tests/data/two-web-pods-per-node.yaml",
        "external:clients",
        "service:shop/web:80",
        None,
    ),
    (
        "snat-egress",
        "scenarios/brkdcn-2663.yaml",
        "pod:shop/batch-0",
        "1.1.1.1:443",
        None,
    ),
    (
        "snat-egress-bounce",
        "scenarios/brkdcn-2663.yaml",
        "pod:shop/batch-1",
        "1.1.1.1:443",
        None,
    ),
    (
        "pod-to-pod",
        "scenarios/brkdcn-2663.yaml",
        "pod:shop/batch-0",
        "pod:shop/web-0:8080",
        None,
    ),
    (
        "pod-to-service",
        "scenarios/brkdcn-2663.yaml",
        "pod:shop/batch-0",
        "service:shop/web:80",
        None,
    ),
    (
        "icmp-snat-unsupported",
        "scenarios/brkdcn-2663.yaml",
        "pod:shop/batch-0",
        "1.1.1.1",
        Some(Proto::Icmp),
    ),
    (
        "no-snat-policy-egress",
        "scenarios/brkdcn-2663.yaml",
        "pod:shop/web-0",
        "1.1.1.1:443",
        None,
    ),
    // opflex: the VRF's internal subnets route above every SNAT flow; a pod reaching a node's
    // API server port is neither SNATed nor sent to the L3Out (acc-provision's api contract).
    (
        "pod-to-node-api",
        "scenarios/brkdcn-2663.yaml",
        "pod:shop/batch-1",
        "10.32.0.2:6443",
        None,
    ),
    // The default EPG consumes a LoadBalancer service's contract only with
    // add_external_contract_to_default_epg (off in the talk's file).
    (
        "pod-to-lb-ip-denied",
        "scenarios/brkdcn-2663.yaml",
        "pod:shop/web-0",
        "10.34.0.2:80",
        None,
    ),
    (
        "isolation-denied",
        "scenarios/aci-namespace-isolation.yaml",
        "pod:shop/front-0",
        "pod:payments/ledger-0:8080",
        None,
    ),
];

#[test]
fn golden_traces() {
    for (name, scenario, from, to, proto) in CASES {
        let s = load(scenario);
        let (t, o) = walk(&s, from, to, *proto);
        let dir = root().join("tests/golden");
        golden(&dir.join(format!("{name}.txt")), &to_text(&t, o.latency));
        golden(
            &dir.join(format!("{name}.json")),
            &(serde_json::to_string_pretty(&t).unwrap() + "\n"),
        );
    }
}
