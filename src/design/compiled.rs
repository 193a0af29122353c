//! A design's data plane inside the engine: its compiled state, mutable NAT state, and how
//! control-plane changes (failures, recoveries) alter it.

use super::control::Control;
use crate::cluster::{Cluster, NodeId};
use crate::dataplane::request::FlowRequest;
use crate::dataplane::{Count, NatBinding, Outcome};
use crate::design::aci_cni::AciState;
use crate::design::aci_cni::compile::RedirectKind;
use crate::design::aci_cni::walk::AciWalk;
use crate::design::bgp::compile::Expired;
use crate::design::bgp::walk::{BgpWalk, NodeTables};
use crate::design::bgp::{BgpConfig, BgpState};
use crate::fabric::Fabric;
use crate::fabric::LeafId;
use crate::nat::conntrack::NatTable;
use crate::net::Proto;

/// A design's data plane with its mutable state.
pub enum Plane<'a> {
    Aci {
        state: Box<AciState>,
        nat: NatTable,
    },
    Bgp {
        cfg: &'a BgpConfig,
        state: Box<BgpState>,
        tables: NodeTables,
        expired: Expired,
        /// Why a node's routes are withdrawn: [hold timer expired, speaker stopped]; the node's
        /// routes are back only when neither holds.
        withdrawn: Vec<[bool; 2]>,
    },
}

impl<'a> Plane<'a> {
    /// The design compiled for a run of `s`, with its NAT table and the state its reactions
    /// change. The one place the engine's data plane is chosen by the design.
    pub fn compile(
        s: &crate::scenario::Scenario,
        design: &'a crate::design::DesignSpec,
    ) -> Result<Plane<'a>, String> {
        if let Some(cfg) = &design.aci {
            return Ok(Plane::Aci {
                state: Box::new(AciState::compile(&s.cluster, cfg)),
                nat: NatTable::new(s.conntrack.nat_search, cfg.strict_snat_accounting),
            });
        }
        let Some(cfg) = &design.bgp else {
            return Err(format!("design {} could not be resolved", design.name));
        };
        Ok(Plane::Bgp {
            cfg,
            state: Box::new(BgpState::compile(&s.fabric, &s.cluster, cfg)),
            tables: NodeTables::with_nat(NatTable::new(
                cfg.nat_search(s.conntrack.nat_search),
                false,
            )),
            expired: Expired {
                nodes: vec![false; s.cluster.nodes.len()],
                ..Default::default()
            },
            withdrawn: vec![[false; 2]; s.cluster.nodes.len()],
        })
    }

    /// A leaf came or went: the BGP designs' sessions and routes follow at once.
    pub fn fabric_changed(&mut self, fabric: &Fabric, cluster: &Cluster) -> bool {
        match self {
            Plane::Bgp {
                cfg,
                state,
                expired,
                ..
            } => {
                **state = BgpState::compile_with(fabric, cluster, cfg, expired);
                true
            }
            Plane::Aci { .. } => false,
        }
    }

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
    pub fn walk_recorded<R: crate::dataplane::Recorder>(
        &mut self,
        fabric: &Fabric,
        cluster: &Cluster,
        req: &FlowRequest,
        rec: &mut R,
    ) -> Outcome {
        match self {
            Plane::Aci { state, nat } => AciWalk::new(fabric, cluster, state).walk(req, nat, rec),
            Plane::Bgp { state, tables, .. } => {
                BgpWalk::new(fabric, cluster, state).walk(req, tables, rec)
            }
        }
    }

    /// The node an outside client's LoadBalancer connection is sent to now.
    pub fn lb_node(&self, fabric: &Fabric, cluster: &Cluster, req: &FlowRequest) -> Option<NodeId> {
        match self {
            Plane::Aci { state, .. } => AciWalk::new(fabric, cluster, state).probe_lb_node(req),
            Plane::Bgp { state, .. } => BgpWalk::new(fabric, cluster, state).probe_lb_node(req),
        }
    }

    fn nat(&mut self) -> &mut NatTable {
        match self {
            Plane::Aci { nat, .. } => nat,
            Plane::Bgp { tables, .. } => &mut tables.nat,
        }
    }

    /// A TCP connection with a NAT binding closed: its entry enters TIME_WAIT.
    pub fn closing(&mut self, b: &NatBinding, slot: u32) {
        self.nat().closing(b.ip, b.remote, b.port, slot, b.orig);
    }

    /// The connection whose TIME_WAIT entry the last walk evicted (Linux ≥ 6.5).
    pub fn take_evicted(&mut self) -> Option<u32> {
        self.nat().take_evicted()
    }

    /// How this plane's NAT searches ports.
    pub fn nat_search(&self) -> crate::nat::kernel::PortSearch {
        match self {
            Plane::Aci { nat, .. } => nat.search(),
            Plane::Bgp { tables, .. } => tables.nat.search(),
        }
    }

    /// TIME_WAIT entries taken over so far.
    pub fn nat_evictions(&self) -> u64 {
        match self {
            Plane::Aci { nat, .. } => nat.evictions,
            Plane::Bgp { tables, .. } => tables.nat.evictions,
        }
    }

    pub fn release(&mut self, proto: Proto, b: &NatBinding) {
        match self {
            Plane::Aci { nat, .. } => nat.release(proto, b.ip, b.remote, b.port),
            Plane::Bgp { tables, .. } => tables.nat.release(proto, b.ip, b.remote, b.port),
        }
    }

    /// The NAT ports a node has (see `metrics::NatSummary`) and the SNAT IPs holding chunks.
    pub fn nat_capacity(&self) -> (Option<u64>, Option<usize>) {
        match self {
            Plane::Aci { state, .. } => {
                let ips: std::collections::BTreeSet<_> =
                    state.snat.by_node.values().map(|a| a.ip).collect();
                let ppn = state
                    .snat
                    .by_node
                    .values()
                    .next()
                    .map(|a| u64::from(a.chunk.len()));
                (
                    ppn.or(Some(u64::from(state.cfg.port_range.ports_per_node))),
                    Some(ips.len()),
                )
            }
            Plane::Bgp { cfg, .. } => (
                cfg.masquerade
                    .then(|| u64::from(cfg.masquerade_ports.1 - cfg.masquerade_ports.0) + 1),
                None,
            ),
        }
    }

    pub fn nat_in_use(&self) -> usize {
        match self {
            Plane::Aci { nat, .. } => nat.in_use(),
            Plane::Bgp { tables, .. } => tables.nat.in_use(),
        }
    }

    /// Applies a control-plane change; true when forwarding may have changed.
    pub fn control(
        &mut self,
        fabric: &Fabric,
        cluster: &Cluster,
        c: Control,
        node: NodeId,
        leaf: Option<LeafId>,
    ) -> bool {
        match (self, c) {
            (
                Plane::Bgp {
                    cfg,
                    state,
                    expired,
                    ..
                },
                Control::SessionDown | Control::SessionUp,
            ) => {
                let Some(leaf) = leaf else { return false };
                if c == Control::SessionDown {
                    expired.sessions.insert((node, leaf));
                } else {
                    expired.sessions.remove(&(node, leaf));
                }
                **state = BgpState::compile_with(fabric, cluster, cfg, expired);
                true
            }
            (
                Plane::Bgp {
                    cfg,
                    state,
                    expired,
                    withdrawn,
                    ..
                },
                Control::Withdraw
                | Control::Restore
                | Control::SpeakerStopped
                | Control::GracefulRestartExpired
                | Control::SpeakerUp,
            ) => {
                let cause = usize::from(!matches!(c, Control::Withdraw | Control::Restore));
                let w = &mut withdrawn[node.index()];
                w[cause] = c.node_routes_withdrawn() == Some(true);
                expired.nodes[node.index()] = w[0] || w[1];
                **state = BgpState::compile_with(fabric, cluster, cfg, expired);
                true
            }
            (
                Plane::Bgp {
                    cfg,
                    state,
                    expired,
                    ..
                },
                Control::EndpointsNotReady | Control::EndpointsReady,
            ) => {
                // Local services' /32s follow the ready endpoints.
                **state = BgpState::compile_with(fabric, cluster, cfg, expired);
                true
            }
            (Plane::Aci { state, .. }, Control::SnatGraphRemove | Control::SnatGraphAdd) => {
                let add = c == Control::SnatGraphAdd;
                let mut changed = false;
                for r in state
                    .redirects
                    .iter_mut()
                    .filter(|r| r.kind == RedirectKind::Snat)
                {
                    // A node the controller left out (past max_nodes_svc_graph, or excluded by
                    // node_snat_redirect_exclude) never joins the graph, whatever IP SLA sees.
                    if r.capped.contains(&node) || r.excluded.contains(&node) {
                        continue;
                    }
                    changed |= if add {
                        r.group.add(node)
                    } else {
                        r.group.remove(node)
                    };
                }
                changed
            }
            (Plane::Aci { state, .. }, Control::LbGraphRemove) => {
                let mut changed = false;
                for r in state
                    .redirects
                    .iter_mut()
                    .filter(|r| matches!(r.kind, RedirectKind::Service(_)))
                {
                    changed |= r.group.remove(node);
                }
                changed
            }
            (
                Plane::Aci { state, .. },
                Control::EndpointsNotReady | Control::EndpointsReady | Control::LbGraphAdd,
            ) => {
                // The controller keeps each service's graph on the nodes with a ready endpoint.
                let mut changed = false;
                for r in state.redirects.iter_mut() {
                    let RedirectKind::Service(svc) = r.kind else {
                        continue;
                    };
                    let has = cluster
                        .service(svc)
                        .endpoints
                        .iter()
                        .any(|p| cluster.pod(*p).ready && cluster.pod(*p).node == node);
                    changed |= if has && cluster.node(node).up {
                        r.group.add(node)
                    } else {
                        r.group.remove(node)
                    };
                }
                changed
            }
            _ => false,
        }
    }
}
