//! Deterministic placement of deployment replicas on nodes.
//!
//! Default: like the scheduler's spreading (least pods first), each replica goes to the node
//! with the fewest pods so far, ties to the node listed first. Explicit placement: replica `i`
//! goes to `nodes[i % len]`. A node holds at most `max_pods` pods (Kubernetes default 110).

use super::NodeId;
use std::collections::BTreeSet;

/// Places `replicas` pods given the current pod count per node; updates the counts.
/// Returns the node of each replica, or a message saying why they cannot all be placed (the
/// counts are then left untouched).
pub fn place(
    replicas: u32,
    explicit: &[NodeId],
    pods_per_node: &mut [u32],
    max_pods: u32,
) -> Result<Vec<NodeId>, String> {
    let mut counts = pods_per_node.to_vec();
    let placed = place_on(replicas, explicit, &mut counts, max_pods)?;
    pods_per_node.copy_from_slice(&counts);
    Ok(placed)
}

fn place_on(
    replicas: u32,
    explicit: &[NodeId],
    pods_per_node: &mut [u32],
    max_pods: u32,
) -> Result<Vec<NodeId>, String> {
    // Room first, then the list: a replica count no cluster can hold is refused before anything
    // is sized by it.
    let room: u64 = if explicit.is_empty() {
        pods_per_node
            .iter()
            .map(|c| u64::from(max_pods.saturating_sub(*c)))
            .sum()
    } else {
        let mut listed: Vec<usize> = explicit.iter().map(|n| n.index()).collect();
        listed.sort_unstable();
        listed.dedup();
        listed
            .iter()
            .map(|i| u64::from(max_pods.saturating_sub(pods_per_node[*i])))
            .sum()
    };
    if u64::from(replicas) > room && explicit.is_empty() {
        let cap = max_pods as u64 * pods_per_node.len() as u64;
        return Err(format!(
            "{replicas} replicas cannot be placed: only {room} of them fit ({} nodes × {max_pods} pods per node = {cap}, counting pods already placed)",
            pods_per_node.len()
        ));
    }
    let mut out = Vec::with_capacity((replicas as usize).min(room as usize));
    if explicit.is_empty() {
        // Least-loaded first, ties to the first node: an ordered set of (pods, node index).
        let mut by_load: BTreeSet<(u32, usize)> = pods_per_node
            .iter()
            .enumerate()
            .map(|(i, c)| (*c, i))
            .collect();
        for i in 0..replicas as usize {
            let Some((count, best)) = by_load.pop_first() else {
                return Err("the cluster has no nodes".to_string());
            };
            if count >= max_pods {
                let cap = max_pods as u64 * pods_per_node.len() as u64;
                return Err(format!(
                    "{replicas} replicas cannot be placed: only {i} of them fit ({} nodes × {max_pods} pods per node = {cap}, counting pods already placed)",
                    pods_per_node.len()
                ));
            }
            pods_per_node[best] += 1;
            by_load.insert((count + 1, best));
            out.push(NodeId(best as u32));
        }
        return Ok(out);
    }
    for i in 0..replicas as usize {
        let n = explicit[i % explicit.len()];
        if pods_per_node[n.index()] >= max_pods {
            return Err(format!(
                "{replicas} replicas cannot be placed on the {} listed nodes: replica {i} would exceed {max_pods} pods on one node",
                explicit.len()
            ));
        }
        pods_per_node[n.index()] += 1;
        out.push(n);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_evenly_then_wraps() {
        let mut counts = vec![0; 4];
        let a = place(6, &[], &mut counts, 110).unwrap();
        assert_eq!(
            a.iter().map(|n| n.0).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 0, 1]
        );
        // The next deployment starts on the least loaded nodes.
        let b = place(2, &[], &mut counts, 110).unwrap();
        assert_eq!(b.iter().map(|n| n.0).collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn capacity_is_enforced() {
        let mut counts = vec![0; 2];
        assert!(place(220, &[], &mut counts, 110).is_ok());
        let mut counts = vec![0; 2];
        let e = place(221, &[], &mut counts, 110).unwrap_err();
        assert!(e.contains("only 220 of them fit"), "{e}");
        let mut counts = vec![0; 3];
        assert!(place(3, &[NodeId(1)], &mut counts, 2).is_err());
    }
}
