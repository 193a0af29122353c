//! Puts what the manifests gave into the scenario: Nodes into racks (by name, or by the label
//! `cluster.rack_label` names), workloads and Pods into deployments placed where the Pods run,
//! Services and Namespaces into the cluster.
//!
//! Invariant: what the manifests say wins over fabsim's own placement — a workload whose Pods are
//! given runs exactly those Pods on their `spec.nodeName`; only a workload without Pods is spread
//! by fabsim (on the nodes its `nodeSelector` selects).

use super::decode::At;
use super::diag::Diagnostics;
use super::manifests::{ManifestSet, Workload};
use super::raw::{RawCluster, RawDeployment, RawNamespace, RawRack};
use std::collections::BTreeMap;

/// The rack a label value names: the value itself (`3`) or its trailing number (`rack3`,
/// `rack-3`, `zone-3`).
/// A node as placement sees it.
struct NodeInfo {
    name: String,
    labels: super::decode::Labels,
    cordoned: bool,
    tainted: bool,
}

fn rack_of(value: &str) -> Option<u32> {
    let digits: String = value
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok()
}

// Long: nodes into racks, then workloads onto nodes, then pods: one pass whose steps
// share the placement maps.
pub fn apply(
    set: ManifestSet,
    rack_label: Option<&At<String>>,
    racks: &mut [RawRack],
    cluster: &mut RawCluster,
    d: &mut Diagnostics,
) {
    place_nodes(&set, rack_label, racks, cluster, d);
    // Every node (racks' nodes, manifests' Nodes, node_labels) with its labels, for
    // nodeSelectors, and whether the scheduler may put new pods there.
    let mut nodes: Vec<NodeInfo> = Vec::new();
    for r in racks.iter() {
        for n in &r.nodes {
            let labels = cluster
                .node_labels
                .as_ref()
                .and_then(|l| l.value.get(&n.value).cloned())
                .unwrap_or_default();
            let m = set.nodes.iter().find(|m| m.name.value == n.value);
            nodes.push(NodeInfo {
                name: n.value.clone(),
                labels,
                cordoned: m.is_some_and(|m| m.cordoned),
                tainted: m.is_some_and(|m| m.tainted),
            });
        }
    }

    // Namespaces used by objects but not given (a dump of one namespace, the guestbook's
    // `default`): they exist in the cluster; taken with no labels, and said.
    let declared: Vec<String> = set
        .namespaces
        .iter()
        .chain(cluster.namespaces.iter())
        .map(|n| n.name.value.clone())
        .collect();
    let mut missing = Vec::new();
    for (ns, loc) in &set.used_namespaces {
        if !declared.contains(ns) && ns != "default" && ns != "kube-system" {
            missing.push(ns.clone());
            cluster.namespaces.push(RawNamespace {
                name: At {
                    value: ns.clone(),
                    loc: loc.clone(),
                    path: "metadata.namespace".into(),
                },
                labels: Default::default(),
                annotations: Default::default(),
            });
        }
    }
    if let Some(loc) = missing.first().and_then(|ns| set.used_namespaces.get(ns)) {
        d.warning(loc, "metadata.namespace", format!("namespace(s) {} are used but not given as Namespace objects: taken as existing, with no labels or annotations (a SNAT policy or EPG that selects by namespace label will not see them)", missing.join(", ")));
    }
    cluster.namespaces.extend(set.namespaces.iter().cloned());

    let mut taken = vec![false; set.pods.len()];
    for w in &set.workloads {
        if let Some(dep) = workload(w, &set, &mut taken, &nodes, d) {
            cluster.deployments.push(dep);
        }
    }
    // Pods of no workload given (bare Pods, or owners not in the files): one deployment each.
    for (i, p) in set.pods.iter().enumerate() {
        if taken[i] {
            continue;
        }
        let Some(node) = running_on(p, None, &nodes, d) else {
            continue;
        };
        let not_ready = if pod_ready(p, &set) {
            Vec::new()
        } else {
            vec![At {
                value: 0,
                loc: p.loc.clone(),
                path: p.path.clone(),
            }]
        };
        cluster.deployments.push(RawDeployment {
            loc: p.loc.clone(),
            path: p.path.clone(),
            name: At {
                value: p.name.clone(),
                loc: p.loc.clone(),
                path: p.path.clone(),
            },
            namespace: At {
                value: p.namespace.clone(),
                loc: p.loc.clone(),
                path: p.path.clone(),
            },
            replicas: At {
                value: 1,
                loc: p.loc.clone(),
                path: p.path.clone(),
            },
            labels: p.labels.clone(),
            annotations: p.annotations.clone(),
            pod_annotations: p.annotations.clone(),
            placement: vec![node.clone()],
            not_ready,
            pod_names: vec![At {
                value: p.name.clone(),
                loc: p.loc.clone(),
                path: p.path.clone(),
            }],
        });
    }

    let mut services = set.services.clone();
    for (si, pi, name) in &set.named_target_ports {
        let svc = &services[*si];
        let port = set
            .workloads
            .iter()
            .filter(|w| w.namespace.value == svc.namespace.value)
            .filter(|w| {
                svc.selector
                    .iter()
                    .all(|(k, v)| w.pod_labels.get(k) == Some(v))
            })
            .flat_map(|w| w.container_ports.iter())
            .chain(
                set.pods
                    .iter()
                    .filter(|p| p.namespace == svc.namespace.value)
                    .filter(|p| svc.selector.iter().all(|(k, v)| p.labels.get(k) == Some(v)))
                    .flat_map(|p| p.container_ports.iter()),
            )
            .find(|(n, _)| n == &name.value)
            .map(|(_, p)| *p);
        match port {
            Some(p) => services[*si].ports[*pi].target_port = Some(p),
            None => d.warning(&name.loc, &name.path, format!("targetPort `{}` names no container port of the pods this service selects: the service port is used", name.value)),
        }
    }
    cluster.services.extend(services);
}

fn place_nodes(
    set: &ManifestSet,
    rack_label: Option<&At<String>>,
    racks: &mut [RawRack],
    cluster: &mut RawCluster,
    d: &mut Diagnostics,
) {
    for n in &set.nodes {
        let listed = racks
            .iter()
            .any(|r| r.nodes.iter().any(|x| x.value == n.name.value));
        if !listed {
            let Some(label) = rack_label else {
                d.error(&n.name.loc, &format!("Node {}", n.name.value), format!("node {} is in no rack of the fabric: list it under a rack's `nodes`, or set cluster.rack_label to the node label that holds its rack (e.g. rack_id, topology.kubernetes.io/zone)", n.name.value));
                continue;
            };
            let Some(value) = n.labels.get(&label.value) else {
                d.error(
                    &n.name.loc,
                    &format!("Node {}", n.name.value),
                    format!(
                        "node {} has no label `{}` (cluster.rack_label) to say its rack",
                        n.name.value, label.value
                    ),
                );
                continue;
            };
            let id = rack_of(value);
            match racks
                .iter_mut()
                .find(|r| r.id.as_ref().map(|i| i.value) == id && id.is_some())
            {
                Some(r) => r.nodes.push(n.name.clone()),
                None => {
                    let ids: Vec<String> = racks
                        .iter()
                        .filter_map(|r| r.id.as_ref().map(|i| i.value.to_string()))
                        .collect();
                    d.error(&n.name.loc, &format!("Node {}", n.name.value), format!("node {}: label {}={value} names no rack of the fabric (racks {}; the value or its trailing number is the rack id)", n.name.value, label.value, ids.join(", ")));
                    continue;
                }
            }
        }
        let table = cluster.node_labels.get_or_insert_with(|| At {
            value: BTreeMap::new(),
            loc: n.name.loc.clone(),
            path: "cluster.node_labels".into(),
        });
        table
            .value
            .entry(n.name.value.clone())
            .or_default()
            .extend(n.labels.clone());
        if let Some(ip) = &n.ip {
            cluster.node_ips.insert(n.name.value.clone(), ip.clone());
        }
        if let Some(c) = &n.pod_cidr {
            cluster
                .node_pod_cidrs
                .insert(n.name.value.clone(), c.clone());
        }
    }
}

/// The node a pod runs on, when it is scheduled on a node of the fabric; else said (with its
/// workload, if any) and `None`.
fn running_on<'p>(
    p: &'p super::manifests::ManifestPod,
    w: Option<&Workload>,
    nodes: &[NodeInfo],
    d: &mut Diagnostics,
) -> Option<&'p At<String>> {
    let Some(node) = &p.node_name else {
        let of = w.map(|w| format!(" of {}", w.path)).unwrap_or_default();
        d.warning(
            &p.loc,
            &p.path,
            format!("a Pod{of} without spec.nodeName is not scheduled (Pending): not simulated"),
        );
        return None;
    };
    if !nodes.iter().any(|n| n.name == node.value) {
        d.warning(
            &node.loc,
            &p.path,
            format!(
                "the Pod runs on node {}, which is in no rack of the fabric: not simulated",
                node.value
            ),
        );
        return None;
    }
    Some(node)
}

/// A pod is ready unless its status or an EndpointSlice says it is not.
fn pod_ready(p: &super::manifests::ManifestPod, set: &ManifestSet) -> bool {
    p.ready != Some(false)
        && !set
            .endpoint_readiness
            .iter()
            .any(|(ns, name, ready)| !ready && ns == &p.namespace && name == &p.name)
}

// Long: it reads one object's keys in the order the file gives them, each with its
// default, its check and its message; one block per key.
fn workload(
    w: &Workload,
    set: &ManifestSet,
    taken: &mut [bool],
    nodes: &[NodeInfo],
    d: &mut Diagnostics,
) -> Option<RawDeployment> {
    // A pod is the workload's by its owner (a ReplicaSet of a Deployment, the StatefulSet,
    // DaemonSet or ReplicaSet itself); an ownerless pod by the workload's selector, as a
    // ReplicaSet adopts orphans that match it.
    let owns = |p: &super::manifests::ManifestPod| match &p.owner {
        Some((kind, name)) if kind == "ReplicaSet" && w.kind == "Deployment" => {
            match set
                .replica_set_owner
                .get(&(p.namespace.clone(), name.clone()))
            {
                Some(dep) => *dep == w.name.value,
                // The ReplicaSet is not in the files: its name is `<deployment>-<hash>`.
                None => name
                    .rsplit_once('-')
                    .is_some_and(|(dep, _)| dep == w.name.value),
            }
        }
        Some((kind, name)) => *kind == w.kind && *name == w.name.value,
        None => w.selector.matches(&p.labels),
    };
    let mut placement = Vec::new();
    let mut not_ready = Vec::new();
    let mut pod_names = Vec::new();
    let mut found = 0;
    for (i, p) in set.pods.iter().enumerate() {
        if taken[i] || p.namespace != w.namespace.value || !owns(p) {
            continue;
        }
        taken[i] = true;
        found += 1;
        let Some(node) = running_on(p, Some(w), nodes, d) else {
            continue;
        };
        if !pod_ready(p, set) {
            not_ready.push(At {
                value: placement.len() as u32,
                loc: p.loc.clone(),
                path: p.path.clone(),
            });
        }
        placement.push(node.clone());
        pod_names.push(At {
            value: p.name.clone(),
            loc: p.loc.clone(),
            path: p.path.clone(),
        });
    }
    let at = |value: u32| At {
        value,
        loc: w.loc.clone(),
        path: w.path.clone(),
    };
    let replicas = if found > 0 {
        if let Some(r) = w.replicas
            && r as usize != found
        {
            d.warning(&w.loc, &w.path, format!("{} asks for {r} replicas and the files hold {found} of its Pods: the Pods are simulated, where they run", w.kind));
        }
        placement.len() as u32
    } else {
        // fabsim places it, on the nodes the scheduler may use: those its nodeSelector selects,
        // not cordoned or tainted NoSchedule (a DaemonSet: one pod on each, cordoned included).
        if let Some(loc) = &w.placement_rules {
            d.warning(loc, &w.path, "affinity / topologySpreadConstraints are not modelled: the files hold no Pod of it, so fabsim places its replicas itself");
        }
        let daemon = w.replicas.is_none();
        let eligible: Vec<&NodeInfo> = nodes
            .iter()
            .filter(|n| {
                w.node_selector
                    .iter()
                    .all(|(k, v)| n.labels.get(k) == Some(v))
            })
            .filter(|n| !n.tainted && (daemon || !n.cordoned))
            .collect();
        if eligible.is_empty() {
            d.warning(&w.loc, &w.path, "no node of the fabric may run it (nodeSelector, cordons, NoSchedule taints): no pod runs");
            return None;
        }
        if daemon || eligible.len() < nodes.len() {
            placement = eligible
                .iter()
                .map(|n| At {
                    value: n.name.clone(),
                    loc: w.loc.clone(),
                    path: w.path.clone(),
                })
                .collect();
        }
        w.replicas.unwrap_or(eligible.len() as u32)
    };
    if replicas == 0 {
        d.warning(
            &w.loc,
            &w.path,
            format!("{} has no pod running: nothing to simulate", w.kind),
        );
        return None;
    }
    let labels = if w.pod_labels.is_empty() {
        w.labels.clone()
    } else {
        w.pod_labels.clone()
    };
    Some(RawDeployment {
        loc: w.loc.clone(),
        path: w.path.clone(),
        name: w.name.clone(),
        namespace: w.namespace.clone(),
        replicas: at(replicas),
        labels,
        annotations: w.annotations.clone(),
        pod_annotations: w.pod_annotations.clone(),
        placement,
        not_ready,
        pod_names,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn rack_label_values_name_racks_by_their_trailing_number() {
        assert_eq!(super::rack_of("3"), Some(3));
        assert_eq!(super::rack_of("rack-12"), Some(12));
        assert_eq!(super::rack_of("zone-a"), None);
    }
}
