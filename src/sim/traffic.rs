//! Traffic generators: when connections arrive, how long they live, and who talks to whom.
//! Each generator draws from its own named streams (arrivals, lifetimes, endpoints).

use super::rng::{Stream, stream};
use crate::cluster::{Cluster, PodId};
use crate::dataplane::request::{self, FlowRequest, Source};
use crate::fabric::Fabric;
use crate::scenario::Traffic;
use crate::scenario::raw::{RawArrivals, RawLifetime};
use crate::scenario::reference::Ref;
use crate::time::Nanos;
use ipnet::Ipv4Net;
use rand::Rng;
use rand_distr::{Distribution, Exp, LogNormal, Pareto};
use std::net::Ipv4Addr;

/// Linux's `ip_local_port_range` (32768–60999): the client's own source ports.
const EPHEMERAL: (u16, u16) = (32768, 60999);

enum Lifetime {
    Exp(Exp<f64>),
    Constant(f64),
    LogNormal(LogNormal<f64>),
    Pareto(Pareto<f64>),
}

enum Sources {
    Pods(Vec<PodId>),
    Clients(Ipv4Net),
    Fixed,
}

pub struct Generator {
    pub name: String,
    arrivals: RawArrivals,
    lifetime: Lifetime,
    /// Per (from, to) pair: who may send, and the request to the destination.
    routes: Vec<(Sources, FlowRequest)>,
    rng_arrivals: Stream,
    rng_lifetime: Stream,
    rng_endpoints: Stream,
}

fn secs(n: Nanos) -> f64 {
    n.as_secs_f64()
}

fn nanos(s: f64) -> Nanos {
    Nanos((s * 1e9).round().clamp(0.0, u64::MAX as f64 / 4.0) as u64)
}

impl Generator {
    pub fn new(
        t: &Traffic,
        seed: u64,
        fabric: &Fabric,
        cluster: &Cluster,
    ) -> Result<Generator, String> {
        let mut routes = Vec::with_capacity(t.pairs.len());
        for (from, to) in &t.pairs {
            let template = request::build(from, to, None, None, fabric, cluster)
                .map_err(|m| format!("traffic {}: {m}", t.name))?;
            let sources = match *from {
                Ref::Deployment { dep, .. } => Sources::Pods(cluster.pods_of(dep).collect()),
                Ref::Namespace(ns) => Sources::Pods(
                    (0..cluster.pods.len() as u32)
                        .map(PodId)
                        .filter(|p| cluster.pod(*p).namespace == ns)
                        .collect(),
                ),
                Ref::External { ext, .. } => Sources::Clients(fabric.externals[ext.index()].prefix),
                _ => Sources::Fixed,
            };
            routes.push((sources, template));
        }
        let bad = |what: &str| format!("traffic {}: {what}", t.name);
        let lifetime = match &t.lifetime {
            RawLifetime::Exponential(m) if m.0 > 0 => {
                Lifetime::Exp(Exp::new(1.0 / secs(*m)).map_err(|e| bad(&e.to_string()))?)
            }
            RawLifetime::Exponential(_) => Lifetime::Constant(0.0),
            RawLifetime::Constant(c) => Lifetime::Constant(secs(*c)),
            RawLifetime::Lognormal { mean, sigma } => {
                // Parameterised by its mean: mu = ln(mean) − sigma²/2.
                let mu = secs(*mean).max(1e-12).ln() - sigma * sigma / 2.0;
                Lifetime::LogNormal(
                    LogNormal::new(mu, *sigma).map_err(|e| bad(&format!("lognormal: {e}")))?,
                )
            }
            RawLifetime::Pareto { scale, shape } => Lifetime::Pareto(
                Pareto::new(secs(*scale), *shape).map_err(|e| bad(&format!("pareto: {e}")))?,
            ),
        };
        Ok(Generator {
            name: t.name.clone(),
            arrivals: t.arrivals.clone(),
            lifetime,
            routes,
            rng_arrivals: stream(seed, &format!("arrivals:{}", t.name)),
            rng_lifetime: stream(seed, &format!("lifetime:{}", t.name)),
            rng_endpoints: stream(seed, &format!("endpoints:{}", t.name)),
        })
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
        let s = match &self.lifetime {
            Lifetime::Exp(e) => e.sample(&mut self.rng_lifetime),
            Lifetime::Constant(c) => *c,
            Lifetime::LogNormal(l) => l.sample(&mut self.rng_lifetime),
            Lifetime::Pareto(p) => p.sample(&mut self.rng_lifetime),
        };
        nanos(s)
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
