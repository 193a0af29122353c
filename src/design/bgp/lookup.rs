//! The leaves' tables as the walk reads them, once per connection and hop: per prefix one
//! compact record (its fabric-learned next hops, and its own eBGP routes inline when at most two
//! leaves hold one — a pod block's rack), every next-hop list in one pool, and the per-leaf own
//! routes of a prefix many leaves hold (a LoadBalancer address every node announces) in a table
//! shared by every prefix with the same routes. The records (`tables::FabricPrefix`) stay the
//! store for `routes` and the explanations; a look-up touches one record and the pool instead of
//! the record, its leaf list, its route list and the route's list (four cache misses).

use super::tables::OwnSet;
use crate::bgp::NextHop;
use crate::fabric::LeafId;
use ipnet::Ipv4Net;
use rustc_hash::FxHashMap;
use std::sync::Arc;

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
/// leaf's route lists, so equal lists mostly are one `Arc`), and a prefix's lists once per set
/// of own routes (the prefixes of a stretch share one, and come one after another). Every list
/// pooled must outlive the build (lists are known by address).
pub(super) struct Builder {
    view: LookupView,
    pooled: FxHashMap<(usize, usize), Span>,
    leaves: usize,
    /// The last prefix's set of own routes (by address) and what it gave.
    last: Option<(usize, Span, Own)>,
}

impl Builder {
    pub(super) fn new(leaves: usize) -> Builder {
        Builder {
            view: LookupView::default(),
            pooled: FxHashMap::default(),
            leaves,
            last: None,
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

    /// Adds the next prefix: its fabric-learned route and the leaves' own routes.
    pub(super) fn push(&mut self, prefix: Ipv4Net, own: &Arc<OwnSet>) {
        let key = Arc::as_ptr(own) as usize;
        let (learned_span, own) = match self.last {
            Some((k, span, o)) if k == key => (span, o),
            _ => {
                let span = self.pool(&own.learned);
                let o = self.own(own);
                self.last = Some((key, span, o));
                (span, o)
            }
        };
        self.view.records.push(Record {
            prefix,
            learned: learned_span,
            own,
        });
    }

    /// Where a set of own routes goes: in place for at most two leaves holding a route with
    /// next hops, else a per-leaf table.
    fn own(&mut self, own: &OwnSet) -> Own {
        let holding = || {
            own.held
                .iter()
                .filter(|(_, r)| !r.next_hops.is_empty())
                .map(|(l, r)| (*l, &r.next_hops[..]))
        };
        let n = holding().count();
        if n <= 2 {
            let mut leaves = [LeafId(0); 2];
            let mut hops = [Span::default(); 2];
            for (k, (l, list)) in holding().enumerate() {
                leaves[k] = l;
                hops[k] = self.pool(list);
            }
            return Own::Few {
                n: n as u8,
                leaves,
                hops,
            };
        }
        let mut table = vec![Span::default(); self.leaves];
        for (l, list) in holding() {
            if let Some(slot) = table.get_mut(l.index()) {
                *slot = self.pool(list);
            }
        }
        self.view.by_leaf.push(table.into_boxed_slice());
        Own::Table(self.view.by_leaf.len() as u32 - 1)
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
