//! The control-plane changes a design makes after a failure or a recovery (BGP withdrawals,
//! IP SLA graph changes, endpoint readiness, the controller's deferred updates): the vocabulary
//! between the engine's timers (`sim::failure`) and each design's reactions (`compiled`), and
//! which of them each design schedules after a node or a BGP session fails or comes back.

use super::DesignSpec;
use crate::scenario::Scenario;
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

impl Control {
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

    /// BGP designs: whether the node's routes are withdrawn (`Some(true)`) or restored.
    pub fn node_routes_withdrawn(self) -> Option<bool> {
        match self {
            Control::Withdraw | Control::SpeakerStopped | Control::GracefulRestartExpired => {
                Some(true)
            }
            Control::Restore | Control::SpeakerUp => Some(false),
            _ => None,
        }
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

/// The reactions of a design to a node failing (`up` false) or recovering, with their delays.
pub fn node_reactions(s: &Scenario, design: &DesignSpec, up: bool) -> Vec<(Nanos, Control)> {
    let grace = s.node_monitor_grace_period;
    let mut v = Vec::new();
    if let Some(cfg) = &design.bgp {
        if up {
            // The node's speaker starts and connects to the listening fabric (its connect delay).
            v.push((cfg.reconnect.after_start, Control::Restore));
            v.push((s.node_status_update_frequency, Control::EndpointsReady));
        } else {
            // BFD (both ends) or the negotiated hold time notices the dead node.
            v.push((cfg.failure_detection(), Control::Withdraw));
            v.push((grace, Control::EndpointsNotReady));
        }
    }
    if let Some(cfg) = &design.aci {
        let interval = Nanos::from_secs(u64::from(cfg.service_monitor_interval));
        if up {
            if cfg.service_monitor_interval > 0 {
                v.push((interval, Control::SnatGraphAdd));
            }
            v.push((s.node_status_update_frequency, Control::EndpointsReady));
        } else {
            // APIC's IP SLA detect multiplier, 3 by default (FACTS §1, inferred).
            let detect = Nanos(u64::from(cfg.ip_sla_detect_multiplier) * interval.0);
            if cfg.service_monitor_interval > 0 {
                v.push((detect, Control::SnatGraphRemove));
                if cfg.pbr_tracking_non_snat {
                    v.push((detect, Control::LbGraphRemove));
                }
            }
            v.push((grace, Control::EndpointsNotReady));
        }
    }
    v
}

/// The reaction of a design to one BGP session (node, leaf) failing or coming back: the hold
/// timer, then its routes go; nothing for ACI-CNI (no BGP to the nodes).
pub fn session_reactions(design: &DesignSpec, up: bool) -> Vec<(Nanos, Control)> {
    match (&design.bgp, up) {
        // The path is back: the speaker's next connect retry brings the session up.
        (Some(cfg), true) => vec![(cfg.reconnect.after_repair, Control::SessionUp)],
        // The session alone fails, the path does not: BFD stays up, the hold timer decides.
        (Some(cfg), false) => vec![(cfg.negotiated_hold_time(), Control::SessionDown)],
        (None, _) => Vec::new(),
    }
}
