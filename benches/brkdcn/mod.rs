//! The shipped brkdcn-2663 scenario and the two flows the benches walk on it: a client to the
//! LoadBalancer of shop/web, and pod shop/batch-1 to 1.1.1.1:443 (SNAT, with the bounce).
//! Shared by the bench files (`mod brkdcn;`); a folder, so Cargo does not take it for a bench.

use fabsim::dataplane::request::{FlowRequest, Source, Target};
use fabsim::net::Proto;
use fabsim::scenario::Scenario;
use std::net::Ipv4Addr;
use std::path::Path;

/// The shipped scenario, loaded.
pub fn scenario() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/brkdcn-2663.yaml");
    fabsim::scenario::load(&path)
        .scenario
        .expect("the shipped scenario loads")
}

/// The LoadBalancer ingress flow and the pod egress flow.
pub fn flows(s: &Scenario) -> (FlowRequest, FlowRequest) {
    let svc = s.cluster.service_by_name("shop", "web").expect("shop/web");
    let pod = s
        .cluster
        .pod_by_name("shop", "batch-1")
        .expect("shop/batch-1");
    let lb = FlowRequest {
        src: Source::Ip(Ipv4Addr::new(192, 168, 100, 1)),
        sport: 40000,
        dst: Target::Service { svc, port: 80 },
        proto: Proto::Tcp,
    };
    let egress = FlowRequest {
        src: Source::Pod(pod),
        sport: 40000,
        dst: Target::Ip {
            ip: Ipv4Addr::new(1, 1, 1, 1),
            port: 443,
        },
        proto: Proto::Tcp,
    };
    (lb, egress)
}
