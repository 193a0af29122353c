//! Traffic generators: when connections arrive, how long they live, and who talks to whom.
//! Each generator draws from its own named streams (arrivals, lifetimes, endpoints).

use super::rng::{Stream, stream};
use crate::cluster::{Cluster, PodId};
use crate::dataplane::request::{FlowRequest, Source};
use crate::fabric::Fabric;
use crate::scenario::raw::RawArrivals;
use crate::scenario::reference::Ref;
use crate::scenario::{LifetimeDist, Traffic};
use crate::time::Nanos;
use ipnet::Ipv4Net;
use rand::Rng;
use rand_distr::{Distribution, Exp};
use std::net::Ipv4Addr;

/// Linux's `ip_local_port_range` (32768–60999): the client's own source ports.
const EPHEMERAL: (u16, u16) = (32768, 60999);

#[derive(Clone)]
enum Sources {
    /// A deployment's pods: ids `first .. first + count` (replicas are created together), drawn
    /// without reading a list (a list per deployment was a cache miss per connection).
    PodRange {
        first: u32,
        count: u32,
    },
    Pods(Vec<PodId>),
    Clients(Ipv4Net),
    Fixed,
}

#[derive(Clone)]
pub struct Generator {
    pub name: String,
    arrivals: RawArrivals,
    lifetime: LifetimeDist,
    /// Per (from, to) pair: who may send, and the request to the destination.
    routes: Vec<(Sources, FlowRequest)>,
    rng_arrivals: Stream,
    rng_lifetime: Stream,
    rng_endpoints: Stream,
}

fn nanos(s: f64) -> Nanos {
    Nanos((s * 1e9).round().clamp(0.0, u64::MAX as f64 / 4.0) as u64)
}

impl Generator {
    /// A generator of the scenario's traffic entry `t`: infallible, as everything it uses was
    /// checked when the scenario loaded (the requests built, the distribution made).
    pub fn new(t: &Traffic, seed: u64, fabric: &Fabric, cluster: &Cluster) -> Generator {
        let routes = t
            .pairs
            .iter()
            .zip(&t.requests)
            .map(|((from, _), template)| {
                let sources = match *from {
                    Ref::Deployment { dep, .. } => {
                        let d = &cluster.deployments[dep.index()];
                        Sources::PodRange {
                            first: d.first_pod,
                            count: d.replicas,
                        }
                    }
                    Ref::Namespace(ns) => Sources::Pods(
                        (0..cluster.pods.len() as u32)
                            .map(PodId)
                            .filter(|p| cluster.pod(*p).namespace == ns)
                            .collect(),
                    ),
                    Ref::External { ext, .. } => {
                        Sources::Clients(fabric.externals[ext.index()].prefix)
                    }
                    _ => Sources::Fixed,
                };
                (sources, *template)
            })
            .collect();
        Generator {
            name: t.name.clone(),
            arrivals: t.arrivals.clone(),
            lifetime: t.lifetime_dist,
            routes,
            rng_arrivals: stream(seed, &format!("arrivals:{}", t.name)),
            rng_lifetime: stream(seed, &format!("lifetime:{}", t.name)),
            rng_endpoints: stream(seed, &format!("endpoints:{}", t.name)),
        }
    }

    /// The next arrival after `now` (on/off: Poisson during the on periods only).
    pub fn next_arrival(&mut self, now: Nanos) -> Nanos {
        match self.arrivals {
            RawArrivals::Poisson(rate) => {
                let gap: f64 = Exp::new(rate)
                    .map(|e| e.sample(&mut self.rng_arrivals))
                    .unwrap_or(f64::INFINITY);
                now.saturating_add(nanos(gap))
            }
            RawArrivals::Constant(rate) => now.saturating_add(nanos(1.0 / rate)),
            RawArrivals::OnOff { rate, on, off } => {
                let gap: f64 = Exp::new(rate)
                    .map(|e| e.sample(&mut self.rng_arrivals))
                    .unwrap_or(f64::INFINITY);
                let mut t = now.saturating_add(nanos(gap));
                let period = on.0 + off.0;
                if period > 0 && on.0 > 0 {
                    // Memorylessness: an arrival that falls in an off period moves to the next on.
                    let phase = t.0 % period;
                    if phase >= on.0 {
                        t = Nanos(t.0 - phase + period);
                    }
                }
                t
            }
        }
    }

    pub fn lifetime(&mut self) -> Nanos {
        nanos(self.lifetime.sample(&mut self.rng_lifetime))
    }

    /// The next connection's request: a source pod or client address and a source port drawn.
    pub fn request(&mut self) -> FlowRequest {
        // A counted entry spreads its connections over its pairs uniformly; one pair draws nothing.
        let k = match self.routes.len() {
            0 | 1 => 0,
            n => self.rng_endpoints.random_range(0..n),
        };
        let (sources, template) = &self.routes[k];
        let mut r = *template;
        match sources {
            // The same draw as from the list `first .. first + count` (`random_range` over its
            // length, then that element).
            Sources::PodRange { first, count } if *count > 0 => {
                let k = self.rng_endpoints.random_range(0..*count as usize);
                r.src = Source::Pod(PodId(first + k as u32))
            }
            Sources::Pods(pods) if !pods.is_empty() => {
                r.src = Source::Pod(pods[self.rng_endpoints.random_range(0..pods.len())])
            }
            Sources::Clients(net) if net.prefix_len() < 31 => {
                let base = u32::from(net.network());
                let hosts = (1u64 << (32 - net.prefix_len())) - 2;
                let k = self.rng_endpoints.random_range(0..hosts) as u32;
                r.src = Source::Ip(Ipv4Addr::from(base + 1 + k));
            }
            _ => {}
        }
        if r.proto.has_ports() {
            r.sport = self.rng_endpoints.random_range(EPHEMERAL.0..=EPHEMERAL.1);
        }
        r
    }
}
