//! Kubernetes manifests as the cluster: `cluster: { manifests: [FILE or DIR, …] }` reads what
//! `kubectl apply` takes and what `kubectl get … -o yaml` writes (multi-document files,
//! `kind: List`) — Namespaces, Nodes, Deployments, StatefulSets, DaemonSets, ReplicaSets, Pods,
//! Services, EndpointSlices — into fabsim's own cluster entries (`RawNamespace`,
//! `RawDeployment`, `RawService`); `manifest_place` then puts the nodes in racks and the pods
//! where the manifests say.
//!
//! Invariant: every object is either read into the cluster or named in a warning with its
//! file and line (NetworkPolicies and other kinds are not modelled). Credentials (Secrets) are
//! never read beyond their kind and name.

use super::decode::{At, Decode, Labels};
use super::diag::{Diagnostics, Loc};
use super::object::{at, child, label_selector, labels_at, text_at};
use super::raw::{RawNamespace, RawService};
use super::yaml::{Node, Value};
use crate::cluster::selector::LabelSelector;
use crate::net::Subnet;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

/// A Node object.
#[derive(Clone, Debug)]
pub struct ManifestNode {
    pub name: At<String>,
    pub labels: Labels,
    /// `spec.podCIDR` (the node's pod range when the CNI takes it from Kubernetes).
    pub pod_cidr: Option<At<Subnet>>,
    /// `status.addresses[type=InternalIP]`.
    pub ip: Option<At<Ipv4Addr>>,
    /// `spec.unschedulable`, or a NoSchedule / NoExecute taint: the scheduler puts no new pod
    /// there (a DaemonSet tolerates `unschedulable`).
    pub cordoned: bool,
    pub tainted: bool,
}

/// A Deployment, StatefulSet, DaemonSet or ReplicaSet: what makes pods.
#[derive(Clone, Debug)]
pub struct Workload {
    pub kind: String,
    pub loc: Loc,
    pub path: String,
    pub name: At<String>,
    pub namespace: At<String>,
    /// `spec.replicas` (1 when absent); `None` for a DaemonSet (one per selected node).
    pub replicas: Option<u32>,
    pub selector: LabelSelector,
    pub labels: Labels,
    pub annotations: Labels,
    pub pod_labels: Labels,
    pub pod_annotations: Labels,
    pub node_selector: Labels,
    /// Named container ports of the pod template (for a Service's named `targetPort`).
    pub container_ports: Vec<(String, u16)>,
    /// Where the template asks for affinity or topology spread (said if fabsim places it).
    pub placement_rules: Option<Loc>,
}

/// A Pod object.
#[derive(Clone, Debug)]
pub struct ManifestPod {
    pub loc: Loc,
    pub path: String,
    pub name: String,
    pub namespace: String,
    pub labels: Labels,
    pub annotations: Labels,
    pub node_name: Option<At<String>>,
    /// `status.conditions[type=Ready]`, when the object has a status.
    pub ready: Option<bool>,
    /// The first `ownerReferences` entry: (kind, name).
    pub owner: Option<(String, String)>,
    pub host_network: bool,
    /// Named container ports (for a Service's named `targetPort`).
    pub container_ports: Vec<(String, u16)>,
}

/// Everything the manifests gave, before placement.
#[derive(Clone, Debug, Default)]
pub struct ManifestSet {
    pub namespaces: Vec<RawNamespace>,
    pub nodes: Vec<ManifestNode>,
    pub workloads: Vec<Workload>,
    pub pods: Vec<ManifestPod>,
    pub services: Vec<RawService>,
    /// EndpointSlice endpoints naming a pod: (namespace, pod, ready).
    pub endpoint_readiness: Vec<(String, String, bool)>,
    /// ReplicaSets owned by a Deployment: (namespace, ReplicaSet) → Deployment.
    pub replica_set_owner: BTreeMap<(String, String), String>,
    /// Namespaces objects are in, with where they were first used.
    pub used_namespaces: BTreeMap<String, Loc>,
    /// IPv6 parts of a dual-stack cluster (said once per file): what, and where.
    pub ipv6: Vec<(String, Loc)>,
    /// Addresses the objects carry that fabsim allocates itself: what, and the first line.
    pub given_addresses: BTreeMap<&'static str, Loc>,
    /// Named `targetPort`s: (service index, port index, name), looked up in the pods' containers.
    pub named_target_ports: Vec<(usize, usize, At<String>)>,
}

/// Kinds that carry no forwarding state fabsim could use; named once per file as ignored.
const NOTHING_TO_SIMULATE: &[&str] = &[
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "StorageClass",
    "Endpoints",
    "Event",
    "Job",
    "CronJob",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "LimitRange",
    "ResourceQuota",
    "CustomResourceDefinition",
    "ControllerRevision",
    "Lease",
    "PriorityClass",
    "Ingress",
    "IngressClass",
];

/// Reads `manifests: [FILE or DIR, …]` (paths relative to the scenario's folder; a directory's
/// `.yaml`, `.yml` and `.json` files in name order).
pub fn read(node: &Node, path: &str, base_dir: &Path, d: &mut Diagnostics) -> ManifestSet {
    let mut set = ManifestSet::default();
    let Some(entries) = Vec::<At<String>>::decode_at(node, path, d) else {
        return set;
    };
    for e in entries {
        let full = base_dir.join(&e.value);
        let files = if full.is_dir() {
            match std::fs::read_dir(&full) {
                Ok(rd) => {
                    let mut v: Vec<_> = rd
                        .filter_map(|x| x.ok().map(|x| x.path()))
                        .filter(|p| {
                            p.extension()
                                .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
                        })
                        .collect();
                    v.sort();
                    if v.is_empty() {
                        d.warning(
                            &e.loc,
                            &e.path,
                            format!("{} holds no .yaml, .yml or .json file", full.display()),
                        );
                    }
                    v
                }
                Err(err) => {
                    d.error(
                        &e.loc,
                        &e.path,
                        format!("cannot read {}: {err}", full.display()),
                    );
                    continue;
                }
            }
        } else {
            vec![full]
        };
        for f in files {
            match super::read_input(&f) {
                Ok(text) => read_file(&f.display().to_string(), &text, &mut set, d),
                Err(err) => d.error(
                    &e.loc,
                    &e.path,
                    format!("cannot read {}: {err}", f.display()),
                ),
            }
        }
    }
    set
}

trait DecodeAt: Sized {
    fn decode_at(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Vec<At<String>>>;
}

impl DecodeAt for Vec<At<String>> {
    /// One path or a list of them.
    fn decode_at(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Vec<At<String>>> {
        match &node.value {
            Value::Str(s) => Some(vec![At {
                value: s.clone(),
                loc: node.loc.clone(),
                path: path.to_string(),
            }]),
            _ => Vec::<At<String>>::decode(node, path, d),
        }
    }
}

/// One file: every document, `kind: List` items included.
pub fn read_file(name: &str, text: &str, set: &mut ManifestSet, d: &mut Diagnostics) {
    let Some(docs) = super::yaml::parse_multi(&Arc::from(name), text, d) else {
        return;
    };
    let mut ignored: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let objects = super::object::objects_of(docs, d);
    if objects.is_empty() {
        d.warning(
            &Loc::new(Arc::from(name), 1, 1),
            "(document)",
            "holds no Kubernetes object: nothing read from this file",
        );
    }
    for obj in &objects {
        read_object(obj, set, &mut ignored, d);
    }
    let v6 = std::mem::take(&mut set.ipv6);
    if let Some((_, first)) = v6.first() {
        let more = if v6.len() > 6 { ", …" } else { "" };
        let list: Vec<String> = v6
            .iter()
            .take(6)
            .map(|(w, l)| format!("{w} (line {})", l.line))
            .collect();
        d.warning(
            first,
            "(document)",
            format!(
                "dual stack: fabsim models IPv4 only; {} IPv6 part(s) are not simulated: {}{more}",
                v6.len(),
                list.join(", ")
            ),
        );
    }
    for (what, loc) in std::mem::take(&mut set.given_addresses) {
        d.warning(
            &loc,
            "(document)",
            format!("read, not modelled: {what}; the first is at this line"),
        );
    }
    if !ignored.is_empty() {
        let what: Vec<String> = ignored
            .iter()
            .map(|(k, lines)| {
                let l: Vec<String> = lines.iter().take(8).map(|x| x.to_string()).collect();
                let more = if lines.len() > 8 { ", …" } else { "" };
                format!("{k} ×{} (line {}{more})", lines.len(), l.join(", "))
            })
            .collect();
        let loc = Loc::new(Arc::from(name), 1, 1);
        d.warning(
            &loc,
            "(document)",
            format!(
                "read but not simulated (nothing in them changes forwarding, NAT or BGP): {}",
                what.join("; ")
            ),
        );
    }
}

// Long: one arm per Kubernetes kind; each arm reads that kind's fields in order.
fn read_object(
    obj: &Node,
    set: &mut ManifestSet,
    ignored: &mut BTreeMap<String, Vec<u64>>,
    d: &mut Diagnostics,
) {
    let Some(kind) = text_at(obj, &["kind"]) else {
        d.error(
            &obj.loc,
            "(document)",
            "a Kubernetes object needs `kind` (and `apiVersion`, `metadata.name`)",
        );
        return;
    };
    let Some(name) = at::<String>(obj, &["metadata", "name"], d) else {
        d.error(&obj.loc, &kind, format!("a {kind} needs `metadata.name`"));
        return;
    };
    let namespaced = !matches!(kind.as_str(), "Namespace" | "Node");
    let namespace = at::<String>(obj, &["metadata", "namespace"], d).unwrap_or(At {
        value: "default".into(),
        loc: obj.loc.clone(),
        path: "metadata.namespace".into(),
    });
    let path = if namespaced {
        format!("{kind} {}/{}", namespace.value, name.value)
    } else {
        format!("{kind} {}", name.value)
    };
    let labels = labels_at(obj, &["metadata", "labels"], d);
    let annotations = labels_at(obj, &["metadata", "annotations"], d);
    let known = matches!(
        kind.as_str(),
        "Namespace"
            | "Node"
            | "Deployment"
            | "StatefulSet"
            | "DaemonSet"
            | "ReplicaSet"
            | "Pod"
            | "Service"
            | "EndpointSlice"
            | "NetworkPolicy"
    );
    if known && namespaced {
        set.used_namespaces
            .entry(namespace.value.clone())
            .or_insert_with(|| obj.loc.clone());
    }
    match kind.as_str() {
        "Namespace" => set.namespaces.push(RawNamespace {
            name,
            labels,
            annotations,
        }),
        "Node" => node_object(obj, name, &path, labels, set, d),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => workload_object(
            obj,
            Meta {
                kind: kind.clone(),
                name,
                namespace,
                path,
                labels,
                annotations,
            },
            set,
            d,
        ),
        "Pod" => pod_object(
            obj,
            Meta {
                kind: kind.clone(),
                name,
                namespace,
                path,
                labels,
                annotations,
            },
            set,
            d,
        ),
        "Service" => {
            ipv6_in(obj, &["spec", "clusterIPs"], None, &path, &mut set.ipv6);
            if let Some(ip) = child(obj, "spec").and_then(|s| child(s, "clusterIP"))
                && matches!(&ip.value, Value::Str(v) if v != "None")
                && name.value != "kubernetes"
            {
                set.given_addresses
                    .entry("spec.clusterIP (service addresses: fabsim allocates its own from cluster.service_subnet)")
                    .or_insert(ip.loc.clone());
            }
            if let Some((s, named)) = super::manifest_service::service(obj, name, namespace, labels, annotations, &path, d) {
                let i = set.services.len();
                set.named_target_ports.extend(named.into_iter().map(|(p, n)| (i, p, n)));
                set.services.push(s);
            }
        }
        "EndpointSlice" => {
            if let Some(Value::Seq(eps)) = child(obj, "endpoints").map(|e| &e.value) {
                for e in eps {
                    let target = child(e, "targetRef");
                    let pod = target
                        .filter(|t| text_at(t, &["kind"]).as_deref() == Some("Pod"))
                        .and_then(|t| text_at(t, &["name"]));
                    // conditions.ready: nil means ready (discovery/v1 `EndpointConditions`).
                    let ready = child(e, "conditions")
                        .and_then(|c| child(c, "ready"))
                        .is_none_or(|r| !matches!(r.value, Value::Bool(false)));
                    if let Some(p) = pod {
                        set.endpoint_readiness.push((namespace.value.clone(), p, ready));
                    }
                }
            }
        }
        "NetworkPolicy" => d.warning(
            &obj.loc,
            &path,
            "NetworkPolicy is read but not modelled yet: the traffic it would deny is simulated as allowed",
        ),
        other => {
            let key = if NOTHING_TO_SIMULATE.contains(&other) || other.is_empty() {
                other.to_string()
            } else if other.starts_with("Cilium")
                || matches!(other, "BGPConfiguration" | "BGPPeer" | "IPPool" | "FelixConfiguration")
            {
                format!("{other} (a BGP resource: give it under a design's `resources`)")
            } else {
                format!("{other} (not a kind fabsim knows)")
            };
            ignored.entry(key).or_default().push(obj.loc.line);
        }
    }
}

/// `hostNetwork: true`: the pod talks with its node's address, which fabsim does not model.
fn host_network(spec: &Node, path: &str, d: &mut Diagnostics) {
    if let Some(h) = child(spec, "hostNetwork")
        && matches!(h.value, Value::Bool(true))
    {
        d.warning(&h.loc, path, "hostNetwork: true is not modelled: the pod is simulated with its own pod IP, not its node's");
    }
}

/// The IPv6 entries of a list of addresses at `keys` (items themselves, or their `field`).
fn ipv6_in(
    obj: &Node,
    keys: &[&str],
    field: Option<&str>,
    path: &str,
    out: &mut Vec<(String, Loc)>,
) {
    let mut cur = obj;
    for k in keys {
        let Some(c) = child(cur, k) else {
            return;
        };
        cur = c;
    }
    let Value::Seq(items) = &cur.value else {
        return;
    };
    for x in items {
        let v = match field {
            Some(f) => child(x, f),
            None => Some(x),
        };
        if let Some(Value::Str(a)) = v.map(|n| &n.value)
            && a.contains(':')
        {
            out.push((
                format!("{path} {} {a}", keys[keys.len() - 1]),
                x.loc.clone(),
            ));
        }
    }
}

/// The first owner of an object (`metadata.ownerReferences[0]`): (kind, name).
fn owner_of(obj: &Node) -> Option<(String, String)> {
    let o = child(obj, "metadata")
        .and_then(|m| child(m, "ownerReferences"))
        .and_then(super::object::first)?;
    Some((text_at(o, &["kind"])?, text_at(o, &["name"])?))
}

/// The named container ports of a pod spec.
fn container_ports(spec: &Node, d: &mut Diagnostics) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    if let Some(Value::Seq(cs)) = child(spec, "containers").map(|c| &c.value) {
        for c in cs {
            if let Some(Value::Seq(ps)) = child(c, "ports").map(|p| &p.value) {
                for p in ps {
                    if let (Some(n), Some(port)) =
                        (text_at(p, &["name"]), at::<u16>(p, &["containerPort"], d))
                    {
                        out.push((n, port.value));
                    }
                }
            }
        }
    }
    out
}

/// A `Node`: its address and labels.
// Long: it reads one object's keys in the order the file gives them, each with its
// default, its check and its message; one block per key.
fn node_object(
    obj: &Node,
    name: At<String>,
    path: &str,
    labels: Labels,
    set: &mut ManifestSet,
    d: &mut Diagnostics,
) {
    let ip = match child(obj, "status")
        .and_then(|s| child(s, "addresses"))
        .map(|a| &a.value)
    {
        Some(Value::Seq(addrs)) => addrs
            .iter()
            .find(|a| text_at(a, &["type"]).as_deref() == Some("InternalIP"))
            .and_then(|a| {
                let t = at::<String>(a, &["address"], d)?;
                match t.value.parse::<Ipv4Addr>() {
                    Ok(ip) => Some(At {
                        value: ip,
                        loc: t.loc,
                        path: t.path,
                    }),
                    // An IPv6 InternalIP (dual stack): the IPv4 one, if any, is used.
                    Err(_) => None,
                }
            }),
        _ => None,
    };
    let pod_cidr =
        at::<String>(obj, &["spec", "podCIDR"], d).and_then(|c| match Subnet::parse(&c.value) {
            Ok(s) => Some(At {
                value: s,
                loc: c.loc,
                path: c.path,
            }),
            Err(_) if c.value.contains(':') => {
                set.ipv6
                    .push((format!("{path} podCIDR {}", c.value), c.loc));
                None
            }
            Err(m) => {
                d.error(&c.loc, path, format!("spec.podCIDR: {m}"));
                None
            }
        });
    ipv6_in(obj, &["spec", "podCIDRs"], None, path, &mut set.ipv6);
    ipv6_in(
        obj,
        &["status", "addresses"],
        Some("address"),
        path,
        &mut set.ipv6,
    );
    let ready = match child(obj, "status")
        .and_then(|s| child(s, "conditions"))
        .map(|c| &c.value)
    {
        Some(Value::Seq(cs)) => cs
            .iter()
            .find(|c| text_at(c, &["type"]).as_deref() == Some("Ready"))
            .map(|c| text_at(c, &["status"]).unwrap_or_default()),
        _ => None,
    };
    if let Some(r) = ready.filter(|r| r != "True") {
        d.warning(&obj.loc, path, format!("the node's Ready condition is {r}: fabsim simulates it as up (fail it with an event to see the outage)"));
    }
    let cordoned = at::<bool>(obj, &["spec", "unschedulable"], d).is_some_and(|a| a.value);
    let tainted = match child(obj, "spec")
        .and_then(|s| child(s, "taints"))
        .map(|t| &t.value)
    {
        Some(Value::Seq(ts)) => ts.iter().any(|t| {
            matches!(
                text_at(t, &["effect"]).as_deref(),
                Some("NoSchedule" | "NoExecute")
            ) && text_at(t, &["key"]).as_deref() != Some("node.kubernetes.io/unschedulable")
        }),
        _ => false,
    };
    set.nodes.push(ManifestNode {
        name,
        labels,
        pod_cidr,
        ip,
        cordoned,
        tainted,
    });
}

/// What every object has: its kind, name, namespace, labels and annotations, and how messages
/// name it (`path`).
struct Meta {
    kind: String,
    name: At<String>,
    namespace: At<String>,
    path: String,
    labels: Labels,
    annotations: Labels,
}

/// A workload (Deployment, StatefulSet, DaemonSet, ReplicaSet): its replicas, pod labels and annotations.
fn workload_object(obj: &Node, meta: Meta, set: &mut ManifestSet, d: &mut Diagnostics) {
    let Meta {
        kind,
        name,
        namespace,
        path,
        labels,
        annotations,
    } = meta;
    if kind == "ReplicaSet"
        && let Some((_, owner)) = owner_of(obj)
    {
        // Owned by a Deployment, which is read itself; its pods are the Deployment's.
        set.replica_set_owner
            .insert((namespace.value.clone(), name.value.clone()), owner);
        return;
    }
    let template = child(obj, "spec").and_then(|s| child(s, "template"));
    let replicas = if kind == "DaemonSet" {
        None
    } else {
        Some(
            at::<u32>(obj, &["spec", "replicas"], d)
                .map(|a| a.value)
                .unwrap_or(1),
        )
    };
    let selector = child(obj, "spec")
        .and_then(|s| child(s, "selector"))
        .map(|s| label_selector(s, d))
        .unwrap_or_default();
    if selector.match_labels.is_empty() && selector.match_expressions.is_empty() {
        d.error(
            &obj.loc,
            &path,
            format!("a {kind} needs a non-empty spec.selector (apps/v1; Kubernetes refuses it)"),
        );
        return;
    }
    let pod_labels = template
        .map(|t| labels_at(t, &["metadata", "labels"], d))
        .unwrap_or_default();
    let pod_annotations = template
        .map(|t| labels_at(t, &["metadata", "annotations"], d))
        .unwrap_or_default();
    let pod_spec = template.and_then(|t| child(t, "spec"));
    let node_selector = pod_spec
        .map(|s| labels_at(s, &["nodeSelector"], d))
        .unwrap_or_default();
    let container_ports = pod_spec.map(|s| container_ports(s, d)).unwrap_or_default();
    let placement_rules = pod_spec.and_then(|s| {
        child(s, "affinity")
            .or_else(|| child(s, "topologySpreadConstraints"))
            .map(|n| n.loc.clone())
    });
    if let Some(s) = pod_spec {
        host_network(s, &path, d);
    }
    set.workloads.push(Workload {
        kind,
        loc: obj.loc.clone(),
        path,
        name,
        namespace,
        replicas,
        selector,
        labels,
        annotations,
        pod_labels,
        pod_annotations,
        node_selector,
        container_ports,
        placement_rules,
    });
}

/// A `Pod`: where it runs, its owner, labels and address.
fn pod_object(obj: &Node, meta: Meta, set: &mut ManifestSet, d: &mut Diagnostics) {
    let Meta {
        name,
        namespace,
        path,
        labels,
        annotations,
        ..
    } = meta;
    let spec = child(obj, "spec");
    let owner = owner_of(obj);
    // A workload's pods share its template, which is said once with the workload.
    let by_workload = owner
        .as_ref()
        .is_some_and(|(k, _)| matches!(k.as_str(), "ReplicaSet" | "StatefulSet" | "DaemonSet"));
    if let Some(s) = spec
        && !by_workload
    {
        host_network(s, &path, d);
    }
    if let Some(phase) = text_at(obj, &["status", "phase"])
        && matches!(phase.as_str(), "Succeeded" | "Failed")
    {
        let reason = text_at(obj, &["status", "reason"])
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        d.warning(
            &obj.loc,
            &path,
            format!("the Pod's phase is {phase}{reason}: it no longer runs; not simulated"),
        );
        return;
    }
    ipv6_in(obj, &["status", "podIPs"], Some("ip"), &path, &mut set.ipv6);
    if let Some(ip) = child(obj, "status").and_then(|s| child(s, "podIP")) {
        set.given_addresses
            .entry("status.podIP (pod addresses: fabsim allocates its own, per design)")
            .or_insert(ip.loc.clone());
    }
    let ready = match child(obj, "status")
        .and_then(|s| child(s, "conditions"))
        .map(|c| &c.value)
    {
        Some(Value::Seq(cs)) => cs
            .iter()
            .find(|c| text_at(c, &["type"]).as_deref() == Some("Ready"))
            .map(|c| text_at(c, &["status"]).as_deref() == Some("True")),
        _ => None,
    };
    set.pods.push(ManifestPod {
        loc: obj.loc.clone(),
        path,
        name: name.value,
        namespace: namespace.value,
        labels,
        annotations,
        node_name: at::<String>(obj, &["spec", "nodeName"], d).filter(|n| !n.value.is_empty()),
        ready,
        owner,
        host_network: at::<bool>(obj, &["spec", "hostNetwork"], d).is_some_and(|a| a.value),
        container_ports: spec.map(|s| container_ports(s, d)).unwrap_or_default(),
    });
}
