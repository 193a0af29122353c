//! A design's data plane inside the engine: one enum of the compiled designs whose arms only
//! forward to the design's own `plane.rs` (smoltcp's `Socket` enum is the model). The engine
//! and `trace` hold a `Plane` and never look inside it.

use super::aci_cni::plane::AciPlane;
use super::aci_cni::walk::AciWalk;
use super::bgp::plane::BgpPlane;
use super::bgp::walk::BgpWalk;
use super::control::{Applied, Control, Step};
use crate::cluster::{Cluster, NodeId};
use crate::dataplane::request::FlowRequest;
use crate::dataplane::{Count, NatBinding, Outcome, Recorder};
use crate::fabric::{Fabric, LeafId};
use crate::nat::conntrack::NatTable;
use crate::net::Proto;

/// A design's data plane with its mutable state.
#[derive(Clone)]
pub enum Plane<'a> {
    Aci(AciPlane),
    Bgp(BgpPlane<'a>),
}

impl Plane<'_> {
    pub fn walk(
        &mut self,
        fabric: &Fabric,
        cluster: &Cluster,
        req: &FlowRequest,
    ) -> (Outcome, Count) {
        let mut c = Count::default();
        let o = self.walk_recorded(fabric, cluster, req, &mut c);
        (o, c)
    }

    /// Walks one flow and its reply with any recorder: the engine counts, `trace` records every
    /// hop — the same walk either way.
    pub fn walk_recorded<R: Recorder>(
        &mut self,
        fabric: &Fabric,
        cluster: &Cluster,
        req: &FlowRequest,
        rec: &mut R,
    ) -> Outcome {
        match self {
            Plane::Aci(p) => AciWalk::new(fabric, cluster, &p.state).walk(req, &mut p.nat, rec),
            Plane::Bgp(p) => BgpWalk::new(fabric, cluster, &p.state).walk(req, &mut p.tables, rec),
        }
    }

    /// Pod `pod`'s node, read from the design's pod record (beside the address the walk reads
    /// next: one cache miss for both).
    pub fn pod_node(&self, pod: crate::cluster::PodId) -> NodeId {
        match self {
            Plane::Aci(p) => p.state.addr.pod_node(pod),
            Plane::Bgp(p) => p.state.addr.pod_node(pod),
        }
    }

    /// The node an outside client's LoadBalancer connection is sent to now.
    pub fn lb_node(&self, fabric: &Fabric, cluster: &Cluster, req: &FlowRequest) -> Option<NodeId> {
        match self {
            Plane::Aci(p) => AciWalk::new(fabric, cluster, &p.state).probe_lb_node(req),
            Plane::Bgp(p) => BgpWalk::new(fabric, cluster, &p.state).probe_lb_node(req),
        }
    }

    fn nat(&self) -> &NatTable {
        match self {
            Plane::Aci(p) => &p.nat,
            Plane::Bgp(p) => &p.tables.nat,
        }
    }

    fn nat_mut(&mut self) -> &mut NatTable {
        match self {
            Plane::Aci(p) => &mut p.nat,
            Plane::Bgp(p) => &mut p.tables.nat,
        }
    }

    /// A TCP connection with a NAT binding closed: its entry enters TIME_WAIT.
    pub fn closing(&mut self, b: &NatBinding, slot: u32) {
        self.nat_mut().closing(b.ip, b.remote, b.port, slot, b.orig);
    }

    /// The connection whose TIME_WAIT entry the last walk evicted (Linux ≥ 6.5).
    pub fn take_evicted(&mut self) -> Option<u32> {
        self.nat_mut().take_evicted()
    }

    /// How this plane's NAT searches ports.
    pub fn nat_search(&self) -> crate::nat::kernel::PortSearch {
        self.nat().search()
    }

    /// TIME_WAIT entries taken over so far.
    pub fn nat_evictions(&self) -> u64 {
        self.nat().evictions
    }

    /// Starts fetching what [`Plane::release`] of the same arguments reads.
    pub fn touch_release(&self, proto: Proto, b: &NatBinding) {
        self.nat().touch_release(proto, b.ip, b.remote);
    }

    pub fn release(&mut self, proto: Proto, b: &NatBinding) {
        self.nat_mut().release(proto, b.ip, b.remote, b.port);
    }

    pub fn nat_in_use(&self) -> usize {
        self.nat().in_use()
    }

    /// The NAT ports a node has (see `metrics::NatSummary`) and the SNAT IPs holding chunks.
    pub fn nat_capacity(&self) -> (Option<u64>, Option<usize>) {
        match self {
            Plane::Aci(p) => p.nat_capacity(),
            Plane::Bgp(p) => p.nat_capacity(),
        }
    }

    /// A leaf came or went; true when forwarding may have changed.
    pub fn fabric_changed(&mut self, fabric: &Fabric, cluster: &Cluster) -> bool {
        match self {
            Plane::Aci(_) => false,
            Plane::Bgp(p) => p.fabric_changed(fabric, cluster),
        }
    }

    /// Applies a control-plane change to `node` (and `leaf`, for one BGP session's).
    pub fn control(
        &mut self,
        fabric: &Fabric,
        cluster: &Cluster,
        c: Control,
        node: NodeId,
        leaf: Option<LeafId>,
    ) -> Applied {
        match self {
            Plane::Aci(p) => p.control(cluster, c, node),
            Plane::Bgp(p) => p.control(fabric, cluster, c, node, leaf),
        }
    }

    /// Whether a scheduled `c` for `node` has become moot: the design's own rule for its
    /// speakers and sessions, else a reaction to a failure is moot once the node is back (and
    /// a reaction to a recovery once it failed again).
    pub fn moot(&self, c: Control, node: NodeId, node_up: bool) -> bool {
        let own = match self {
            Plane::Aci(_) => None,
            Plane::Bgp(p) => p.moot(c, node, node_up),
        };
        own.unwrap_or(c.after_failure() == node_up)
    }

    /// A change `c` brings along, applied just before it.
    pub fn implies(&self, c: Control, node: NodeId) -> Option<Control> {
        match self {
            Plane::Aci(_) => None,
            Plane::Bgp(p) => p.implies(c, node),
        }
    }

    /// A node's BGP speaker stops or starts: what follows (nothing without one).
    pub fn speaker(&mut self, node: NodeId, up: bool) -> Vec<Step> {
        match self {
            Plane::Aci(_) => Vec::new(),
            Plane::Bgp(p) => p.speaker(node, up),
        }
    }

    /// The design's controller stops or comes back: the reaction to record and whether
    /// forwarding changed; `None` when the design has no controller.
    pub fn controller(&mut self, cluster: &Cluster, up: bool) -> Option<(Control, bool)> {
        match self {
            Plane::Aci(p) => Some(p.controller(cluster, up)),
            Plane::Bgp(_) => None,
        }
    }
}
