//! Compiles the cluster under a BGP design, in stages each in its own module: pod and
//! LoadBalancer addressing (`addressing`, fixed for a run), what each node announces
//! (`advertise`), the sessions to the anchor leaves (`sessions`) and every leaf's routing table
//! (`tables`). A control change redoes only the stages it affects (`BgpState::update`).

use super::addressing;
use super::advertise::{Advertiser, Announcement};
use super::config::*;
pub use super::sessions::{Expired, Session, peer_leaves};
use super::tables::{LeafTables, leaf_tables};
use crate::bgp::Route;
use crate::cluster::{Cluster, NodeId};
use crate::dataplane::addresses::Addresses;
use crate::fabric::{Fabric, LeafId};
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

#[derive(Clone, Debug)]
pub struct BgpState {
    pub cfg: BgpConfig,
    /// Pod and LoadBalancer addresses.
    pub addr: Addresses,
    /// The pod prefixes (blocks or podCIDR) of each node.
    pub node_pod_prefixes: Vec<Vec<Ipv4Net>>,
    /// What the nodes announce alike, and what depends on their endpoints.
    advertiser: Advertiser,
    /// What each node announces.
    pub advertised: Vec<Announcement>,
    pub sessions: Vec<Session>,
    /// Every leaf's routes (held once per prefix: `tables::LeafTables`).
    pub tables: LeafTables,
}

/// The design's announcements and sessions without the leaves' tables: what `validate`
/// summarises.
pub struct Announced {
    pub addr: Addresses,
    pub node_pod_prefixes: Vec<Vec<Ipv4Net>>,
    advertiser: Advertiser,
    pub advertised: Vec<Announcement>,
    pub sessions: Vec<Session>,
}

impl Announced {
    /// Addressing, each node's announcement and the sessions (`expired`: those whose hold
    /// timer expired).
    pub fn new(fabric: &Fabric, cluster: &Cluster, cfg: &BgpConfig, expired: &Expired) -> Self {
        let (pod_ip, node_pod_prefixes) = addressing::pod_addresses(cluster, cfg);
        let addr = Addresses::new(
            pod_ip
                .into_iter()
                .zip(cluster.pods.iter())
                .map(|(ip, p)| (ip, p.node, 0)),
            addressing::lb_addresses(cluster, cfg),
        );
        let advertiser = Advertiser::new(cluster, cfg, &addr.lb_ip);
        let advertised: Vec<Announcement> = (0..cluster.nodes.len())
            .map(|n| advertiser.advertisement(cluster, NodeId(n as u32), &node_pod_prefixes[n]))
            .collect();
        let sessions = super::sessions::sessions(fabric, cluster, cfg, &advertised, expired);
        Announced {
            addr,
            node_pod_prefixes,
            advertiser,
            advertised,
            sessions,
        }
    }
}

impl BgpState {
    pub fn compile(fabric: &Fabric, cluster: &Cluster, cfg: &BgpConfig) -> BgpState {
        Self::compile_with(fabric, cluster, cfg, &Expired::default())
    }

    /// Like [`BgpState::compile`], with the `expired` sessions down (hold timer): the routes
    /// learned over them are gone from the fabric.
    pub fn compile_with(
        fabric: &Fabric,
        cluster: &Cluster,
        cfg: &BgpConfig,
        expired: &Expired,
    ) -> BgpState {
        let a = Announced::new(fabric, cluster, cfg, expired);
        let tables = leaf_tables(fabric, cluster, cfg, &a.sessions, &a.advertised);
        BgpState {
            cfg: cfg.clone(),
            addr: a.addr,
            node_pod_prefixes: a.node_pod_prefixes,
            advertiser: a.advertiser,
            advertised: a.advertised,
            sessions: a.sessions,
            tables,
        }
    }

    /// After a control change: `node` (if the change was one node's) announces again — its
    /// endpoints or its state changed — and the sessions and the leaves' tables follow. The
    /// addresses and the other nodes' announcements stay.
    pub fn update(
        &mut self,
        fabric: &Fabric,
        cluster: &Cluster,
        expired: &Expired,
        node: Option<NodeId>,
    ) {
        if let Some(n) = node {
            self.advertised[n.index()] =
                self.advertiser
                    .advertisement(cluster, n, &self.node_pod_prefixes[n.index()]);
        }
        self.route(fabric, cluster, expired);
    }

    /// Sessions and leaf tables from the announcements.
    fn route(&mut self, fabric: &Fabric, cluster: &Cluster, expired: &Expired) {
        self.sessions =
            super::sessions::sessions(fabric, cluster, &self.cfg, &self.advertised, expired);
        self.tables = leaf_tables(fabric, cluster, &self.cfg, &self.sessions, &self.advertised);
    }

    /// Whether `ip` lies in the pod pool (a cheap test before the pod lookup).
    pub fn is_pod_ip(&self, ip: Ipv4Addr) -> bool {
        match &self.cfg.pods {
            PodAddressing::Blocks { pool, .. } | PodAddressing::PerNodeCidr { pool, .. } => {
                pool.net.contains(&ip)
            }
        }
    }

    /// The route a leaf uses for `ip` (longest prefix with a next hop).
    pub fn lookup(&self, leaf: LeafId, ip: Ipv4Addr) -> Option<super::tables::Found<'_>> {
        self.tables.lookup(leaf, ip)
    }

    /// The most specific route for `ip` on a leaf that has no usable next hop (every path
    /// excluded), for explaining a blackhole. A scan: only used to explain.
    pub fn unusable(&self, leaf: LeafId, ip: Ipv4Addr) -> Option<Route> {
        self.tables.unusable(leaf, ip)
    }

    /// The hold time a session runs with: the lower of the two sides' (RFC 4271 §4.2).
    pub fn negotiated_hold_time(&self) -> crate::time::Nanos {
        self.cfg.negotiated_hold_time()
    }
}
