//! Per-node BGP peering from the nodes' own objects: which of its rack's anchor leaves each node
//! has a peer for, the AS it speaks and the AS it expects — Calico BGPPeers (selected by
//! `node` / `nodeSelector` over the node's labels) and `node.<name>` BGPConfigurations,
//! kube-router's peer addresses (`--peer-router-ips`, `kube-router.io/peer.ips`).
//!
//! A peer address is tied to a leaf by the anchor leaves' own SVI addresses (acc-provision's
//! `topology.rack[].leaf[].local_ip`). Without that table, an address on the node subnet that is
//! no node's is taken as the node's anchor leaves (approximation: fabsim cannot tell which one);
//! an address off the node subnet is not reachable by single-hop eBGP and gives no session; a
//! node's address is node-to-node peering, which is not modelled.

use super::bgp_resources::RawResources;
use super::diag::{Diagnostics, Loc};
use super::raw_bgp::RawCalicoFlavour;
use crate::cluster::{Cluster, NodeId};
use crate::design::bgp::compile::peer_leaves;
use crate::design::bgp::config::NodePeering;
use crate::fabric::{Fabric, LeafId};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

/// A peer one or more nodes are configured with.
pub(super) struct Peer<'a> {
    pub name: String,
    /// `None`: an address fabsim does not model (IPv6), taken as the node's anchor leaves.
    pub ip: Option<Ipv4Addr>,
    pub asn: Option<u32>,
    pub loc: &'a Loc,
    /// Which nodes it applies to.
    pub applies: Applies<'a>,
}

/// The nodes a peer applies to.
pub(super) enum Applies<'a> {
    Every,
    Node(&'a str),
    Selected(&'a crate::cluster::calico_selector::Selector),
    Labelled(&'a crate::cluster::selector::LabelSelector),
}

impl Applies<'_> {
    fn to(&self, node: &crate::cluster::Node, labels: &super::decode::Labels) -> bool {
        match self {
            Applies::Every => true,
            Applies::Node(n) => *n == node.name,
            Applies::Selected(sel) => sel.matches(labels),
            Applies::Labelled(sel) => sel.matches(labels),
        }
    }
}

/// Cilium's peers (the first BGP instance of the CiliumBGPClusterConfig), on the nodes its
/// nodeSelector selects.
pub(super) fn cilium_peers<'a>(res: &'a RawResources, d: &mut Diagnostics) -> Vec<Peer<'a>> {
    res.cilium_peers
        .iter()
        .map(|(addr, ip, asn, loc)| {
            if ip.is_none() {
                d.warning(loc, "CiliumBGPClusterConfig", format!("peerAddress {addr} is not an IPv4 address: IPv6 peering is not modelled; simulated as IPv4 sessions to the node's anchor leaves"));
            }
            Peer {
                name: format!("CiliumBGPClusterConfig peer {addr}"),
                ip: *ip,
                asn: *asn,
                loc,
                applies: match &res.cilium_node_selector {
                    Some(sel) => Applies::Labelled(sel),
                    None => Applies::Every,
                },
            }
        })
        .collect()
}

/// Calico's BGPPeers as `Peer`s.
pub(super) fn calico_peers(res: &RawResources) -> Vec<Peer<'_>> {
    res.peers
        .iter()
        .filter_map(|p| {
            let ip = p.peer_ip.as_ref()?.value;
            Some(Peer {
                name: format!("BGPPeer {}", p.name),
                ip: Some(ip),
                asn: p.as_number,
                loc: &p.loc,
                applies: match (&p.node, &p.node_selector) {
                    (Some(n), _) => Applies::Node(n),
                    (None, Some(sel)) => Applies::Selected(sel),
                    (None, None) => Applies::Every,
                },
            })
        })
        .collect()
}

/// Every node's peering; empty when no node has objects of its own (`node_asn`: the
/// `node.<name>` BGPConfigurations' AS numbers).
// Long: per node, its peers from every source in precedence order (annotations,
// BGPPeers, the flavour); one loop whose cases share the node's state.
pub(super) fn resolve(
    peers: &[Peer],
    node_asn: &[(String, Option<u32>, Loc)],
    calico_nodes: &[(String, super::decode::Labels, Option<u32>, Loc)],
    flavour: Option<&RawCalicoFlavour>,
    fabric: &Fabric,
    cluster: &Cluster,
    d: &mut Diagnostics,
) -> Vec<NodePeering> {
    if peers.is_empty() && node_asn.iter().all(|(_, a, _)| a.is_none()) {
        return Vec::new();
    }
    for (name, _, loc) in node_asn {
        if cluster.node_by_name(name).is_none() {
            d.warning(
                loc,
                &format!("BGPConfiguration node.{name}"),
                format!("no node `{name}` in the cluster: ignored"),
            );
        }
    }
    // The anchor leaves' own addresses, and the rack label acc-provision puts on each node.
    let mut leaf_ip: BTreeMap<Ipv4Addr, LeafId> = BTreeMap::new();
    let mut rack_of_node: BTreeMap<&str, String> = BTreeMap::new();
    if let Some(fl) = flavour {
        for r in &fl.racks {
            for (number, ip) in &r.leaf_ips {
                if let Some(l) = fabric.leaf_by_number(*number) {
                    leaf_ip.insert(*ip, l);
                }
            }
            for n in &r.nodes {
                rack_of_node.insert(n.value.as_str(), r.id.value.to_string());
            }
        }
    }
    let node_ips: BTreeSet<Ipv4Addr> = cluster.nodes.iter().map(|n| n.ip).collect();
    // Per peer: the nodes it selects that cannot reach it, and why (said once per peer).
    let mut unreachable: BTreeMap<usize, (usize, &'static str)> = BTreeMap::new();
    let mut no_peer: Vec<&str> = Vec::new();
    let mut peer_used = vec![false; peers.len()];
    let mut out = Vec::with_capacity(cluster.nodes.len());
    for (i, node) in cluster.nodes.iter().enumerate() {
        let mut labels = node.labels.clone();
        let calico = calico_nodes.iter().find(|(n, ..)| *n == node.name);
        if let Some((_, l, _, _)) = calico {
            // The Calico Node resource's labels are the node's (calico-kube-controllers syncs them).
            labels.extend(l.clone());
        }
        if let Some(r) = rack_of_node.get(node.name.as_str()) {
            // acc-provision's calico-node manifest labels each node of topology with rack_id.
            labels.entry("rack_id".into()).or_insert_with(|| r.clone());
        }
        let anchors = peer_leaves(fabric, cluster, NodeId(i as u32));
        let mut leaves = BTreeSet::new();
        let mut selected = 0;
        let mut peer_asn = None;
        for (k, p) in peers.iter().enumerate() {
            if !p.applies.to(node, &labels) {
                continue;
            }
            peer_used[k] = true;
            selected += 1;
            peer_asn = peer_asn.or(p.asn);
            let Some(ip) = p.ip else {
                leaves.extend(anchors.iter().copied());
                continue;
            };
            let why = if let Some(l) = leaf_ip.get(&ip) {
                if anchors.contains(l) {
                    leaves.insert(*l);
                    continue;
                }
                "the SVI address of a leaf that is not one of the node's anchor leaves (single-hop eBGP does not reach it)"
            } else if node_ips.contains(&ip) {
                "a node's address: node-to-node peering is not modelled"
            } else if cluster.node_subnet.net.contains(&ip) && leaf_ip.is_empty() {
                leaves.extend(anchors.iter().copied());
                continue;
            } else if cluster.node_subnet.net.contains(&ip) {
                "on the node subnet but no anchor leaf's SVI address (acc-provision topology leaf local_ip)"
            } else {
                "off the node subnet: single-hop eBGP from the node does not reach it"
            };
            let e = unreachable.entry(k).or_insert((0, why));
            e.0 += 1;
        }
        if selected == 0 && !peers.is_empty() {
            no_peer.push(&node.name);
        }
        // A node's own AS: its `node.<name>` BGPConfiguration, else its Calico Node's
        // spec.bgp.asNumber (both end in the node's as_num key that BIRD's template reads).
        let asn = node_asn
            .iter()
            .find(|(n, _, _)| *n == node.name)
            .and_then(|(_, a, _)| *a)
            .or(calico.and_then(|c| c.2));
        out.push(NodePeering {
            asn,
            peer_asn,
            leaves: (!peers.is_empty()).then_some(leaves),
        });
    }
    for (k, (nodes, why)) in unreachable {
        let p = &peers[k];
        d.warning(
            p.loc,
            &p.name,
            format!(
                "peer address {} is {why}: {nodes} node(s) have no session from it",
                p.ip.map(|i| i.to_string()).unwrap_or_default()
            ),
        );
    }
    if let Some(p) = peers.first()
        && !no_peer.is_empty()
    {
        let more = if no_peer.len() > 5 { ", …" } else { "" };
        let names: Vec<&str> = no_peer.iter().take(5).copied().collect();
        d.warning(p.loc, &p.name, format!("{} of {} node(s) are selected by no BGP peer ({}{more}; check the nodes' labels against the peers' selectors, e.g. rack_id): they have no session to the fabric", no_peer.len(), cluster.nodes.len(), names.join(", ")));
    }
    for (p, used) in peers.iter().zip(&peer_used) {
        if !used {
            d.warning(
                p.loc,
                &p.name,
                "selects no node of the cluster: this peer is never used",
            );
        }
    }
    out
}
