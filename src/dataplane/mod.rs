//! The packet walk: one flow and its reply through a design's compiled state, hop by hop.
//!
//! The walk is written once per design and is generic over a [`Recorder`]: `trace` records every
//! hop with its explanation; the engine (later) passes [`Count`], which keeps only counters, so
//! a walk in the event loop builds no strings and allocates nothing.

pub mod addresses;
pub mod legs;
pub mod request;
pub mod trace;

use crate::cluster::{NodeId, PodId};
use crate::fabric::{ExternalId, LeafId, SpineId};
use crate::net::{Endpoint, Flow};
use crate::time::Nanos;
use std::fmt;
use std::net::Ipv4Addr;

/// Where a hop happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Pod(PodId),
    Node(NodeId),
    Leaf(LeafId),
    Spine(SpineId),
    /// An outside host: its network (if the scenario names one) and address.
    External(Option<ExternalId>, Ipv4Addr),
}

/// What a hop did (DESIGN.md "Trace output").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Route,
    Classify,
    Contract,
    PbrRedirect,
    Ecmp,
    Dnat,
    UnDnat,
    Snat,
    UnSnat,
    Bounce,
    Deliver,
    Drop,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Route => "route",
            Action::Classify => "classify",
            Action::Contract => "contract",
            Action::PbrRedirect => "pbr-redirect",
            Action::Ecmp => "ecmp",
            Action::Dnat => "dnat",
            Action::UnDnat => "un-dnat",
            Action::Snat => "snat",
            Action::UnSnat => "un-snat",
            Action::Bounce => "bounce",
            Action::Deliver => "deliver",
            Action::Drop => "drop",
        }
    }
}

/// Receives the hops of a walk.
pub trait Recorder {
    /// Whether the recorder keeps the devices of hops other than drops (a trace shows which
    /// spine a crossing hashed to; the engine's count does not, so the walk skips that hash).
    const KEEPS_PATH: bool = true;
    /// `detail` is only called when the recorder keeps details.
    fn hop(
        &mut self,
        device: Device,
        action: Action,
        packet: &Flow,
        detail: impl FnOnce() -> String,
    );
    /// Marks the start of the return walk.
    fn start_return(&mut self);
    /// Notes that the packet went through a leaf that held the route but not the node (the
    /// detour through an anchor leaf).
    fn detour(&mut self) {}
}

/// Counts hops only (the engine's recorder).
#[derive(Clone, Copy, Debug, Default)]
pub struct Count {
    pub forward: u16,
    pub ret: u16,
    pub detoured: bool,
    /// The device of the last drop (a failed node blackholing, …): whose failure it was.
    pub dropped_at: Option<Device>,
    in_return: bool,
}

impl Recorder for Count {
    const KEEPS_PATH: bool = false;
    fn hop(&mut self, device: Device, action: Action, _: &Flow, _: impl FnOnce() -> String) {
        if action == Action::Drop {
            self.dropped_at = Some(device);
        }
        if self.in_return {
            self.ret += 1
        } else {
            self.forward += 1
        }
    }
    fn start_return(&mut self) {
        self.in_return = true;
    }
    fn detour(&mut self) {
        self.detoured = true;
    }
}

/// One recorded hop, with the packet header as it leaves the hop.
#[derive(Clone, Debug)]
pub struct Hop {
    pub device: Device,
    pub action: Action,
    pub detail: String,
    pub src: Endpoint,
    pub dst: Endpoint,
}

/// Keeps every hop (the `trace` recorder).
#[derive(Clone, Debug, Default)]
pub struct Record {
    pub forward: Vec<Hop>,
    pub ret: Vec<Hop>,
    in_return: bool,
}

impl Recorder for Record {
    fn hop(
        &mut self,
        device: Device,
        action: Action,
        packet: &Flow,
        detail: impl FnOnce() -> String,
    ) {
        let h = Hop {
            device,
            action,
            detail: detail(),
            src: packet.src,
            dst: packet.dst,
        };
        if self.in_return {
            self.ret.push(h)
        } else {
            self.forward.push(h)
        }
    }
    fn start_return(&mut self) {
        self.in_return = true;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    Dropped,
    Unsupported,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Delivered => "delivered",
            Verdict::Dropped => "dropped",
            Verdict::Unsupported => "unsupported",
        }
    }
}

/// Why a walk ended as it did; the engine counts refusals by these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    Delivered,
    PolicyDenied,
    NoServiceGraph,
    NoLocalEndpoint,
    NoReadyEndpoint,
    IcmpThroughSnat,
    SnatPortExhausted,
    MasqueradePortExhausted,
    NoRoute,
    /// The request left, but the outside has no route back to its source (an un-NATed pod
    /// address whose subnet is not advertised).
    NoReturnRoute,
    /// Sent to a failed node or pod before the control plane noticed.
    Blackholed,
}

impl Reason {
    /// The stable name used in JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Delivered => "delivered",
            Reason::PolicyDenied => "policy-denied",
            Reason::NoServiceGraph => "no-service-graph",
            Reason::NoLocalEndpoint => "no-local-endpoint",
            Reason::NoReadyEndpoint => "no-ready-endpoint",
            Reason::IcmpThroughSnat => "unsupported-protocol",
            Reason::SnatPortExhausted => "snat-port-exhausted",
            Reason::MasqueradePortExhausted => "masquerade-port-exhausted",
            Reason::NoRoute => "no-route",
            Reason::NoReturnRoute => "no-return-route",
            Reason::Blackholed => "blackholed",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SNAT binding made by the walk (to be released after TIME_WAIT by the engine).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatBinding {
    pub node: NodeId,
    pub ip: Ipv4Addr,
    pub port: u16,
    pub remote: Endpoint,
    /// The source before translation (a 6.5+ kernel compares it when it evicts).
    pub orig: Endpoint,
}

/// A failed outcome that still carries the NAT binding its walk reserved, so that the walker
/// frees the port (see [`release_if_failed`]).
pub fn failed_with(binding: Option<NatBinding>, o: Outcome) -> Outcome {
    Outcome { snat: binding, ..o }
}

/// A walk that failed after reserving a NAT port frees it: nothing else holds the binding.
pub fn release_if_failed(o: &mut Outcome, nat: &mut crate::nat::conntrack::NatTable) {
    if o.verdict != Verdict::Delivered
        && let Some(b) = o.snat.take()
    {
        nat.release(o.flow.proto, b.ip, b.remote, b.port);
    }
}

/// The result of a walk.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub verdict: Verdict,
    pub reason: Reason,
    pub flow: Flow,
    /// The node that served (LoadBalancer) or NATed (egress) the connection.
    pub node: Option<NodeId>,
    /// The pod the reply reached (egress) or that served the request (ingress).
    pub pod: Option<PodId>,
    pub snat: Option<NatBinding>,
    /// The reply landed on a node that does not own the port and was bounced.
    pub bounced: bool,
    /// ACI-CNI SNAT: the node the service graph lands the reply on (its failure loses the
    /// replies until tracking removes it), as the walk chose it — the engine need not ask again.
    pub reply_landing: Option<NodeId>,
    /// One-way fabric latency of the request and of the reply, summed.
    pub latency: Nanos,
}

/// An outcome with nothing yet known but the verdict.
pub(crate) fn outcome(flow: Flow, verdict: Verdict, reason: Reason, latency: Nanos) -> Outcome {
    Outcome {
        verdict,
        reason,
        flow,
        node: None,
        pod: None,
        snat: None,
        bounced: false,
        reply_landing: None,
        latency,
    }
}

/// A delivered connection: served (or NATed) by `node`, ending at `pod`.
pub(crate) fn delivered(flow: Flow, latency: Nanos, node: NodeId, pod: PodId) -> Outcome {
    Outcome {
        node: Some(node),
        pod: Some(pod),
        ..outcome(flow, Verdict::Delivered, Reason::Delivered, latency)
    }
}

/// Steps of the fabric both designs' walks take the same way.
#[derive(Clone, Copy)]
pub struct FabricSteps<'a> {
    pub fabric: &'a crate::fabric::Fabric,
    pub cluster: &'a crate::cluster::Cluster,
}

impl FabricSteps<'_> {
    /// An outside host as a hop's device.
    pub fn external(&self, ip: Ipv4Addr) -> Device {
        Device::External(self.fabric.external_of(ip), ip)
    }

    /// The leaf of the node's vPC pair that carries this flow.
    pub fn node_leaf(&self, node: NodeId, flow: &Flow) -> LeafId {
        let (rack, down) = self.cluster.node_links(node);
        self.fabric.node_uplink(rack, down, flow)
    }

    /// The border leaf a leaf sends outside-bound traffic to (ECMP over the border leaves).
    pub fn border_for(&self, pkt: &Flow) -> Option<LeafId> {
        use crate::net::hash::{five_tuple, pick, salt};
        let b = self.fabric.border_leaves();
        (!b.is_empty()).then(|| b[pick(five_tuple(const { salt("to-l3out") }, pkt), b.len())])
    }

    /// `Ok(node)` when the node is up; a failed node drops what reaches it, blackholed until the
    /// control plane notices (`until` says what will notice).
    pub fn alive<R: Recorder>(
        &self,
        node: NodeId,
        pkt: &Flow,
        rec: &mut R,
        until: &'static str,
    ) -> Result<NodeId, Reason> {
        if self.cluster.node_up(node) {
            return Ok(node);
        }
        rec.hop(Device::Node(node), Action::Drop, pkt, || {
            format!("{} is down: {until}", self.cluster.node_ref(node))
        });
        Err(Reason::Blackholed)
    }

    /// Leaf to leaf through a spine (when they differ), recording the spine hop.
    pub fn cross<R: Recorder>(
        &self,
        from: LeafId,
        to: LeafId,
        pkt: &Flow,
        rec: &mut R,
        lat: &mut Nanos,
    ) {
        // Any live spine gives the same latency and delivers (a failed one is not among them),
        // so the per-flow hash matters only to a recorder that shows the spine.
        let spine = if R::KEEPS_PATH {
            self.fabric.leaf_to_leaf(from, to, pkt)
        } else {
            self.fabric.first_spine_between(from, to)
        };
        if let Some(s) = spine {
            *lat = lat.saturating_add(Nanos(2 * self.fabric.latency.leaf_spine.0));
            rec.hop(Device::Spine(s), Action::Ecmp, pkt, || {
                format!(
                    "{} hashed the flow over {} spines → {}; forwarded to {}",
                    self.fabric.leaf_name(from),
                    self.fabric.spines.len(),
                    self.fabric.spine_name(s),
                    self.fabric.leaf_name(to)
                )
            });
        }
    }
}
