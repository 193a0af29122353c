//! ACI-CNI inside a run: the compiled state and the NAT table the walk uses, and what the design
//! does after a failure — APIC's IP SLA takes a node out of the SNAT (and, with
//! `pbr_tracking_non_snat`, the LoadBalancer) redirect policies; the aci-containers-controller
//! keeps each service graph on the nodes with a ready endpoint, and while it is down those
//! updates wait for it.

use super::AciConfig;
use super::AciState;
use super::compile::RedirectKind;
use crate::cluster::{Cluster, NodeId};
use crate::design::control::{Applied, Assumption, Control, Topic};
use crate::nat::conntrack::NatTable;
use crate::scenario::Scenario;
use crate::scenario::reference::Ref;
use crate::time::Nanos;
use std::collections::BTreeSet;

/// ACI-CNI's data plane with its mutable state.
#[derive(Clone)]
pub struct AciPlane {
    pub(crate) state: Box<AciState>,
    pub nat: NatTable,
    /// The aci-containers-controller runs.
    controller_up: bool,
    /// Nodes whose service-graph membership is due while the controller is down.
    deferred: BTreeSet<NodeId>,
}

impl AciPlane {
    pub fn compile(s: &Scenario, cfg: &AciConfig) -> AciPlane {
        AciPlane {
            state: Box::new(AciState::compile(&s.cluster, cfg)),
            nat: NatTable::new(s.conntrack.nat_search, cfg.strict_snat_accounting),
            controller_up: true,
            deferred: BTreeSet::new(),
        }
    }

    /// The SNAT chunk a node holds (see `metrics::NatSummary`) and the SNAT IPs holding chunks.
    pub fn nat_capacity(&self) -> (Option<u64>, Option<usize>) {
        let by_node = &self.state.snat.by_node;
        let ips: BTreeSet<_> = by_node.values().map(|a| a.ip).collect();
        let ppn = by_node.values().next().map(|a| u64::from(a.chunk.len()));
        (
            ppn.or(Some(u64::from(self.state.cfg.port_range.ports_per_node))),
            Some(ips.len()),
        )
    }

    /// Applies a control-plane change. The controller's own updates wait while it is down
    /// (IP SLA tracking is the fabric's and needs no controller).
    pub fn control(&mut self, cluster: &Cluster, c: Control, node: NodeId) -> Applied {
        if !self.controller_up && c.needs_aci_controller() {
            self.deferred.insert(node);
            return Applied::Deferred;
        }
        Applied::changed(match c {
            Control::SnatGraphRemove | Control::SnatGraphAdd => {
                self.snat_graph(cluster, node, c == Control::SnatGraphAdd)
            }
            Control::LbGraphRemove => self.lb_graph_remove(node),
            Control::EndpointsNotReady | Control::EndpointsReady | Control::LbGraphAdd => {
                self.service_graphs(cluster, node)
            }
            _ => false,
        })
    }

    /// IP SLA adds or removes `node` in every SNAT redirect policy.
    fn snat_graph(&mut self, cluster: &Cluster, node: NodeId, add: bool) -> bool {
        let mut changed = false;
        for r in self
            .state
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
                r.add_node(cluster, node)
            } else {
                r.remove_node(node)
            };
        }
        changed
    }

    /// IP SLA (with `pbr_tracking_non_snat`) takes `node` out of every service graph.
    fn lb_graph_remove(&mut self, node: NodeId) -> bool {
        let mut changed = false;
        for r in self
            .state
            .redirects
            .iter_mut()
            .filter(|r| matches!(r.kind, RedirectKind::Service(_)))
        {
            changed |= r.remove_node(node);
        }
        changed
    }

    /// The controller keeps each service's graph on the nodes with a ready endpoint.
    fn service_graphs(&mut self, cluster: &Cluster, node: NodeId) -> bool {
        let mut changed = false;
        for r in self.state.redirects.iter_mut() {
            let RedirectKind::Service(svc) = r.kind else {
                continue;
            };
            let has = cluster
                .endpoints_on(svc, node)
                .any(|p| cluster.pod_ready(p));
            changed |= if has && cluster.node_up(node) {
                r.add_node(cluster, node)
            } else {
                r.remove_node(node)
            };
        }
        changed
    }

    /// The controller stops, or comes back and resyncs every service graph with the endpoints
    /// as they are now: (the reaction to record, whether forwarding changed).
    pub fn controller(&mut self, cluster: &Cluster, up: bool) -> (Control, bool) {
        self.controller_up = up;
        if !up {
            return (Control::ControllerDown, false);
        }
        let mut changed = false;
        for node in std::mem::take(&mut self.deferred) {
            changed |= self.service_graphs(cluster, node);
        }
        (Control::ControllerResync, changed)
    }
}

/// ACI-CNI's reactions to a node failing (`up` false) or recovering, with their delays.
pub fn node_reactions(s: &Scenario, cfg: &AciConfig, up: bool) -> Vec<(Nanos, Control)> {
    let interval = Nanos::from_secs(u64::from(cfg.service_monitor_interval));
    let tracked = cfg.service_monitor_interval > 0;
    let mut v = Vec::new();
    if up {
        if tracked {
            v.push((interval, Control::SnatGraphAdd));
        }
        v.push((s.node_status_update_frequency, Control::EndpointsReady));
    } else {
        // APIC's IP SLA detect multiplier, 3 by default (FACTS §1, inferred).
        let detect = Nanos(u64::from(cfg.ip_sla_detect_multiplier) * interval.0);
        if tracked {
            v.push((detect, Control::SnatGraphRemove));
            if cfg.pbr_tracking_non_snat {
                v.push((detect, Control::LbGraphRemove));
            }
        }
        v.push((s.node_monitor_grace_period, Control::EndpointsNotReady));
    }
    v
}

/// Failures that change nothing under ACI-CNI, and why.
pub fn inert(target: &Ref) -> Option<&'static str> {
    match target {
        Ref::Session { .. } => Some("ACI-CNI has no BGP sessions with the nodes"),
        Ref::Speaker(_) => Some("ACI-CNI runs no BGP speaker on the nodes"),
        _ => None,
    }
}

/// What happens to live connections at a failure under ACI-CNI (the report's assumptions).
pub const ASSUMPTIONS: &[Assumption] = &[
    Assumption {
        topic: Topic::Node,
        design: "ACI-CNI",
        at_failure: "SNAT replies that PBR lands on the node are lost (reply-blackholed)",
        control_plane: "IP SLA (3 × interval) removes it from the SNAT graph (and the LoadBalancer graphs with pbr_tracking_non_snat); resilient hashing moves only its flows; moved LoadBalancer connections break (rehashed), moved SNAT replies survive (bounce)",
    },
    Assumption {
        topic: Topic::Controller,
        design: "ACI-CNI, controller down",
        at_failure: "nothing: the programmed fabric keeps forwarding",
        control_plane: "redirect-policy updates wait for its return (resync); IP SLA tracking goes on",
    },
];
