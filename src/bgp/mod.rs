//! BGP as the fabric runs it for the BGP designs: eBGP sessions node ↔ anchor leaf, import route
//! control, max-prefix, and best-path selection with multipath relax and max-paths — every
//! decision with its reason (holo's `Preferred(reason)` style).
//!
//! Decision steps, in order (FACTS.md §2, ACI's BGP as acc-provision configures it):
//! 1. the session is established (passwords match, max-prefix not exceeded);
//! 2. import route control accepts the prefix (by default: node, pod and service subnets);
//! 3. AS path within `maxAsLimit` (1: the cluster's own AS only);
//! 4. lowest next-hop cost (a node on this very leaf costs 0; one reached through the fabric, 1);
//! 5. multipath relax: every remaining path is a multipath candidate, whatever its neighbour AS;
//! 6. max-paths: the first `max_paths` by the tie-break (lowest next-hop address) are installed.

use crate::cluster::NodeId;
use ipnet::Ipv4Net;
use std::fmt;
use std::net::Ipv4Addr;

/// ACI's maximum of ECMP paths, the value the design sets (FACTS §2).
pub const DEFAULT_MAX_PATHS: usize = 64;
/// acc-provision's max-prefix per node (`cluster_l3out.bgp.peering.prefixes`), action reject.
pub const DEFAULT_MAX_PREFIX: u32 = 500;

/// A path a leaf learned from a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub node: NodeId,
    pub next_hop: Ipv4Addr,
    pub as_path_len: u8,
    pub nh_cost: u32,
    /// Why the session or import policy already rejected it, if it did.
    pub rejected: Option<Rejection>,
}

/// A path refused before best-path selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rejection {
    PasswordMismatch,
    HoldTimerExpired,
    PeerAsMismatch {
        expected: u32,
        fabric: u32,
    },
    /// The peer advertised more than max-prefix and the action took the session down
    /// (`restart`: reset and retried after its restart time, exceeding again; `shut`).
    MaxPrefixExceeded {
        limit: u32,
        advertised: u32,
        action: crate::design::bgp::config::MaxPrefixAction,
    },
    /// Action `reject`: this prefix came after the first `limit` the peer sent, so the fabric
    /// refused it; the session and the first prefixes stay.
    MaxPrefixRefused {
        limit: u32,
    },
    ImportRouteControl,
    NoSession,
    /// The node speaks another AS than the one the fabric's peer expects (the cluster's).
    LocalAsMismatch {
        node: u32,
        expected: u32,
    },
    /// None of the node's peer objects (BGPPeers, peer addresses) points at this leaf.
    NoPeerConfigured,
}

/// Why a path is not installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Excluded {
    Rejected(Rejection),
    AsPathTooLong {
        len: u8,
        limit: u8,
    },
    HigherNextHopCost {
        cost: u32,
        best: u32,
    },
    BeyondMaxPaths {
        limit: usize,
    },
    /// Another leaf's path, learned through the fabric, loses to this leaf's own eBGP path.
    FabricLearned,
    /// iBGP designs: another leaf's path, reflected by the spines, loses to this leaf's own iBGP
    /// path from the node (no cluster list; RFC 4456 prefers the shorter).
    FabricReflected,
    /// Not a BGP decision: the explanation is given by the caller (e.g. ACI-CNI tables).
    Note(&'static str),
}

impl fmt::Display for Excluded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Excluded::Rejected(Rejection::PasswordMismatch) => f.write_str("session down: the BGP passwords differ"),
            Excluded::Rejected(Rejection::HoldTimerExpired) => {
                f.write_str("session down: the hold timer expired (the node stopped answering); its routes are withdrawn")
            }
            Excluded::Rejected(Rejection::PeerAsMismatch { expected, fabric }) => {
                write!(f, "session down: the node expects peer AS {expected}, the fabric is AS {fabric}")
            }
            Excluded::Rejected(Rejection::MaxPrefixExceeded { limit, advertised, action }) => write!(
                f,
                "session down: the node advertised {advertised} prefixes, above max-prefix {limit}, action {}{}",
                action.name(),
                if *action == crate::design::bgp::config::MaxPrefixAction::Restart {
                    " (reset, then retried after the restart time, when it exceeds again)"
                } else {
                    " (until an operator clears it)"
                }
            ),
            Excluded::Rejected(Rejection::MaxPrefixRefused { limit }) => write!(
                f,
                "refused by max-prefix {limit}, action reject: the node sent more than {limit} prefixes and this one came after them; the session stays up"
            ),
            Excluded::Rejected(Rejection::ImportRouteControl) => {
                f.write_str("import route control: the prefix is outside the accepted node, pod and service subnets")
            }
            Excluded::Rejected(Rejection::NoSession) => f.write_str("no BGP session between the node and this leaf"),
            Excluded::Rejected(Rejection::LocalAsMismatch { node, expected }) => write!(
                f,
                "session down: the node speaks AS {node} (its own BGPConfiguration), the fabric's peer expects the cluster's AS {expected}"
            ),
            Excluded::Rejected(Rejection::NoPeerConfigured) => f.write_str(
                "no session: none of the node's BGP peers (BGPPeer selected by its labels, peer addresses) is this leaf",
            ),
            Excluded::AsPathTooLong { len, limit } => write!(f, "AS path length {len} exceeds maxAsLimit {limit}"),
            Excluded::HigherNextHopCost { cost, best } => write!(
                f,
                "higher next-hop cost {cost} than the best {best}: the node sits behind another leaf (non-anchor), reached through the fabric"
            ),
            Excluded::FabricReflected => f.write_str(
                "reflected through the fabric's route reflectors (the spines): this leaf's own iBGP path from the node has the shorter cluster list (RFC 4456) and wins",
            ),
            Excluded::FabricLearned => {
                f.write_str("learned through the fabric (iBGP, distance 200): this leaf's own eBGP path (distance 20) wins")
            }
            Excluded::Note(s) => f.write_str(s),
            Excluded::BeyondMaxPaths { limit } => write!(
                f,
                "beyond maximum-paths {limit}: equal-cost paths are ordered by next-hop address and only the first {limit} are installed"
            ),
        }
    }
}

/// The outcome of best-path selection for one prefix on one leaf.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Indices into the candidates, in tie-break order.
    pub installed: Vec<usize>,
    pub excluded: Vec<(usize, Excluded)>,
}

/// `maxAsLimit` the design configures.
pub const MAX_AS_LIMIT: u8 = 1;

/// Runs the decision steps over `candidates`.
pub fn select(candidates: &[Candidate], max_paths: usize) -> Selection {
    let mut sel = Selection::default();
    select_into(
        candidates,
        max_paths,
        &mut sel,
        &mut SelectScratch::default(),
    );
    sel
}

/// The working lists of [`select_into`], kept between calls by a caller that selects many
/// times (a leaf table's compile selects for thousands of prefixes).
#[derive(Debug, Default)]
pub struct SelectScratch {
    valid: Vec<usize>,
    equal: Vec<usize>,
}

/// [`select`] into `sel` (cleared first), its working lists in `scratch`: no allocation once
/// the lists have grown to the candidates' number.
pub fn select_into(
    candidates: &[Candidate],
    max_paths: usize,
    sel: &mut Selection,
    scratch: &mut SelectScratch,
) {
    sel.installed.clear();
    sel.excluded.clear();
    let SelectScratch { valid, equal } = scratch;
    valid.clear();
    equal.clear();
    for (i, c) in candidates.iter().enumerate() {
        if let Some(r) = c.rejected {
            sel.excluded.push((i, Excluded::Rejected(r)));
        } else if c.as_path_len > MAX_AS_LIMIT {
            sel.excluded.push((
                i,
                Excluded::AsPathTooLong {
                    len: c.as_path_len,
                    limit: MAX_AS_LIMIT,
                },
            ));
        } else {
            valid.push(i);
        }
    }
    let Some(best) = valid.iter().map(|i| candidates[*i].nh_cost).min() else {
        return;
    };
    for i in valid.iter().copied() {
        let cost = candidates[i].nh_cost;
        if cost > best {
            sel.excluded
                .push((i, Excluded::HigherNextHopCost { cost, best }));
        } else {
            equal.push(i);
        }
    }
    equal.sort_by_key(|i| (candidates[*i].next_hop, *i));
    for (k, i) in equal.iter().copied().enumerate() {
        if k < max_paths {
            sel.installed.push(i);
        } else {
            sel.excluded
                .push((i, Excluded::BeyondMaxPaths { limit: max_paths }));
        }
    }
    sel.excluded.sort_by_key(|(i, _)| *i);
}

/// A route as a device holds it, for `fabsim routes` and the walks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub prefix: Ipv4Net,
    pub next_hops: Vec<NextHop>,
    pub excluded: Vec<(NextHop, Excluded)>,
}

/// Where a route points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NextHop {
    /// A node, by its IP (learned over eBGP on this leaf, or propagated).
    Node(NodeId),
    /// Another leaf's TEP (learned through the fabric, MP-BGP).
    Leaf(crate::fabric::LeafId),
    /// Out the external L3Out.
    L3Out,
    /// A directly attached subnet (bridge domain or SVI).
    Connected,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(n: u32, cost: u32) -> Candidate {
        Candidate {
            node: NodeId(n),
            next_hop: Ipv4Addr::from(0x0A20_0000 + n),
            as_path_len: 1,
            nh_cost: cost,
            rejected: None,
        }
    }

    #[test]
    fn sixty_five_equal_paths_install_sixty_four() {
        let cands: Vec<Candidate> = (0..65).map(|n| c(n + 2, 0)).collect();
        let sel = select(&cands, DEFAULT_MAX_PATHS);
        assert_eq!(sel.installed.len(), 64);
        // The highest next-hop address is the one left out.
        assert_eq!(
            sel.excluded,
            vec![(64, Excluded::BeyondMaxPaths { limit: 64 })]
        );
    }

    #[test]
    fn anchor_attached_paths_beat_non_anchor_ones() {
        let cands = vec![c(2, 1), c(3, 0), c(4, 0), c(5, 1)];
        let sel = select(&cands, 64);
        assert_eq!(sel.installed, vec![1, 2]);
        assert_eq!(sel.excluded.len(), 2);
        assert!(matches!(
            sel.excluded[0].1,
            Excluded::HigherNextHopCost { cost: 1, best: 0 }
        ));
    }

    #[test]
    fn rejected_paths_never_install() {
        let mut x = c(2, 0);
        x.rejected = Some(Rejection::PasswordMismatch);
        let sel = select(&[x, c(3, 1)], 64);
        assert_eq!(sel.installed, vec![1]);
        assert_eq!(
            sel.excluded,
            vec![(0, Excluded::Rejected(Rejection::PasswordMismatch))]
        );
    }
}
