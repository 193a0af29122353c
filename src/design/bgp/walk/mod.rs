//! The packet walk of the BGP designs: ECMP at the border leaf over the installed next hops
//! (hash-threshold, no resilient hashing on the L3Out), a detour through an anchor leaf where the
//! routes say so, node-level service load balancing (iptables random, IPVS round-robin, Maglev),
//! externalTrafficPolicy Local/Cluster with the SNAT to the node IP on a second hop, and pod
//! egress masqueraded to the node IP or routed natively.

use crate::bgp::NextHop;
use crate::cluster::{Cluster, ServiceId};
use crate::cluster::{NodeId, PodId};
use crate::dataplane::legs;
use crate::dataplane::legs::Legs;
use crate::dataplane::request::{FlowRequest, L4, Source, Target};
use crate::dataplane::*;
use crate::design::bgp::BgpState;
use crate::design::bgp::config::{BgpCni, IPVS_MH_TABLE_SIZE, MAGLEV_TABLE_SIZE, NodeLb};
use crate::design::bgp::maglev::Maglev;
use crate::fabric::Fabric;
use crate::fabric::LeafId;
use crate::nat::conntrack::NatTable;
use crate::net::Endpoint;
use crate::net::Flow;
use crate::net::hash::{five_tuple, pick, salt};
use crate::time::Nanos;

/// Mutable per-run state of the nodes: NAT tables, IPVS round-robin positions, Maglev tables,
/// and a scratch list reused for backend sets (so a walk allocates nothing in steady state).
#[derive(Clone, Debug, Default)]
pub struct NodeTables {
    pub nat: NatTable,
    /// IPVS round-robin positions: each node's, per service, in a row made on the node's first
    /// round-robin choice (4 bytes a service; a hash map of (node, service) keys grew to
    /// millions of scattered entries over the envelope's run, a miss per connection).
    rr: Vec<Vec<u32>>,
    /// Per (service, backend set): the readiness epoch it was last checked in, the set, its
    /// table.
    maglev: rustc_hash::FxHashMap<MaglevKey, (u64, Vec<PodId>, Maglev)>,
    pub(crate) scratch: Vec<PodId>,
}

impl NodeTables {
    /// Empty tables whose NAT searches ports as `nat` does.
    pub fn with_nat(nat: NatTable) -> Self {
        NodeTables {
            nat,
            ..NodeTables::default()
        }
    }
}

/// A Maglev table's key: the service and its backend set (first backend, count).
type MaglevKey = (ServiceId, Option<PodId>, usize);

/// How a service proxy chose its backend.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Picked {
    Random(usize),
    RoundRobin(usize, usize),
    /// Cilium Maglev (table 16381, hash of the 5-tuple).
    Maglev(usize),
    /// IPVS `mh` (table 4093, hash of the source address).
    IpvsMh(usize),
    /// Cilium with Maglev configured, but the connection is east-west: random.
    RandomEastWest(usize),
}

impl std::fmt::Display for Picked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Picked::Random(n) => write!(
                f,
                "random choice over {n} backend(s) (drawn here from the flow hash)"
            ),
            Picked::RoundRobin(i, n) => {
                write!(f, "IPVS round-robin over {n} backend(s): position {i}")
            }
            Picked::Maglev(n) => write!(
                f,
                "Maglev (table of {MAGLEV_TABLE_SIZE}, hash of the 5-tuple) over {n} backend(s)"
            ),
            Picked::IpvsMh(n) => write!(
                f,
                "IPVS mh (table of {IPVS_MH_TABLE_SIZE}, hash of the source address) over {n} backend(s)"
            ),
            Picked::RandomEastWest(n) => write!(
                f,
                "random choice over {n} backend(s): Cilium applies Maglev to north-south traffic only (drawn here from the flow hash)"
            ),
        }
    }
}

pub struct BgpWalk<'a> {
    pub fabric: &'a Fabric,
    pub cluster: &'a Cluster,
    pub state: &'a BgpState,
}

impl<'a> BgpWalk<'a> {
    pub fn new(fabric: &'a Fabric, cluster: &'a Cluster, state: &'a BgpState) -> Self {
        BgpWalk {
            fabric,
            cluster,
            state,
        }
    }

    fn hop_name(&self, h: &NextHop) -> String {
        match h {
            NextHop::Node(n) => self.cluster.node_ref(*n),
            NextHop::Leaf(l) => self.fabric.leaf_name(*l),
            NextHop::L3Out => "the L3Out".into(),
            NextHop::Connected => "connected".into(),
        }
    }

    /// Follows the leaves' routing tables from `leaf` until the packet reaches a node.
    /// `None` (a drop recorded) when a leaf has no route.
    // Long: the leaf tables followed hop by hop to the node, with the reason of each drop;
    // one loop.
    fn to_node<R: Recorder>(
        &self,
        mut leaf: LeafId,
        pkt: &Flow,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Result<NodeId, Reason> {
        for _ in 0..4 {
            let Some(route) = self.state.lookup(leaf, pkt.dst.ip) else {
                rec.hop(Device::Leaf(leaf), Action::Drop, pkt, || {
                    format!(
                        "no route to {} on {}",
                        pkt.dst.ip,
                        self.fabric.leaf_name(leaf)
                    )
                });
                return Err(Reason::NoRoute);
            };
            let hops = &route.next_hops;
            let h = five_tuple(self.fabric.leaf_salt(leaf), pkt);
            let chosen = hops[pick(h, hops.len())];
            let explain = || {
                let names: Vec<String> = hops.iter().map(|x| self.hop_name(x)).collect();
                if hops.len() > 1 {
                    format!(
                        "{} matches {}: {} equal-cost next hops ({}); the 5-tuple hash chose {} (hash-threshold ECMP: no resilient hashing)",
                        pkt.dst.ip,
                        route.prefix,
                        hops.len(),
                        names.join(", "),
                        self.hop_name(&chosen)
                    )
                } else {
                    format!(
                        "{} matches {} via {}",
                        pkt.dst.ip,
                        route.prefix,
                        names.join(", ")
                    )
                }
            };
            let action = if hops.len() > 1 {
                Action::Ecmp
            } else {
                Action::Route
            };
            match chosen {
                NextHop::Node(n) => {
                    rec.hop(Device::Leaf(leaf), action, pkt, explain);
                    self.deliver_to_node(leaf, n, true, pkt, rec, lat);
                    return self.alive(n, pkt, rec);
                }
                NextHop::Leaf(other) => {
                    rec.hop(Device::Leaf(leaf), action, pkt, explain);
                    self.steps().cross(leaf, other, pkt, rec, lat);
                    leaf = other;
                }
                NextHop::Connected => {
                    let Some(n) = self.cluster.node_by_ip(pkt.dst.ip) else {
                        rec.hop(Device::Leaf(leaf), Action::Drop, pkt, || {
                            format!("{} is in the node subnet but no node has it", pkt.dst.ip)
                        });
                        return Err(Reason::NoRoute);
                    };
                    rec.hop(Device::Leaf(leaf), Action::Route, pkt, || {
                        format!(
                            "{} is a node on the L3Out's SVI subnet {}",
                            pkt.dst.ip, route.prefix
                        )
                    });
                    self.deliver_to_node(leaf, n, false, pkt, rec, lat);
                    return self.alive(n, pkt, rec);
                }
                NextHop::L3Out => {
                    rec.hop(Device::Leaf(leaf), Action::Drop, pkt, || {
{
                            let why = match self.state.unusable(leaf, pkt.dst.ip) {
                                Some(r) => {
                                    let reasons: Vec<String> = r.excluded.iter().map(|(h, w)| format!("{}: {w}", self.hop_name(h))).collect();
                                    format!("{} has no installed path ({})", r.prefix, reasons.join("; "))
                                }
                                None => "no node advertises it".to_string(),
                            };
                            format!("no route for {} in the fabric: {why}; 0.0.0.0/0 points back out the L3Out: blackholed", pkt.dst.ip)
                        }
                    });
                    return Err(Reason::NoRoute);
                }
            }
        }
        rec.hop(Device::Leaf(leaf), Action::Drop, pkt, || {
            "routing loop".into()
        });
        Err(Reason::NoRoute)
    }

    /// `Ok(node)` when the node is up, else the drop recorded (blackholed until the hold timer).
    pub(super) fn alive<R: Recorder>(
        &self,
        node: NodeId,
        pkt: &Flow,
        rec: &mut R,
    ) -> Result<NodeId, Reason> {
        self.steps().alive(
            node,
            pkt,
            rec,
            "the fabric keeps sending it traffic until the BGP hold timer withdraws its routes",
        )
    }

    /// From a leaf to a node: on its own vPC port when the node has a live link to this leaf,
    /// otherwise across the fabric to a leaf the node is linked to (the detour through the
    /// anchor, or the other leaf of the pair when this leaf's link to the node is down).
    pub(super) fn deliver_to_node<R: Recorder>(
        &self,
        leaf: LeafId,
        node: NodeId,
        routed: bool,
        pkt: &Flow,
        rec: &mut R,
        lat: &mut Nanos,
    ) {
        let (rack, down) = self.cluster.node_links(node);
        let in_rack = self.fabric.racks[rack.index()].leaves.contains(&leaf);
        let linked = self.fabric.node_leaves(rack, down).any(|l| l == leaf);
        if !linked {
            if routed && !in_rack {
                rec.detour();
            }
            let nl = self.node_leaf(node, pkt);
            self.steps().cross(leaf, nl, pkt, rec, lat);
            rec.hop(Device::Leaf(nl), Action::Route, pkt, || {
                if in_rack {
                    format!(
                        "to {} on its remaining uplink: its link to {} is down, so {} bridged it across the fabric (the L3Out's external bridge domain)",
                        self.cluster.node_ref(node),
                        self.fabric.leaf_name(leaf),
                        self.fabric.leaf_name(leaf)
                    )
                } else if routed {
                    format!(
                        "to {} on its vPC port-channel: {} held the BGP route but the node is not attached there (a detour)",
                        self.cluster.node_ref(node),
                        self.fabric.leaf_name(leaf)
                    )
                } else {
                    format!("to {} on its vPC port-channel (the node is learned behind this leaf)", self.cluster.node_ref(node))
                }
            });
        }
        *lat = lat.saturating_add(self.fabric.latency.node_leaf);
    }

    /// From a node out of the fabric: node → leaf → border leaf → L3Out → the host.
    fn to_outside<R: Recorder>(
        &self,
        node: NodeId,
        pkt: &Flow,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> bool {
        let leaf = self.node_leaf(node, pkt);
        *lat = lat.saturating_add(self.fabric.latency.node_leaf);
        let Some(b) = self.steps().border_for(pkt) else {
            rec.hop(Device::Leaf(leaf), Action::Drop, pkt, || {
                "no border leaf: no route to the outside".into()
            });
            return false;
        };
        rec.hop(Device::Leaf(leaf), Action::Route, pkt, || {
            format!(
                "{} matches 0.0.0.0/0 via the L3Out on {}",
                pkt.dst.ip,
                self.fabric.leaf_name(b)
            )
        });
        self.steps().cross(leaf, b, pkt, rec, lat);
        if b != leaf {
            rec.hop(Device::Leaf(b), Action::Route, pkt, || {
                "out the L3Out to the external router".into()
            });
        }
        *lat = lat.saturating_add(self.fabric.latency.l3out);
        true
    }

    /// The backend a node's service proxy picks among `backends`, and how (rendered lazily).
    /// `north_south`: the connection comes from outside the cluster (Cilium's Maglev applies
    /// only there).
    fn pick_backend(
        &self,
        node: NodeId,
        svc: ServiceId,
        backends: &[PodId],
        pkt: &Flow,
        north_south: bool,
        tables: &mut NodeTables,
    ) -> (PodId, Picked) {
        let s = self.cluster.service(svc);
        let lb = match s
            .annotations
            .get("kube-router.io/service.scheduler")
            .map(String::as_str)
        {
            Some("mh") => NodeLb::Maglev,
            Some("rr") => NodeLb::RoundRobin,
            _ => self.state.cfg.node_lb,
        };
        let n = backends.len();
        match lb {
            NodeLb::Random => {
                let i = pick(five_tuple(self.cluster.node_salt(node), pkt), n);
                (backends[i], Picked::Random(n))
            }
            NodeLb::RoundRobin => {
                if tables.rr.len() <= node.index() {
                    tables
                        .rr
                        .resize(self.cluster.nodes.len().max(node.index() + 1), Vec::new());
                }
                let row = &mut tables.rr[node.index()];
                if row.len() <= svc.index() {
                    row.resize(self.cluster.services.len().max(svc.index() + 1), 0);
                }
                let c = &mut row[svc.index()];
                let i = *c as usize % n;
                *c = c.wrapping_add(1);
                (backends[i], Picked::RoundRobin(i, n))
            }
            NodeLb::Maglev if self.state.cfg.cni == BgpCni::Cilium && !north_south => {
                let i = pick(five_tuple(self.cluster.node_salt(node), pkt), n);
                (backends[i], Picked::RandomEastWest(n))
            }
            NodeLb::Maglev => {
                // IPVS mh (kube-router): Linux `ip_vs_mh.c`, table 4093 by default, hashing the
                // source address only (no port flag); Cilium: 16381, the 5-tuple.
                let ipvs = self.state.cfg.cni == BgpCni::KubeRouter;
                let m = if ipvs {
                    IPVS_MH_TABLE_SIZE
                } else {
                    MAGLEV_TABLE_SIZE
                };
                // One table per (service, backend set), built on first use and kept; the set
                // is compared only after a readiness change. Within one readiness epoch the key
                // names one set: the backends are the service's ready endpoints or one node's
                // (in pod order, a subset of the service's), two nodes' sets start with
                // different pods, and a node's set with the service's first pod and count is the
                // service's set.
                let epoch = self.cluster.readiness_epoch();
                let build = || {
                    let salts: Vec<u64> = backends
                        .iter()
                        .map(|p| self.cluster.pod_ref_salt(*p))
                        .collect();
                    Maglev::from_salts(&salts, m)
                };
                let entry = tables
                    .maglev
                    .entry((svc, backends.first().copied(), n))
                    .or_insert_with(|| (epoch, backends.to_vec(), build()));
                if entry.0 != epoch {
                    if entry.1 != backends {
                        *entry = (epoch, backends.to_vec(), build());
                    }
                    entry.0 = epoch;
                }
                let h = if ipvs {
                    crate::net::hash::mix64(
                        u64::from(u32::from(pkt.src.ip)) ^ const { salt("ipvs-mh") },
                    )
                } else {
                    five_tuple(const { salt("maglev") }, pkt)
                };
                let i = entry.2.lookup(h).unwrap_or(0);
                let how = if ipvs {
                    Picked::IpvsMh(n)
                } else {
                    Picked::Maglev(n)
                };
                (backends[i], how)
            }
        }
    }

    /// The node the fabric sends an outside client's connection to a LoadBalancer service to,
    /// without walking it (for re-evaluating live connections after a route change).
    pub fn probe_lb_node(&self, req: &FlowRequest) -> Option<NodeId> {
        let (Source::Ip(client), Target::Service { svc, port }) = (req.src, req.dst) else {
            return None;
        };
        let lb = self.state.addr.lb_ip[svc.index()]?;
        let pkt = Flow {
            proto: req.proto,
            src: Endpoint::new(client, req.sport),
            dst: Endpoint::new(lb, port),
        };
        let border = self.fabric.ingress_border_leaf(&pkt)?;
        let mut lat = Nanos::ZERO;
        self.to_node(border, &pkt, &mut Count::default(), &mut lat)
            .ok()
    }

    pub fn walk<R: Recorder>(
        &self,
        req: &FlowRequest,
        tables: &mut NodeTables,
        rec: &mut R,
    ) -> Outcome {
        legs::walk(self, req, tables, rec)
    }
}

mod flows;
