//! Raw scenario → resolved [`Scenario`]: names become typed ids, references are checked,
//! addresses are assigned, replicas are placed, defaults are applied and recorded.

use super::decode::At;
use super::diag::{Diagnostics, Loc};
use super::raw::*;
use super::reference::{self, Ref};
use super::{Conntrack, Event, EventKind, Scenario, Traffic};
use crate::cluster::placement::place;
use crate::cluster::*;
use crate::design::{Cni, DesignSpec};
use crate::fabric::*;
use crate::net::{Proto, Subnet, nth_host};
use crate::time::Nanos;
use std::collections::BTreeMap;

/// Reports the second and later uses of one name.
pub(super) fn check_unique<'a>(
    d: &mut Diagnostics,
    what: &str,
    items: impl IntoIterator<Item = (String, &'a Loc, &'a str)>,
) {
    let mut seen: BTreeMap<String, Loc> = BTreeMap::new();
    for (name, loc, path) in items {
        if let Some(first) = seen.get(&name) {
            d.error(
                loc,
                path,
                format!(
                    "duplicate {what} `{name}` (first defined at line {})",
                    first.line
                ),
            );
        } else {
            seen.insert(name, loc.clone());
        }
    }
}

pub(super) fn resolve(raw: RawScenario, d: &mut Diagnostics) -> Option<Scenario> {
    let mut defaults = Vec::new();
    let fabric = resolve_fabric(raw.fabric.as_ref()?, &mut defaults, d);
    let designs_raw = &raw.designs;
    check_unique(
        d,
        "design",
        designs_raw
            .iter()
            .map(|x| (x.name.value.clone(), &x.name.loc, x.name.path.as_str())),
    );

    // ACI-CNI configurations first: the cluster's node subnet may come from acc-provision.
    let mut aci_partial = Vec::new();
    for rd in designs_raw {
        if let Some(a) = &rd.aci {
            aci_partial.push((rd, super::resolve_aci::resolve_net(rd, a, &mut defaults, d)));
        }
    }
    let raw_cluster = raw.cluster.as_ref()?;
    let first_aci_nodes = aci_partial
        .iter()
        .find_map(|(_, p)| p.as_ref().and_then(|p| p.node_subnets.first().copied()));
    let cluster = resolve_cluster(
        raw_cluster,
        &raw.fabric.as_ref()?.racks,
        first_aci_nodes,
        &aci_partial,
        d,
    )?;

    let mut designs = Vec::new();
    for rd in designs_raw {
        let cni = match rd.cni.value.as_str() {
            "aci-cni" => Cni::AciCni,
            "calico" => Cni::Calico,
            "kube-router" => Cni::KubeRouter,
            _ => Cni::Cilium,
        };
        let aci = match (
            &rd.aci,
            aci_partial.iter().find(|(r, _)| std::ptr::eq(*r, rd)),
        ) {
            (Some(a), Some((_, Some(net)))) => {
                super::resolve_aci::finish(rd, a, net.clone(), &fabric, &cluster, &mut defaults, d)
            }
            _ => None,
        };
        if cni != Cni::AciCni {
            d.warning(&rd.loc, &rd.path, format!(
                "the {} design is recognised but not modelled yet: its keys are not checked and `trace`/`routes` refuse it",
                cni.name()
            ));
        }
        designs.push(DesignSpec {
            name: rd.name.value.clone(),
            cni,
            aci,
        });
    }
    if aci_partial.iter().any(|(_, p)| p.is_some()) && fabric.border_leaves().is_empty() {
        d.error(
            &raw.fabric.as_ref()?.loc,
            "fabric.racks",
            "no rack has `border: true`: the L3Out needs border leaves",
        );
    }

    check_unique(
        d,
        "traffic generator",
        raw.traffic
            .iter()
            .map(|t| (t.name.value.clone(), &t.name.loc, t.name.path.as_str())),
    );
    let mut traffic = Vec::new();
    for t in &raw.traffic {
        let from = resolve_ref(&t.from, &fabric, &cluster, d);
        let to = resolve_ref(&t.to, &fabric, &cluster, d);
        if let Some(Ref::Service { .. } | Ref::Node(_) | Ref::Leaf(_) | Ref::Spine(_)) = from {
            d.error(
                &t.from.loc,
                &t.from.path,
                "a traffic source is an external network, a pod, a deployment or an IP",
            );
        }
        if let Some(r) = to.filter(|r| r.is_device()) {
            let _ = r;
            d.error(
                &t.to.loc,
                &t.to.path,
                "a traffic destination is a service, a pod, an external network or IP:port",
            );
        }
        if let (Some(from), Some(to)) = (from, to) {
            traffic.push(Traffic {
                name: t.name.value.clone(),
                from,
                to,
                arrivals: t.arrivals.clone(),
                lifetime: t.duration.clone(),
            });
        }
    }

    let mut events = Vec::new();
    for e in &raw.events {
        let (kind, target) = match (&e.fail, &e.recover) {
            (Some(t), None) => (EventKind::Fail, t),
            (None, Some(t)) => (EventKind::Recover, t),
            _ => continue,
        };
        if let Some(r) = resolve_ref(target, &fabric, &cluster, d) {
            if r.is_device() {
                events.push(Event {
                    at: e.at.value,
                    kind,
                    target: r,
                });
            } else {
                d.error(
                    &target.loc,
                    &target.path,
                    "a failure targets a device: node:NAME, leaf:ID or spine:ID",
                );
            }
        }
        if let Some(dur) = &raw.duration
            && e.at.value > dur.value
        {
            d.warning(
                &e.at.loc,
                &e.at.path,
                format!(
                    "event at {} is after the end of the run ({})",
                    e.at.value, dur.value
                ),
            );
        }
    }

    let conntrack = Conntrack {
        time_wait: raw.conntrack.time_wait.unwrap_or_else(|| {
            defaults.push(
                "conntrack.time_wait = 120s (Linux nf_conntrack_tcp_timeout_time_wait)".into(),
            );
            Nanos::from_secs(120)
        }),
        udp_timeout: raw.conntrack.udp_timeout.unwrap_or_else(|| {
            defaults.push("conntrack.udp_timeout = 30s (Linux nf_conntrack_udp_timeout)".into());
            Nanos::from_secs(30)
        }),
    };
    let name = raw.name?.value;
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        d.error(
            &raw.loc,
            "name",
            "the scenario name names the report folder: use letters, digits, `-` and `_`",
        );
    }
    Some(Scenario {
        name,
        seed: raw.seed,
        duration: raw.duration.map(|x| x.value),
        fabric,
        cluster,
        designs,
        traffic,
        events,
        conntrack,
        defaults_applied: defaults,
    })
}

/// The EPG annotation, when present, must be readable.
fn check_epg_annotation(
    annotations: &crate::scenario::decode::Labels,
    owner: &At<String>,
    d: &mut Diagnostics,
) {
    use crate::design::aci_cni::config::{EPG_ANNOTATION, epg_from_annotation};
    if let Some(v) = annotations.get(EPG_ANNOTATION)
        && let Err(m) = epg_from_annotation(v)
    {
        d.error(&owner.loc, &owner.path.replace(".name", ".annotations"), m);
    }
}

fn resolve_ref(
    r: &At<String>,
    fabric: &Fabric,
    cluster: &Cluster,
    d: &mut Diagnostics,
) -> Option<Ref> {
    reference::resolve(&r.value, fabric, cluster)
        .map_err(|m| d.error(&r.loc, &r.path, m))
        .ok()
}

fn resolve_fabric(raw: &RawFabric, defaults: &mut Vec<String>, d: &mut Diagnostics) -> Fabric {
    let spines: Vec<Spine> = raw
        .spines
        .iter()
        .map(|s| Spine { number: s.value })
        .collect();
    let mut switch_ids: Vec<(String, &Loc, &str)> = raw
        .spines
        .iter()
        .map(|s| (s.value.to_string(), &s.loc, s.path.as_str()))
        .collect();
    check_unique(
        d,
        "rack id",
        raw.racks
            .iter()
            .filter_map(|r| r.id.as_ref())
            .map(|i| (i.value.to_string(), &i.loc, i.path.as_str())),
    );
    let mut leaves = Vec::new();
    let mut racks = Vec::new();
    for (ri, r) in raw.racks.iter().enumerate() {
        if r.leaves.is_empty() || r.leaves.len() > 2 {
            d.error(
                &r.loc,
                &format!("{}.leaves", r.path),
                format!(
                    "a rack has one leaf or a vPC pair of two, not {}",
                    r.leaves.len()
                ),
            );
        }
        let mut ids = Vec::new();
        for l in &r.leaves {
            switch_ids.push((l.value.to_string(), &l.loc, l.path.as_str()));
            ids.push(LeafId(leaves.len() as u32));
            leaves.push(Leaf {
                number: l.value,
                rack: RackId(ri as u32),
                border: r.border,
                anchor: r.anchor,
            });
        }
        racks.push(Rack {
            number: r.id.as_ref().map(|i| i.value).unwrap_or(0),
            leaves: ids,
            border: r.border,
            anchor: r.anchor,
        });
    }
    check_unique(d, "switch id", switch_ids);
    check_unique(
        d,
        "external network",
        raw.external
            .iter()
            .map(|e| (e.name.value.clone(), &e.name.loc, e.name.path.as_str())),
    );
    let externals = raw
        .external
        .iter()
        .map(|e| External {
            name: e.name.value.clone(),
            prefix: e.prefix.value.net,
        })
        .collect();
    let a = Latency::ASSUMED;
    let mut lat = |v: Option<Nanos>, key: &str, dflt: Nanos| {
        v.unwrap_or_else(|| {
            defaults.push(format!(
                "fabric.latency.{key} = {dflt} (fabsim's assumption; no product default)"
            ));
            dflt
        })
    };
    let latency = Latency {
        node_leaf: lat(raw.latency.node_leaf, "node_leaf", a.node_leaf),
        leaf_spine: lat(raw.latency.leaf_spine, "leaf_spine", a.leaf_spine),
        l3out: lat(raw.latency.l3out, "l3out", a.l3out),
    };
    Fabric::new(spines, leaves, racks, externals, latency)
}

fn resolve_cluster(
    raw: &RawCluster,
    racks: &[RawRack],
    aci_node_subnet: Option<Subnet>,
    aci: &[(&RawDesign, Option<super::resolve_aci::NetPart>)],
    d: &mut Diagnostics,
) -> Option<Cluster> {
    let node_subnet = match (&raw.node_subnet, aci_node_subnet) {
        (Some(c), Some(a)) if c.value.net != a.net => {
            d.error(
                &c.loc,
                &c.path,
                format!(
                    "cluster.node_subnet {} differs from the aci-cni design's node_subnet {}",
                    c.value, a
                ),
            );
            c.value
        }
        (Some(c), _) => c.value,
        (None, Some(a)) => a,
        (None, None) => {
            // An aci-cni design that failed to give one has reported why already.
            if !raw.node_subnet_written && aci.is_empty() {
                d.error(
                    &raw.loc,
                    "cluster",
                    "missing required key `node_subnet` (or an aci-cni design that gives it)",
                );
            }
            return None;
        }
    };
    // Nodes, in rack order, with IPs from the node subnet (.2 upward when the gateway is .1).
    let mut nodes = Vec::new();
    let mut node_names: Vec<(String, &Loc, &str)> = Vec::new();
    for (ri, r) in racks.iter().enumerate() {
        for n in &r.nodes {
            node_names.push((n.value.clone(), &n.loc, n.path.as_str()));
            let Some(ip) = nth_host(&[node_subnet], nodes.len() as u64) else {
                d.error(
                    &n.loc,
                    &n.path,
                    format!(
                        "node_subnet {node_subnet} has no address left for node {}",
                        n.value
                    ),
                );
                return None;
            };
            nodes.push(Node {
                name: n.value.clone(),
                rack: RackId(ri as u32),
                ip,
                mac: mac_for(ip),
            });
        }
    }
    check_unique(d, "node", node_names);

    // Namespaces: `default` and `kube-system` always exist, as in every cluster.
    let mut namespaces: Vec<Namespace> = Vec::new();
    check_unique(
        d,
        "namespace",
        raw.namespaces
            .iter()
            .map(|n| (n.name.value.clone(), &n.name.loc, n.name.path.as_str())),
    );
    for n in &raw.namespaces {
        check_epg_annotation(&n.annotations, &n.name, d);
        if !namespaces.iter().any(|x| x.name == n.name.value) {
            namespaces.push(Namespace {
                name: n.name.value.clone(),
                labels: n.labels.clone(),
                annotations: n.annotations.clone(),
            });
        }
    }
    for builtin in ["default", "kube-system"] {
        if !namespaces.iter().any(|x| x.name == builtin) {
            namespaces.push(Namespace {
                name: builtin.into(),
                labels: Default::default(),
                annotations: Default::default(),
            });
        }
    }
    let ns_id = |name: &At<String>, d: &mut Diagnostics| {
        let id = namespaces
            .iter()
            .position(|x| x.name == name.value)
            .map(|i| NamespaceId(i as u32));
        if id.is_none() {
            d.error(
                &name.loc,
                &name.path,
                format!(
                    "namespace `{}` is not declared under cluster.namespaces",
                    name.value
                ),
            );
        }
        id
    };

    let max_pods = raw
        .max_pods_per_node
        .as_ref()
        .map(|m| m.value)
        .unwrap_or(DEFAULT_MAX_PODS_PER_NODE);
    let mut deployments = Vec::new();
    let mut pods = Vec::new();
    let mut counts = vec![0u32; nodes.len()];
    check_unique(
        d,
        "deployment",
        raw.deployments.iter().map(|x| {
            (
                format!("{}/{}", x.namespace.value, x.name.value),
                &x.name.loc,
                x.name.path.as_str(),
            )
        }),
    );
    for rd in &raw.deployments {
        check_epg_annotation(&rd.annotations, &rd.name, d);
        check_epg_annotation(&rd.pod_annotations, &rd.name, d);
        let Some(ns) = ns_id(&rd.namespace, d) else {
            continue;
        };
        let mut explicit = Vec::new();
        for p in &rd.placement {
            match nodes.iter().position(|n| n.name == p.value) {
                Some(i) => explicit.push(NodeId(i as u32)),
                None => d.error(
                    &p.loc,
                    &p.path,
                    format!("placement names node `{}`, which no rack has", p.value),
                ),
            }
        }
        if explicit.len() != rd.placement.len() {
            continue;
        }
        for nr in &rd.not_ready {
            if nr.value >= rd.replicas.value {
                d.error(
                    &nr.loc,
                    &nr.path,
                    format!(
                        "replica {} does not exist (replicas: {})",
                        nr.value, rd.replicas.value
                    ),
                );
            }
        }
        let placed = match place(rd.replicas.value, &explicit, &mut counts, max_pods) {
            Ok(p) => p,
            Err(m) => {
                d.error(&rd.replicas.loc, &rd.replicas.path, m);
                continue;
            }
        };
        let dep = DeploymentId(deployments.len() as u32);
        for (i, node) in placed.into_iter().enumerate() {
            pods.push(Pod {
                name: format!("{}-{i}", rd.name.value),
                namespace: ns,
                deployment: dep,
                node,
                labels: rd.labels.clone(),
                annotations: rd.pod_annotations.clone(),
                ready: !rd.not_ready.iter().any(|x| x.value as usize == i),
            });
        }
        deployments.push(Deployment {
            name: rd.name.value.clone(),
            namespace: ns,
            replicas: rd.replicas.value,
            labels: rd.labels.clone(),
            annotations: rd.annotations.clone(),
        });
    }

    let mut services = Vec::new();
    check_unique(
        d,
        "service",
        raw.services.iter().map(|x| {
            (
                format!("{}/{}", x.namespace.value, x.name.value),
                &x.name.loc,
                x.name.path.as_str(),
            )
        }),
    );
    for rs in &raw.services {
        let Some(ns) = ns_id(&rs.namespace, d) else {
            continue;
        };
        let kind = match rs.kind.value.as_str() {
            "ClusterIP" => ServiceType::ClusterIp,
            "NodePort" => ServiceType::NodePort,
            "LoadBalancer" => ServiceType::LoadBalancer,
            other => {
                d.error(&rs.kind.loc, &rs.kind.path, format!("unknown service type `{other}`; expected ClusterIP, NodePort or LoadBalancer"));
                continue;
            }
        };
        let etp = match rs
            .external_traffic_policy
            .as_ref()
            .map(|e| (e.value.as_str(), e))
        {
            None | Some(("Cluster", _)) => TrafficPolicy::Cluster,
            Some(("Local", _)) => TrafficPolicy::Local,
            Some((other, e)) => {
                d.error(
                    &e.loc,
                    &e.path,
                    format!("unknown externalTrafficPolicy `{other}`; expected Cluster or Local"),
                );
                TrafficPolicy::Cluster
            }
        };
        let mut ports = Vec::new();
        for p in &rs.ports {
            let proto = match p.protocol.value.as_str() {
                "TCP" => Proto::Tcp,
                "UDP" => Proto::Udp,
                other => {
                    d.error(
                        &p.protocol.loc,
                        &p.protocol.path,
                        format!("unknown service protocol `{other}`; expected TCP or UDP"),
                    );
                    continue;
                }
            };
            if p.port.value == 0 {
                d.error(&p.port.loc, &p.port.path, "port 0 is not a service port");
            }
            ports.push(ServicePort {
                name: p.name.clone(),
                port: p.port.value,
                target_port: p.target_port.unwrap_or(p.port.value),
                proto,
            });
        }
        if let Some(l) = rs
            .load_balancer_ip
            .as_ref()
            .filter(|_| kind != ServiceType::LoadBalancer)
        {
            d.error(
                &l.loc,
                &l.path,
                "load_balancer_ip is only meaningful on a LoadBalancer service",
            );
        }
        let endpoints = pods
            .iter()
            .enumerate()
            .filter(|(_, p)| p.namespace == ns && selects(&rs.selector, &p.labels))
            .map(|(i, _)| PodId(i as u32))
            .collect();
        services.push(Service {
            name: rs.name.value.clone(),
            namespace: ns,
            kind,
            selector: rs.selector.clone(),
            ports,
            external_traffic_policy: etp,
            requested_lb_ip: rs.load_balancer_ip.as_ref().map(|x| x.value),
            cluster_ip: raw
                .service_subnet
                .as_ref()
                .and_then(|s| nth_host(&[s.value], services.len() as u64)),
            labels: rs.labels.clone(),
            annotations: rs.annotations.clone(),
            endpoints,
        });
    }
    // Requested LoadBalancer IPs must be distinct.
    check_unique(
        d,
        "load_balancer_ip",
        raw.services
            .iter()
            .filter_map(|s| s.load_balancer_ip.as_ref())
            .map(|l| (l.value.to_string(), &l.loc, l.path.as_str())),
    );

    Some(Cluster {
        node_subnet,
        pod_subnet: raw.pod_subnet.as_ref().map(|p| p.value),
        service_subnet: raw.service_subnet.as_ref().map(|p| p.value),
        nodes,
        namespaces,
        deployments,
        pods,
        services,
    })
}
