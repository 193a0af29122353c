//! The engine loop: arrivals walk the data plane (the `trace` walk with a counting recorder),
//! established connections live their lifetime, close, hold their NAT tuple through TIME_WAIT
//! (UDP: the conntrack UDP timeout) and free it.
//!
//! Invariant: single-threaded and deterministic for a (scenario, seed); the loop reuses the
//! connection table's slots and the queue's storage, so steady state allocates only inside the
//! NAT tables' ordered maps.

use super::metrics::*;
use super::queue::{Event, EventQueue};
use super::traffic::Generator;
use crate::dataplane::aci::AciWalk;
use crate::dataplane::bgp::{BgpWalk, NodeTables};
use crate::dataplane::request::FlowRequest;
use crate::dataplane::{Count, NatBinding, Outcome, Verdict};
use crate::design::DesignSpec;
use crate::design::aci_cni::AciState;
use crate::design::bgp::BgpState;
use crate::nat::conntrack::NatTable;
use crate::net::Proto;
use crate::scenario::Scenario;
use crate::time::Nanos;
use std::collections::BTreeMap;

/// A design's data plane with its mutable NAT state.
enum Plane<'a> {
    Aci(AciWalk<'a>, NatTable),
    Bgp(BgpWalk<'a>, NodeTables),
}

impl Plane<'_> {
    fn walk(&mut self, req: &FlowRequest) -> (Outcome, Count) {
        let mut c = Count::default();
        let o = match self {
            Plane::Aci(w, nat) => w.walk(req, nat, &mut c),
            Plane::Bgp(w, t) => w.walk(req, t, &mut c),
        };
        (o, c)
    }

    fn release(&mut self, proto: Proto, b: &NatBinding) {
        match self {
            Plane::Aci(_, nat) => nat.release(proto, b.ip, b.remote, b.port),
            Plane::Bgp(_, t) => t.nat.release(proto, b.ip, b.remote, b.port),
        }
    }

    fn nat_in_use(&self) -> usize {
        match self {
            Plane::Aci(_, nat) => nat.in_use(),
            Plane::Bgp(_, t) => t.nat.in_use(),
        }
    }
}

#[derive(Clone, Copy)]
struct Conn {
    generator: u32,
    proto: Proto,
    binding: Option<NatBinding>,
}

/// Default sampling interval of the time series.
pub const DEFAULT_SAMPLE_INTERVAL: Nanos = Nanos::from_secs(1);

/// Runs one design of a scenario.
pub fn run(
    s: &Scenario,
    design: &DesignSpec,
    sample_interval: Nanos,
) -> Result<DesignResult, String> {
    let duration = s
        .duration
        .ok_or("the scenario has no `duration`: give one (e.g. 300s) to simulate it")?;
    if let (Some(cfg), _) = (&design.aci, &design.bgp) {
        let state = AciState::compile(&s.cluster, cfg);
        let plane = Plane::Aci(
            AciWalk::new(&s.fabric, &s.cluster, &state),
            NatTable::default(),
        );
        return simulate(s, design, plane, duration, sample_interval);
    }
    if let Some(cfg) = &design.bgp {
        let state = BgpState::compile(&s.fabric, &s.cluster, cfg);
        let plane = Plane::Bgp(
            BgpWalk::new(&s.fabric, &s.cluster, &state, &design.name),
            NodeTables::default(),
        );
        return simulate(s, design, plane, duration, sample_interval);
    }
    Err(format!("design {} could not be resolved", design.name))
}

fn simulate(
    s: &Scenario,
    design: &DesignSpec,
    mut plane: Plane,
    duration: Nanos,
    interval: Nanos,
) -> Result<DesignResult, String> {
    let mut gens: Vec<Generator> = s
        .traffic
        .iter()
        .map(|t| Generator::new(t, s.seed, &s.fabric, &s.cluster))
        .collect::<Result<_, _>>()?;
    let mut q = EventQueue::with_capacity(1024);
    for (i, g) in gens.iter_mut().enumerate() {
        q.push(
            g.next_arrival(Nanos::ZERO),
            Event::Arrival {
                generator: i as u32,
            },
        );
    }
    let interval = if interval.0 == 0 {
        DEFAULT_SAMPLE_INTERVAL
    } else {
        interval
    };
    q.push(interval, Event::Sample);

    let mut conns: Vec<Conn> = Vec::new();
    let mut free: Vec<u32> = Vec::new();
    let mut total = Connections::default();
    let mut per_gen: Vec<Connections> = vec![Connections::default(); gens.len()];
    let mut paths = PathStats::with_nodes(s.cluster.nodes.len());
    let mut nat_per_node = vec![0u64; s.cluster.nodes.len()];
    let mut series = TimeSeries {
        interval_s: interval.as_secs_f64(),
        ..TimeSeries::default()
    };
    let (mut window_attempted, mut window_established) = (0u64, 0u64);
    let mut events = 0u64;

    while let Some((now, e)) = q.pop() {
        if now > duration {
            break;
        }
        events += 1;
        match e {
            Event::Arrival { generator } => {
                let g = &mut gens[generator as usize];
                let req = g.request();
                let (o, count) = plane.walk(&req);
                let pg = &mut per_gen[generator as usize];
                total.attempted += 1;
                pg.attempted += 1;
                window_attempted += 1;
                if o.verdict == Verdict::Delivered {
                    total.established += 1;
                    pg.established += 1;
                    window_established += 1;
                    paths.record(
                        count.forward + count.ret,
                        o.latency.0,
                        o.bounced,
                        count.detoured,
                        o.node.map(|n| n.index()),
                    );
                    if let Some(b) = &o.snat {
                        nat_per_node[b.node.index()] += 1;
                    }
                    let c = Conn {
                        generator,
                        proto: req.proto,
                        binding: o.snat,
                    };
                    let slot = match free.pop() {
                        Some(i) => {
                            conns[i as usize] = c;
                            i
                        }
                        None => {
                            conns.push(c);
                            conns.len() as u32 - 1
                        }
                    };
                    q.push(
                        now.saturating_add(g.lifetime()),
                        Event::Close { conn: slot },
                    );
                } else {
                    total.refuse(o.reason.as_str());
                    pg.refuse(o.reason.as_str());
                }
                let next = g.next_arrival(now);
                q.push(next, Event::Arrival { generator });
            }
            Event::Close { conn } => {
                let c = conns[conn as usize];
                total.completed += 1;
                per_gen[c.generator as usize].completed += 1;
                match c.binding {
                    Some(_) => {
                        let hold = if c.proto == Proto::Tcp {
                            s.conntrack.time_wait
                        } else {
                            s.conntrack.udp_timeout
                        };
                        q.push(now.saturating_add(hold), Event::Release { conn });
                    }
                    None => free.push(conn),
                }
            }
            Event::Release { conn } => {
                let c = conns[conn as usize];
                if let Some(b) = &c.binding {
                    plane.release(c.proto, b);
                    nat_per_node[b.node.index()] -= 1;
                }
                free.push(conn);
            }
            Event::Sample => {
                series.t_s.push(now.as_secs_f64());
                let ratio = if window_attempted == 0 {
                    1.0
                } else {
                    window_established as f64 / window_attempted as f64
                };
                series.new_connection_success_ratio.push(ratio);
                series
                    .active_connections
                    .push(total.established - total.completed);
                series.nat_ports_in_use.push(plane.nat_in_use() as u64);
                series
                    .nat_ports_in_use_max_node
                    .push(nat_per_node.iter().copied().max().unwrap_or(0));
                window_attempted = 0;
                window_established = 0;
                q.push(now.saturating_add(interval), Event::Sample);
            }
        }
    }
    total.active_at_end = total.established - total.completed;
    for g in per_gen.iter_mut() {
        g.active_at_end = g.established - g.completed;
    }
    let traffic: BTreeMap<String, GeneratorResult> = gens
        .iter()
        .zip(per_gen)
        .map(|(g, c)| (g.name.clone(), GeneratorResult { connections: c }))
        .collect();
    Ok(DesignResult {
        name: design.name.clone(),
        cni: design.cni.name(),
        connections: total,
        failover: Vec::new(),
        paths: paths.summary(),
        timeseries: series,
        traffic,
        events_processed: events,
    })
}
