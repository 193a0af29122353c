//! Load spread that counts idle backends: per service the traffic reached, every pod eligible
//! to serve it (its ready endpoints at the start) and every node hosting one, idle ones
//! included — so a design that strands backends cannot look better balanced than one that uses
//! them all (issue 12).
//!
//! Invariant: counting during the run is two array increments per service connection; the
//! ratios are computed once at the end.

use crate::cluster::Cluster;
use serde::Serialize;

/// Service connections per backend pod, and which services were asked for.
#[derive(Clone, Debug, Default)]
pub struct SpreadCounter {
    /// Four bytes a pod (the envelope's 150,000 pods: 0.6 MB, half the cache lines of a u64
    /// per pod, one of them touched per connection at random); a count saturates at 2^32 − 1,
    /// beyond any run's connections to one pod.
    per_pod: Vec<u32>,
    asked: Vec<bool>,
}

impl SpreadCounter {
    pub fn new(pods: usize, services: usize) -> Self {
        SpreadCounter {
            per_pod: vec![0; pods],
            asked: vec![false; services],
        }
    }

    /// A connection to service `svc` arrived (established or not).
    pub fn asked(&mut self, svc: usize) {
        if let Some(a) = self.asked.get_mut(svc) {
            *a = true;
        }
    }

    /// A connection to a service was established on backend `pod`.
    pub fn served(&mut self, pod: usize) {
        if let Some(n) = self.per_pod.get_mut(pod) {
            *n = n.saturating_add(1);
        }
    }

    pub fn summary(&self, cluster: &Cluster) -> LoadSpread {
        let mut out = LoadSpread::default();
        let mut worst: Option<(f64, f64)> = None;
        for (i, svc) in cluster.services.iter().enumerate() {
            if !self.asked.get(i).copied().unwrap_or(false) {
                continue;
            }
            let pods: Vec<usize> = svc
                .endpoints
                .iter()
                .filter(|p| cluster.pod_ready(**p))
                .map(|p| p.index())
                .collect();
            if pods.is_empty() {
                continue;
            }
            let pod_loads: Vec<u64> = pods.iter().map(|p| u64::from(self.per_pod[*p])).collect();
            // A node's load: the connections its eligible pods served.
            let mut nodes: Vec<(usize, u64)> = Vec::new();
            for p in &pods {
                let n = cluster.pod_node(crate::cluster::PodId(*p as u32)).index();
                match nodes.iter_mut().find(|(k, _)| *k == n) {
                    Some((_, l)) => *l += u64::from(self.per_pod[*p]),
                    None => nodes.push((n, u64::from(self.per_pod[*p]))),
                }
            }
            let node_loads: Vec<u64> = nodes.iter().map(|(_, l)| *l).collect();
            let (pmax, pmin) = ratios(&pod_loads);
            let (nmax, nmin) = ratios(&node_loads);
            let s = ServiceSpread {
                service: format!("{}/{}", cluster.namespace_name(svc.namespace), svc.name),
                eligible_pods: pods.len(),
                idle_pods: pod_loads.iter().filter(|l| **l == 0).count(),
                pod_max_over_mean: pmax,
                pod_min_over_mean: pmin,
                eligible_nodes: nodes.len(),
                idle_nodes: node_loads.iter().filter(|l| **l == 0).count(),
                idle_node_names: nodes
                    .iter()
                    .filter(|(_, l)| *l == 0)
                    .map(|(n, _)| cluster.nodes[*n].name.clone())
                    .collect(),
                node_max_over_mean: nmax,
                node_min_over_mean: nmin,
            };
            out.eligible_pods += s.eligible_pods;
            out.idle_pods += s.idle_pods;
            out.eligible_nodes += s.eligible_nodes;
            out.idle_nodes += s.idle_nodes;
            // The design's figures are its worst service's.
            let w = worst.get_or_insert((nmax, nmin));
            w.0 = w.0.max(nmax);
            w.1 = w.1.min(nmin);
            out.per_service.push(s);
        }
        if let Some((max, min)) = worst {
            out.node_max_over_mean = max;
            out.node_min_over_mean = min;
        }
        out
    }
}

/// (max / mean, min / mean) over every eligible backend, idle ones included (0, 0 when none
/// served anything).
fn ratios(loads: &[u64]) -> (f64, f64) {
    let total: u64 = loads.iter().sum();
    if total == 0 || loads.is_empty() {
        return (0.0, 0.0);
    }
    let mean = total as f64 / loads.len() as f64;
    let max = *loads.iter().max().expect("not empty") as f64;
    let min = *loads.iter().min().expect("not empty") as f64;
    (max / mean, min / mean)
}

/// One service's spread over the backends eligible to serve it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ServiceSpread {
    pub service: String,
    pub eligible_pods: usize,
    pub idle_pods: usize,
    pub pod_max_over_mean: f64,
    pub pod_min_over_mean: f64,
    pub eligible_nodes: usize,
    pub idle_nodes: usize,
    pub idle_node_names: Vec<String>,
    pub node_max_over_mean: f64,
    pub node_min_over_mean: f64,
}

/// The spread of a design's service connections over the backends eligible to serve them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoadSpread {
    /// Summed over the services the traffic reached.
    pub eligible_pods: usize,
    pub idle_pods: usize,
    pub eligible_nodes: usize,
    pub idle_nodes: usize,
    /// The worst service's node max / mean and min / mean (idle nodes count as 0).
    pub node_max_over_mean: f64,
    pub node_min_over_mean: f64,
    pub per_service: Vec<ServiceSpread>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn idle_backends_lower_the_mean() {
        // 4 backends, two served 30 each, two idle: mean 15, max/mean 2, min/mean 0.
        assert_eq!(super::ratios(&[30, 0, 30, 0]), (2.0, 0.0));
        // The old figure, over loaded backends only, would have said 1.0.
        assert_eq!(super::ratios(&[30, 30]), (1.0, 1.0));
        assert_eq!(super::ratios(&[0, 0]), (0.0, 0.0));
    }
}
