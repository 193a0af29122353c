//! The one dispatch from a flow request to a design's walk: a literal address that is one of
//! the design's pods or LoadBalancer IPs is that pod or service, then the (source, target) pair
//! picks the leg. Each design writes its legs ([`Legs`]); the dispatch is written once.

use super::request::{FlowRequest, L4, Source, Target};
use super::{Action, Device, FabricSteps, Outcome, Reason, Recorder, Verdict};
use super::{addresses::Addresses, outcome, release_if_failed};
use crate::cluster::{Cluster, NodeId, PodId, ServiceId};
use crate::fabric::{Fabric, LeafId};
use crate::nat::conntrack::NatTable;
use crate::net::{Endpoint, Flow};
use crate::time::Nanos;
use std::net::Ipv4Addr;

/// The legs of one design's walk. Each returns the walk's outcome and adds its latency to `lat`.
pub trait Legs {
    /// The per-run state a walk changes: the NAT table, and whatever else the design keeps
    /// (the BGP designs' service-proxy tables).
    type Tables;

    fn addresses(&self) -> &Addresses;
    fn fabric(&self) -> &Fabric;
    fn cluster(&self) -> &Cluster;
    fn nat(tables: &mut Self::Tables) -> &mut NatTable;

    /// A literal destination the design turns into a service before any routing, when it is
    /// neither a pod nor a LoadBalancer IP (ACI-CNI: a ClusterIP, which OVS DNATs); none here.
    fn literal_service(&self, _ip: Ipv4Addr) -> Option<ServiceId> {
        None
    }

    /// The fabric steps every design takes the same way.
    fn steps(&self) -> FabricSteps<'_> {
        FabricSteps {
            fabric: self.fabric(),
            cluster: self.cluster(),
        }
    }

    /// An outside host as a hop's device.
    fn external(&self, ip: Ipv4Addr) -> Device {
        self.steps().external(ip)
    }

    /// The leaf of the node's vPC pair that carries this flow.
    fn node_leaf(&self, node: NodeId, flow: &Flow) -> LeafId {
        self.steps().node_leaf(node, flow)
    }

    /// The border leaf a flow to the outside leaves by.
    fn border_for(&self, pkt: &Flow) -> Option<LeafId> {
        self.steps().border_for(pkt)
    }

    /// A pod's address with a port.
    fn pod_ep(&self, pod: PodId, port: u16) -> Endpoint {
        Endpoint::new(self.addresses().pod_ip(pod), port)
    }

    /// A pod's node, read beside its address (`Addresses::pod_node`).
    fn pod_node(&self, pod: PodId) -> NodeId {
        self.addresses().pod_node(pod)
    }

    /// An outside client's packet to `dst` and the border leaf ECMP brings it in by; the drop
    /// (with the latency so far) when the fabric has no border leaf.
    fn enter<R: Recorder>(
        &self,
        client: Ipv4Addr,
        dst: Endpoint,
        l4: L4,
        rec: &mut R,
        lat: Nanos,
    ) -> Result<(Flow, LeafId), Outcome> {
        let pkt = Flow {
            proto: l4.proto,
            src: Endpoint::new(client, l4.sport),
            dst,
        };
        match self.fabric().ingress_border_leaf(&pkt) {
            Some(border) => Ok((pkt, border)),
            None => {
                rec.hop(self.external(client), Action::Drop, &pkt, || {
                    "the fabric has no border leaf".into()
                });
                Err(outcome(pkt, Verdict::Dropped, Reason::NoRoute, lat))
            }
        }
    }

    /// A pod's packet to `dst` as it leaves the pod, its first hop recorded (`via`: what
    /// forwards it on the pod's node, e.g. "OVS on ").
    fn pod_sends<R: Recorder>(
        &self,
        pod: PodId,
        dst: Endpoint,
        l4: L4,
        via: &str,
        rec: &mut R,
    ) -> Flow {
        let pkt = Flow {
            proto: l4.proto,
            src: self.pod_ep(pod, l4.sport),
            dst,
        };
        let cluster = self.cluster();
        rec.hop(Device::Pod(pod), Action::Route, &pkt, || {
            format!(
                "{} sends to {dst} through {via}{}",
                cluster.pod_ref(pod),
                cluster.node_ref(self.pod_node(pod))
            )
        });
        pkt
    }

    /// `pkt` reaches `pod` (`delivered`: how, in words); the walk turns to the reply the pod
    /// sends back, which it returns.
    fn turn_around<R: Recorder>(
        &self,
        pod: PodId,
        pkt: &Flow,
        rec: &mut R,
        delivered: impl FnOnce() -> String,
    ) -> Flow {
        rec.hop(Device::Pod(pod), Action::Deliver, pkt, delivered);
        rec.start_return();
        let r = pkt.reversed();
        let cluster = self.cluster();
        rec.hop(Device::Pod(pod), Action::Route, &r, || {
            format!("{} replies", cluster.pod_ref(pod))
        });
        r
    }

    /// Outside client → LoadBalancer IP.
    fn ingress_lb<R: Recorder>(
        &self,
        client: Ipv4Addr,
        svc: ServiceId,
        l4: L4,
        tables: &mut Self::Tables,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome;

    /// Outside client → a pod IP directly.
    fn ingress_direct<R: Recorder>(
        &self,
        client: Ipv4Addr,
        pod: PodId,
        l4: L4,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome;

    /// Pod → service (`vip`: the LoadBalancer IP the pod sent to, if it named one).
    fn pod_to_service<R: Recorder>(
        &self,
        pod: PodId,
        svc: (ServiceId, Option<Ipv4Addr>),
        l4: L4,
        tables: &mut Self::Tables,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome;

    /// Pod → pod.
    fn pod_to_pod<R: Recorder>(
        &self,
        a: PodId,
        b: PodId,
        l4: L4,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome;

    /// Pod → an address that is no pod and no service of the design (a node, the outside).
    fn pod_to_ip<R: Recorder>(
        &self,
        pod: PodId,
        ip: Ipv4Addr,
        l4: L4,
        tables: &mut Self::Tables,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome;
}

/// Walks one flow and its reply through design `w`; a failed walk gives back the NAT port it
/// took.
pub fn walk<W: Legs, R: Recorder>(
    w: &W,
    req: &FlowRequest,
    tables: &mut W::Tables,
    rec: &mut R,
) -> Outcome {
    let src = w.addresses().source(req.src);
    let (dst, vip) = match w.addresses().target(req.dst) {
        (Target::Ip { ip, port }, _) => match w.literal_service(ip) {
            Some(svc) => (Target::Service { svc, port }, None),
            None => (Target::Ip { ip, port }, None),
        },
        t => t,
    };
    let mut lat = Nanos::ZERO;
    let mut o = match (src, dst) {
        (Source::Ip(c), Target::Service { svc, port }) => {
            w.ingress_lb(c, svc, req.l4(port), tables, rec, &mut lat)
        }
        (Source::Pod(p), Target::Service { svc, port }) => {
            w.pod_to_service(p, (svc, vip), req.l4(port), tables, rec, &mut lat)
        }
        (Source::Ip(c), Target::Pod { pod, port }) => {
            w.ingress_direct(c, pod, req.l4(port), rec, &mut lat)
        }
        (Source::Pod(p), Target::Pod { pod, port }) => {
            w.pod_to_pod(p, pod, req.l4(port), rec, &mut lat)
        }
        (Source::Pod(p), Target::Ip { ip, port }) => {
            w.pod_to_ip(p, ip, req.l4(port), tables, rec, &mut lat)
        }
        (Source::Ip(c), Target::Ip { ip, port }) => {
            let f = Flow {
                proto: req.proto,
                src: Endpoint::new(c, req.sport),
                dst: Endpoint::new(ip, port),
            };
            rec.hop(w.external(c), Action::Drop, &f, || {
                format!("{ip} is not in the fabric: nothing to walk between two outside hosts")
            });
            outcome(f, Verdict::Dropped, Reason::NoRoute, lat)
        }
    };
    release_if_failed(&mut o, W::nat(tables));
    o
}
