//! Raw scenario structs: the file's shape, decoded key by key with locations, nothing resolved yet.
//!
//! Invariant: every key of fabsim's own format is read here by name, so an unknown key is an error
//! (see `Fields::finish`); cross-references and arithmetic checks belong to `resolve`.

use super::acc_provision::AccConfig;
use super::decode::{At, Cidr, Decode, Fields, Labels, index};
use super::diag::{Diagnostics, Loc};
pub use super::raw_traffic::*;
use super::yaml::{Node, Value};
use crate::net::Subnet;
use crate::time::Nanos;
use std::net::Ipv4Addr;

/// Reads a list of mappings, giving each its `path[i]`.
fn list<T>(
    f: &mut Fields,
    key: &'static str,
    d: &mut Diagnostics,
    item: impl Fn(&Node, &str, &mut Diagnostics) -> Option<T>,
) -> Vec<T> {
    read_list(f, key, d, false, item)
}

/// Like [`list`], where an entry with `count: N` stands for N entries (`super::expand`).
fn counted_list<T>(
    f: &mut Fields,
    key: &'static str,
    d: &mut Diagnostics,
    item: impl Fn(&Node, &str, &mut Diagnostics) -> Option<T>,
) -> Vec<T> {
    read_list(f, key, d, true, item)
}

fn read_list<T>(
    f: &mut Fields,
    key: &'static str,
    d: &mut Diagnostics,
    counted: bool,
    item: impl Fn(&Node, &str, &mut Diagnostics) -> Option<T>,
) -> Vec<T> {
    let path = f.child(key);
    let Some(node) = f.node(key) else {
        return Vec::new();
    };
    match &node.value {
        Value::Null => Vec::new(),
        Value::Seq(items) if counted => super::expand::expand_list(items, &path, d)
            .iter()
            .filter_map(|(n, p)| item(n, p, d))
            .collect(),
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, n)| item(n, &index(&path, i), d))
            .collect(),
        _ => {
            d.error(
                &node.loc,
                &path,
                format!("expected a list, found {}", node.kind()),
            );
            Vec::new()
        }
    }
}

#[derive(Clone, Debug)]
pub struct RawScenario {
    pub loc: Loc,
    pub name: Option<At<String>>,
    pub seed: u64,
    pub duration: Option<At<Nanos>>,
    pub fabric: Option<RawFabric>,
    pub cluster: Option<RawCluster>,
    pub designs: Vec<RawDesign>,
    pub traffic: Vec<RawTraffic>,
    pub events: Vec<RawEvent>,
    pub conntrack: RawConntrack,
    /// `warmup: 90s` or `warmup: auto` (the default).
    pub warmup: Option<At<super::warmup::WarmupSetting>>,
    /// `kubernetes.node_monitor_grace_period`.
    pub node_monitor_grace_period: Option<Nanos>,
    /// `kubernetes.node_status_update_frequency` (kubelet's, 10 s).
    pub node_status_update_frequency: Option<Nanos>,
}

impl RawScenario {
    pub fn decode(node: &Node, d: &mut Diagnostics, base_dir: &std::path::Path) -> Option<Self> {
        // A Kubernetes object or list given where a scenario is expected (`fabsim validate
        // dump.yaml`): say what it is instead of listing its keys as unknown.
        if let Some(kind) = super::object::text_at(node, &["kind"])
            && super::object::child(node, "apiVersion").is_some()
        {
            d.error(&node.loc, "", format!("this is a Kubernetes {kind}, not a fabsim scenario: name the file in a scenario, under `cluster: {{ manifests: [FILE] }}` (or a design's `resources`, `daemonset`)"));
            return None;
        }
        let mut f = Fields::strict(node, "", d)?;
        let name = f.req_at("name", d);
        let seed = f.opt("seed", d).unwrap_or(1);
        let duration = f.opt_at("duration", d);
        let warmup = f.opt_at("warmup", d);
        let fabric = f
            .node("fabric")
            .and_then(|n| RawFabric::decode(n, "fabric", d));
        if !f.has("fabric") {
            d.error(f.loc(), "", "missing required key `fabric`");
        }
        let mut fabric = fabric;
        let mut cluster = f
            .node("cluster")
            .and_then(|n| RawCluster::decode(n, "cluster", d, base_dir));
        if let Some(c) = cluster.as_mut()
            && let Some(set) = c.manifests.take()
        {
            let rack_label = c.rack_label.clone();
            let mut no_racks = Vec::new();
            let racks = fabric.as_mut().map_or(&mut no_racks, |f| &mut f.racks);
            super::manifest_place::apply(set, rack_label.as_ref(), racks, c, d);
        }
        if !f.has("cluster") {
            d.error(f.loc(), "", "missing required key `cluster`");
        }
        let designs = list(&mut f, "designs", d, |n, p, d| {
            RawDesign::decode(n, p, d, base_dir)
        });
        let traffic = list(&mut f, "traffic", d, RawTraffic::decode);
        let events = list(&mut f, "events", d, RawEvent::decode);
        let conntrack = f
            .node("conntrack")
            .and_then(|n| RawConntrack::decode(n, "conntrack", d))
            .unwrap_or_default();
        let mut node_monitor_grace_period = None;
        let mut node_status_update_frequency = None;
        if let Some(k) = f.node("kubernetes")
            && let Some(mut g) = Fields::strict(k, "kubernetes", d)
        {
            node_monitor_grace_period = g.opt("node_monitor_grace_period", d);
            node_status_update_frequency = g.opt("node_status_update_frequency", d);
            g.finish(d);
        }
        // What-if variants are read by `variant::listed` (compare); here they are only known.
        let _ = f.node("variants");
        let loc = f.loc().clone();
        f.finish(d);
        Some(RawScenario {
            loc,
            name,
            seed,
            duration,
            fabric,
            cluster,
            designs,
            traffic,
            events,
            conntrack,
            warmup,
            node_monitor_grace_period,
            node_status_update_frequency,
        })
    }
}

#[derive(Clone, Debug)]
pub struct RawFabric {
    pub loc: Loc,
    pub spines: Vec<At<u32>>,
    pub racks: Vec<RawRack>,
    pub latency: RawLatency,
    pub external: Vec<RawExternal>,
    /// `fabric.bgp`: the ACI side of the BGP designs' peerings.
    pub bgp: Option<super::raw_bgp::RawFabricBgp>,
}

impl RawFabric {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::strict(node, path, d)?;
        let spines: Option<Vec<At<u32>>> = f.req("spines", d);
        if spines.as_ref().is_some_and(Vec::is_empty) {
            d.error(
                f.loc(),
                &f.child("spines"),
                "a fabric needs at least one spine",
            );
        }
        let spines = spines.unwrap_or_default();
        let racks = counted_list(&mut f, "racks", d, RawRack::decode);
        if !f.has("racks") {
            d.error(f.loc(), path, "missing required key `racks`");
        }
        let latency = f
            .node("latency")
            .and_then(|n| RawLatency::decode(n, &f.child("latency"), d))
            .unwrap_or_default();
        let external = list(&mut f, "external", d, RawExternal::decode);
        let bgp = f
            .node("bgp")
            .and_then(|n| super::raw_bgp::RawFabricBgp::decode(n, &f.child("bgp"), d));
        let loc = f.loc().clone();
        f.finish(d);
        Some(RawFabric {
            loc,
            spines,
            racks,
            latency,
            external,
            bgp,
        })
    }
}

#[derive(Clone, Debug)]
pub struct RawRack {
    pub loc: Loc,
    pub path: String,
    pub id: Option<At<u32>>,
    pub leaves: Vec<At<u32>>,
    pub border: bool,
    pub anchor: bool,
    pub nodes: Vec<At<String>>,
}

impl RawRack {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::strict(node, path, d)?;
        let id = f.req_at("id", d);
        let leaves = f.req("leaves", d).unwrap_or_default();
        let border = f.opt("border", d).unwrap_or(false);
        let anchor = f.opt("anchor", d).unwrap_or(true);
        let nodes_path = f.child("nodes");
        let nodes = match f.node("nodes") {
            None => Vec::new(),
            // `nodes: [a, b]` names them; `nodes: { count: N, prefix: P }` gives P1 … PN.
            Some(n) if matches!(n.value, Value::Seq(_)) => {
                Vec::<At<String>>::decode(n, &nodes_path, d).unwrap_or_default()
            }
            Some(n) => {
                let mut g = Fields::strict(n, &nodes_path, d)?;
                let count: Option<u32> = g.req("count", d);
                let prefix: Option<String> = g.req("prefix", d);
                g.finish(d);
                match (count, prefix) {
                    (Some(c), Some(p)) if c <= 100_000 => (1..=c)
                        .map(|i| At {
                            value: format!("{p}{i}"),
                            loc: n.loc.clone(),
                            path: nodes_path.clone(),
                        })
                        .collect(),
                    (Some(c), Some(_)) => {
                        d.error(
                            &n.loc,
                            &nodes_path,
                            format!("{c} nodes in one rack is beyond any real rack"),
                        );
                        Vec::new()
                    }
                    _ => Vec::new(),
                }
            }
        };
        let loc = f.loc().clone();
        f.finish(d);
        Some(RawRack {
            loc,
            path: path.to_string(),
            id,
            leaves,
            border,
            anchor,
            nodes,
        })
    }
}

#[derive(Clone, Debug, Default)]
pub struct RawLatency {
    pub node_leaf: Option<Nanos>,
    pub leaf_spine: Option<Nanos>,
    pub l3out: Option<Nanos>,
}

impl RawLatency {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::strict(node, path, d)?;
        let r = RawLatency {
            node_leaf: f.opt("node_leaf", d),
            leaf_spine: f.opt("leaf_spine", d),
            l3out: f.opt("l3out", d),
        };
        f.finish(d);
        Some(r)
    }
}

#[derive(Clone, Debug)]
pub struct RawExternal {
    pub name: At<String>,
    pub prefix: At<Subnet>,
}

impl RawExternal {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::strict(node, path, d)?;
        let name = f.req_at("name", d);
        let prefix = f.req_at("prefix", d);
        f.finish(d);
        Some(RawExternal {
            name: name?,
            prefix: prefix?,
        })
    }
}

#[derive(Clone, Debug)]
pub struct RawCluster {
    pub loc: Loc,
    /// `node_subnet` was written (even if invalid), so its absence is not reported twice.
    pub node_subnet_written: bool,
    pub node_subnet: Option<At<Subnet>>,
    pub pod_subnet: Option<At<Subnet>>,
    pub service_subnet: Option<At<Subnet>>,
    pub max_pods_per_node: Option<At<u32>>,
    /// `node_labels: { NODE: { key: value } }`: labels of nodes (node roles for ACI-CNI's
    /// node_snat_redirect_exclude).
    pub node_labels: Option<At<std::collections::BTreeMap<String, Labels>>>,
    pub namespaces: Vec<RawNamespace>,
    pub deployments: Vec<RawDeployment>,
    pub services: Vec<RawService>,
    /// `manifests: [FILE or DIR, …]`: what they gave, put in place by `RawScenario::decode`.
    pub manifests: Option<super::manifests::ManifestSet>,
    /// `rack_label`: the node label whose value (or its trailing number) is the node's rack id.
    pub rack_label: Option<At<String>>,
    /// Node addresses the manifests give (`status.addresses` InternalIP).
    pub node_ips: std::collections::BTreeMap<String, At<Ipv4Addr>>,
    /// Node pod ranges the manifests give (`spec.podCIDR`).
    pub node_pod_cidrs: std::collections::BTreeMap<String, At<Subnet>>,
}

impl RawCluster {
    fn decode(
        node: &Node,
        path: &str,
        d: &mut Diagnostics,
        base_dir: &std::path::Path,
    ) -> Option<Self> {
        let mut f = Fields::strict(node, path, d)?;
        let node_subnet_written = f.has("node_subnet");
        let node_subnet = f.opt_at("node_subnet", d);
        let pod_subnet = f.opt_at("pod_subnet", d);
        let service_subnet = f.opt_at("service_subnet", d);
        let max_pods_per_node = f.opt_at("max_pods_per_node", d);
        let node_labels = f.opt_at("node_labels", d);
        let namespaces = counted_list(&mut f, "namespaces", d, RawNamespace::decode);
        let deployments = counted_list(&mut f, "deployments", d, RawDeployment::decode);
        let services = counted_list(&mut f, "services", d, RawService::decode);
        let manifests = f
            .node("manifests")
            .map(|n| super::manifests::read(n, &f.child("manifests"), base_dir, d));
        let rack_label = f.opt_at("rack_label", d);
        let loc = f.loc().clone();
        f.finish(d);
        Some(RawCluster {
            loc,
            node_subnet_written,
            node_subnet,
            pod_subnet,
            service_subnet,
            max_pods_per_node,
            node_labels,
            namespaces,
            deployments,
            services,
            manifests,
            rack_label,
            node_ips: Default::default(),
            node_pod_cidrs: Default::default(),
        })
    }
}

#[derive(Clone, Debug)]
pub struct RawNamespace {
    pub name: At<String>,
    pub labels: Labels,
    pub annotations: Labels,
}

impl RawNamespace {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::strict(node, path, d)?;
        let name = f.req_at("name", d);
        let labels = f.opt("labels", d).unwrap_or_default();
        let annotations = f.opt("annotations", d).unwrap_or_default();
        f.finish(d);
        Some(RawNamespace {
            name: name?,
            labels,
            annotations,
        })
    }
}

#[derive(Clone, Debug)]
pub struct RawDeployment {
    pub loc: Loc,
    pub path: String,
    pub name: At<String>,
    pub namespace: At<String>,
    pub replicas: At<u32>,
    pub labels: Labels,
    pub annotations: Labels,
    /// Annotations of the pod template (the pods' own annotations).
    pub pod_annotations: Labels,
    /// Explicit placement: replica i goes to `placement[i % len]`.
    pub placement: Vec<At<String>>,
    /// Replicas (by index) that are not ready.
    pub not_ready: Vec<At<u32>>,
    /// The replicas' names, as `kubectl get pods` shows them (default `<name>-<index>`).
    pub pod_names: Vec<At<String>>,
}

impl RawDeployment {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::strict(node, path, d)?;
        let name = f.req_at("name", d);
        let namespace = f.req_at("namespace", d);
        let replicas = f.req_at("replicas", d);
        let labels = f.opt("labels", d).unwrap_or_default();
        let annotations = f.opt("annotations", d).unwrap_or_default();
        let pod_annotations = f.opt("pod_annotations", d).unwrap_or_default();
        let placement = f.opt("placement", d).unwrap_or_default();
        let not_ready = f.opt("not_ready", d).unwrap_or_default();
        let pod_names: Vec<At<String>> = f.opt("pod_names", d).unwrap_or_default();
        if let Some(r) = &replicas
            && !pod_names.is_empty()
            && pod_names.len() != r.value as usize
        {
            d.error(
                f.loc(),
                &f.child("pod_names"),
                format!("{} pod names for {} replicas", pod_names.len(), r.value),
            );
        }
        let loc = f.loc().clone();
        f.finish(d);
        Some(RawDeployment {
            loc,
            path: path.to_string(),
            name: name?,
            namespace: namespace?,
            replicas: replicas?,
            labels,
            annotations,
            pod_annotations,
            placement,
            not_ready,
            pod_names,
        })
    }
}

#[derive(Clone, Debug)]
pub struct RawServicePort {
    pub name: Option<String>,
    pub port: At<u16>,
    pub target_port: Option<u16>,
    pub protocol: At<String>,
}

#[derive(Clone, Debug)]
pub struct RawService {
    pub loc: Loc,
    pub path: String,
    pub name: At<String>,
    pub namespace: At<String>,
    pub kind: At<String>,
    pub selector: Labels,
    pub ports: Vec<RawServicePort>,
    pub external_traffic_policy: Option<At<String>>,
    pub internal_traffic_policy: Option<At<String>>,
    pub load_balancer_ip: Option<At<Ipv4Addr>>,
    /// `assigned_lb_ip`: the address the LoadBalancer already has (a dump's status).
    pub assigned_lb_ip: Option<At<Ipv4Addr>>,
    pub labels: Labels,
    pub annotations: Labels,
}

impl RawService {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::strict(node, path, d)?;
        let name = f.req_at("name", d);
        let namespace = f.req_at("namespace", d);
        let kind = f.opt_at("type", d);
        let selector = f.opt("selector", d).unwrap_or_default();
        let ports = list(&mut f, "ports", d, |n, p, d| {
            let mut g = Fields::strict(n, p, d)?;
            let name = g.opt("name", d);
            let port = g.req_at("port", d);
            let target_port = g.opt("target_port", d);
            let protocol = g.opt_at("protocol", d);
            g.finish(d);
            let protocol = protocol.unwrap_or(At {
                value: "TCP".into(),
                loc: n.loc.clone(),
                path: p.to_string(),
            });
            Some(RawServicePort {
                name,
                port: port?,
                target_port,
                protocol,
            })
        });
        if !f.has("ports") {
            d.error(f.loc(), path, "missing required key `ports`");
        }
        let external_traffic_policy = f.opt_at("external_traffic_policy", d);
        let internal_traffic_policy = f.opt_at("internal_traffic_policy", d);
        let load_balancer_ip = f.opt_at("load_balancer_ip", d);
        let assigned_lb_ip = f.opt_at("assigned_lb_ip", d);
        let labels = f.opt("labels", d).unwrap_or_default();
        let annotations = f.opt("annotations", d).unwrap_or_default();
        let loc = f.loc().clone();
        let kind = kind.unwrap_or(At {
            value: "ClusterIP".into(),
            loc: loc.clone(),
            path: f.child("type"),
        });
        f.finish(d);
        Some(RawService {
            loc,
            path: path.to_string(),
            name: name?,
            namespace: namespace?,
            kind,
            selector,
            ports,
            external_traffic_policy,
            internal_traffic_policy,
            load_balancer_ip,
            assigned_lb_ip,
            labels,
            annotations,
        })
    }
}

/// A design entry. The BGP designs' bodies are kept as located YAML until their issue models them.
#[derive(Clone, Debug)]
pub struct RawDesign {
    pub loc: Loc,
    pub path: String,
    pub name: At<String>,
    pub cni: At<String>,
    pub aci: Option<RawAciDesign>,
    pub bgp: Option<super::raw_bgp::RawBgpDesign>,
}

#[derive(Clone, Debug)]
pub struct RawAciDesign {
    /// From the acc-provision file, when one is given.
    pub imported: Option<AccConfig>,
    /// An acc-provision file was named but could not be read or parsed (already reported).
    pub import_failed: bool,
    /// Inline keys; they override the imported ones.
    pub inline: AccConfig,
    pub snat_policies: Vec<RawSnatPolicy>,
    pub contracts: Vec<RawContract>,
    pub snat_accounting: Option<At<String>>,
    /// APIC's IP SLA monitoring policy "detect multiplier" (3).
    pub ip_sla_detect_multiplier: Option<At<u32>>,
}

/// An extra contract between EPGs (what a network team adds on the APIC).
#[derive(Clone, Debug)]
pub struct RawContract {
    pub name: At<String>,
    pub providers: Vec<At<String>>,
    pub consumers: Vec<At<String>>,
    pub filters: Vec<At<String>>,
}

impl RawContract {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::strict(node, path, d)?;
        let name = f.req_at("name", d);
        let providers = f.req("providers", d);
        let consumers = f.req("consumers", d);
        let filters = f.req("filters", d);
        f.finish(d);
        Some(RawContract {
            name: name?,
            providers: providers?,
            consumers: consumers?,
            filters: filters?,
        })
    }
}

#[derive(Clone, Debug)]
pub struct RawSnatPolicy {
    pub loc: Loc,
    pub path: String,
    pub name: At<String>,
    pub snat_ip: Option<Vec<At<Cidr>>>,
    pub dest_ip: Vec<At<Cidr>>,
    pub namespace: Option<At<String>>,
    pub labels: Option<Labels>,
}

impl RawDesign {
    fn decode(
        node: &Node,
        path: &str,
        d: &mut Diagnostics,
        base_dir: &std::path::Path,
    ) -> Option<Self> {
        let mut f = Fields::strict(node, path, d)?;
        let name = f.req_at("name", d);
        let cni: Option<At<String>> = f.req_at("cni", d);
        let loc = f.loc().clone();
        let mut aci = None;
        let mut bgp = None;
        match cni.as_ref().map(|c| c.value.as_str()) {
            Some("aci-cni") => {
                let named = f.has("acc_provision");
                let imported = f.node("acc_provision").and_then(|n| {
                    let p = f.child("acc_provision");
                    super::acc_provision::import_reference(n, &p, base_dir, d)
                });
                let import_failed = named && imported.is_none();
                let inline = AccConfig::read_inline(&mut f, d);
                let snat_policies = list(&mut f, "snat_policies", d, RawSnatPolicy::decode);
                let contracts = list(&mut f, "contracts", d, RawContract::decode);
                let snat_accounting = f.opt_at("snat_accounting", d);
                let ip_sla_detect_multiplier = f.opt_at("ip_sla_detect_multiplier", d);
                aci = Some(RawAciDesign {
                    imported,
                    import_failed,
                    inline,
                    snat_policies,
                    contracts,
                    snat_accounting,
                    ip_sla_detect_multiplier,
                });
            }
            Some("calico" | "kube-router" | "cilium") => {
                bgp = Some(super::raw_bgp::read(&mut f, d, base_dir));
            }
            Some(other) => {
                let c = cni.as_ref().expect("matched Some");
                d.error(
                    &c.loc,
                    &c.path,
                    format!("unknown cni `{other}`; expected one of aci-cni, calico, kube-router, cilium"),
                );
                return None;
            }
            None => {}
        }
        f.finish(d);
        Some(RawDesign {
            loc,
            path: path.to_string(),
            name: name?,
            cni: cni?,
            aci,
            bgp,
        })
    }
}

impl RawSnatPolicy {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::strict(node, path, d)?;
        let name = f.req_at("name", d);
        let snat_ip = f.opt("snat_ip", d);
        let dest_ip = f.opt("dest_ip", d).unwrap_or_default();
        let (mut namespace, mut labels) = (None, None);
        if let Some(sel) = f.node("selector") {
            let mut g = Fields::strict(sel, &f.child("selector"), d)?;
            namespace = g.opt_at("namespace", d);
            labels = g.opt("labels", d);
            g.finish(d);
        }
        let loc = f.loc().clone();
        f.finish(d);
        Some(RawSnatPolicy {
            loc,
            path: path.to_string(),
            name: name?,
            snat_ip,
            dest_ip,
            namespace,
            labels,
        })
    }
}
