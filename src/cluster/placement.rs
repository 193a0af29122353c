//! Deterministic placement of deployment replicas on nodes.
//!
//! Default: like the scheduler's spreading (least pods first), each replica goes to the node
//! with the fewest pods so far, ties to the node listed first. Explicit placement: replica `i`
//! goes to `nodes[i % len]`. A node holds at most `max_pods` pods (Kubernetes default 110).
//!
//! Least-loaded-first picks the nodes at the lowest count in index order, then those at the
//! next count, and so on; the [`Placer`] keeps the current level's nodes in a list across
//! deployments, so placing a deployment costs its replicas (plus a scan of the counts when a
//! level runs out), not a sort of every node.

use super::NodeId;

/// The pods per node so far, and the nodes the next default placement picks from.
#[derive(Debug)]
pub struct Placer {
    counts: Vec<u32>,
    max_pods: u32,
    /// Σ max(0, max_pods − count): how many more pods fit.
    room: u64,
    /// The lowest count of any node, and the nodes at it not yet picked at this level, in
    /// index order from `next`; `None` after an explicit placement changed counts under it.
    level: Option<Level>,
}

#[derive(Debug)]
struct Level {
    count: u32,
    nodes: Vec<u32>,
    next: usize,
}

impl Placer {
    pub fn new(nodes: usize, max_pods: u32) -> Placer {
        Placer {
            counts: vec![0; nodes],
            max_pods,
            room: nodes as u64 * u64::from(max_pods),
            level: None,
        }
    }

    /// The pods placed on each node so far.
    pub fn counts(&self) -> &[u32] {
        &self.counts
    }

    /// Places `replicas` pods: on the `explicit` nodes in turn, or least loaded first. Returns
    /// the node of each replica, or why they cannot all be placed (nothing is placed then).
    pub fn place(&mut self, replicas: u32, explicit: &[NodeId]) -> Result<Vec<NodeId>, String> {
        if explicit.is_empty() {
            self.place_spread(replicas)
        } else {
            self.place_listed(replicas, explicit)
        }
    }

    fn place_spread(&mut self, replicas: u32) -> Result<Vec<NodeId>, String> {
        // Room first: a replica count no cluster can hold is refused before anything is sized
        // by it. With room, every pick below finds a node under max_pods.
        if u64::from(replicas) > self.room {
            let cap = u64::from(self.max_pods) * self.counts.len() as u64;
            return Err(format!(
                "{replicas} replicas cannot be placed: only {} of them fit ({} nodes × {} pods per node = {cap}, counting pods already placed)",
                self.room,
                self.counts.len(),
                self.max_pods
            ));
        }
        let mut out = Vec::with_capacity(replicas as usize);
        for _ in 0..replicas {
            let node = self.least_loaded();
            self.counts[node as usize] += 1;
            self.room -= 1;
            out.push(NodeId(node));
        }
        Ok(out)
    }

    /// The node with the fewest pods, ties to the lowest index; taken off its level.
    fn least_loaded(&mut self) -> u32 {
        loop {
            if let Some(l) = &mut self.level
                && let Some(&n) = l.nodes.get(l.next)
            {
                l.next += 1;
                return n;
            }
            // The level ran out (or was never built): every node is above it now.
            let above = self.level.as_ref().map(|l| l.count + 1);
            let count = match above {
                Some(c) => self.counts.iter().copied().filter(|x| *x >= c).min(),
                None => self.counts.iter().copied().min(),
            }
            .unwrap_or(0);
            let nodes: Vec<u32> = (0..self.counts.len() as u32)
                .filter(|i| self.counts[*i as usize] == count)
                .collect();
            self.level = Some(Level {
                count,
                nodes,
                next: 0,
            });
        }
    }

    fn place_listed(&mut self, replicas: u32, explicit: &[NodeId]) -> Result<Vec<NodeId>, String> {
        let mut counts = self.counts.clone();
        let mut out = Vec::with_capacity(replicas as usize);
        for i in 0..replicas as usize {
            let n = explicit[i % explicit.len()];
            if counts[n.index()] >= self.max_pods {
                return Err(format!(
                    "{replicas} replicas cannot be placed on the {} listed nodes: replica {i} would exceed {} pods on one node",
                    explicit.len(),
                    self.max_pods
                ));
            }
            counts[n.index()] += 1;
            out.push(n);
        }
        self.counts = counts;
        self.room -= u64::from(replicas);
        self.level = None;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn ids(v: &[NodeId]) -> Vec<u32> {
        v.iter().map(|n| n.0).collect()
    }

    #[test]
    fn spreads_evenly_then_wraps() {
        let mut p = Placer::new(4, 110);
        assert_eq!(ids(&p.place(6, &[]).unwrap()), vec![0, 1, 2, 3, 0, 1]);
        // The next deployment starts on the least loaded nodes.
        assert_eq!(ids(&p.place(2, &[]).unwrap()), vec![2, 3]);
    }

    #[test]
    fn capacity_is_enforced() {
        assert!(Placer::new(2, 110).place(220, &[]).is_ok());
        let e = Placer::new(2, 110).place(221, &[]).unwrap_err();
        assert!(e.contains("only 220 of them fit"), "{e}");
        let mut p = Placer::new(3, 2);
        assert!(p.place(3, &[NodeId(1)]).is_err());
        // Nothing was placed by the refused deployment.
        assert_eq!(p.counts(), &[0, 0, 0]);
    }

    /// The rule itself, as a brute-force oracle: each replica to the minimum (pods, index).
    fn oracle(replicas: u32, counts: &mut [u32], max_pods: u32) -> Option<Vec<u32>> {
        let mut set: BTreeSet<(u32, u32)> = counts
            .iter()
            .enumerate()
            .map(|(i, c)| (*c, i as u32))
            .collect();
        let mut out = Vec::new();
        let mut trial = counts.to_vec();
        for _ in 0..replicas {
            let (c, i) = set.pop_first()?;
            if c >= max_pods {
                return None;
            }
            trial[i as usize] += 1;
            set.insert((c + 1, i));
            out.push(i);
        }
        counts.copy_from_slice(&trial);
        Some(out)
    }

    proptest! {
        /// A run of deployments, some on listed nodes, places every replica where the oracle
        /// does, and refuses the same ones.
        #[test]
        fn matches_least_loaded_oracle(
            nodes in 1usize..12,
            max_pods in 1u32..8,
            deps in prop::collection::vec((0u32..20, prop::collection::vec(0u32..12, 0..3)), 1..12),
        ) {
            let mut placer = Placer::new(nodes, max_pods);
            let mut counts = vec![0u32; nodes];
            for (replicas, listed) in deps {
                let explicit: Vec<NodeId> =
                    listed.iter().map(|n| NodeId(n % nodes as u32)).collect();
                let got = placer.place(replicas, &explicit);
                if explicit.is_empty() {
                    let want = oracle(replicas, &mut counts, max_pods);
                    prop_assert_eq!(got.ok().map(|v| ids(&v)), want);
                } else if let Ok(v) = got {
                    for n in v {
                        counts[n.index()] += 1;
                    }
                }
                prop_assert_eq!(placer.counts(), counts.as_slice());
            }
        }
    }
}
