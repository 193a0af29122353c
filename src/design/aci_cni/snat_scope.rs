//! Which SNAT policies select a pod, what each node asks the controller for, and which policy's
//! OVS flow a pod's connection hits.
//!
//! Sources (aci-containers 6.1.2.1 = 1f9b69b, opflex d83a8c5):
//! - Scope from the policy's shape (hostagent `pkg/hostagent/snats.go` `handleSnatUpdate`): no
//!   `snatIp` → SERVICE (the selected LoadBalancer services' IPs are the SNAT IPs); no selector →
//!   CLUSTER; a namespace only → NAMESPACE; labels → matched against the pod (POD), the services
//!   that select it (SERVICE), its deployment (DEPLOYMENT) and its namespace (NAMESPACE).
//! - Demand (`handleSnatUpdate`, `syncSnatNodeInfo`): a node asks for EVERY policy that matches
//!   one of its pods, whatever policy finally wins for each pod — a CLUSTER policy matches them all.
//!   A SERVICE policy is allocated once per (node, service IP) for every service it selects
//!   (controller `snatglobalinfo.go` `handleSnatNodeInfo`, `getServiceIpMap`).
//! - A pod's stack (`updateEpFiles`): levels POD, SERVICE, DEPLOYMENT, NAMESPACE, CLUSTER; within a
//!   level the more specific destination first (`compare`); the stack ends after the first policy
//!   without `destIp`. Each (policy, destination) becomes an OVS route flow with priority
//!   300 − position, at most 32 per endpoint; beyond, opflex logs "Limit 32 reached … hence
//!   skipping" and writes no flow (opflex `IntFlowManager.cpp` `flowsEndpointSNAT`). The highest
//!   priority whose destination holds the address wins: a later, more specific prefix does not.
//!   A policy whose unit got no chunk on the node writes no flow (`handleEndpointUpdate` only
//!   builds flows for a local Snat): its traffic falls to the next flow or leaves un-NATed.

use super::config::SnatPolicySpec;
use crate::cluster::{Cluster, PodId, ServiceId, ServiceType, selects};
use ipnet::Ipv4Net;
use std::fmt;
use std::net::Ipv4Addr;

/// opflex's limit of SNAT destination flows per endpoint (`flowsEndpointSNAT`: `count >= 32`).
pub const MAX_SNAT_FLOWS_PER_ENDPOINT: usize = 32;

/// OVS priority of the first SNAT route flow; each later one is one lower.
pub const SNAT_FLOW_PRIORITY: u32 = 300;

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

/// What the controller allocates a chunk for: a policy with `snatIp`, or one service IP of a
/// SERVICE-scope policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnatUnit {
    pub policy: usize,
    /// The service whose LoadBalancer IP this unit uses (SERVICE scope).
    pub service: Option<ServiceId>,
    /// The IPs walked in order (sorted numerically; one LB IP for a service unit).
    pub ips: Vec<Ipv4Addr>,
}

/// One entry of a pod's stack: traffic to `dest` uses `unit` (of `policy`) at `scope`, with OVS
/// priority `priority`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StackEntry {
    pub dest: Ipv4Net,
    pub policy: usize,
    pub unit: usize,
    pub scope: Scope,
    pub priority: u32,
}

/// A pod's SNAT flows, in priority order, the (policy, destination) pairs opflex skipped beyond
/// 32, and those of policies whose unit got no chunk on the pod's node (no flow at all).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stack {
    pub entries: Vec<StackEntry>,
    pub skipped: Vec<(usize, Ipv4Net)>,
    pub unallocated: Vec<(usize, Ipv4Net)>,
}

/// The LoadBalancer services a SERVICE-scope policy selects: of its namespace if it names one,
/// whose labels match its labels if it has any, and that hold a LoadBalancer IP (`lb_ip`, per
/// service) — the controller's `getServicesBySelector` keeps only services with
/// `status.loadBalancer.ingress`.
pub fn selected_services(
    policy: &SnatPolicySpec,
    cluster: &Cluster,
    lb_ip: &[Option<Ipv4Addr>],
) -> Vec<ServiceId> {
    let labels = policy.labels.as_ref().filter(|l| !l.is_empty());
    (0..cluster.services.len() as u32)
        .map(ServiceId)
        .filter(|s| {
            let svc = cluster.service(*s);
            svc.kind == ServiceType::LoadBalancer
                && lb_ip.get(s.index()).is_some_and(Option::is_some)
                && policy.namespace.is_none_or(|n| n == svc.namespace)
                && labels.is_none_or(|l| selects(l, &svc.labels))
        })
        .collect()
}

/// The scope at which `policy` selects `pod`, if it does (`lb_ip`: each service's LoadBalancer
/// IP, for SERVICE-scope policies).
pub fn scope_of(
    policy: &SnatPolicySpec,
    cluster: &Cluster,
    lb_ip: &[Option<Ipv4Addr>],
    pod: PodId,
) -> Option<Scope> {
    if policy.failed.is_some() {
        return None;
    }
    let p = cluster.pod(pod);
    if policy.namespace.is_some_and(|ns| ns != p.namespace) {
        return None;
    }
    let labels = policy.labels.as_ref().filter(|l| !l.is_empty());
    if policy.snat_ips.is_none() {
        let via_service = selected_services(policy, cluster, lb_ip)
            .iter()
            .any(|s| cluster.service(*s).endpoints.contains(&pod));
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
    if selects(labels, cluster.pod_labels(pod)) {
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

/// The longest destination prefix of a policy (0 for none: 0.0.0.0/0), for `compare`'s "more
/// specific destination first". Approximation: the hostagent compares the policies' destination
/// lists pairwise; we order by their most specific prefix, ties in the order written.
fn specificity(policy: &SnatPolicySpec) -> u8 {
    policy
        .dest
        .iter()
        .map(|d| d.prefix_len())
        .max()
        .unwrap_or(0)
}

/// The destinations of a policy as the hostagent writes them: most specific first
/// (`setDestIp`), 0.0.0.0/0 for none.
fn destinations(policy: &SnatPolicySpec) -> Vec<Ipv4Net> {
    if policy.dest.is_empty() {
        return vec![Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0).expect("/0 is valid")];
    }
    let mut d = policy.dest.clone();
    d.sort_by_key(|n| std::cmp::Reverse(n.prefix_len()));
    d
}

/// A pod's stack before its node's chunks count: its (scope, policy, unit, destination) in flow
/// order, up to the first policy without `destIp`. Every pod of a deployment has the same one
/// (a pod carries its deployment's namespace and labels, and a service selects the deployment's
/// pods together), so it is worked out once per deployment, and the stack on each node folds in
/// which units hold a chunk there ([`Template::stack`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Template(Vec<(Scope, usize, usize, Ipv4Net)>);

/// Pod `pod`'s [`Template`]. `unit_of(policy, service)` names the allocation unit of a policy
/// (with the service, for SERVICE-scope policies).
pub fn template(
    policies: &[SnatPolicySpec],
    cluster: &Cluster,
    lb_ip: &[Option<Ipv4Addr>],
    pod: PodId,
    unit_of: impl Fn(usize, Option<ServiceId>) -> Option<usize>,
) -> Template {
    let mut matched: Vec<(Scope, std::cmp::Reverse<u8>, usize)> = policies
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            scope_of(p, cluster, lb_ip, pod).map(|s| (s, std::cmp::Reverse(specificity(p)), i))
        })
        .collect();
    matched.sort();
    let mut out = Vec::new();
    for (scope, _, i) in matched {
        let p = &policies[i];
        // A SERVICE-scope policy gives the pod the unit of each selected service it belongs to
        // (`podBelongsToService`); any other policy has one unit.
        let units: Vec<usize> = if p.snat_ips.is_none() {
            selected_services(p, cluster, lb_ip)
                .into_iter()
                .filter(|s| cluster.service(*s).endpoints.contains(&pod))
                .filter_map(|s| unit_of(i, Some(s)))
                .collect()
        } else {
            unit_of(i, None).into_iter().collect()
        };
        for unit in units {
            out.extend(
                destinations(p)
                    .into_iter()
                    .map(|dest| (scope, i, unit, dest)),
            );
        }
        if p.dest.is_empty() {
            break;
        }
    }
    Template(out)
}

impl Template {
    /// The units the stack draws on, in flow order (with repeats).
    pub fn units(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().map(|(_, _, unit, _)| *unit)
    }

    /// The stack on a node where `allocated(unit)` tells whether the node holds a chunk of the
    /// unit. The hostagent lists a policy's SNAT only where its node holds a chunk
    /// (`updateEpFiles` takes the uuids from the node's own global info), so a unit without one
    /// writes no flow — and takes no position: later entries move up. The stack still ends
    /// after the first policy without `destIp`, chunk or not (the `break` there does not look
    /// at the uuids).
    pub fn stack(&self, allocated: impl Fn(usize) -> bool) -> Stack {
        let mut out = Stack::default();
        for &(scope, policy, unit, dest) in &self.0 {
            if !allocated(unit) {
                out.unallocated.push((policy, dest));
                continue;
            }
            let position = out.entries.len() + out.skipped.len();
            if position >= MAX_SNAT_FLOWS_PER_ENDPOINT {
                out.skipped.push((policy, dest));
                continue;
            }
            out.entries.push(StackEntry {
                dest,
                policy,
                unit,
                scope,
                priority: SNAT_FLOW_PRIORITY - position as u32,
            });
        }
        out
    }
}

/// The flow a packet to `dst` hits: the highest priority (first) entry whose destination holds it.
pub fn select(stack: &[StackEntry], dst: Ipv4Addr) -> Option<StackEntry> {
    stack.iter().find(|e| e.dest.contains(&dst)).copied()
}
