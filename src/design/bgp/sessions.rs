//! The BGP sessions between the nodes and the anchor leaves under the floating L3Out
//! (FACTS §2), and why any of them is down: a hold timer that expired, a peer the fabric has no
//! configuration for, an AS or password mismatch, or a max-prefix that shuts it.

use super::config::*;
use crate::bgp::Rejection;
use crate::cluster::{Cluster, NodeId};
use crate::fabric::{Fabric, LeafId};

/// Sessions whose hold timer expired: all of a node's (it failed), or single (node, leaf) ones.
#[derive(Clone, Debug, Default)]
pub struct Expired {
    pub nodes: Vec<bool>,
    pub sessions: std::collections::BTreeSet<(NodeId, LeafId)>,
}

impl Expired {
    pub fn is(&self, node: NodeId, leaf: LeafId) -> bool {
        self.nodes.get(node.index()).copied().unwrap_or(false)
            || self.sessions.contains(&(node, leaf))
    }
}

/// A BGP session between a node and a leaf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub node: NodeId,
    pub leaf: LeafId,
    /// Why it is down, if it is.
    pub down: Option<Rejection>,
}

/// The peers (leaves) of a node under the floating L3Out.
pub fn peer_leaves(fabric: &Fabric, cluster: &Cluster, node: NodeId) -> Vec<LeafId> {
    let rack = &fabric.racks[cluster.node(node).rack.index()];
    // Only live leaves hold sessions (a failed leaf's sessions and routes are gone).
    let live = |r: &crate::fabric::Rack| -> Vec<LeafId> {
        r.leaves
            .iter()
            .copied()
            .filter(|l| fabric.leaf(*l).up)
            .collect()
    };
    if rack.anchor {
        return live(rack);
    }
    fabric
        .racks
        .iter()
        .find(|r| r.anchor)
        .map(live)
        .unwrap_or_default()
}

/// Every node's sessions to its peer leaves (`advertised`: what each node announces, counted
/// against max-prefix).
pub fn sessions(
    fabric: &Fabric,
    cluster: &Cluster,
    cfg: &BgpConfig,
    advertised: &[super::advertise::Announcement],
    expired: &Expired,
) -> Vec<Session> {
    let password_ok = cfg.node_password == cfg.fabric_password;
    let mut sessions = Vec::new();
    for (n, adv) in advertised.iter().enumerate() {
        let node = NodeId(n as u32);
        let count = adv.len() as u32;
        let own = cfg.node_peering.get(n);
        let peer_asn = own.and_then(|o| o.peer_asn).or(cfg.node_peer_asn);
        for leaf in peer_leaves(fabric, cluster, node) {
            let down = if expired.is(node, leaf) {
                Some(Rejection::HoldTimerExpired)
            } else if own
                .and_then(|o| o.leaves.as_ref())
                .is_some_and(|l| !l.contains(&leaf))
            {
                Some(Rejection::NoPeerConfigured)
            } else if let Some(asn) = own.and_then(|o| o.asn).filter(|a| *a != cfg.cluster_asn) {
                Some(Rejection::LocalAsMismatch {
                    node: asn,
                    expected: cfg.cluster_asn,
                })
            } else if let Some(expected) = peer_asn.filter(|a| *a != cfg.fabric_asn) {
                Some(Rejection::PeerAsMismatch {
                    expected,
                    fabric: cfg.fabric_asn,
                })
            } else if !password_ok {
                Some(Rejection::PasswordMismatch)
            } else if count > cfg.max_prefix.limit
                && matches!(
                    cfg.max_prefix.action,
                    MaxPrefixAction::Restart | MaxPrefixAction::Shut
                )
            {
                Some(Rejection::MaxPrefixExceeded {
                    limit: cfg.max_prefix.limit,
                    advertised: count,
                    action: cfg.max_prefix.action,
                })
            } else {
                None
            };
            sessions.push(Session { node, leaf, down });
        }
    }
    sessions
}
