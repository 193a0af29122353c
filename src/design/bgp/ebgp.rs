//! The routes each anchor leaf learns over eBGP from the nodes it peers with: per prefix, one
//! candidate per session whose node announces it (in session order), rejected where the session
//! is down, the import route control refuses the prefix or max-prefix (action reject) refuses it,
//! and best-path selection over them (ECMP up to max paths).
//!
//! At the envelope's scale that is 10 million candidates (5,000 nodes each announcing the 1,000
//! LoadBalancer /32s, to two leaves). Two things keep it cheap:
//! - the prefixes are ranked once, and a leaf's candidates are bucketed by rank with a counting
//!   sort (stable: session order within a prefix is kept);
//! - the part every node announces alike (`advertise::Announcement::shared`) has, on a leaf whose
//!   nodes all share it, the leaf's sessions as its candidates: its route changes only where the
//!   import filter's verdict or the set of sessions past their max-prefix limit changes (each
//!   session's limit falls at one place in its list), so it is selected once per such stretch
//!   instead of once per prefix.

use super::advertise::Announcement;
use super::config::*;
use super::sessions::Session;
use super::tables::OwnRoute;
use crate::bgp::{self, Candidate, Excluded, NextHop, Rejection};
use crate::cluster::{Cluster, NodeId};
use crate::fabric::Fabric;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// One shared copy of each distinct list.
type Shared<T> = rustc_hash::FxHashMap<Vec<T>, Arc<[T]>>;

/// The shared copy of `list`: the known one when an equal list was shared before (looked up
/// by the slice: nothing allocated for a list already known), else a new one.
fn share<T: Clone + Eq + std::hash::Hash>(known: &mut Shared<T>, list: &[T]) -> Arc<[T]> {
    if let Some(a) = known.get(list) {
        return Arc::clone(a);
    }
    let a: Arc<[T]> = list.into();
    known.insert(list.to_vec(), Arc::clone(&a));
    a
}

/// Routes with their lists shared (a LoadBalancer address every node announces gets the same
/// ECMP set on a leaf for each of the 1,000 services: one list, not 1,000), and the working
/// lists selection reuses prefix after prefix.
#[derive(Default)]
struct Interner {
    hops: Shared<NextHop>,
    excluded: Shared<(NextHop, Excluded)>,
    selection: bgp::Selection,
    scratch: bgp::SelectScratch,
    hop_list: Vec<NextHop>,
    excluded_list: Vec<(NextHop, Excluded)>,
}

impl Interner {
    /// The route best-path selection makes of `cands`.
    fn select(&mut self, cands: &[Candidate], max_paths: usize) -> OwnRoute {
        bgp::select_into(cands, max_paths, &mut self.selection, &mut self.scratch);
        self.hop_list.clear();
        self.hop_list.extend(
            self.selection
                .installed
                .iter()
                .map(|i| NextHop::Node(cands[*i].node)),
        );
        self.excluded_list.clear();
        self.excluded_list.extend(
            self.selection
                .excluded
                .iter()
                .map(|(i, why)| (NextHop::Node(cands[*i].node), *why)),
        );
        OwnRoute {
            next_hops: share(&mut self.hops, &self.hop_list),
            excluded: share(&mut self.excluded, &self.excluded_list),
        }
    }
}

/// The announced prefixes ranked in prefix order, and each node's announcement as ranks.
struct Ranked<'a> {
    prefixes: Vec<Ipv4Net>,
    /// Whether the import route control lets each prefix in.
    accepted: Vec<bool>,
    /// The distinct shared parts (one in practice: every node's is the design's), as ranks.
    shared: Vec<(&'a Arc<[Ipv4Net]>, Vec<u32>)>,
    /// Per shared part, per index `j` in it: the end of the stretch from `j` whose ranks follow
    /// one another with no rank between them and whose import verdicts are alike (a leaf that
    /// gives `j` a route gives the whole stretch that route, unless a session's max-prefix
    /// limit or one of the leaf's own prefixes falls inside it).
    stretch_end: Vec<Vec<u32>>,
    /// Per node: which shared part, and its own prefixes as ranks.
    nodes: Vec<(usize, Vec<u32>)>,
}

impl<'a> Ranked<'a> {
    fn new(advertised: &'a [Announcement], cfg: &BgpConfig) -> Ranked<'a> {
        let mut shared: Vec<&Arc<[Ipv4Net]>> = Vec::new();
        let mut prefixes: Vec<Ipv4Net> = Vec::new();
        for a in advertised {
            if !shared.iter().any(|s| Arc::ptr_eq(s, a.shared())) {
                shared.push(a.shared());
                prefixes.extend_from_slice(a.shared());
            }
            prefixes.extend_from_slice(a.own());
        }
        prefixes.sort_unstable();
        prefixes.dedup();
        let rank = |p: &Ipv4Net| prefixes.binary_search(p).expect("ranked above") as u32;
        let nodes = advertised
            .iter()
            .map(|a| {
                let s = shared
                    .iter()
                    .position(|s| Arc::ptr_eq(s, a.shared()))
                    .expect("collected above");
                (s, a.own().iter().map(rank).collect())
            })
            .collect();
        let shared: Vec<(&Arc<[Ipv4Net]>, Vec<u32>)> = shared
            .into_iter()
            .map(|s| (s, s.iter().map(rank).collect()))
            .collect();
        let accepted: Vec<bool> = prefixes
            .iter()
            .map(|p| cfg.import.iter().any(|i| i.contains(p)))
            .collect();
        let stretch_end = shared
            .iter()
            .map(|(_, ranks)| {
                let mut end = vec![0u32; ranks.len()];
                for j in (0..ranks.len()).rev() {
                    let joins_next = ranks.get(j + 1).is_some_and(|next| {
                        *next == ranks[j] + 1
                            && accepted[*next as usize] == accepted[ranks[j] as usize]
                    });
                    end[j] = if joins_next { end[j + 1] } else { j as u32 + 1 };
                }
                end
            })
            .collect();
        Ranked {
            prefixes,
            accepted,
            shared,
            stretch_end,
            nodes,
        }
    }

    /// A node's announcement as (position in its list, rank), in order.
    fn node_ranks(&self, n: NodeId) -> impl Iterator<Item = (u32, u32)> + '_ {
        let (s, own) = &self.nodes[n.index()];
        let merged = itertools::merge(self.shared[*s].1.iter().copied(), own.iter().copied());
        (0u32..).zip(merged)
    }

    /// A node's own prefixes as (position in its whole list, rank): the shared ranks before
    /// each count in its position.
    fn own_ranks(&self, n: NodeId) -> impl Iterator<Item = (u32, u32)> + '_ {
        let (s, own) = &self.nodes[n.index()];
        let shared = &self.shared[*s].1;
        own.iter().enumerate().map(move |(i, r)| {
            let before = shared.partition_point(|x| x < r);
            ((i + before) as u32, *r)
        })
    }

    /// The position in node `n`'s whole list of the `j`-th prefix of its shared part: its own
    /// prefixes before it count too.
    fn shared_position(&self, n: NodeId, j: usize) -> usize {
        let (s, own) = &self.nodes[n.index()];
        let rank = self.shared[*s].1[j];
        j + own.partition_point(|o| *o < rank)
    }
}

/// What every candidate of one leaf's sessions needs besides the prefix.
struct Peers<'s> {
    sessions: Vec<&'s Session>,
    /// Per session: its node's address and the cost to reach it.
    next_hop: Vec<(Ipv4Addr, u32)>,
}

impl<'s> Peers<'s> {
    fn new(
        fabric: &Fabric,
        cluster: &Cluster,
        cfg: &BgpConfig,
        sessions: Vec<&'s Session>,
    ) -> Self {
        let next_hop = sessions
            .iter()
            .map(|s| {
                let node = cluster.node(s.node);
                let on_leaf = fabric.racks[node.rack.index()].leaves.contains(&s.leaf);
                // ACI 6.1(2) "ignore IGP metric" (with next-hop propagate): a node behind
                // another leaf costs the same as one on this leaf.
                (node.ip, u32::from(!on_leaf && !cfg.ignore_igp_metric))
            })
            .collect();
        Peers { sessions, next_hop }
    }

    /// Session `i`'s path to a prefix the import route control lets in or not (`accepted`),
    /// `k`-th in its node's list (max-prefix counts from there).
    fn candidate(&self, i: usize, cfg: &BgpConfig, accepted: bool, k: u32) -> Candidate {
        let s = self.sessions[i];
        // APIC bgpPeerPfxPol action reject: the prefixes beyond the limit are refused, the
        // first ones (in the order sent; taken as prefix order) stay.
        let refused = cfg.max_prefix.action == MaxPrefixAction::Reject && k >= cfg.max_prefix.limit;
        let rejected = s
            .down
            .or((!accepted).then_some(Rejection::ImportRouteControl))
            .or(refused.then_some(Rejection::MaxPrefixRefused {
                limit: cfg.max_prefix.limit,
            }));
        let (next_hop, nh_cost) = self.next_hop[i];
        Candidate {
            node: s.node,
            next_hop,
            // eBGP: the cluster AS alone (as-override); iBGP: an empty AS path.
            as_path_len: u8::from(!cfg.ibgp),
            nh_cost,
            rejected,
        }
    }
}

/// Every leaf's eBGP routes: the announced prefixes in order, and each leaf's routes by the
/// prefix's index in them, in prefix order.
pub(super) struct Ebgp {
    pub(super) prefixes: Vec<Ipv4Net>,
    pub(super) per_leaf: Vec<Vec<Run>>,
}

/// A leaf's route for every rank of `from..to`: the same lists (a leaf learns the 1,000
/// LoadBalancer addresses every node announces with one route: one run, not 1,000 entries).
#[derive(Clone, Debug)]
pub(super) struct Run {
    pub(super) from: u32,
    pub(super) to: u32,
    pub(super) route: OwnRoute,
}

/// Appends the route of ranks `from..to`, extending the last run when it ends at `from` with
/// the same lists.
fn push_run(runs: &mut Vec<Run>, (from, to): (u32, u32), route: OwnRoute) {
    if let Some(last) = runs.last_mut()
        && last.to == from
        && std::sync::Arc::ptr_eq(&last.route.next_hops, &route.next_hops)
        && std::sync::Arc::ptr_eq(&last.route.excluded, &route.excluded)
    {
        last.to = to;
        return;
    }
    runs.push(Run { from, to, route });
}

/// The routes each leaf learned over eBGP from the nodes it peers with, in prefix order.
pub(super) fn ebgp_routes(
    fabric: &Fabric,
    cluster: &Cluster,
    cfg: &BgpConfig,
    sessions: &[Session],
    advertised: &[Announcement],
) -> Ebgp {
    ebgp_routes_by(fabric, cluster, cfg, sessions, advertised, true)
}

/// [`ebgp_routes`], with the shared part's shortcut or (`sharing` false: the tests' oracle)
/// every candidate bucketed and every prefix selected.
fn ebgp_routes_by(
    fabric: &Fabric,
    cluster: &Cluster,
    cfg: &BgpConfig,
    sessions: &[Session],
    advertised: &[Announcement],
    sharing: bool,
) -> Ebgp {
    let ranked = Ranked::new(advertised, cfg);
    let mut sessions_of: Vec<Vec<&Session>> = vec![Vec::new(); fabric.leaves.len()];
    for s in sessions {
        sessions_of[s.leaf.index()].push(s);
    }
    let mut work = Work {
        count: vec![0; ranked.prefixes.len()],
        touched: Vec::new(),
        bucketed: Vec::new(),
        interner: Interner::default(),
    };
    let per_leaf = sessions_of
        .into_iter()
        .map(|on_leaf| {
            let peers = Peers::new(fabric, cluster, cfg, on_leaf);
            let one_shared = peers
                .sessions
                .first()
                .map(|s| ranked.nodes[s.node.index()].0);
            match one_shared {
                Some(si)
                    if sharing
                        && peers
                            .sessions
                            .iter()
                            .all(|s| ranked.nodes[s.node.index()].0 == si) =>
                {
                    work.leaf_sharing(&ranked, cfg, &peers, si)
                }
                _ => work.leaf(&ranked, cfg, &peers),
            }
        })
        .collect();
    Ebgp {
        prefixes: ranked.prefixes,
        per_leaf,
    }
}

/// The scratch space reused leaf after leaf, and the routes' shared lists.
struct Work {
    /// Per rank, during [`Work::bucket`]: its candidates, then where the next goes; zero again
    /// for every rank after it (only the touched ranks are reset: a leaf's pass is as long as
    /// its candidates, not the 6,000 ranks).
    count: Vec<u32>,
    /// The ranks with candidates on this leaf, in rank order, and where each one's start in
    /// `bucketed` (the next one's start, or the end, ends it).
    touched: Vec<(u32, u32)>,
    bucketed: Vec<Candidate>,
    interner: Interner,
}

impl Work {
    /// Buckets the candidates `ranks_of` gives each session by rank: afterwards `touched` lists
    /// the ranks with candidates in order, and [`Work::candidates`] gives each one's, in session
    /// order.
    fn bucket<I: Iterator<Item = (u32, u32)>>(
        &mut self,
        ranked: &Ranked,
        cfg: &BgpConfig,
        peers: &Peers,
        ranks_of: impl Fn(NodeId) -> I,
    ) {
        self.touched.clear();
        for s in &peers.sessions {
            for (_, r) in ranks_of(s.node) {
                let c = &mut self.count[r as usize];
                if *c == 0 {
                    self.touched.push((r, 0));
                }
                *c += 1;
            }
        }
        self.touched.sort_unstable();
        let mut total = 0;
        for (r, start) in self.touched.iter_mut() {
            *start = total;
            total += std::mem::replace(&mut self.count[*r as usize], total);
        }
        // `count[r]` is now where rank r's candidates start; filled in session order.
        self.bucketed.clear();
        self.bucketed.resize(total as usize, EMPTY_CANDIDATE);
        for (i, s) in peers.sessions.iter().enumerate() {
            for (k, r) in ranks_of(s.node) {
                let at = &mut self.count[r as usize];
                self.bucketed[*at as usize] =
                    peers.candidate(i, cfg, ranked.accepted[r as usize], k);
                *at += 1;
            }
        }
        for (r, _) in &self.touched {
            self.count[*r as usize] = 0;
        }
    }

    /// The candidates of the `t`-th touched rank after [`Work::bucket`].
    fn candidates(&self, t: usize) -> std::ops::Range<usize> {
        let end = self
            .touched
            .get(t + 1)
            .map_or(self.bucketed.len(), |(_, s)| *s as usize);
        self.touched[t].1 as usize..end
    }

    /// Any leaf: every candidate bucketed, each prefix with candidates selected (or given the
    /// previous one's route when its candidates are the same).
    fn leaf(&mut self, ranked: &Ranked, cfg: &BgpConfig, peers: &Peers) -> Vec<Run> {
        self.bucket(ranked, cfg, peers, |n| ranked.node_ranks(n));
        let mut last = None;
        let mut runs = Vec::new();
        for t in 0..self.touched.len() {
            let route = self.bucketed_route(t, &mut last, cfg);
            let r = self.touched[t].0;
            push_run(&mut runs, (r, r + 1), route);
        }
        runs
    }

    /// The route of the `t`-th touched rank from its bucketed candidates: the `last` one's
    /// when the candidates are the same, else selected; `last` becomes this one.
    fn bucketed_route(
        &mut self,
        t: usize,
        last: &mut Option<(std::ops::Range<usize>, OwnRoute)>,
        cfg: &BgpConfig,
    ) -> OwnRoute {
        let range = self.candidates(t);
        let cands = &self.bucketed[range.clone()];
        let own = match last {
            Some((was, own)) if self.bucketed[was.clone()] == *cands => own.clone(),
            _ => self.interner.select(cands, cfg.max_paths),
        };
        *last = Some((range, own.clone()));
        own
    }

    /// A leaf whose nodes all announce the shared part `si`: only their own prefixes are
    /// bucketed; a shared prefix's candidates are the leaf's sessions, selected again only
    /// where the import verdict or the number of sessions past their limit changes (a session
    /// once past its limit stays past it, so the count tells the set).
    // Long: the own and shared prefixes interleave in prefix order; one pass over the ranks.
    fn leaf_sharing(
        &mut self,
        ranked: &Ranked,
        cfg: &BgpConfig,
        peers: &Peers,
        si: usize,
    ) -> Vec<Run> {
        self.bucket(ranked, cfg, peers, |n| ranked.own_ranks(n));
        let shared = &ranked.shared[si].1;
        // Per session, the first shared index its limit refuses: position j + (own prefixes
        // before it) reaches the limit (strictly increasing in j, so a bisection).
        let mut refused_from: Vec<usize> = peers
            .sessions
            .iter()
            .map(|s| {
                if cfg.max_prefix.action != MaxPrefixAction::Reject {
                    return usize::MAX;
                }
                let position = |j: usize| ranked.shared_position(s.node, j);
                let limit = cfg.max_prefix.limit as usize;
                let (mut lo, mut hi) = (0, shared.len());
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if position(mid) < limit {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                if lo < shared.len() { lo } else { usize::MAX }
            })
            .collect();
        refused_from.sort_unstable();
        let mut routes = Vec::new();
        let mut last_own = None;
        let mut last_shared: Option<((bool, usize), OwnRoute)> = None;
        let mut scratch: Vec<Candidate> = Vec::with_capacity(peers.sessions.len());
        // The shared ranks and the ranks with own candidates, merged in rank order (a rank in
        // both is shared).
        let (mut j, mut t) = (0, 0);
        loop {
            let next_shared = shared.get(j).copied();
            let next_own = self.touched.get(t).map(|(r, _)| *r);
            let r = match (next_shared, next_own) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            if next_shared == Some(r) {
                let accepted = ranked.accepted[r as usize];
                let past = refused_from.partition_point(|f| *f <= j);
                let own = match &last_shared {
                    Some((sig, own)) if *sig == (accepted, past) => own.clone(),
                    _ => {
                        scratch.clear();
                        scratch.extend(peers.sessions.iter().enumerate().map(|(i, s)| {
                            let k = ranked.shared_position(s.node, j);
                            peers.candidate(i, cfg, accepted, k as u32)
                        }));
                        let own = self.interner.select(&scratch, cfg.max_paths);
                        last_shared = Some(((accepted, past), own.clone()));
                        own
                    }
                };
                if next_own == Some(r) {
                    t += 1;
                }
                // The same route up to the stretch's end, the next limit that falls and the
                // leaf's next own prefix, whichever comes first: one run, not a step each.
                let mut end = ranked.stretch_end[si][j] as usize;
                if let Some(f) = refused_from.get(past) {
                    end = end.min(*f);
                }
                if let Some((own_rank, _)) = self.touched.get(t) {
                    end = end.min(shared.partition_point(|x| x < own_rank));
                }
                let end = end.max(j + 1);
                push_run(&mut routes, (r, shared[end - 1] + 1), own);
                j = end;
                continue;
            }
            let own = self.bucketed_route(t, &mut last_own, cfg);
            push_run(&mut routes, (r, r + 1), own);
            t += 1;
        }
        routes
    }
}

/// A placeholder the counting sort overwrites.
const EMPTY_CANDIDATE: Candidate = Candidate {
    node: crate::cluster::NodeId(0),
    next_hop: Ipv4Addr::UNSPECIFIED,
    as_path_len: 0,
    nh_cost: 0,
    rejected: None,
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Two racks of nodes, LoadBalancer services with Cluster and Local policy, the fabric's
    /// max-prefix (action reject) and import list as given.
    fn scenario(services: &[bool], limit: u32, import_all: bool, cni: &str) -> String {
        let mut y = String::from(
            "name: shared\nfabric:\n  spines: [201]\n  racks:\n    - { id: 1, leaves: [101, 102], border: true, nodes: [a1, a2, a3] }\n    - { id: 2, leaves: [103, 104], nodes: [b1, b2] }\n",
        );
        y += "cluster:\n  node_subnet: 10.32.0.1/16\n  pod_subnet: 10.33.0.0/16\n  namespaces: [{ name: n }]\n  deployments:\n";
        for i in 0..services.len() {
            y += &format!(
                "    - {{ name: d{i}, namespace: n, replicas: {}, labels: {{ app: d{i} }} }}\n",
                1 + i % 3
            );
        }
        y += "  services:\n";
        for (i, local) in services.iter().enumerate() {
            let etp = if *local { "Local" } else { "Cluster" };
            y += &format!(
                "    - {{ name: s{i}, namespace: n, type: LoadBalancer, selector: {{ app: d{i} }}, ports: [{{ port: 80 }}], external_traffic_policy: {etp} }}\n"
            );
        }
        let import = if import_all {
            ""
        } else {
            ", import: [10.32.0.0/16, 10.33.0.0/16, 10.34.0.0/28]"
        };
        y += &format!(
            "designs:\n  - name: d\n    cni: {cni}\n    bgp: {{ fabric_asn: 2, cluster_asn: 64512, max_prefix: {{ limit: {limit}, action: reject }}{import} }}\n"
        );
        if cni == "kube-router" {
            y += "    args: [--cluster-asn=64512, --advertise-loadbalancer-ip]\n";
        }
        y += "    load_balancer: { pool: [10.34.0.0/24] }\n";
        y
    }

    /// A route's prefix and lists, compared by value.
    type Plain = (Ipv4Net, Vec<NextHop>, Vec<(NextHop, Excluded)>);

    fn flat(routes: Ebgp) -> Vec<Vec<Plain>> {
        let prefixes = routes.prefixes;
        routes
            .per_leaf
            .into_iter()
            .map(|leaf| {
                leaf.into_iter()
                    .flat_map(|run| (run.from..run.to).map(move |p| (p, run.route.clone())))
                    .map(|(p, r)| {
                        (
                            prefixes[p as usize],
                            r.next_hops.to_vec(),
                            r.excluded.to_vec(),
                        )
                    })
                    .collect()
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// The shared part's shortcut gives every leaf exactly the routes of bucketing every
        /// candidate and selecting every prefix, wherever the max-prefix limit falls in the
        /// nodes' lists and whichever prefixes the import list refuses.
        #[test]
        fn shared_part_shortcut_matches_selecting_every_prefix(
            services in prop::collection::vec(any::<bool>(), 1..40),
            limit in 1u32..48,
            import_all in any::<bool>(),
            cilium in any::<bool>(),
        ) {
            let cni = if cilium { "cilium" } else { "kube-router" };
            let text = scenario(&services, limit, import_all, cni);
            let file: Arc<str> = Arc::from("shared.yaml");
            let loaded = crate::scenario::load_str(&file, &text, std::path::Path::new("."), Default::default());
            let s = loaded.scenario.unwrap_or_else(|| panic!("{text}\n{:?}", loaded.diagnostics.sorted()));
            let cfg = s.designs[0].bgp().expect("a BGP design");
            let a = super::super::compile::Announced::new(&s.fabric, &s.cluster, cfg, &Default::default());
            let fast = ebgp_routes_by(&s.fabric, &s.cluster, cfg, &a.sessions, &a.advertised, true);
            let slow = ebgp_routes_by(&s.fabric, &s.cluster, cfg, &a.sessions, &a.advertised, false);
            prop_assert_eq!(flat(fast), flat(slow));
        }
    }
}
