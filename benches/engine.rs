//! Criterion benchmarks of the engine against a bare event loop (issue 15): the event queue
//! beside a bare binary-heap hold loop with the same events in flight, and a whole scenario run
//! whose events per second are printed as a ratio of the bare loop's, measured in the same
//! process so the claim holds on whatever machine runs it.

mod brkdcn;

use criterion::{Criterion, criterion_group, criterion_main};
use fabsim::net::hash::mix64;
use fabsim::sim::queue::{Event, EventQueue};
use fabsim::time::Nanos;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::Instant;

/// Events in flight in the hold model: about the open connections of the envelope scenario.
const IN_FLIGHT: u64 = 25_000;

/// An exponential-ish delay in nanoseconds (mean ≈ 1 s) from a counter, without an RNG crate.
fn delay(i: u64) -> u64 {
    let u = (mix64(i) >> 11) as f64 / (1u64 << 53) as f64;
    (-(1.0 - u).ln() * 1e9) as u64
}

/// The bare hold loop: pop the earliest, push it again a random delay later; `events` pops.
fn bare_hold(events: u64) -> u64 {
    let mut heap: BinaryHeap<Reverse<(u64, u64)>> =
        (0..IN_FLIGHT).map(|i| Reverse((delay(i), i))).collect();
    let mut last = 0;
    for seq in IN_FLIGHT..IN_FLIGHT + events {
        let Some(Reverse((t, _))) = heap.pop() else {
            break;
        };
        last = t;
        heap.push(Reverse((t + delay(seq), seq)));
    }
    last
}

/// The same hold model through fabsim's queue.
fn queue_hold(events: u64) -> u64 {
    let mut q = EventQueue::default();
    for i in 0..IN_FLIGHT {
        q.push(Nanos(delay(i)), Event::Arrival { generator: 0 });
    }
    let mut last = 0;
    for seq in IN_FLIGHT..IN_FLIGHT + events {
        let Some((t, e)) = q.pop() else { break };
        last = t.0;
        q.push(Nanos(t.0 + delay(seq)), e);
    }
    last
}

fn hold(c: &mut Criterion) {
    c.bench_function(
        "bare binary-heap hold loop, 25,000 in flight, 100k events",
        |b| b.iter(|| black_box(bare_hold(100_000))),
    );
    c.bench_function(
        "fabsim EventQueue hold loop, 25,000 in flight, 100k events",
        |b| b.iter(|| black_box(queue_hold(100_000))),
    );
}

/// A whole run of the shipped brkdcn scenario per design, and the ratio of its events per second
/// to the bare loop's with the same number of events, printed.
fn whole_scenario(c: &mut Criterion) {
    let s = brkdcn::scenario();
    for d in &s.designs {
        let started = Instant::now();
        let r = fabsim::sim::engine::run(&s, d, Nanos::from_secs(1)).expect("it runs");
        let engine = started.elapsed().as_secs_f64();
        let events = r.events_processed;
        let started = Instant::now();
        black_box(bare_hold(events));
        let bare = started.elapsed().as_secs_f64();
        println!(
            "{}: {events} events, {:.2} M events/s; bare hold loop {:.2} M events/s; ratio {:.1}×",
            d.name,
            events as f64 / engine / 1e6,
            events as f64 / bare / 1e6,
            engine / bare
        );
    }
    let aci = s.design("aci-cni").expect("brkdcn has aci-cni");
    let mut g = c.benchmark_group("whole scenario");
    g.sample_size(10);
    g.bench_function("brkdcn-2663, aci-cni, 360 s", |b| {
        b.iter(|| black_box(fabsim::sim::engine::run(&s, aci, Nanos::from_secs(1)).unwrap()))
    });
    g.finish();
}

/// One connection's walk (the engine's counting walk, with its reply) per design, on the shipped
/// brkdcn scenario: an outside client to a LoadBalancer service, and a pod to an outside host
/// (its NAT port freed after each, as the engine does after TIME_WAIT).
fn walk_per_design(c: &mut Criterion) {
    let s = brkdcn::scenario();
    let (lb, egress) = brkdcn::flows(&s);
    let mut g = c.benchmark_group("walk per design");
    for d in &s.designs {
        let mut plane = d.compile(&s);
        for (what, req) in [("LoadBalancer ingress", &lb), ("pod egress", &egress)] {
            g.bench_function(format!("{}, {what}", d.name), |b| {
                b.iter(|| {
                    let (o, count) = plane.walk(&s.fabric, &s.cluster, req);
                    if let Some(binding) = &o.snat {
                        plane.release(req.proto, binding);
                    }
                    black_box((o.verdict, count.forward))
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, hold, walk_per_design, whole_scenario);
criterion_main!(benches);
