//! Calico and Cilium resources as users keep them (`calicoctl get -o yaml`, `kubectl get -o
//! yaml`, the products' examples): one file or several, multi-document, `kind: List`. Read into
//! what the BGP designs use; per-node objects (Calico `node.<name>` BGPConfiguration, BGPPeer
//! `node` / `nodeSelector`) kept per node; every kind or field fabsim does not model named.

use super::decode::{At, Cidr, Labels};
use super::diag::{Diagnostics, Loc};
use super::object::{at as get, child, first, label_selector, load_objects, text_at};
use super::yaml::{Node, Value};
use crate::cluster::selector::LabelSelector;
use crate::time::Nanos;
use std::net::Ipv4Addr;

/// Calico or Cilium resources fabsim uses (Calico BGPConfiguration, BGPPeer, IPPool; Cilium
/// CiliumBGPClusterConfig, CiliumBGPPeerConfig, CiliumBGPAdvertisement, CiliumLoadBalancerIPPool).
#[derive(Clone, Debug, Default)]
pub struct RawResources {
    pub as_number: Option<u32>,
    pub node_to_node_mesh: Option<bool>,
    pub service_cluster_ips: Vec<Cidr>,
    pub service_external_ips: Vec<Cidr>,
    pub service_loadbalancer_ips: Vec<Cidr>,
    pub pool_cidr: Option<At<Cidr>>,
    pub block_size: Option<At<u8>>,
    pub nat_outgoing: Option<bool>,
    /// Cilium: localASN and the peers' peerASN of the first BGP instance.
    pub local_asn: Option<u32>,
    pub peer_asn: Option<u32>,
    pub hold_time: Option<Nanos>,
    pub keepalive: Option<Nanos>,
    pub graceful_restart: Option<bool>,
    pub restart_time: Option<Nanos>,
    /// Cilium resources given: what the CiliumBGPAdvertisements selected by the peer config's
    /// families advertise — (PodCIDR, the selectors of Service advertisements of
    /// LoadBalancerIP). `None`: no Cilium BGP resources.
    pub advertisements: Option<(bool, Vec<LabelSelector>)>,
    /// CiliumBGPPeerConfig `families[].advertisements` selectors.
    pub family_selectors: Vec<LabelSelector>,
    /// Every CiliumBGPAdvertisement: its labels, PodCIDR, Service (LoadBalancerIP) selectors.
    pub advertisement_docs: Vec<(Labels, bool, Vec<LabelSelector>)>,
    /// CiliumLoadBalancerIPPool `serviceSelector` per block.
    pub lb_pool_selectors: Vec<(Cidr, Option<LabelSelector>)>,
    pub lb_pool: Vec<Cidr>,
    /// Calico BGPPeers, in file order.
    pub peers: Vec<RawBgpPeer>,
    /// Calico `node.<name>` BGPConfigurations: (node, asNumber, where).
    pub node_configs: Vec<(String, Option<u32>, Loc)>,
    /// Where the resources were read from (for messages about the whole set).
    pub loc: Option<Loc>,
    /// CiliumBGPClusterConfig `nodeSelector`: only these nodes run BGP.
    pub cilium_node_selector: Option<LabelSelector>,
    /// The first BGP instance's peers: (peerAddress, IPv4 when it is one, peerASN, where).
    pub cilium_peers: Vec<(String, Option<Ipv4Addr>, Option<u32>, Loc)>,
    /// Calico `Node` resources: (name, labels, spec.bgp.asNumber, where).
    pub calico_nodes: Vec<(String, Labels, Option<u32>, Loc)>,
}

/// A Calico BGPPeer (projectcalico.org/v3 `BGPPeerSpec`).
#[derive(Clone, Debug)]
pub struct RawBgpPeer {
    pub loc: Loc,
    pub name: String,
    /// `peerIP` (an address, or `address:port`).
    pub peer_ip: Option<At<std::net::Ipv4Addr>>,
    pub as_number: Option<u32>,
    /// `node`: this node only.
    pub node: Option<String>,
    /// `nodeSelector`: the nodes that peer (none of `node`/`nodeSelector`: every node).
    pub node_selector: Option<crate::cluster::calico_selector::Selector>,
    pub password: bool,
}

/// Calico and Cilium resources: every object of the files (one or several; multi-document;
/// `kind: List`), `files` as (full path, where the scenario names it).
// Long: one pass over a resource file's objects, one arm per kind (BGPPeer,
// BGPConfiguration, IPPool, Node, Cilium's kinds) — the kinds share the loop's state.
pub fn read_resources(files: &[(String, At<String>)], d: &mut Diagnostics) -> Option<RawResources> {
    let mut docs = Vec::new();
    for (name, at) in files {
        docs.extend(load_objects(name, at, d)?);
    }
    let mut r = RawResources {
        loc: docs.first().map(|doc| doc.loc.clone()),
        ..Default::default()
    };
    let mut default_seen: Option<Loc> = None;
    // IPv6 parts of a dual-stack setup: (value, line), said once below.
    let mut skipped: Vec<(String, Loc)> = Vec::new();
    for doc in &docs {
        let kind = get::<String>(doc, &["kind"], d)
            .map(|k| k.value)
            .unwrap_or_default();
        if kind.starts_with("Cilium") && kind != "CiliumBGPPeeringPolicy" {
            super::cilium_audit::audit(doc, &kind, d);
        }
        match kind.as_str() {
            "BGPConfiguration" => bgp_configuration(doc, &mut r, &mut default_seen, &mut skipped, d),
            "BGPPeer" => {
                if let Some(p) = bgp_peer(doc, d) {
                    r.peers.push(p);
                }
            }
            "CiliumBGPClusterConfig" => cilium_cluster_config(doc, &mut r, d),
            "CiliumBGPPeerConfig" => cilium_peer_config(doc, &mut r, d),
            "CiliumBGPAdvertisement" => cilium_advertisement(doc, &mut r, d),
            "CiliumLoadBalancerIPPool" => cilium_lb_pool(doc, &mut r, &mut skipped, d),
            "IPPool" => ip_pool(doc, &mut r, &mut skipped, d),
            "Node"
                if text_at(doc, &["apiVersion"])
                    .is_some_and(|v| v.starts_with("projectcalico.org")) =>
            {
                // Calico's Node: its labels (BGPPeer nodeSelectors match them) and its own AS.
                r.calico_nodes.push((
                    text_at(doc, &["metadata", "name"]).unwrap_or_default(),
                    get::<Labels>(doc, &["metadata", "labels"], d)
                        .map(|a| a.value)
                        .unwrap_or_default(),
                    get::<u32>(doc, &["spec", "bgp", "asNumber"], d).map(|a| a.value),
                    doc.loc.clone(),
                ));
            }
            // Said below (the v1 Cilium policy) or nothing to simulate (namespaces, secrets).
            "CiliumBGPPeeringPolicy" => {}
            "Namespace" | "Secret" => d.warning(&doc.loc, "(document)", format!("a {kind} among the BGP resources: nothing in it changes BGP; not read (Namespaces go under cluster.manifests)")),
            "Service" | "Deployment" | "Pod" | "Node" | "StatefulSet" | "DaemonSet"
            | "EndpointSlice" => {
                d.warning(&doc.loc, "(document)", format!("a Kubernetes {kind} among the BGP resources is not read here: give it under cluster.manifests"));
            }
            other => {
                let what = if other.is_empty() {
                    "a document without `kind`".to_string()
                } else {
                    format!("kind `{other}`")
                };
                d.warning(&doc.loc, "(document)", format!("{what} is not a resource fabsim reads here (BGPConfiguration, BGPPeer, IPPool; CiliumBGPClusterConfig, CiliumBGPPeerConfig, CiliumBGPAdvertisement, CiliumLoadBalancerIPPool): ignored"));
            }
        }
    }
    ipv6(&skipped, &r, d);
    const READ: &[&str] = &[
        "BGPConfiguration",
        "BGPPeer",
        "IPPool",
        "CiliumBGPClusterConfig",
        "CiliumBGPPeerConfig",
        "CiliumBGPAdvertisement",
        "CiliumLoadBalancerIPPool",
    ];
    let read_any = docs.iter().any(|doc| {
        get::<String>(doc, &["kind"], d).is_some_and(|k| READ.contains(&k.value.as_str()))
    });
    if !read_any {
        // An empty or comment-only file is said where the scenario names it.
        let (loc, path) = match docs.first() {
            Some(doc) => (doc.loc.clone(), "(document)".to_string()),
            None => (files[0].1.loc.clone(), files[0].1.path.clone()),
        };
        d.error(
            &loc,
            &path,
            format!(
                "{} holds no Calico or Cilium resource fabsim reads ({})",
                files
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                READ.join(", ")
            ),
        );
    }
    for doc in &docs {
        if let Some(k) = get::<String>(doc, &["kind"], d)
            && k.value == "CiliumBGPPeeringPolicy"
        {
            d.warning(&k.loc, &k.path, "CiliumBGPPeeringPolicy (BGP control plane v1) is not modelled: fabsim reads the v2 resources (CiliumBGPClusterConfig, CiliumBGPPeerConfig, CiliumBGPAdvertisement)");
        }
    }
    let cilium = docs.iter().any(|doc| {
        get::<String>(doc, &["kind"], d).is_some_and(|k| {
            matches!(
                k.value.as_str(),
                "CiliumBGPClusterConfig" | "CiliumBGPPeerConfig" | "CiliumBGPAdvertisement"
            )
        })
    });
    if cilium
        && r.family_selectors.is_empty()
        && let Some(doc) = docs.first()
    {
        d.warning(&doc.loc, "(document)", "no CiliumBGPPeerConfig family selects an advertisement: Cilium advertises nothing over these peers");
    }
    if cilium {
        // Nothing is advertised unless an advertisement selected by the peer config's
        // families says so (cilium `bgp_peer_types.go`, `reconcilerv2`).
        let (mut pod, mut lb) = (false, Vec::new());
        for (labels, p, sels) in &r.advertisement_docs {
            if r.family_selectors.iter().any(|s| s.matches(labels)) {
                pod |= *p;
                lb.extend(sels.iter().cloned());
            }
        }
        r.advertisements = Some((pod, lb));
    }
    Some(r)
}

/// The fields of a Calico BGPConfiguration spec fabsim models; the others are named.
const BGP_CONFIGURATION_FIELDS: &[(&str, Option<&str>)] = &[
    ("asNumber", None),
    ("nodeToNodeMeshEnabled", None),
    ("serviceClusterIPs", None),
    ("serviceExternalIPs", None),
    ("serviceLoadBalancerIPs", None),
    ("logSeverityScreen", Some("")),
    (
        "listenPort",
        Some(
            "BIRD listens on another port; the nodes still connect out to the fabric's 179, so sessions come up",
        ),
    ),
    (
        "communities",
        Some("BGP communities on advertised prefixes; the fabric's route maps are not modelled"),
    ),
    (
        "prefixAdvertisements",
        Some("communities per prefix; the fabric's route maps are not modelled"),
    ),
    (
        "nodeMeshPassword",
        Some("the password of node-to-node sessions; they are always up in fabsim"),
    ),
    (
        "nodeMeshMaxRestartTime",
        Some("graceful-restart time of node-to-node sessions; not modelled"),
    ),
    ("bindMode", Some("")),
    ("ignoredInterfaces", Some("")),
    (
        "localWorkloadPeeringIPV4",
        Some("workloads peering with their node are not modelled"),
    ),
    ("localWorkloadPeeringIPV6", Some("IPv6 is not modelled")),
    (
        "serviceLoadBalancerAggregation",
        Some(
            "fabsim advertises each LoadBalancer IP as a /32 and the aggregate where Calico does (its default)",
        ),
    ),
    ("programClusterRoutes", Some("")),
];

/// The fields of a Calico IPPool spec fabsim models.
const IP_POOL_FIELDS: &[(&str, Option<&str>)] = &[
    ("cidr", None),
    ("blockSize", None),
    ("natOutgoing", None),
    (
        "ipipMode",
        Some(
            "IPIP encapsulation between nodes (Always / CrossSubnet) is not modelled: pod traffic is routed natively through the fabric",
        ),
    ),
    (
        "vxlanMode",
        Some(
            "VXLAN encapsulation between nodes is not modelled: pod traffic is routed natively through the fabric",
        ),
    ),
    (
        "nodeSelector",
        Some("which nodes take addresses from the pool; fabsim's pool serves every node"),
    ),
    (
        "disabled",
        Some("a disabled pool still hands out addresses in fabsim"),
    ),
    (
        "disableBGPExport",
        Some("fabsim advertises the pool's blocks"),
    ),
    ("allowedUses", Some("")),
    ("assignmentMode", Some("")),
    (
        "ipip",
        Some("IPIP encapsulation between nodes is not modelled"),
    ),
    (
        "nat-outgoing",
        Some("the v1 spelling; fabsim reads natOutgoing"),
    ),
];

/// The fields of a Calico BGPPeer spec fabsim models.
const BGP_PEER_FIELDS: &[(&str, Option<&str>)] = &[
    ("peerIP", None),
    ("asNumber", None),
    ("node", None),
    ("nodeSelector", None),
    ("password", None),
    (
        "peerSelector",
        Some("peering between nodes (route reflectors) is not modelled; this peer is left out"),
    ),
    (
        "keepOriginalNextHop",
        Some("the next hop is always the advertising node in fabsim"),
    ),
    ("sourceAddress", Some("")),
    (
        "maxRestartTime",
        Some("fabsim uses the design's graceful-restart time"),
    ),
    ("numAllowedLocalASNumbers", Some("")),
    ("ttlSecurity", Some("")),
    (
        "reachableBy",
        Some("fabsim assumes the peer is one hop away (the anchor leaf's SVI)"),
    ),
    (
        "filters",
        Some("BGP filters on the node are not modelled: everything is advertised"),
    ),
    (
        "nextHopMode",
        Some("the next hop is always the advertising node in fabsim"),
    ),
    ("reversePeering", Some("")),
    ("keepaliveTime", Some("fabsim uses the design's keepalive")),
];

/// Names the spec fields of `doc` fabsim does not model (an empty meaning: no effect on the
/// simulation), and the ones Calico does not know.
fn not_modelled_fields(
    doc: &Node,
    kind: &str,
    known: &[(&str, Option<&str>)],
    d: &mut Diagnostics,
) {
    let Some(Value::Map(fields)) = child(doc, "spec").map(|s| &s.value) else {
        return;
    };
    let mut quiet = Vec::new();
    for (k, v) in fields {
        // A feature switched off (`ipipMode: Never`, `false`) changes nothing.
        let off = matches!(&v.value, Value::Bool(false))
            || matches!(&v.value, Value::Str(x) if x == "Never" || x == "Disabled");
        match known.iter().find(|(n, _)| *n == k.name) {
            Some((_, None)) => {}
            Some((_, Some(_))) if off => {}
            Some((_, Some(""))) => quiet.push(k.name.clone()),
            Some((_, Some(what))) => d.warning(
                &k.loc,
                &format!("{kind}.spec.{}", k.name),
                format!("read, not modelled: {what}"),
            ),
            None => {
                let names: Vec<&str> = known.iter().map(|(n, _)| *n).collect();
                let hint = super::decode::did_you_mean(&k.name, &names);
                d.error(&k.loc, &format!("{kind}.spec.{}", k.name), format!("`{}` is not a field of a Calico {kind}{hint} (calicoctl refuses unknown fields)", k.name));
            }
        }
    }
    if !quiet.is_empty() {
        d.warning(
            &doc.loc,
            kind,
            format!(
                "read, no effect on what fabsim simulates: {}",
                quiet.join(", ")
            ),
        );
    }
}

/// A `node.<name>` BGPConfiguration: its asNumber is that node's AS (confd `client.go`
/// `getASNumberKVPair` writes it under the node's key, which BIRD's template prefers over the
/// global one); listenPort is per node; the rest Calico reads only from `default`.
fn node_config(doc: &Node, node: &str, r: &mut RawResources, d: &mut Diagnostics) {
    let asn = get::<u32>(doc, &["spec", "asNumber"], d).map(|a| a.value);
    if let Some(Value::Map(fields)) = child(doc, "spec").map(|s| &s.value) {
        for (k, _) in fields {
            match k.name.as_str() {
                "asNumber" | "logSeverityScreen" => {}
                "listenPort" => d.warning(&k.loc, &format!("BGPConfiguration node.{node}.spec.listenPort"), "read, not modelled: BIRD on this node listens on another port; it still connects out to the fabric's 179, so its sessions come up"),
                other => d.warning(&k.loc, &format!("BGPConfiguration node.{node}.spec.{other}"), format!("`{other}` is read by Calico only from the `default` BGPConfiguration: ignored on a node's")),
            }
        }
    }
    r.node_configs
        .push((node.to_string(), asn, doc.loc.clone()));
}

/// A Calico BGPPeer; `None` (reported) when Calico itself would refuse it.
// Long: it reads one object's keys in the order the file gives them, each with its
// default, its check and its message; one block per key.
fn bgp_peer(doc: &Node, d: &mut Diagnostics) -> Option<RawBgpPeer> {
    not_modelled_fields(doc, "BGPPeer", BGP_PEER_FIELDS, d);
    let name = text_at(doc, &["metadata", "name"]).unwrap_or_default();
    let path = format!("BGPPeer {name}");
    let peer_ip = match get::<String>(doc, &["spec", "peerIP"], d) {
        Some(a) => {
            // `10.0.0.1`, `10.0.0.1:1790`; IPv6 `[fd00::1]:179` or bare.
            let host = match a.value.rsplit_once(':') {
                Some((h, port)) if !h.contains(':') && port.parse::<u16>().is_ok() => h,
                _ => a.value.as_str(),
            };
            match host.parse::<Ipv4Addr>() {
                Ok(ip) => Some(At {
                    value: ip,
                    loc: a.loc,
                    path: a.path,
                }),
                Err(_) if a.value.contains(':') => {
                    d.warning(
                        &a.loc,
                        &path,
                        format!(
                            "peerIP {} is IPv6: not modelled; this peer is left out",
                            a.value
                        ),
                    );
                    return None;
                }
                Err(_) => {
                    d.error(
                        &a.loc,
                        &path,
                        format!(
                            "peerIP `{}` is not an IP address (Calico refuses the BGPPeer)",
                            a.value
                        ),
                    );
                    return None;
                }
            }
        }
        None => None,
    };
    let has_peer_selector = child(doc, "spec")
        .and_then(|s| child(s, "peerSelector"))
        .is_some();
    if peer_ip.is_none() {
        if !has_peer_selector {
            d.error(
                &doc.loc,
                &path,
                "a BGPPeer needs peerIP or peerSelector (Calico refuses it)",
            );
        }
        return None; // a node-to-node peer: said by not_modelled_fields
    }
    let node = text_at(doc, &["spec", "node"]);
    let node_selector = match get::<String>(doc, &["spec", "nodeSelector"], d) {
        Some(s) => match crate::cluster::calico_selector::Selector::parse(&s.value) {
            Ok(sel) => Some(sel),
            Err(m) => {
                d.error(
                    &s.loc,
                    &path,
                    format!("nodeSelector: {m} (Calico refuses the BGPPeer)"),
                );
                return None;
            }
        },
        None => None,
    };
    if node.is_some() && node_selector.is_some() {
        d.error(
            &doc.loc,
            &path,
            "a BGPPeer takes `node` or `nodeSelector`, not both (Calico refuses it)",
        );
        return None;
    }
    Some(RawBgpPeer {
        loc: doc.loc.clone(),
        name,
        peer_ip,
        as_number: get::<u32>(doc, &["spec", "asNumber"], d).map(|a| a.value),
        node,
        node_selector,
        password: child(doc, "spec")
            .and_then(|s| child(s, "password"))
            .is_some(),
    })
}

/// An IPv4 prefix at `keys`; an IPv6 one (dual stack) is noted in `skipped` instead.
fn v4(
    n: &Node,
    keys: &[&str],
    skipped: &mut Vec<(String, Loc)>,
    d: &mut Diagnostics,
) -> Option<At<Cidr>> {
    let text = get::<String>(n, keys, d)?;
    if text.value.contains(':') {
        skipped.push((text.value, text.loc));
        return None;
    }
    get::<Cidr>(n, keys, d)
}

/// Dual stack: the IPv4 half is simulated, with one warning listing the IPv6 parts; IPv6 only
/// (no IPv4 pool or block at all) is refused.
fn ipv6(skipped: &[(String, Loc)], r: &RawResources, d: &mut Diagnostics) {
    let Some((_, first)) = skipped.first() else {
        return;
    };
    let list: Vec<String> = skipped
        .iter()
        .map(|(v, l)| format!("{v} (line {})", l.line))
        .collect();
    let any_v4 = r.pool_cidr.is_some()
        || !r.lb_pool.is_empty()
        || !r.service_loadbalancer_ips.is_empty()
        || !r.service_cluster_ips.is_empty();
    if any_v4 {
        d.warning(
            first,
            "(document)",
            format!(
                "dual stack: fabsim models IPv4 only; these IPv6 parts are not simulated: {}",
                list.join(", ")
            ),
        );
    } else {
        d.error(first, "(document)", format!("IPv6 only: fabsim models IPv4 only, so these resources give it nothing to simulate ({})", list.join(", ")));
    }
}

/// A `BGPConfiguration` object.
fn bgp_configuration(
    doc: &Node,
    r: &mut RawResources,
    default_seen: &mut Option<Loc>,
    skipped: &mut Vec<(String, Loc)>,
    d: &mut Diagnostics,
) {
    let name = text_at(doc, &["metadata", "name"]).unwrap_or_default();
    if let Some(node) = name.strip_prefix("node.") {
        node_config(doc, node, r, d);
        return;
    }
    if name != "default" {
        d.warning(&doc.loc, "metadata.name", format!("BGPConfiguration `{name}`: Calico reads only `default` (the cluster's) and `node.<name>` (one node's); ignored"));
        return;
    }
    if let Some(first) = &default_seen {
        d.error(&doc.loc, "metadata.name", format!("a second BGPConfiguration `default` (the first is at line {}): Calico keeps one object per name", first.line));
        return;
    }
    *default_seen = Some(doc.loc.clone());
    not_modelled_fields(doc, "BGPConfiguration", BGP_CONFIGURATION_FIELDS, d);
    r.as_number = get::<u32>(doc, &["spec", "asNumber"], d).map(|a| a.value);
    r.node_to_node_mesh = get::<bool>(doc, &["spec", "nodeToNodeMeshEnabled"], d).map(|a| a.value);
    let mut cidrs = |key: &str, d: &mut Diagnostics| -> Vec<Cidr> {
        match child(doc, "spec")
            .and_then(|s| child(s, key))
            .map(|v| &v.value)
        {
            Some(Value::Seq(items)) => items
                .iter()
                .filter_map(|i| v4(i, &["cidr"], skipped, d))
                .map(|a| a.value)
                .collect(),
            _ => Vec::new(),
        }
    };
    r.service_cluster_ips = cidrs("serviceClusterIPs", d);
    r.service_external_ips = cidrs("serviceExternalIPs", d);
    r.service_loadbalancer_ips = cidrs("serviceLoadBalancerIPs", d);
}

/// A `CiliumBGPClusterConfig` object.
fn cilium_cluster_config(doc: &Node, r: &mut RawResources, d: &mut Diagnostics) {
    let inst = child(doc, "spec")
        .and_then(|s| child(s, "bgpInstances"))
        .and_then(first);
    r.cilium_node_selector = child(doc, "spec")
        .and_then(|s| child(s, "nodeSelector"))
        .map(|n| label_selector(n, d));
    if let Some(Value::Seq(ps)) = inst.and_then(|i| child(i, "peers")).map(|p| &p.value) {
        for p in ps {
            let addr = text_at(p, &["peerAddress"]).unwrap_or_default();
            let asn = get::<u32>(p, &["peerASN"], d).map(|a| a.value);
            r.cilium_peers
                .push((addr.clone(), addr.parse().ok(), asn, p.loc.clone()));
        }
    }
    if let Some(i) = inst {
        r.local_asn = get::<u32>(i, &["localASN"], d).map(|a| a.value);
        r.peer_asn = child(i, "peers")
            .and_then(first)
            .and_then(|p| get::<u32>(p, &["peerASN"], d))
            .map(|a| a.value);
    }
}

/// A `CiliumBGPPeerConfig` object.
fn cilium_peer_config(doc: &Node, r: &mut RawResources, d: &mut Diagnostics) {
    let secs = |keys: &[&str], d: &mut Diagnostics| {
        get::<u64>(doc, keys, d).map(|a| Nanos::from_secs(a.value))
    };
    r.hold_time = secs(&["spec", "timers", "holdTimeSeconds"], d);
    r.keepalive = secs(&["spec", "timers", "keepAliveTimeSeconds"], d);
    r.graceful_restart =
        get::<bool>(doc, &["spec", "gracefulRestart", "enabled"], d).map(|a| a.value);
    r.restart_time = secs(&["spec", "gracefulRestart", "restartTimeSeconds"], d);
    if let Some(Value::Seq(fams)) = child(doc, "spec")
        .and_then(|s| child(s, "families"))
        .map(|f| &f.value)
    {
        for f in fams {
            let v4 = get::<String>(f, &["afi"], d).is_none_or(|a| a.value == "ipv4");
            if let (true, Some(sel)) = (v4, child(f, "advertisements")) {
                r.family_selectors.push(label_selector(sel, d));
            }
        }
    }
}

/// A `CiliumBGPAdvertisement` object.
fn cilium_advertisement(doc: &Node, r: &mut RawResources, d: &mut Diagnostics) {
    // Only what the advertisement lists; a Service advertisement without a `selector`
    // selects no service (cilium `bgp_advert_types.go`).
    let labels = get::<Labels>(doc, &["metadata", "labels"], d)
        .map(|a| a.value)
        .unwrap_or_default();
    let (mut pod, mut lb) = (false, Vec::new());
    if let Some(Value::Seq(ads)) = child(doc, "spec")
        .and_then(|s| child(s, "advertisements"))
        .map(|a| &a.value)
    {
        for a in ads {
            match get::<String>(a, &["advertisementType"], d)
                .map(|x| x.value)
                .as_deref()
            {
                Some("PodCIDR") => pod = true,
                Some("Service") => {
                    let lb_ip = matches!(
                        child(a, "service").and_then(|s| child(s, "addresses")).map(|x| &x.value),
                        Some(Value::Seq(addrs)) if addrs.iter().any(|x| matches!(&x.value, Value::Str(s) if s == "LoadBalancerIP"))
                    );
                    if let (true, Some(sel)) = (lb_ip, child(a, "selector")) {
                        lb.push(label_selector(sel, d));
                    }
                }
                _ => {}
            }
        }
    }
    r.advertisement_docs.push((labels, pod, lb));
}

/// A `CiliumLoadBalancerIPPool` object.
fn cilium_lb_pool(
    doc: &Node,
    r: &mut RawResources,
    skipped: &mut Vec<(String, Loc)>,
    d: &mut Diagnostics,
) {
    // `serviceSelector`: only matching services draw from this pool.
    let sel = child(doc, "spec")
        .and_then(|s| child(s, "serviceSelector"))
        .map(|n| label_selector(n, d));
    if let Some(Value::Seq(blocks)) = child(doc, "spec")
        .and_then(|s| child(s, "blocks"))
        .map(|b| &b.value)
    {
        for b in blocks.iter().filter_map(|b| v4(b, &["cidr"], skipped, d)) {
            r.lb_pool.push(b.value);
            r.lb_pool_selectors.push((b.value, sel.clone()));
        }
    }
}

/// A `IPPool` object.
fn ip_pool(
    doc: &Node,
    r: &mut RawResources,
    skipped: &mut Vec<(String, Loc)>,
    d: &mut Diagnostics,
) {
    not_modelled_fields(doc, "IPPool", IP_POOL_FIELDS, d);
    let Some(cidr) = v4(doc, &["spec", "cidr"], skipped, d) else {
        return;
    };
    if let Some(first) = &r.pool_cidr {
        d.warning(&cidr.loc, &cidr.path, format!("a second IPv4 IPPool {}: fabsim models one pool per design and keeps the first, {} (line {})", cidr.value.0, first.value.0, first.loc.line));
        return;
    }
    r.pool_cidr = Some(cidr);
    r.block_size = get(doc, &["spec", "blockSize"], d);
    r.nat_outgoing = get::<bool>(doc, &["spec", "natOutgoing"], d).map(|a| a.value);
}
