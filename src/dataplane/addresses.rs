//! The addresses a design gave the cluster's pods and LoadBalancer services, and what a literal
//! address in a flow request is: every design's walk resolves it the same way.

use super::request::{Source, Target};
use crate::cluster::{PodId, ServiceId};
use std::net::Ipv4Addr;

/// A hash map with a fixed hasher: looked up per connection, never iterated.
type IpMap<V> = rustc_hash::FxHashMap<Ipv4Addr, V>;

/// Pod and LoadBalancer addresses under one design, with their reverse look-ups.
#[derive(Clone, Debug, Default)]
pub struct Addresses {
    /// Each pod's address (`0.0.0.0` for a pod its IPAM could not address).
    pub pod_ip: Vec<Ipv4Addr>,
    ip_to_pod: IpMap<PodId>,
    /// The lowest and highest pod address: an address outside them (a client, a server
    /// outside, a SNAT or LoadBalancer IP) is no pod's without a probe of `ip_to_pod` (a cache
    /// miss per look-up on a big cluster).
    pod_span: (u32, u32),
    /// Each service's LoadBalancer IP, if it is a LoadBalancer service that got one.
    pub lb_ip: Vec<Option<Ipv4Addr>>,
    lb_to_service: IpMap<ServiceId>,
}

impl Addresses {
    pub fn new(pod_ip: Vec<Ipv4Addr>, lb_ip: Vec<Option<Ipv4Addr>>) -> Addresses {
        let ip_to_pod = pod_ip
            .iter()
            .enumerate()
            .filter(|(_, ip)| !ip.is_unspecified())
            .map(|(i, ip)| (*ip, PodId(i as u32)))
            .collect();
        let pod_span = pod_ip
            .iter()
            .filter(|ip| !ip.is_unspecified())
            .map(|ip| u32::from(*ip))
            .fold((u32::MAX, 0), |(lo, hi), a| (lo.min(a), hi.max(a)));
        let lb_to_service = lb_ip
            .iter()
            .enumerate()
            .filter_map(|(i, ip)| ip.map(|ip| (ip, ServiceId(i as u32))))
            .collect();
        Addresses {
            pod_ip,
            ip_to_pod,
            pod_span,
            lb_ip,
            lb_to_service,
        }
    }

    /// The pod with address `ip`.
    pub fn pod_at(&self, ip: Ipv4Addr) -> Option<PodId> {
        let a = u32::from(ip);
        if a < self.pod_span.0 || a > self.pod_span.1 {
            return None;
        }
        self.ip_to_pod.get(&ip).copied()
    }

    /// A literal source that is one of the design's pods is that pod.
    pub fn source(&self, src: Source) -> Source {
        match src {
            Source::Ip(ip) => self.pod_at(ip).map_or(Source::Ip(ip), Source::Pod),
            s => s,
        }
    }

    /// A literal destination that is a pod, or a LoadBalancer IP (returned as the VIP the
    /// client sent to), is that pod or service.
    pub fn target(&self, dst: Target) -> (Target, Option<Ipv4Addr>) {
        match dst {
            Target::Ip { ip, port } => match (self.pod_at(ip), self.lb_to_service.get(&ip)) {
                (Some(pod), _) => (Target::Pod { pod, port }, None),
                (None, Some(s)) => (Target::Service { svc: *s, port }, Some(ip)),
                (None, None) => (Target::Ip { ip, port }, None),
            },
            t => (t, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_addresses_are_what_they_address() {
        let a = Addresses::new(
            vec!["10.2.0.2".parse().unwrap(), Ipv4Addr::UNSPECIFIED],
            vec![None, Some("10.9.0.1".parse().unwrap())],
        );
        assert_eq!(
            a.source(Source::Ip("10.2.0.2".parse().unwrap())),
            Source::Pod(PodId(0))
        );
        // An unaddressed pod is not reachable at 0.0.0.0.
        assert_eq!(
            a.source(Source::Ip(Ipv4Addr::UNSPECIFIED)),
            Source::Ip(Ipv4Addr::UNSPECIFIED)
        );
        let vip: Ipv4Addr = "10.9.0.1".parse().unwrap();
        assert_eq!(
            a.target(Target::Ip { ip: vip, port: 80 }),
            (
                Target::Service {
                    svc: ServiceId(1),
                    port: 80
                },
                Some(vip)
            )
        );
    }
}
