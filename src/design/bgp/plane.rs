//! A BGP design (Calico, kube-router, Cilium) inside a run: the compiled routes and the nodes'
//! NAT and service tables the walk uses, each node's speaker, and what the design does after a
//! failure — BFD or the hold timer withdraws a dead node's routes, a stopped speaker's go at
//! once or after graceful restart, a single session's go with its hold timer.

use super::BgpConfig;
use super::BgpState;
use super::compile::Expired;
use super::speaker::Speaker;
use super::walk::NodeTables;
use crate::cluster::{Cluster, NodeId};
use crate::design::control::{Applied, Assumption, Control, Step, Topic};
use crate::fabric::{Fabric, LeafId};
use crate::nat::conntrack::NatTable;
use crate::scenario::Scenario;
use crate::scenario::reference::Ref;
use crate::time::Nanos;

/// A BGP design's data plane with its mutable state.
#[derive(Clone)]
pub struct BgpPlane<'a> {
    cfg: &'a BgpConfig,
    pub(crate) state: Box<BgpState>,
    pub tables: NodeTables,
    speakers: Vec<Speaker>,
    /// The sessions down now, as the routes are compiled from.
    expired: Expired,
}

impl<'a> BgpPlane<'a> {
    pub fn compile(s: &Scenario, cfg: &'a BgpConfig) -> BgpPlane<'a> {
        BgpPlane {
            cfg,
            state: Box::new(BgpState::compile(&s.fabric, &s.cluster, cfg)),
            tables: NodeTables::with_nat(NatTable::new(
                cfg.nat_search(s.conntrack.nat_search),
                false,
            )),
            speakers: vec![Speaker::default(); s.cluster.nodes.len()],
            expired: Expired {
                nodes: vec![false; s.cluster.nodes.len()],
                ..Default::default()
            },
        }
    }

    /// The masquerade range a node has (see `metrics::NatSummary`); no SNAT IPs.
    pub fn nat_capacity(&self) -> (Option<u64>, Option<usize>) {
        let (lo, hi) = self.cfg.masquerade_ports;
        (self.cfg.masquerade.then(|| u64::from(hi - lo) + 1), None)
    }

    /// The fabric holds none of `node`'s routes now.
    pub fn withdrawn(&self, node: NodeId) -> bool {
        self.expired.nodes[node.index()]
    }

    /// The routes again after a change of `node` (its speaker, sessions or endpoints), or of
    /// the fabric.
    fn update(&mut self, fabric: &Fabric, cluster: &Cluster, node: Option<NodeId>) {
        self.state.update(fabric, cluster, &self.expired, node);
    }

    /// A leaf came or went: sessions and routes follow at once.
    pub fn fabric_changed(&mut self, fabric: &Fabric, cluster: &Cluster) -> bool {
        self.update(fabric, cluster, None);
        true
    }

    /// Applies a control-plane change to `node` (and `leaf`, for one session's).
    pub fn control(
        &mut self,
        fabric: &Fabric,
        cluster: &Cluster,
        c: Control,
        node: NodeId,
        leaf: Option<LeafId>,
    ) -> Applied {
        match c {
            Control::SessionDown | Control::SessionUp => {
                let Some(leaf) = leaf else {
                    return Applied::Unchanged;
                };
                if c == Control::SessionDown {
                    self.expired.sessions.insert((node, leaf));
                } else {
                    self.expired.sessions.remove(&(node, leaf));
                }
            }
            // Local services' /32s follow the ready endpoints.
            Control::EndpointsNotReady | Control::EndpointsReady => {}
            _ => {
                let speaker = &mut self.speakers[node.index()];
                if !speaker.apply(c) {
                    return Applied::Unchanged;
                }
                self.expired.nodes[node.index()] = speaker.withdrawn();
            }
        }
        self.update(fabric, cluster, Some(node));
        Applied::Changed
    }

    /// Whether a scheduled `c` has become moot (`None`: the engine's rule decides).
    pub fn moot(&self, c: Control, node: NodeId, node_up: bool) -> Option<bool> {
        match c {
            // Single-session actions do not depend on the node's state.
            Control::SessionDown | Control::SessionUp => Some(false),
            _ => self.speakers[node.index()].moot(c, node_up),
        }
    }

    /// A change `c` brings along: a node that boots starts its speaker too, whatever stopped
    /// it before.
    pub fn implies(&self, c: Control, node: NodeId) -> Option<Control> {
        (c == Control::Restore
            && self.speakers[node.index()].state != super::speaker::SpeakerState::Established)
            .then_some(Control::SpeakerUp)
    }

    /// A node's speaker stops or starts; the node keeps forwarding.
    pub fn speaker(&mut self, node: NodeId, up: bool) -> Vec<Step> {
        let gr = self.cfg.graceful_restart_in_effect();
        self.speakers[node.index()].process(up, gr);
        if up {
            // It connects again after its connect delay (the fabric only listens) and advertises.
            vec![Step::After(
                self.cfg.reconnect.after_start,
                Control::SpeakerUp,
            )]
        } else if gr {
            // The fabric is a graceful-restart helper: it keeps the routes, marked stale, for
            // the restart time the speaker advertised (RFC 4724).
            vec![
                Step::Note(Control::GracefulRestartHeld),
                Step::After(self.cfg.restart_time, Control::GracefulRestartExpired),
            ]
        } else {
            // The process is gone, its TCP sessions close: the leaves withdraw at once.
            vec![Step::Now(Control::SpeakerStopped)]
        }
    }
}

/// A BGP design's reactions to a node failing (`up` false) or recovering, with their delays.
pub fn node_reactions(s: &Scenario, cfg: &BgpConfig, up: bool) -> Vec<(Nanos, Control)> {
    if up {
        // The node's speaker starts and connects to the listening fabric (its connect delay).
        vec![
            (cfg.reconnect.after_start, Control::Restore),
            (s.node_status_update_frequency, Control::EndpointsReady),
        ]
    } else {
        // BFD (both ends) or the negotiated hold time notices the dead node.
        vec![
            (cfg.failure_detection(), Control::Withdraw),
            (s.node_monitor_grace_period, Control::EndpointsNotReady),
        ]
    }
}

/// The reaction to one BGP session (node, leaf) failing or coming back.
pub fn session_reactions(cfg: &BgpConfig, up: bool) -> Vec<(Nanos, Control)> {
    if up {
        // The path is back: the speaker's next connect retry brings the session up.
        vec![(cfg.reconnect.after_repair, Control::SessionUp)]
    } else {
        // The session alone fails, the path does not: BFD stays up, the hold timer decides.
        vec![(cfg.negotiated_hold_time(), Control::SessionDown)]
    }
}

/// Failures that change nothing under a BGP design, and why.
pub fn inert(target: &Ref) -> Option<&'static str> {
    match target {
        Ref::Controller => Some("the BGP designs do not depend on aci-containers-controller"),
        _ => None,
    }
}

/// What happens to live connections at a failure under the BGP designs (the report's assumptions).
pub const ASSUMPTIONS: &[Assumption] = &[
    Assumption {
        topic: Topic::Node,
        design: "Calico, kube-router, Cilium",
        at_failure: "",
        control_plane: "the BGP hold timer withdraws its routes; ECMP rehashes (no resilient hashing on the L3Out): moved LoadBalancer connections break (rehashed), Maglev does not save them in SNAT mode",
    },
    Assumption {
        topic: Topic::Speaker,
        design: "Calico, kube-router, Cilium, BGP speaker restart",
        at_failure: "the node keeps forwarding; nothing breaks",
        control_plane: "with graceful restart the fabric keeps its routes for the restart time; without, they go at once and return with the speaker, and each ECMP change breaks the moved LoadBalancer connections (rehashed)",
    },
];
