//! The walk the engine runs per connection allocates nothing once the tables are warm: the
//! counting recorder builds no explanation strings, backend sets reuse a scratch vector, LPM
//! tables build their flat copy once.

mod common;
use common::*;
use fabsim::dataplane::Count;
use fabsim::dataplane::request::{FlowRequest, Source, Target};
use fabsim::design::aci_cni::AciState;
use fabsim::design::aci_cni::walk::AciWalk;
use fabsim::design::bgp::BgpState;
use fabsim::design::bgp::walk::{BgpWalk, NodeTables};
use fabsim::nat::conntrack::NatTable;
use fabsim::nat::kernel::PortSearch;
use fabsim::net::Proto;
use std::net::Ipv4Addr;

#[test]
fn walks_allocate_nothing_in_steady_state() {
    let s = load("scenarios/brkdcn-2663.yaml");
    let svc = s.cluster.service_by_name("shop", "web").unwrap();
    let lb = |i: u32| FlowRequest {
        src: Source::Ip(Ipv4Addr::new(192, 168, 100, (i % 200) as u8 + 1)),
        sport: 40000 + (i % 1000) as u16,
        dst: Target::Service { svc, port: 80 },
        proto: Proto::Tcp,
    };
    let aci = AciState::compile(&s.cluster, s.design("aci-cni").unwrap().aci().unwrap());
    let w = AciWalk::new(&s.fabric, &s.cluster, &aci);
    let mut nat = NatTable::default();
    // Warm up: the LPM tables' flat copies are built on their first look-up.
    for i in 0..1000 {
        w.walk(&lb(i), &mut nat, &mut Count::default());
    }
    let info = allocation_counter::measure(|| {
        for i in 0..1000 {
            std::hint::black_box(w.walk(&lb(i), &mut nat, &mut Count::default()));
        }
    });
    assert_eq!(info.count_total, 0, "ACI-CNI LoadBalancer walks allocated");

    for design in ["calico", "kube-router", "cilium"] {
        let st = BgpState::compile(
            &s.fabric,
            &s.cluster,
            s.design(design).unwrap().bgp().unwrap(),
        );
        let w = BgpWalk::new(&s.fabric, &s.cluster, &st);
        let mut tables = NodeTables::default();
        // Warm up: Maglev tables, round-robin counters and the scratch vector are built once.
        for i in 0..1000 {
            w.walk(&lb(i), &mut tables, &mut Count::default());
        }
        let info = allocation_counter::measure(|| {
            for i in 0..1000 {
                std::hint::black_box(w.walk(&lb(i), &mut tables, &mut Count::default()));
            }
        });
        assert_eq!(info.count_total, 0, "{design} LoadBalancer walks allocated");
    }
}

/// The whole event loop — arrivals walking the data plane, SNAT and masquerade port allocation,
/// closes, TIME_WAIT releases, samples — allocates nothing per event once warm: doubling the
/// simulated time of a stationary run adds only the handful of allocations of vectors that grow
/// by doubling (the time series), not one per event.
#[test]
fn the_event_loop_allocates_nothing_per_event() {
    let mut s = load("scenarios/brkdcn-2663.yaml");
    s.events.clear();
    s.conntrack.time_wait = fabsim::time::Nanos::from_secs(5);
    // Both kernels: Linux 6.5+ also keeps the TIME_WAIT entries it may evict.
    for (design, search) in [
        ("aci-cni", PortSearch::Bounded),
        ("aci-cni", PortSearch::BoundedEvict),
        ("calico", PortSearch::Bounded),
        ("calico", PortSearch::BoundedEvict),
        ("kube-router", PortSearch::Bounded),
        ("cilium", PortSearch::Bounded),
    ] {
        s.conntrack.nat_search = search;
        let d = s.design(design).unwrap().clone();
        let mut measure = |secs: u64| {
            s.duration = Some(fabsim::time::Nanos::from_secs(secs));
            let mut events = 0;
            let info = allocation_counter::measure(|| {
                let r =
                    fabsim::sim::engine::run(&s, &d, fabsim::time::Nanos::from_secs(1)).unwrap();
                events = r.events_processed;
            });
            (info.count_total, events)
        };
        let (a1, e1) = measure(30);
        let (a2, e2) = measure(60);
        // Measured: 10 more allocations for ~50,000 more events (the six time series and the
        // queue's heap growing by doubling).
        assert!(e2 - e1 > 30_000, "{design}: {e1} → {e2} events");
        assert!(
            a2 - a1 <= 32,
            "{design}: {a1} allocations over {e1} events, {a2} over {e2}: the loop allocates per event"
        );
    }
}
