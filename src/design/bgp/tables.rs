//! Every leaf's routing table under a BGP design: the anchor leaves' eBGP paths from the
//! nodes (best path, ECMP up to max paths, with the reason each path was dropped), and what the
//! other leaves learn through the fabric (MP-BGP) with the anchor leaf as next hop — one ECMP
//! path per anchor leaf — unless next-hop propagate is set.

use super::advertise::Announcement;
use super::config::*;
use super::sessions::Session;
use crate::bgp::{Excluded, NextHop, Route};
use crate::cluster::Cluster;
use crate::fabric::{Fabric, LeafId};
use crate::net::lpm::LpmTable;
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Every leaf's table, held once per prefix rather than once per leaf: the leaves that learned
/// a prefix from a node keep their own route; every other leaf has the same fabric-learned one
/// (the anchor leaves, or their next hops when next-hop propagate is set). With 250 leaves and
/// 6,000 prefixes that is 12,000 routes instead of 1.5 million.
#[derive(Clone, Debug)]
pub struct LeafTables {
    /// Every prefix some leaf learned over eBGP, by prefix.
    prefixes: Vec<FabricPrefix>,
    /// The prefixes installed on some leaf (so usable on every leaf) → index in `prefixes`.
    lpm: LpmTable<usize>,
    /// The nodes' subnet, connected on the leaves of racks with nodes.
    connected: Route,
    has_nodes: Vec<bool>,
    /// The default route: the L3Out on border leaves, the border leaves elsewhere (none when the
    /// fabric has no border leaf).
    default_border: Route,
    default_other: Option<Route>,
    border: Vec<bool>,
    /// What a look-up reads (`lookup::LookupView`): built from `prefixes`.
    view: super::lookup::LookupView,
}

/// A leaf's own route for a prefix, its lists shared with every route that has the same (a
/// LoadBalancer address every node announces gets the same ECMP set on a leaf for each of the
/// 1,000 services: one list, not 1,000).
#[derive(Clone, Debug)]
pub(super) struct OwnRoute {
    pub(super) next_hops: Arc<[NextHop]>,
    pub(super) excluded: Arc<[(NextHop, Excluded)]>,
}

/// The route a look-up found: its prefix and next hops.
#[derive(Clone, Copy, Debug)]
pub struct Found<'a> {
    pub prefix: Ipv4Net,
    pub next_hops: &'a [NextHop],
}

impl<'a> Found<'a> {
    fn of(r: &'a Route) -> Found<'a> {
        Found {
            prefix: r.prefix,
            next_hops: &r.next_hops,
        }
    }
}

/// The leaves with eBGP candidates for a prefix, in leaf order, with their route (its next hops
/// empty when every path was excluded): one set shared by every prefix of a stretch of ranks
/// the same leaves learned with the same routes (the 1,000 LoadBalancer addresses every node
/// announces: one set of 250 routes, not 1,000).
#[derive(Debug)]
pub(super) struct OwnSet {
    /// The leaves, in leaf order, each with its route.
    pub(super) held: Vec<(LeafId, OwnRoute)>,
    /// What a leaf without an installed route of its own uses: learned through the fabric
    /// from the leaves that installed one (empty: none did). Kept with the set it follows
    /// from, not copied per prefix (250 hops × 1,000 LoadBalancer addresses).
    pub(super) learned: Vec<NextHop>,
}

#[derive(Clone, Debug)]
struct FabricPrefix {
    prefix: Ipv4Net,
    own: Arc<OwnSet>,
}

impl FabricPrefix {
    /// Whether some leaf installed it (so the fabric-learned route has next hops).
    fn installed(&self) -> bool {
        !self.own.learned.is_empty()
    }

    fn own(&self, leaf: LeafId) -> Option<&OwnRoute> {
        self.own
            .held
            .binary_search_by_key(&leaf, |(l, _)| *l)
            .ok()
            .map(|i| &self.own.held[i].1)
    }

    /// The route `leaf` holds (`None`: it has none for the prefix): its own installed route,
    /// else the fabric-learned next hops with its own excluded paths.
    fn route(&self, leaf: LeafId) -> Option<Route> {
        match self.own(leaf) {
            Some(r) if !r.next_hops.is_empty() => Some(Route {
                prefix: self.prefix,
                next_hops: r.next_hops.to_vec(),
                excluded: r.excluded.to_vec(),
            }),
            own => {
                let excluded = own.map(|r| r.excluded.to_vec()).unwrap_or_default();
                (self.installed() || !excluded.is_empty()).then(|| Route {
                    prefix: self.prefix,
                    next_hops: self.own.learned.clone(),
                    excluded,
                })
            }
        }
    }
}

impl LeafTables {
    /// The route `leaf` uses for `ip`: the longest prefix with a next hop (the connected nodes'
    /// subnet and the default route win over a BGP route for the same prefix).
    pub fn lookup(&self, leaf: LeafId, ip: Ipv4Addr) -> Option<Found<'_>> {
        let l = leaf.index();
        let learned = self.lpm.lookup(ip).map(|(_, i)| {
            let (prefix, next_hops) = self.view.route(*i, leaf);
            Found { prefix, next_hops }
        });
        let connected = (self.has_nodes.get(l) == Some(&true)
            && self.connected.prefix.contains(&ip))
        .then(|| Found::of(&self.connected));
        let best = match (learned, connected) {
            (Some(r), Some(c)) if r.prefix.prefix_len() > c.prefix.prefix_len() => Some(r),
            (r, None) => r,
            (_, c) => c,
        };
        let default = if self.border.get(l) == Some(&true) {
            Some(Found::of(&self.default_border))
        } else {
            self.default_other.as_ref().map(Found::of)
        };
        match best {
            Some(r) if r.prefix.prefix_len() > 0 || default.is_none() => Some(r),
            _ => default,
        }
    }

    /// The most specific prefix holding `ip` on `leaf` with no usable next hop (every path
    /// excluded), for explaining a blackhole: a scan of the prefixes, only used to explain (the
    /// connected and default routes always have a next hop).
    pub fn unusable(&self, leaf: LeafId, ip: Ipv4Addr) -> Option<Route> {
        self.prefixes
            .iter()
            .filter(|p| p.prefix.contains(&ip))
            .filter_map(|p| p.route(leaf))
            .filter(|r| r.next_hops.is_empty())
            .max_by_key(|r| r.prefix.prefix_len())
    }

    /// How many leaves the tables cover.
    pub fn leaves(&self) -> usize {
        self.border.len()
    }

    /// A leaf's whole table, sorted by prefix (for `routes` and explanations: built on demand).
    pub fn table(&self, leaf: LeafId) -> Vec<Route> {
        let mut table: BTreeMap<Ipv4Net, Route> = self
            .prefixes
            .iter()
            .filter_map(|p| p.route(leaf))
            .map(|r| (r.prefix, r))
            .collect();
        if self.has_nodes.get(leaf.index()) == Some(&true) {
            table.insert(self.connected.prefix, self.connected.clone());
        }
        let default = if self.border.get(leaf.index()) == Some(&true) {
            Some(&self.default_border)
        } else {
            self.default_other.as_ref()
        };
        if let Some(d) = default {
            table.insert(d.prefix, d.clone());
        }
        table.into_values().collect()
    }
}

/// Each leaf's routes, from the sessions and what the nodes advertise.
pub fn leaf_tables(
    fabric: &Fabric,
    cluster: &Cluster,
    cfg: &BgpConfig,
    sessions: &[Session],
    advertised: &[Announcement],
) -> LeafTables {
    let ebgp = super::ebgp::ebgp_routes(fabric, cluster, cfg, sessions, advertised);
    fabric_routes(fabric, cluster, cfg, ebgp)
}

/// The set of own routes `active` holds (by leaf), with the route the other leaves learn
/// through the fabric: a leaf's own eBGP path wins over the fabric-learned ones (its route
/// lists those as excluded); the fabric-learned route goes to the anchor leaves' TEPs, or with
/// next-hop propagate to their next hops.
fn own_set(active: &BTreeMap<LeafId, OwnRoute>, next_hop_propagate: bool) -> OwnSet {
    let held: Vec<(LeafId, OwnRoute)> = active.iter().map(|(l, r)| (*l, r.clone())).collect();
    let holders = || held.iter().filter(|(_, r)| !r.next_hops.is_empty());
    let learned: Vec<NextHop> = if next_hop_propagate {
        let mut v: Vec<NextHop> = holders()
            .flat_map(|(_, r)| r.next_hops.iter().copied())
            .collect();
        v.sort();
        v.dedup();
        v
    } else {
        holders().map(|(o, _)| NextHop::Leaf(*o)).collect()
    };
    OwnSet { held, learned }
}

/// Every leaf: its own eBGP routes, plus what the others learned, through the fabric; the
/// nodes' subnet where nodes attach; outside through the border leaves.
// Long: per prefix its anchor leaves and the fabric-learned route, then the connected and
// default routes; one pass.
fn fabric_routes(
    fabric: &Fabric,
    cluster: &Cluster,
    cfg: &BgpConfig,
    ebgp: super::ebgp::Ebgp,
) -> LeafTables {
    // The leaves' runs by first rank; swept rank by rank, the leaves holding a route change
    // only where a run starts or ends, and between those ranks every prefix shares one set.
    let mut runs: Vec<(u32, LeafId, super::ebgp::Run)> = ebgp
        .per_leaf
        .into_iter()
        .enumerate()
        .flat_map(|(o, runs)| {
            runs.into_iter()
                .map(move |run| (run.from, LeafId(o as u32), run))
        })
        .collect();
    runs.sort_unstable_by_key(|(from, leaf, _)| (*from, *leaf));
    let mut runs = runs.into_iter().peekable();
    let mut active: BTreeMap<LeafId, OwnRoute> = BTreeMap::new();
    let mut ends: std::collections::BinaryHeap<std::cmp::Reverse<(u32, LeafId)>> =
        Default::default();
    let mut current: Option<Arc<OwnSet>> = None;
    let mut prefixes = Vec::new();
    let mut lpm = LpmTable::new();
    let mut view = super::lookup::Builder::new(fabric.leaves.len());
    for (r, prefix) in ebgp.prefixes.into_iter().enumerate() {
        let r = r as u32;
        let mut changed = false;
        while let Some(std::cmp::Reverse((to, leaf))) = ends.peek().copied()
            && to <= r
        {
            ends.pop();
            active.remove(&leaf);
            changed = true;
        }
        while let Some((_, leaf, run)) = runs.next_if(|(from, _, _)| *from == r) {
            ends.push(std::cmp::Reverse((run.to, leaf)));
            active.insert(leaf, run.route);
            changed = true;
        }
        if active.is_empty() {
            continue;
        }
        let set: &Arc<OwnSet> = match &mut current {
            Some(set) if !changed => set,
            slot => slot.insert(Arc::new(own_set(&active, cfg.next_hop_propagate))),
        };
        if !set.learned.is_empty() {
            lpm.insert(prefix, prefixes.len());
        }
        view.push(prefix, set);
        prefixes.push(FabricPrefix {
            prefix,
            own: Arc::clone(set),
        });
    }
    let racks_with_nodes: std::collections::BTreeSet<crate::fabric::RackId> =
        cluster.nodes.iter().map(|n| n.rack).collect();
    let default: Ipv4Net = "0.0.0.0/0".parse().expect("valid");
    let borders = fabric.border_leaves();
    LeafTables {
        prefixes,
        lpm,
        // The nodes' subnet is the L3Out SVI on the leaves the nodes attach to.
        connected: Route {
            prefix: cluster.node_subnet.net,
            next_hops: vec![NextHop::Connected],
            excluded: Vec::new(),
        },
        has_nodes: fabric
            .leaves
            .iter()
            .map(|l| racks_with_nodes.contains(&l.rack))
            .collect(),
        // Outside: the L3Out on border leaves, the border leaves' TEPs elsewhere.
        default_border: Route {
            prefix: default,
            next_hops: vec![NextHop::L3Out],
            excluded: Vec::new(),
        },
        default_other: (!borders.is_empty()).then(|| Route {
            prefix: default,
            next_hops: borders.iter().map(|b| NextHop::Leaf(*b)).collect(),
            excluded: Vec::new(),
        }),
        border: fabric.leaves.iter().map(|l| l.border).collect(),
        view: view.finish(),
    }
}
