//! The addresses a design gave the cluster's pods and LoadBalancer services, and what a literal
//! address in a flow request is: every design's walk resolves it the same way.

use super::request::{Source, Target};
use crate::cluster::{NodeId, PodId, ServiceId};
use std::net::Ipv4Addr;
use std::sync::OnceLock;

/// A hash map with a fixed hasher: looked up per connection, never iterated.
type IpMap<V> = rustc_hash::FxHashMap<Ipv4Addr, V>;

/// Pod and LoadBalancer addresses under one design, with their reverse look-ups.
#[derive(Clone, Debug, Default)]
pub struct Addresses {
    /// Each pod's address (`0.0.0.0` for a pod its IPAM could not address), its node and the
    /// design's tag for it, side by side: a walk reads them together, one 12-byte record (an
    /// array each was a cache miss each per pod on a big cluster).
    pods: Vec<PodAt>,
    /// Address → pod, built on the first look-up that falls inside `pod_span`: most runs and
    /// every `trace` of a named endpoint ask for none, and 150,000 inserts were a quarter of
    /// compiling a design for one `trace` on the envelope.
    ip_to_pod: OnceLock<IpMap<PodId>>,
    /// The lowest and highest pod address: an address outside them (a client, a server
    /// outside, a SNAT or LoadBalancer IP) is no pod's without a probe of `ip_to_pod` (a cache
    /// miss per look-up on a big cluster).
    pod_span: (u32, u32),
    /// Each service's LoadBalancer IP, if it is a LoadBalancer service that got one.
    pub lb_ip: Vec<Option<Ipv4Addr>>,
    lb_to_service: IpMap<ServiceId>,
}

/// A pod's address, node and tag.
#[derive(Clone, Copy, Debug)]
struct PodAt {
    ip: Ipv4Addr,
    node: NodeId,
    tag: u32,
}

impl Addresses {
    /// `pods`: each pod's address, node and the design's tag for it ([`Addresses::pod_tag`]),
    /// in pod order.
    pub fn new(
        pods: impl IntoIterator<Item = (Ipv4Addr, NodeId, u32)>,
        lb_ip: Vec<Option<Ipv4Addr>>,
    ) -> Addresses {
        let pods: Vec<PodAt> = pods
            .into_iter()
            .map(|(ip, node, tag)| PodAt { ip, node, tag })
            .collect();
        let pod_span = pods
            .iter()
            .filter(|p| !p.ip.is_unspecified())
            .map(|p| u32::from(p.ip))
            .fold((u32::MAX, 0), |(lo, hi), a| (lo.min(a), hi.max(a)));
        let lb_to_service = lb_ip
            .iter()
            .enumerate()
            .filter_map(|(i, ip)| ip.map(|ip| (ip, ServiceId(i as u32))))
            .collect();
        Addresses {
            pods,
            ip_to_pod: OnceLock::new(),
            pod_span,
            lb_ip,
            lb_to_service,
        }
    }

    /// Pod `pod`'s address (`0.0.0.0` if its IPAM could not address it).
    pub fn pod_ip(&self, pod: PodId) -> Ipv4Addr {
        self.pods[pod.index()].ip
    }

    /// Pod `pod`'s node (`Cluster::pod_node`, kept beside the address).
    pub fn pod_node(&self, pod: PodId) -> NodeId {
        self.pods[pod.index()].node
    }

    /// The number the design keeps with pod `pod`'s address (ACI-CNI: its SNAT flow stack;
    /// the BGP designs keep none).
    pub fn pod_tag(&self, pod: PodId) -> u32 {
        self.pods[pod.index()].tag
    }

    /// The pod with address `ip`.
    pub fn pod_at(&self, ip: Ipv4Addr) -> Option<PodId> {
        let a = u32::from(ip);
        if a < self.pod_span.0 || a > self.pod_span.1 {
            return None;
        }
        self.ip_to_pod
            .get_or_init(|| self.index_pods())
            .get(&ip)
            .copied()
    }

    /// Address → pod over the addressed pods.
    fn index_pods(&self) -> IpMap<PodId> {
        // Sized up front: 150,000 pods grew the map by doubling, a rehash of all of it each time.
        let mut ip_to_pod = IpMap::with_capacity_and_hasher(self.pods.len(), Default::default());
        ip_to_pod.extend(
            self.pods
                .iter()
                .enumerate()
                .filter(|(_, p)| !p.ip.is_unspecified())
                .map(|(i, p)| (p.ip, PodId(i as u32))),
        );
        ip_to_pod
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
            [
                ("10.2.0.2".parse().unwrap(), NodeId(0), 0),
                (Ipv4Addr::UNSPECIFIED, NodeId(0), 0),
            ],
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
