//! Raw keys of the BGP designs as users write them: a `bgp` block (both sides of the sessions),
//! Calico's `ip_pool` and `advertise`, kube-router's DaemonSet `args`, a `load_balancer` block,
//! an acc-provision Calico-flavour file and Calico resources (BGPConfiguration, BGPPeer, IPPool).

use super::decode::{At, Cidr, Fields, Labels};
use super::diag::Diagnostics;
use super::object::{at as get, child, label_selector};
use super::yaml::{Node, Value};
use crate::cluster::selector::LabelSelector;
use crate::time::Nanos;
use std::path::Path;
use std::sync::Arc;

#[derive(Clone, Debug, Default)]
pub struct RawBgpSection {
    pub cluster_asn: Option<At<u32>>,
    pub fabric_asn: Option<At<u32>>,
    pub hold_time: Option<At<Nanos>>,
    pub keepalive: Option<Nanos>,
    pub graceful_restart: Option<bool>,
    pub restart_time: Option<Nanos>,
    pub max_paths: Option<At<u32>>,
    pub max_prefix: Option<At<RawMaxPrefix>>,
    pub password: Option<String>,
    pub fabric_password: Option<String>,
    pub next_hop_propagate: Option<bool>,
    pub node_to_node_mesh: Option<bool>,
    pub import: Option<Vec<Cidr>>,
}

/// APIC's BGP peer prefix policy (`bgpPeerPfxPol`): a limit, or `{ limit, action }`.
#[derive(Clone, Debug, Default)]
pub struct RawMaxPrefix {
    pub limit: Option<u32>,
    pub action: Option<At<String>>,
}

impl super::decode::Decode for RawMaxPrefix {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        if let Value::Int(_) = node.value {
            return u32::decode(node, path, d).map(|limit| RawMaxPrefix {
                limit: Some(limit),
                action: None,
            });
        }
        let mut f = Fields::strict(node, path, d)?;
        let r = RawMaxPrefix {
            limit: f.opt("limit", d),
            action: f.opt_at("action", d),
        };
        f.finish(d);
        Some(r)
    }
}

/// `fabric.bgp`: the ACI side of every L3Out peering of the BGP designs.
#[derive(Clone, Debug, Default)]
pub struct RawFabricBgp {
    pub aci_release: Option<At<String>>,
    pub next_hop_propagate: Option<At<bool>>,
    pub ignore_igp_metric: Option<At<bool>>,
    pub keepalive: Option<At<Nanos>>,
    pub hold_time: Option<At<Nanos>>,
    pub stale_interval: Option<Nanos>,
    pub graceful_restart_helper: Option<bool>,
    /// `bfd: { min_interval, multiplier }`.
    pub bfd: Option<At<(Nanos, u32)>>,
    pub max_paths: Option<At<u32>>,
    pub max_prefix: Option<At<RawMaxPrefix>>,
    pub import: Option<Vec<Cidr>>,
}

impl RawFabricBgp {
    pub fn decode(n: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::strict(n, path, d)?;
        let bfd = match f.node("bfd") {
            Some(b) => {
                let bp = f.child("bfd");
                let mut g = Fields::strict(b, &bp, d)?;
                let min: Option<Nanos> = g.req("min_interval", d);
                let mult: Option<u32> = g.req("multiplier", d);
                g.finish(d);
                match (min, mult) {
                    (Some(m), Some(k)) => Some(At {
                        value: (m, k),
                        loc: b.loc.clone(),
                        path: bp,
                    }),
                    _ => None,
                }
            }
            None => None,
        };
        let r = RawFabricBgp {
            aci_release: f.opt_at("aci_release", d),
            next_hop_propagate: f.opt_at("next_hop_propagate", d),
            ignore_igp_metric: f.opt_at("ignore_igp_metric", d),
            keepalive: f.opt_at("keepalive", d),
            hold_time: f.opt_at("hold_time", d),
            stale_interval: f.opt("stale_interval", d),
            graceful_restart_helper: f.opt("graceful_restart_helper", d),
            bfd,
            max_paths: f.opt_at("max_paths", d),
            max_prefix: f.opt_at("max_prefix", d),
            import: f.opt("import", d),
        };
        f.finish(d);
        Some(r)
    }
}

/// The acc-provision Calico flavour's keys fabsim uses.
#[derive(Clone, Debug, Default)]
pub struct RawCalicoFlavour {
    pub secret: Option<String>,
    pub prefixes: Option<u32>,
    pub remote_as: Option<u32>,
    pub aci_as: Option<u32>,
    pub node_subnet: Option<At<Cidr>>,
    pub pod_subnet: Option<At<Cidr>>,
    pub extern_dynamic: Option<At<Cidr>>,
    pub cluster_svc_subnet: Option<At<Cidr>>,
    pub block_size: Option<At<u8>>,
    /// `calico_config.net_config.nat_outgoing` ("Enabled" / "Disabled"), into the Installation's
    /// ipPools `natOutgoing` (acc-provision `templates/custom-resources-aci-calico.yaml`).
    pub nat_outgoing: Option<At<String>>,
    pub racks: Vec<RawFlavourRack>,
}

/// `topology.rack[]` of the Calico flavour.
#[derive(Clone, Debug)]
pub struct RawFlavourRack {
    pub id: At<u32>,
    pub leaves: Vec<u32>,
    pub nodes: Vec<At<String>>,
}

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
    /// BGPPeer: (peerIP, asNumber, nodeSelector, has a password).
    pub peers: Vec<(String, Option<u32>, Option<String>, bool)>,
}

#[derive(Clone, Debug, Default)]
pub struct RawBgpDesign {
    pub bgp: RawBgpSection,
    pub pool_cidr: Option<At<Cidr>>,
    pub block_size: Option<At<u8>>,
    pub nat_outgoing: Option<bool>,
    pub service_cluster_ips: Option<Vec<Cidr>>,
    pub service_external_ips: Option<Vec<Cidr>>,
    pub service_loadbalancer_ips: Option<Vec<Cidr>>,
    pub advertise_pod_cidr: Option<bool>,
    pub advertise_lb: Option<bool>,
    pub args: Vec<At<String>>,
    pub lb_algorithm: Option<At<String>>,
    pub lb_pool: Option<Vec<Cidr>>,
    pub masquerade: Option<bool>,
    /// Cilium's Helm `bpf.masquerade` (false: iptables MASQUERADE).
    pub bpf_masquerade: Option<bool>,
    pub pod_cidr_len: Option<At<u8>>,
    /// Node annotations (kube-router.io/peer.ips, peer.asns, peer.passwords), on every node.
    pub node_annotations: Option<At<Labels>>,
    pub flavour: Option<RawCalicoFlavour>,
    pub resources: Option<RawResources>,
    pub import_failed: bool,
}

fn read_bgp_section(n: &Node, path: &str, d: &mut Diagnostics) -> Option<RawBgpSection> {
    let mut f = Fields::strict(n, path, d)?;
    let r = RawBgpSection {
        cluster_asn: f.opt_at("cluster_asn", d),
        fabric_asn: f.opt_at("fabric_asn", d),
        hold_time: f.opt_at("hold_time", d),
        keepalive: f.opt("keepalive", d),
        graceful_restart: f.opt("graceful_restart", d),
        restart_time: f.opt("restart_time", d),
        max_paths: f.opt_at("max_paths", d),
        max_prefix: f.opt_at("max_prefix", d),
        password: f.opt("password", d),
        fabric_password: f.opt("fabric_password", d),
        next_hop_propagate: f.opt("next_hop_propagate", d),
        node_to_node_mesh: f.opt("node_to_node_mesh", d),
        import: f.opt("import", d),
    };
    f.finish(d);
    Some(r)
}

/// Reads the BGP keys of a design entry (the caller has read `name` and `cni`).
pub fn read(f: &mut Fields, d: &mut Diagnostics, base_dir: &Path) -> RawBgpDesign {
    let mut r = RawBgpDesign::default();
    if let Some(n) = f.node("bgp") {
        r.bgp = read_bgp_section(n, &f.child("bgp"), d).unwrap_or_default();
    }
    if let Some(n) = f.node("ip_pool")
        && let Some(mut g) = Fields::strict(n, &f.child("ip_pool"), d)
    {
        r.pool_cidr = g.opt_at("cidr", d);
        r.block_size = g.opt_at("block_size", d);
        r.nat_outgoing = g.opt("nat_outgoing", d);
        g.finish(d);
    }
    if let Some(n) = f.node("advertise")
        && let Some(mut g) = Fields::strict(n, &f.child("advertise"), d)
    {
        r.service_cluster_ips = g.opt("service_cluster_ips", d);
        r.service_external_ips = g.opt("service_external_ips", d);
        r.service_loadbalancer_ips = g.opt("service_loadbalancer_ips", d);
        r.advertise_pod_cidr = g.opt("pod_cidr", d);
        r.advertise_lb = g.opt("load_balancer_ips", d);
        g.finish(d);
    }
    r.args = f.opt("args", d).unwrap_or_default();
    if let Some(n) = f.node("load_balancer")
        && let Some(mut g) = Fields::strict(n, &f.child("load_balancer"), d)
    {
        r.lb_algorithm = g.opt_at("algorithm", d);
        r.lb_pool = g.opt("pool", d);
        g.finish(d);
    }
    r.masquerade = f.opt("masquerade", d);
    r.bpf_masquerade = f.opt("bpf_masquerade", d);
    r.pod_cidr_len = f.opt_at("pod_cidr_len", d);
    r.node_annotations = f.opt_at("node_annotations", d);
    if let Some(n) = f.node("acc_provision") {
        let p = f.child("acc_provision");
        match read_file(n, &p, base_dir, d) {
            Some((name, node)) => {
                super::acc_audit::audit(&node, CALICO_FLAVOUR_MODELLED, d);
                r.flavour = read_flavour(&name, &node, d)
            }
            None => r.import_failed = true,
        }
    }
    if let Some(n) = f.node("resources") {
        let p = f.child("resources");
        match read_file(n, &p, base_dir, d) {
            Some((name, _)) => r.resources = read_resources(&name, d),
            None => r.import_failed = true,
        }
    }
    r
}

/// `{ file: PATH }` → the file's name and its first document.
fn read_file(n: &Node, path: &str, base_dir: &Path, d: &mut Diagnostics) -> Option<(String, Node)> {
    let mut f = Fields::strict(n, path, d)?;
    let file: Option<At<String>> = f.req_at("file", d);
    f.finish(d);
    let file = file?;
    let full = base_dir.join(&file.value);
    let text = std::fs::read_to_string(&full)
        .map_err(|e| {
            d.error(
                &file.loc,
                &file.path,
                format!("cannot read {}: {e}", full.display()),
            )
        })
        .ok()?;
    let name = full.display().to_string();
    let docs = super::yaml::parse_multi(&Arc::from(name.as_str()), &text, d)?;
    let first = docs.into_iter().next()?;
    Some((name, first))
}

fn first(n: &Node) -> Option<&Node> {
    match &n.value {
        Value::Seq(v) => v.first(),
        _ => None,
    }
}

/// The acc-provision keys the Calico flavour models (`read_flavour`); every other key of the file
/// is listed by `acc_audit`.
const CALICO_FLAVOUR_MODELLED: &[&str] = &[
    "aci_config.cluster_l3out.bgp.secret",
    "aci_config.cluster_l3out.bgp.peering.prefixes",
    "aci_config.cluster_l3out.bgp.peering.remote_as_number",
    "aci_config.cluster_l3out.bgp.peering.aci_as_number",
    "net_config.node_subnet",
    "net_config.pod_subnet",
    "net_config.extern_dynamic",
    "net_config.cluster_svc_subnet",
    "calico_config.net_config.block_size",
    "calico_config.net_config.nat_outgoing",
    "topology.rack[].id",
    "topology.rack[].leaf[].id",
    "topology.rack[].node[].name",
];

/// The acc-provision Calico flavour (lenient: unknown keys are accepted silently).
pub fn read_flavour(_name: &str, n: &Node, d: &mut Diagnostics) -> Option<RawCalicoFlavour> {
    let peering = ["aci_config", "cluster_l3out", "bgp", "peering"];
    let mut fl = RawCalicoFlavour {
        secret: get::<String>(n, &["aci_config", "cluster_l3out", "bgp", "secret"], d)
            .map(|a| a.value),
        prefixes: get::<u32>(
            n,
            &[peering[0], peering[1], peering[2], peering[3], "prefixes"],
            d,
        )
        .map(|a| a.value),
        remote_as: get::<u32>(
            n,
            &[
                peering[0],
                peering[1],
                peering[2],
                peering[3],
                "remote_as_number",
            ],
            d,
        )
        .map(|a| a.value),
        aci_as: get::<u32>(
            n,
            &[
                peering[0],
                peering[1],
                peering[2],
                peering[3],
                "aci_as_number",
            ],
            d,
        )
        .map(|a| a.value),
        node_subnet: get(n, &["net_config", "node_subnet"], d),
        pod_subnet: get(n, &["net_config", "pod_subnet"], d),
        extern_dynamic: get(n, &["net_config", "extern_dynamic"], d),
        cluster_svc_subnet: get(n, &["net_config", "cluster_svc_subnet"], d),
        block_size: get(n, &["calico_config", "net_config", "block_size"], d),
        nat_outgoing: get(n, &["calico_config", "net_config", "nat_outgoing"], d),
        racks: Vec::new(),
    };
    if let Some(Value::Seq(racks)) = child(n, "topology")
        .and_then(|t| child(t, "rack"))
        .map(|r| &r.value)
    {
        for (i, r) in racks.iter().enumerate() {
            let p = format!("topology.rack[{i}]");
            let Some(mut id) = get::<u32>(r, &["id"], d) else {
                d.error(&r.loc, &p, "a rack needs an `id`");
                continue;
            };
            let leaves = match child(r, "leaf").map(|l| &l.value) {
                Some(Value::Seq(ls)) => ls
                    .iter()
                    .filter_map(|l| get::<u32>(l, &["id"], d))
                    .map(|a| a.value)
                    .collect(),
                _ => Vec::new(),
            };
            id.path = format!("{p}.id");
            let nodes = match child(r, "node").map(|l| &l.value) {
                Some(Value::Seq(ns)) => ns
                    .iter()
                    .enumerate()
                    .filter_map(|(j, x)| {
                        get::<String>(x, &["name"], d).map(|mut a| {
                            a.path = format!("{p}.node[{j}].name");
                            a
                        })
                    })
                    .collect(),
                _ => Vec::new(),
            };
            fl.racks.push(RawFlavourRack { id, leaves, nodes });
        }
    }
    Some(fl)
}

/// Calico resources: every document of the file (BGPConfiguration, BGPPeer, IPPool).
pub fn read_resources(name: &str, d: &mut Diagnostics) -> Option<RawResources> {
    let text = std::fs::read_to_string(name).ok()?;
    let docs = super::yaml::parse_multi(&Arc::from(name), &text, d)?;
    let mut r = RawResources::default();
    for doc in &docs {
        let kind = get::<String>(doc, &["kind"], d)
            .map(|k| k.value)
            .unwrap_or_default();
        match kind.as_str() {
            "BGPConfiguration" => {
                r.as_number = get::<u32>(doc, &["spec", "asNumber"], d).map(|a| a.value);
                r.node_to_node_mesh =
                    get::<bool>(doc, &["spec", "nodeToNodeMeshEnabled"], d).map(|a| a.value);
                let cidrs = |key: &str, d: &mut Diagnostics| -> Vec<Cidr> {
                    match child(doc, "spec")
                        .and_then(|s| child(s, key))
                        .map(|v| &v.value)
                    {
                        Some(Value::Seq(items)) => items
                            .iter()
                            .filter_map(|i| get::<Cidr>(i, &["cidr"], d))
                            .map(|a| a.value)
                            .collect(),
                        _ => Vec::new(),
                    }
                };
                r.service_cluster_ips = cidrs("serviceClusterIPs", d);
                r.service_external_ips = cidrs("serviceExternalIPs", d);
                r.service_loadbalancer_ips = cidrs("serviceLoadBalancerIPs", d);
            }
            "BGPPeer" => {
                let peer_ip = get::<String>(doc, &["spec", "peerIP"], d)
                    .map(|a| a.value)
                    .unwrap_or_default();
                let asn = get::<u32>(doc, &["spec", "asNumber"], d).map(|a| a.value);
                let sel = get::<String>(doc, &["spec", "nodeSelector"], d).map(|a| a.value);
                let pw = child(doc, "spec")
                    .and_then(|s| child(s, "password"))
                    .is_some();
                r.peers.push((peer_ip, asn, sel, pw));
            }
            "CiliumBGPClusterConfig" => {
                let inst = child(doc, "spec")
                    .and_then(|s| child(s, "bgpInstances"))
                    .and_then(first);
                if let Some(i) = inst {
                    r.local_asn = get::<u32>(i, &["localASN"], d).map(|a| a.value);
                    r.peer_asn = child(i, "peers")
                        .and_then(first)
                        .and_then(|p| get::<u32>(p, &["peerASN"], d))
                        .map(|a| a.value);
                }
            }
            "CiliumBGPPeerConfig" => {
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
            "CiliumBGPAdvertisement" => {
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
            "CiliumLoadBalancerIPPool" => {
                // `serviceSelector`: only matching services draw from this pool.
                let sel = child(doc, "spec")
                    .and_then(|s| child(s, "serviceSelector"))
                    .map(|n| label_selector(n, d));
                if let Some(Value::Seq(blocks)) = child(doc, "spec")
                    .and_then(|s| child(s, "blocks"))
                    .map(|b| &b.value)
                {
                    for b in blocks.iter().filter_map(|b| get::<Cidr>(b, &["cidr"], d)) {
                        r.lb_pool.push(b.value);
                        r.lb_pool_selectors.push((b.value, sel.clone()));
                    }
                }
            }
            "IPPool" => {
                r.pool_cidr = get(doc, &["spec", "cidr"], d);
                r.block_size = get(doc, &["spec", "blockSize"], d);
                r.nat_outgoing = get::<bool>(doc, &["spec", "natOutgoing"], d).map(|a| a.value);
            }
            // Said below (the v1 Cilium policy) or nothing to simulate (namespaces, secrets).
            "CiliumBGPPeeringPolicy" | "Namespace" | "Secret" => {}
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
    if !read_any && let Some(doc) = docs.first() {
        d.error(
            &doc.loc,
            "(document)",
            format!(
                "{name} holds no Calico or Cilium resource fabsim reads ({})",
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

/// kube-router's flags (cloudnativelabs/kube-router 7c2c277, `pkg/options/options.go`
/// `AddFlags`): any other stops kube-router at start.
pub const KUBE_ROUTER_FLAGS: &[&str] = &[
    "advertise-cluster-ip",
    "advertise-external-ip",
    "advertise-loadbalancer-ip",
    "advertise-pod-cidr",
    "auto-mtu",
    "bfd-desired-min-tx-interval",
    "bfd-detection-multiplier",
    "bfd-port",
    "bfd-required-min-rx-interval",
    "bgp-graceful-restart",
    "bgp-graceful-restart-deferral-time",
    "bgp-graceful-restart-time",
    "bgp-holdtime",
    "bgp-port",
    "cache-sync-timeout",
    "cleanup-config",
    "cluster-asn",
    "disable-source-dest-check",
    "enable-bfd",
    "enable-cni",
    "enable-ibgp",
    "enable-ipv4",
    "enable-ipv6",
    "enable-overlay",
    "enable-pod-egress",
    "enable-pprof",
    "excluded-cidrs",
    "gobgp-admin-address",
    "gobgp-admin-port",
    "hairpin-mode",
    "health-addr",
    "health-port",
    "help",
    "hostname-override",
    "injected-routes-sync-period",
    "iptables-sync-period",
    "ipvs-graceful-period",
    "ipvs-graceful-termination",
    "ipvs-permit-all",
    "ipvs-sync-period",
    "kubeconfig",
    "loadbalancer-default-class",
    "loadbalancer-ip-range",
    "loadbalancer-sync-period",
    "masquerade-all",
    "master",
    "metrics-addr",
    "metrics-path",
    "metrics-port",
    "netpol-default-deny",
    "nodeport-bindon-all-ip",
    "nodes-full-mesh",
    "overlay-encap",
    "overlay-encap-port",
    "overlay-type",
    "override-nexthop",
    "peer-router-asns",
    "peer-router-ips",
    "peer-router-multihop-ttl",
    "peer-router-passwords",
    "peer-router-passwords-file",
    "peer-router-ports",
    "router-id",
    "routes-sync-period",
    "run-firewall",
    "run-loadbalancer",
    "run-router",
    "run-service-proxy",
    "runtime-endpoint",
    "service-cluster-ip-range",
    "service-external-ip-range",
    "service-node-port-range",
    "service-tcp-timeout",
    "service-tcpfin-timeout",
    "service-udp-timeout",
    "strict-external-ip-validation",
    "use-nftables-for-netpol",
    "v",
    "version",
];

/// kube-router's flags as its DaemonSet passes them: `--name=value` or `--name` (true).
pub fn parse_args(args: &[At<String>], d: &mut Diagnostics) -> Labels {
    let mut out = Labels::new();
    for a in args {
        let Some(body) = a.value.strip_prefix("--") else {
            d.error(
                &a.loc,
                &a.path,
                format!(
                    "`{}` is not a flag; kube-router's are written --name=value",
                    a.value
                ),
            );
            continue;
        };
        let (k, v) = body.split_once('=').unwrap_or((body, "true"));
        // kube-router parses its flags with pflag, which stops the pod on an unknown one.
        if !KUBE_ROUTER_FLAGS.contains(&k) {
            let hint = super::decode::closest(k, KUBE_ROUTER_FLAGS)
                .map(|c| format!("; did you mean `--{c}`?"))
                .unwrap_or_default();
            d.error(
                &a.loc,
                &a.path,
                format!(
                    "unknown kube-router flag `--{k}`: kube-router refuses to start with it{hint}"
                ),
            );
            continue;
        }
        out.insert(k.to_string(), v.to_string());
    }
    out
}
