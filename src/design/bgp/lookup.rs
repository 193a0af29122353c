//! The leaves' tables as the walk reads them, once per connection and hop: per prefix one
//! compact record (its fabric-learned next hops, and its own eBGP routes inline when at most two
//! leaves hold one — a pod block's rack), every next-hop list in one pool, and the per-leaf own
//! routes of a prefix many leaves hold (a LoadBalancer address every node announces) in a table
//! shared by every prefix with the same routes. The records (`tables::FabricPrefix`) stay the
//! store for `routes` and the explanations; a look-up touches one record and the pool instead of
//! the record, its leaf list, its route list and the route's list (four cache misses).

use super::tables::OwnRoute;
use crate::bgp::NextHop;
use crate::fabric::LeafId;
use ipnet::Ipv4Net;
use rustc_hash::FxHashMap;

/// A list in the pool (`len == 0`: none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Span {
    start: u32,
    len: u32,
}

/// Where a prefix's own routes are.
#[derive(Clone, Copy, Debug)]
enum Own {
    /// At most two leaves hold a route with next hops: those leaves and their lists.
    Few {
        n: u8,
        leaves: [LeafId; 2],
        hops: [Span; 2],
    },
    /// A table of `by_leaf` (a span per leaf; empty where the leaf has none).
    Table(u32),
}

#[derive(Clone, Copy, Debug)]
struct Record {
    prefix: Ipv4Net,
    /// The fabric-learned route's next hops.
    learned: Span,
    own: Own,
}

/// The look-up view of every prefix (same order as the tables' prefixes).
#[derive(Clone, Debug, Default)]
pub(super) struct LookupView {
    records: Vec<Record>,
    pool: Vec<NextHop>,
    by_leaf: Vec<Box<[Span]>>,
}

/// Builds a [`LookupView`]: lists are pooled once per shared list (the eBGP stage interns a
/// leaf's route lists, so equal lists mostly are one `Arc`), per-leaf tables once per run of
/// prefixes with the same routes.
pub(super) struct Builder {
    view: LookupView,
    pooled: FxHashMap<(usize, usize), Span>,
    leaves: usize,
    /// The last per-leaf table built and the routes it came from (leaf, list address).
    last_table: Option<(u32, Vec<(LeafId, usize)>)>,
}

impl Builder {
    pub(super) fn new(leaves: usize) -> Builder {
        Builder {
            view: LookupView::default(),
            pooled: FxHashMap::default(),
            leaves,
            last_table: None,
        }
    }

    fn pool(&mut self, list: &[NextHop]) -> Span {
        if list.is_empty() {
            return Span::default();
        }
        let key = (list.as_ptr() as usize, list.len());
        let pool = &mut self.view.pool;
        *self.pooled.entry(key).or_insert_with(|| {
            let start = pool.len() as u32;
            pool.extend_from_slice(list);
            Span {
                start,
                len: list.len() as u32,
            }
        })
    }

    /// Adds the next prefix: its fabric-learned next hops and the leaves' own routes (in leaf
    /// order).
    pub(super) fn push(
        &mut self,
        prefix: Ipv4Net,
        learned: &[NextHop],
        own: &[(LeafId, &OwnRoute)],
    ) {
        let learned = self.pool(learned);
        let holding: Vec<(LeafId, &OwnRoute)> = own
            .iter()
            .filter(|(_, r)| !r.next_hops.is_empty())
            .copied()
            .collect();
        let own = if holding.len() <= 2 {
            let mut leaves = [LeafId(0); 2];
            let mut hops = [Span::default(); 2];
            for (k, (l, r)) in holding.iter().enumerate() {
                leaves[k] = *l;
                hops[k] = self.pool(&r.next_hops);
            }
            Own::Few {
                n: holding.len() as u8,
                leaves,
                hops,
            }
        } else {
            let sources: Vec<(LeafId, usize)> = holding
                .iter()
                .map(|(l, r)| (*l, r.next_hops.as_ptr() as usize))
                .collect();
            match &self.last_table {
                Some((t, last)) if *last == sources => Own::Table(*t),
                _ => {
                    let mut table = vec![Span::default(); self.leaves];
                    for (l, r) in &holding {
                        if let Some(slot) = table.get_mut(l.index()) {
                            *slot = self.pool(&r.next_hops);
                        }
                    }
                    let t = self.view.by_leaf.len() as u32;
                    self.view.by_leaf.push(table.into_boxed_slice());
                    self.last_table = Some((t, sources));
                    Own::Table(t)
                }
            }
        };
        self.view.records.push(Record {
            prefix,
            learned,
            own,
        });
    }

    pub(super) fn finish(self) -> LookupView {
        self.view
    }
}

impl LookupView {
    /// Prefix `i`'s route on `leaf`: the leaf's own eBGP route when it has one with next hops,
    /// else the fabric-learned one.
    pub(super) fn route(&self, i: usize, leaf: LeafId) -> (Ipv4Net, &[NextHop]) {
        let r = &self.records[i];
        let own = match r.own {
            Own::Few { n, leaves, hops } => (0..usize::from(n))
                .find(|k| leaves[*k] == leaf)
                .map(|k| hops[k]),
            Own::Table(t) => self.by_leaf[t as usize]
                .get(leaf.index())
                .copied()
                .filter(|s| s.len > 0),
        };
        let s = own.unwrap_or(r.learned);
        let hops = &self.pool[s.start as usize..(s.start + s.len) as usize];
        (r.prefix, hops)
    }
}
