//! Which SNAT policy applies to a pod and a destination: scopes, precedence and destIp stacking.
//!
//! Source: FACTS.md §1 (hostagent `getMatchingSnatPolicy`). A policy without `snat_ip` is SERVICE
//! scope; without selector CLUSTER; with only a namespace NAMESPACE; with labels it is matched
//! against the pod (POD), its deployment (DEPLOYMENT), its namespace (NAMESPACE) and the services
//! that select it (SERVICE). Precedence POD > SERVICE > DEPLOYMENT > NAMESPACE > CLUSTER.
//! Policies with `dest_ip` stack; the first without one counts as 0.0.0.0/0 and ends the stack.
//! Among the stacked entries the longest destination prefix wins (our reading of the stack).

use super::config::SnatPolicySpec;
use crate::cluster::{Cluster, PodId, ServiceType, selects};
use ipnet::Ipv4Net;
use std::fmt;
use std::net::Ipv4Addr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Pod,
    Service,
    Deployment,
    Namespace,
    Cluster,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::Pod => "POD",
            Scope::Service => "SERVICE",
            Scope::Deployment => "DEPLOYMENT",
            Scope::Namespace => "NAMESPACE",
            Scope::Cluster => "CLUSTER",
        })
    }
}

/// One entry of a pod's stack: traffic to `dest` uses policy `policy` at `scope`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackEntry {
    pub dest: Ipv4Net,
    pub policy: usize,
    pub scope: Scope,
}

/// The scope at which `policy` selects `pod`, if it does.
pub fn scope_of(policy: &SnatPolicySpec, cluster: &Cluster, pod: PodId) -> Option<Scope> {
    if policy.failed.is_some() {
        return None;
    }
    let p = cluster.pod(pod);
    if policy.namespace.is_some_and(|ns| ns != p.namespace) {
        return None;
    }
    let labels = policy.labels.as_ref().filter(|l| !l.is_empty());
    if policy.snat_ips.is_none() {
        let labels = labels?;
        let via_service = cluster.services.iter().any(|s| {
            s.kind == ServiceType::LoadBalancer
                && s.namespace == p.namespace
                && selects(labels, &s.labels)
                && s.endpoints.contains(&pod)
        });
        return via_service.then_some(Scope::Service);
    }
    let Some(labels) = labels else {
        return Some(if policy.namespace.is_some() {
            Scope::Namespace
        } else {
            Scope::Cluster
        });
    };
    let dep = &cluster.deployments[p.deployment.index()];
    let ns = &cluster.namespaces[p.namespace.index()];
    if selects(labels, &p.labels) {
        Some(Scope::Pod)
    } else if cluster.services.iter().any(|s| {
        s.namespace == p.namespace && selects(labels, &s.labels) && s.endpoints.contains(&pod)
    }) {
        Some(Scope::Service)
    } else if selects(labels, &dep.labels) {
        Some(Scope::Deployment)
    } else if selects(labels, &ns.labels) {
        Some(Scope::Namespace)
    } else {
        None
    }
}

/// The destination stack of a pod, in precedence order.
pub fn stack(policies: &[SnatPolicySpec], cluster: &Cluster, pod: PodId) -> Vec<StackEntry> {
    let mut matched: Vec<(Scope, usize)> = policies
        .iter()
        .enumerate()
        .filter_map(|(i, p)| scope_of(p, cluster, pod).map(|s| (s, i)))
        .collect();
    matched.sort();
    let mut out = Vec::new();
    for (scope, i) in matched {
        if policies[i].dest.is_empty() {
            let any = Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0).expect("/0 is valid");
            out.push(StackEntry {
                dest: any,
                policy: i,
                scope,
            });
            break;
        }
        for d in &policies[i].dest {
            out.push(StackEntry {
                dest: *d,
                policy: i,
                scope,
            });
        }
    }
    out
}

/// The entry that applies to `dst`: the longest destination prefix holding it; among equals,
/// the first in precedence order.
pub fn select(stack: &[StackEntry], dst: Ipv4Addr) -> Option<StackEntry> {
    let mut best: Option<StackEntry> = None;
    for e in stack.iter().filter(|e| e.dest.contains(&dst)) {
        if best.is_none_or(|b| e.dest.prefix_len() > b.dest.prefix_len()) {
            best = Some(*e);
        }
    }
    best
}
