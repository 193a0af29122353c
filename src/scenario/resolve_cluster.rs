//! Resolution of the cluster: node addresses, namespaces (with the built-in `default` and
//! `kube-system`), deployments placed on nodes, services with their endpoints and ClusterIPs.

use super::decode::At;
use super::diag::{Diagnostics, Loc};
use super::raw::*;
use super::resolve::check_unique;
use crate::cluster::placement::Placer;
use crate::cluster::*;
use crate::fabric::RackId;
use crate::net::{Proto, Subnet, nth_host};

pub(super) fn resolve_cluster(
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
    let nodes = place_nodes(raw, racks, node_subnet, d)?;
    let namespaces = namespaces(raw, d);
    let (deployments, pods) = deployments(raw, &nodes, &namespaces, d);
    let services = services(raw, &namespaces, &deployments, d);

    let mut cluster = Cluster {
        node_subnet,
        pod_subnet: raw.pod_subnet.as_ref().map(|p| p.value),
        service_subnet: raw.service_subnet.as_ref().map(|p| p.value),
        nodes,
        namespaces,
        deployments,
        pods,
        services,
        node_ips: Vec::new(),
        pod_nodes: Vec::new(),
        pod_ready_bits: Vec::new(),
        node_salts: Vec::new(),
        node_hot: Vec::new(),
        node_endpoints: Vec::new(),
        on_nodes: Vec::new(),
        on_node_ids: Vec::new(),
        on_from: Vec::new(),
        readiness_epoch: 0,
        name_rank: Vec::new(),
        node_pods: Vec::new(),
        node_pods_from: Vec::new(),
        deployments_by_name: Vec::new(),
        services_by_name: Vec::new(),
    };
    cluster.index();
    Some(cluster)
}

/// The nodes, in rack order, with their addresses and labels.
fn place_nodes(
    raw: &RawCluster,
    racks: &[RawRack],
    node_subnet: Subnet,
    d: &mut Diagnostics,
) -> Option<Vec<Node>> {
    // Nodes, in rack order, with IPs from the node subnet (.2 upward when the gateway is .1).
    let mut nodes = Vec::new();
    let mut node_names: Vec<(String, &Loc, &str)> = Vec::new();
    // Addresses the manifests give are kept; the other nodes are numbered around them.
    let given: std::collections::BTreeSet<std::net::Ipv4Addr> =
        raw.node_ips.values().map(|a| a.value).collect();
    let mut next = 0u64;
    for (ri, r) in racks.iter().enumerate() {
        for n in &r.nodes {
            node_names.push((n.value.clone(), &n.loc, n.path.as_str()));
            let ip = match raw.node_ips.get(&n.value) {
                Some(a)
                    if !node_subnet.net.contains(&a.value) || a.value == node_subnet.gateway =>
                {
                    d.error(&a.loc, &a.path, format!("node {} has address {} (status.addresses), which is not a host of node_subnet {node_subnet}", n.value, a.value));
                    return None;
                }
                Some(a) => Some(a.value),
                None => loop {
                    let ip = nth_host(&[node_subnet], next);
                    next += 1;
                    match ip {
                        Some(ip) if given.contains(&ip) => continue,
                        other => break other,
                    }
                },
            };
            let Some(ip) = ip else {
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
                up: true,
                uplinks_down: 0,
                labels: Default::default(),
                pod_cidr: raw.node_pod_cidrs.get(&n.value).map(|c| c.value.net),
            });
        }
    }
    check_unique(d, "node", node_names);
    if let Some(nl) = &raw.node_labels {
        for (name, labels) in &nl.value {
            match nodes.iter_mut().find(|n| &n.name == name) {
                Some(n) => n.labels = labels.clone(),
                None => d.error(
                    &nl.loc,
                    &format!("{}.{name}", nl.path),
                    format!("no node `{name}` in the fabric's racks"),
                ),
            }
        }
    }
    Some(nodes)
}

/// The declared namespaces, and `default` and `kube-system`, which every cluster has.
fn namespaces(raw: &RawCluster, d: &mut Diagnostics) -> Vec<Namespace> {
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
    namespaces
}

/// The namespace called `name`, or an error at it.
fn namespace_id(
    namespaces: &[Namespace],
    name: &At<String>,
    d: &mut Diagnostics,
) -> Option<NamespaceId> {
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
}

/// The deployments and their pods, placed on the nodes.
// Long: it reads one object's keys in the order the file gives them, each with its
// default, its check and its message; one block per key.
fn deployments(
    raw: &RawCluster,
    nodes: &[Node],
    namespaces: &[Namespace],
    d: &mut Diagnostics,
) -> (Vec<Deployment>, Vec<Pod>) {
    let max_pods = raw
        .max_pods_per_node
        .as_ref()
        .map(|m| m.value)
        .unwrap_or(DEFAULT_MAX_PODS_PER_NODE);
    let mut deployments = Vec::new();
    // Sized up front (at most what the nodes can hold): 150,000 pods grown by doubling were
    // copied and their pages faulted in again at each step.
    let replicas: u64 = raw
        .deployments
        .iter()
        .map(|d| u64::from(d.replicas.value))
        .sum();
    let room = nodes.len() as u64 * u64::from(max_pods);
    let mut pods = Vec::with_capacity(replicas.min(room) as usize);
    let mut placer = Placer::new(nodes.len(), max_pods);
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
        let Some(ns) = namespace_id(namespaces, &rd.namespace, d) else {
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
        let placed = match placer.place(rd.replicas.value, &explicit) {
            Ok(p) => p,
            Err(m) => {
                d.error(&rd.replicas.loc, &rd.replicas.path, m);
                continue;
            }
        };
        let dep = DeploymentId(deployments.len() as u32);
        let first_pod = pods.len() as u32;
        for (i, node) in placed.into_iter().enumerate() {
            pods.push(Pod {
                name: rd
                    .pod_names
                    .get(i)
                    .map(|n| compact_str::CompactString::from(n.value.as_str()))
                    .unwrap_or_else(|| replica_name(&rd.name.value, i)),
                namespace: ns,
                deployment: dep,
                node,
                ready: !rd.not_ready.iter().any(|x| x.value as usize == i),
            });
        }
        deployments.push(Deployment {
            name: rd.name.value.clone(),
            namespace: ns,
            replicas: rd.replicas.value,
            labels: rd.labels.clone(),
            annotations: rd.annotations.clone(),
            pod_annotations: rd.pod_annotations.clone(),
            first_pod,
        });
    }
    (deployments, pods)
}

/// A replica's name, `<deployment>-<i>`: written out directly (150,000 of them through
/// `format!` took a fifth of loading the envelope).
fn replica_name(deployment: &str, i: usize) -> compact_str::CompactString {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(i);
    let mut name = compact_str::CompactString::with_capacity(deployment.len() + 1 + digits.len());
    name.push_str(deployment);
    name.push('-');
    name.push_str(digits);
    name
}

/// The services, their ports and their endpoints.
// Long: it reads one object's keys in the order the file gives them, each with its
// default, its check and its message; one block per key.
fn services(
    raw: &RawCluster,
    namespaces: &[Namespace],
    deployments: &[Deployment],
    d: &mut Diagnostics,
) -> Vec<Service> {
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
    // The deployments carrying each label: a selector's candidates are those carrying its first
    // label (a look-up only, never iterated).
    let mut carrying: rustc_hash::FxHashMap<(&str, &str), Vec<usize>> = Default::default();
    for (i, x) in deployments.iter().enumerate() {
        for (k, v) in &x.labels {
            carrying.entry((k, v)).or_default().push(i);
        }
    }
    for rs in &raw.services {
        let Some(ns) = namespace_id(namespaces, &rs.namespace, d) else {
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
        let policy = |v: &Option<At<String>>, key: &str, d: &mut Diagnostics| match v
            .as_ref()
            .map(|e| (e.value.as_str(), e))
        {
            None | Some(("Cluster", _)) => TrafficPolicy::Cluster,
            Some(("Local", _)) => TrafficPolicy::Local,
            Some((other, e)) => {
                d.error(
                    &e.loc,
                    &e.path,
                    format!("unknown {key} `{other}`; expected Cluster or Local"),
                );
                TrafficPolicy::Cluster
            }
        };
        let etp = policy(&rs.external_traffic_policy, "externalTrafficPolicy", d);
        let itp = policy(&rs.internal_traffic_policy, "internalTrafficPolicy", d);
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
        // A pod carries its deployment's labels, so the selector is matched per deployment.
        let candidates = rs
            .selector
            .iter()
            .next()
            .and_then(|(k, v)| carrying.get(&(k.as_str(), v.as_str())))
            .map_or(&[][..], Vec::as_slice);
        let endpoints = candidates
            .iter()
            .map(|i| &deployments[*i])
            .filter(|x| x.namespace == ns && selects(&rs.selector, &x.labels))
            .flat_map(|x| (x.first_pod..x.first_pod + x.replicas).map(PodId))
            .collect();
        services.push(Service {
            name: rs.name.value.clone(),
            namespace: ns,
            kind,
            selector: rs.selector.clone(),
            ports,
            external_traffic_policy: etp,
            internal_traffic_policy: itp,
            requested_lb_ip: requested_lb_ip(rs, d),
            assigned_lb_ip: rs.assigned_lb_ip.as_ref().map(|a| a.value),
            cluster_ip: raw
                .service_subnet
                .as_ref()
                .and_then(|s| nth_host(&[s.value], services.len() as u64)),
            labels: rs.labels.clone(),
            annotations: rs.annotations.clone(),
            endpoints,
            ready_endpoints: Vec::new(),
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
    services
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

/// ACI-CNI's annotation for a static LoadBalancer IP (FACTS §1), besides `spec.loadBalancerIP`.
const LB_IPAM_ANNOTATION: &str = "opflex.cisco.com/lb-ipam-ips";

/// `load_balancer_ip`, else the address of the `opflex.cisco.com/lb-ipam-ips` annotation.
fn requested_lb_ip(rs: &RawService, d: &mut Diagnostics) -> Option<std::net::Ipv4Addr> {
    if let Some(ip) = &rs.load_balancer_ip {
        return Some(ip.value);
    }
    let v = rs.annotations.get(LB_IPAM_ANNOTATION)?;
    let first = v.split(',').next().unwrap_or_default().trim();
    match first.parse() {
        Ok(ip) => Some(ip),
        Err(_) => {
            d.error(
                &rs.name.loc,
                &rs.path,
                format!("annotation {LB_IPAM_ANNOTATION} = `{v}` is not an IPv4 address"),
            );
            None
        }
    }
}
