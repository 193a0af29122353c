//! The control-plane changes a design makes after a failure or a recovery (BGP withdrawals,
//! IP SLA graph changes, endpoint readiness, the controller's deferred updates): the vocabulary
//! between the engine's timers (`sim::failure`) and each design's reactions (its `plane.rs`).

use crate::time::Nanos;

/// A control-plane change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Withdraw,
    Restore,
    SnatGraphRemove,
    SnatGraphAdd,
    LbGraphRemove,
    LbGraphAdd,
    EndpointsNotReady,
    EndpointsReady,
    /// One BGP session (node, leaf) expired or came back.
    SessionDown,
    SessionUp,
    /// One of a node's uplinks went down: LACP moved its flows to the other link.
    BondFailover,
    /// A node's BGP speaker stopped without graceful restart: its sessions closed at once.
    SpeakerStopped,
    /// A node's BGP speaker stopped with graceful restart: the fabric keeps its routes, stale.
    GracefulRestartHeld,
    /// The restart time ran out before the speaker came back: the stale routes go.
    GracefulRestartExpired,
    /// The speaker is back and advertises again.
    SpeakerUp,
    /// The aci-containers-controller went down: redirect-policy updates wait for it.
    ControllerDown,
    /// A redirect-policy update that had to wait for the controller.
    GraphUpdateDeferred,
    /// The controller is back and resyncs the service graphs.
    ControllerResync,
}

/// What a reaction belongs to: a newer failure or recovery of the same thing supersedes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// One BGP session (node, leaf).
    Session,
    /// A node's BGP speaker.
    Speaker,
    /// The node itself.
    Node,
}

impl Control {
    /// What the reaction belongs to.
    pub fn subject(self) -> Subject {
        match self {
            Control::SessionDown | Control::SessionUp => Subject::Session,
            Control::SpeakerUp | Control::GracefulRestartExpired => Subject::Speaker,
            _ => Subject::Node,
        }
    }

    /// A reaction to a failure (moot if the node is back by then), or to a recovery.
    pub fn after_failure(self) -> bool {
        matches!(
            self,
            Control::Withdraw
                | Control::SnatGraphRemove
                | Control::LbGraphRemove
                | Control::EndpointsNotReady
        )
    }

    /// ACI-CNI: changes the aci-containers-controller makes to the redirect policies (IP SLA
    /// tracking is the fabric's own and needs no controller).
    pub fn needs_aci_controller(self) -> bool {
        matches!(
            self,
            Control::EndpointsNotReady | Control::EndpointsReady | Control::LbGraphAdd
        )
    }

    pub fn readiness(self) -> Option<bool> {
        match self {
            Control::EndpointsNotReady => Some(false),
            Control::EndpointsReady => Some(true),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Control::Withdraw => "bgp-hold-timer-expired-routes-withdrawn",
            Control::Restore => "bgp-session-up-routes-restored",
            Control::SnatGraphRemove => "ip-sla-removes-node-from-snat-graph",
            Control::SnatGraphAdd => "ip-sla-adds-node-to-snat-graph",
            Control::LbGraphRemove => "ip-sla-removes-node-from-loadbalancer-graphs",
            Control::LbGraphAdd => "node-added-to-loadbalancer-graphs",
            Control::EndpointsNotReady => "node-notready-endpoints-removed",
            Control::EndpointsReady => "node-ready-endpoints-added",
            Control::SessionDown => "bgp-hold-timer-expired-session-routes-withdrawn",
            Control::SessionUp => "bgp-session-up-routes-restored",
            Control::BondFailover => "lacp-bond-moves-flows-to-the-other-uplink",
            Control::SpeakerStopped => "bgp-speaker-stopped-sessions-closed-routes-withdrawn",
            Control::GracefulRestartHeld => "graceful-restart-fabric-keeps-stale-routes",
            Control::GracefulRestartExpired => "graceful-restart-time-expired-routes-withdrawn",
            Control::SpeakerUp => "bgp-speaker-up-routes-restored",
            Control::ControllerDown => "aci-controller-down-graph-updates-wait",
            Control::GraphUpdateDeferred => {
                "redirect-policy-update-deferred-until-controller-returns"
            }
            Control::ControllerResync => "aci-controller-back-service-graphs-resynced",
        }
    }
}

/// What applying a control-plane change did to a design's forwarding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Unchanged,
    /// Forwarding may have changed: connections it moves lose their conntrack state.
    Changed,
    /// The change waits for a controller that is down (ACI-CNI's redirect-policy updates).
    Deferred,
}

impl Applied {
    pub fn changed(changed: bool) -> Applied {
        if changed {
            Applied::Changed
        } else {
            Applied::Unchanged
        }
    }
}

/// A step of a design's reaction to an event, as the engine carries it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Written in the failure's record; nothing changes yet.
    Note(Control),
    /// Applied at once.
    Now(Control),
    /// Applied after the delay, unless a newer event of the same thing supersedes it.
    After(Nanos, Control),
}

/// What happens to live connections at a failure, per design: who is affected at once and when
/// the control plane reacts (the report's assumptions table).
pub struct Assumption {
    pub topic: Topic,
    pub design: &'static str,
    pub at_failure: &'static str,
    pub control_plane: &'static str,
}

/// What failed: the assumptions table lists its rows in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Topic {
    Node,
    Uplink,
    Speaker,
    Controller,
}

/// The assumptions table's headers.
pub const ASSUMPTION_HEADERS: [&str; 3] =
    ["design", "at the failure", "when the control plane reacts"];

/// What holds whatever the design.
pub const ASSUMPTIONS: &[Assumption] = &[
    Assumption {
        topic: Topic::Node,
        design: "all",
        at_failure: "connections served by, NATed on, or with a pod on the node break (node-failed); new ones sent there are refused (blackholed)",
        control_plane: "after the node-monitor grace period its pods stop being endpoints",
    },
    Assumption {
        topic: Topic::Uplink,
        design: "all, one uplink of a node",
        at_failure: "LACP moves its flows to the other link; nothing breaks (BGP sessions to that leaf stay up across the L3Out's external bridge domain)",
        control_plane: "none; with both uplinks down the node is cut off and handled as a node failure",
    },
];
