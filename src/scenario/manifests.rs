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
use super::raw::{RawNamespace, RawService, RawServicePort};
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
    pub owned: bool,
    pub host_network: bool,
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
    /// Namespaces objects are in, with where they were first used.
    pub used_namespaces: BTreeMap<String, Loc>,
    /// Addresses the objects carry that fabsim allocates itself: what, and the first line.
    pub given_addresses: BTreeMap<&'static str, u64>,
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
            match std::fs::read_to_string(&f) {
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
    let mut objects = Vec::new();
    for doc in &docs {
        if matches!(doc.value, Value::Null) {
            continue;
        }
        let kind = text_at(doc, &["kind"]).unwrap_or_default();
        if kind.ends_with("List") {
            match child(doc, "items").map(|i| &i.value) {
                Some(Value::Seq(items)) => objects.extend(items.iter()),
                Some(Value::Null) | None => {}
                Some(_) => d.error(
                    &doc.loc,
                    "items",
                    "`items` of a List must be a list of objects",
                ),
            }
        } else {
            objects.push(doc);
        }
    }
    for obj in objects {
        read_object(obj, set, &mut ignored, d);
    }
    for (what, line) in std::mem::take(&mut set.given_addresses) {
        let loc = Loc::new(Arc::from(name), line, 1);
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
        "Node" => {
            let ip = match child(obj, "status").and_then(|s| child(s, "addresses")).map(|a| &a.value) {
                Some(Value::Seq(addrs)) => addrs
                    .iter()
                    .find(|a| text_at(a, &["type"]).as_deref() == Some("InternalIP"))
                    .and_then(|a| {
                        let t = at::<String>(a, &["address"], d)?;
                        match t.value.parse::<Ipv4Addr>() {
                            Ok(ip) => Some(At { value: ip, loc: t.loc, path: t.path }),
                            // An IPv6 InternalIP (dual stack): the IPv4 one, if any, is used.
                            Err(_) => None,
                        }
                    }),
                _ => None,
            };
            let pod_cidr = at::<String>(obj, &["spec", "podCIDR"], d).and_then(|c| match Subnet::parse(&c.value) {
                Ok(s) => Some(At { value: s, loc: c.loc, path: c.path }),
                Err(_) => {
                    d.warning(&c.loc, &path, format!("spec.podCIDR `{}` is not an IPv4 prefix: not used (IPv6 is not modelled)", c.value));
                    None
                }
            });
            set.nodes.push(ManifestNode {
                name,
                labels,
                pod_cidr,
                ip,
            });
        }
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => {
            if kind == "ReplicaSet" && child(obj, "metadata").and_then(|m| child(m, "ownerReferences")).is_some() {
                // Owned by a Deployment, which is read itself; its pods match the Deployment.
                return;
            }
            let template = child(obj, "spec").and_then(|s| child(s, "template"));
            let replicas = if kind == "DaemonSet" {
                None
            } else {
                Some(at::<u32>(obj, &["spec", "replicas"], d).map(|a| a.value).unwrap_or(1))
            };
            let selector = child(obj, "spec")
                .and_then(|s| child(s, "selector"))
                .map(|s| label_selector(s, d))
                .unwrap_or_default();
            let pod_labels = template.map(|t| labels_at(t, &["metadata", "labels"], d)).unwrap_or_default();
            let pod_annotations = template.map(|t| labels_at(t, &["metadata", "annotations"], d)).unwrap_or_default();
            let pod_spec = template.and_then(|t| child(t, "spec"));
            let node_selector = pod_spec.map(|s| labels_at(s, &["nodeSelector"], d)).unwrap_or_default();
            let mut container_ports = Vec::new();
            if let Some(Value::Seq(cs)) = pod_spec.and_then(|s| child(s, "containers")).map(|c| &c.value) {
                for c in cs {
                    if let Some(Value::Seq(ps)) = child(c, "ports").map(|p| &p.value) {
                        for p in ps {
                            if let (Some(n), Some(port)) = (text_at(p, &["name"]), at::<u16>(p, &["containerPort"], d)) {
                                container_ports.push((n, port.value));
                            }
                        }
                    }
                }
            }
            if let Some(s) = pod_spec {
                not_modelled_pod_spec(s, &path, d);
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
            });
        }
        "Pod" => {
            let spec = child(obj, "spec");
            let owned = child(obj, "metadata")
                .and_then(|m| child(m, "ownerReferences"))
                .is_some();
            // A workload's pods share its template, which is said once with the workload.
            if let Some(s) = spec
                && !owned
            {
                not_modelled_pod_spec(s, &path, d);
            }
            if let Some(ip) = child(obj, "status").and_then(|s| child(s, "podIP")) {
                set.given_addresses.entry("status.podIP (pod addresses: fabsim allocates its own, per design)").or_insert(ip.loc.line);
            }
            let ready = match child(obj, "status").and_then(|s| child(s, "conditions")).map(|c| &c.value) {
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
                node_name: at::<String>(obj, &["spec", "nodeName"], d),
                ready,
                owned,
                host_network: at::<bool>(obj, &["spec", "hostNetwork"], d).is_some_and(|a| a.value),
            });
        }
        "Service" => {
            if let Some(ip) = child(obj, "spec").and_then(|s| child(s, "clusterIP"))
                && matches!(&ip.value, Value::Str(v) if v != "None")
                && name.value != "kubernetes"
            {
                set.given_addresses
                    .entry("spec.clusterIP (service addresses: fabsim allocates its own from cluster.service_subnet)")
                    .or_insert(ip.loc.line);
            }
            if let Some((s, named)) = service(obj, name, namespace, labels, annotations, &path, d) {
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
            } else {
                format!("{other} (not a kind fabsim knows)")
            };
            ignored.entry(key).or_default().push(obj.loc.line);
        }
    }
}

/// Pod spec fields that change where or how a pod talks and that fabsim does not model.
fn not_modelled_pod_spec(spec: &Node, path: &str, d: &mut Diagnostics) {
    if let Some(h) = child(spec, "hostNetwork")
        && matches!(h.value, Value::Bool(true))
    {
        d.warning(&h.loc, path, "hostNetwork: true is not modelled: the pod is simulated with its own pod IP, not its node's");
    }
    for key in ["affinity", "topologySpreadConstraints"] {
        if let Some(n) = child(spec, key) {
            d.warning(&n.loc, path, format!("{key} is not modelled: without Pods that say where they run, fabsim spreads the replicas itself (fewest pods first)"));
        }
    }
}

/// Named `targetPort`s of one service: (port index, name).
type NamedTargets = Vec<(usize, At<String>)>;

fn service(
    obj: &Node,
    name: At<String>,
    namespace: At<String>,
    labels: Labels,
    annotations: Labels,
    path: &str,
    d: &mut Diagnostics,
) -> Option<(RawService, NamedTargets)> {
    let spec = child(obj, "spec");
    let mut named = Vec::new();
    let kind = at::<String>(obj, &["spec", "type"], d).unwrap_or(At {
        value: "ClusterIP".into(),
        loc: obj.loc.clone(),
        path: format!("{path}.spec.type"),
    });
    if kind.value == "ExternalName" {
        d.warning(
            &obj.loc,
            path,
            "an ExternalName service is a DNS alias with no forwarding: not simulated",
        );
        return None;
    }
    if namespace.value == "default" && name.value == "kubernetes" {
        // The API server's own service: fabsim reserves its ClusterIP (.1) already.
        return None;
    }
    if text_at(obj, &["spec", "clusterIP"]).as_deref() == Some("None") {
        d.warning(&obj.loc, path, "a headless service (clusterIP: None) has no service IP: clients reach its pods directly; not simulated as a service");
        return None;
    }
    let selector = labels_at(obj, &["spec", "selector"], d);
    if selector.is_empty() {
        d.warning(&obj.loc, path, "a service without a selector has hand-made endpoints, which fabsim does not model: not simulated");
        return None;
    }
    let mut ports = Vec::new();
    if let Some(Value::Seq(ps)) = spec.and_then(|s| child(s, "ports")).map(|p| &p.value) {
        for p in ps {
            let Some(port) = at::<u16>(p, &["port"], d) else {
                d.error(&p.loc, path, "a service port needs `port`");
                continue;
            };
            let target_port = match child(p, "targetPort") {
                Some(t) => match &t.value {
                    Value::Int(n) => u16::try_from(*n).ok(),
                    Value::Str(s) => s.parse().ok().or_else(|| {
                        // A named targetPort: looked up in the selected pods' containers.
                        named.push((
                            ports.len(),
                            At {
                                value: s.clone(),
                                loc: t.loc.clone(),
                                path: format!("{path}.spec.ports"),
                            },
                        ));
                        None
                    }),
                    _ => None,
                },
                None => None,
            };
            let protocol = at::<String>(p, &["protocol"], d).unwrap_or(At {
                value: "TCP".into(),
                loc: p.loc.clone(),
                path: format!("{path}.spec.ports"),
            });
            ports.push(RawServicePort {
                name: text_at(p, &["name"]),
                port,
                target_port,
                protocol,
            });
        }
    }
    if ports.is_empty() {
        d.error(&obj.loc, path, "a service needs at least one port");
        return None;
    }
    if let Some(a) = spec.and_then(|s| child(s, "sessionAffinity"))
        && matches!(&a.value, Value::Str(s) if s == "ClientIP")
    {
        d.warning(
            &a.loc,
            path,
            "sessionAffinity: ClientIP is not modelled: each connection picks its backend afresh",
        );
    }
    if let Some(a) = spec.and_then(|s| child(s, "externalIPs"))
        && matches!(&a.value, Value::Seq(v) if !v.is_empty())
    {
        d.warning(&a.loc, path, "spec.externalIPs are not modelled as destinations (Calico's serviceExternalIPs advertisement is): use the LoadBalancer IP");
    }
    if let Some(a) = spec.and_then(|s| child(s, "loadBalancerSourceRanges")) {
        d.warning(
            &a.loc,
            path,
            "loadBalancerSourceRanges are not modelled: every client is admitted",
        );
    }
    let load_balancer_ip = at::<String>(obj, &["spec", "loadBalancerIP"], d)
        .or_else(|| {
            // What `kubectl get -o yaml` shows: the address the LoadBalancer was given.
            match child(obj, "status").and_then(|s| child(s, "loadBalancer")).and_then(|l| child(l, "ingress")).map(|i| &i.value) {
                Some(Value::Seq(v)) => v.iter().find_map(|i| at::<String>(i, &["ip"], d)),
                _ => None,
            }
        })
        .and_then(|a| match a.value.parse::<Ipv4Addr>() {
            Ok(ip) => Some(At { value: ip, loc: a.loc, path: a.path }),
            Err(_) => {
                d.warning(&a.loc, path, format!("LoadBalancer IP `{}` is not an IPv4 address: fabsim allocates one (IPv6 is not modelled)", a.value));
                None
            }
        });
    Some((
        RawService {
            loc: obj.loc.clone(),
            path: path.to_string(),
            name,
            namespace,
            kind,
            selector,
            ports,
            external_traffic_policy: at(obj, &["spec", "externalTrafficPolicy"], d),
            internal_traffic_policy: at(obj, &["spec", "internalTrafficPolicy"], d),
            load_balancer_ip,
            labels,
            annotations,
        },
        named,
    ))
}
