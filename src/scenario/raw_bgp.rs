//! Raw keys of the BGP designs as users write them: a `bgp` block (both sides of the sessions),
//! Calico's `ip_pool` and `advertise`, kube-router's DaemonSet `args`, a `load_balancer` block,
//! an acc-provision Calico-flavour file and Calico resources (BGPConfiguration, BGPPeer, IPPool).

use super::decode::{At, Cidr, Fields, Labels};
use super::diag::Diagnostics;
use super::object::{at as get, child};
use super::yaml::{Node, Value};
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
    /// `leaf[].local_ip`: each anchor leaf's own SVI address (the nodes' BGPPeer peerIP).
    pub leaf_ips: Vec<(u32, std::net::Ipv4Addr)>,
    pub nodes: Vec<At<String>>,
}

pub use super::bgp_resources::RawResources;

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
// Long: it reads one object's keys in the order the file gives them, each with its
// default, its check and its message; one block per key.
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
                if super::acc_provision::ipv4_present(&node, d) {
                    r.flavour = read_flavour(&name, &node, d)
                } else {
                    r.import_failed = true;
                }
            }
            None => r.import_failed = true,
        }
    }
    if let Some(n) = f.node("resources") {
        // One `{ file }` or a list of them.
        let p = f.child("resources");
        let entries: Vec<(&Node, String)> = match &n.value {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, x)| (x, super::decode::index(&p, i)))
                .collect(),
            _ => vec![(n, p)],
        };
        let files: Vec<(String, At<String>)> = entries
            .iter()
            .filter_map(|(x, p)| file_name(x, p, base_dir, d))
            .collect();
        match (files.len() == entries.len() && !files.is_empty())
            .then(|| super::bgp_resources::read_resources(&files, d))
            .flatten()
        {
            Some(res) => r.resources = Some(res),
            None => r.import_failed = true,
        }
    }
    if let Some(n) = f.node("daemonset") {
        let p = f.child("daemonset");
        match file_name(n, &p, base_dir, d).and_then(|(name, at)| daemonset_args(&name, &at, d)) {
            // The manifest's flags first: flags written in `args` come later and win (pflag).
            Some(mut args) => {
                args.append(&mut r.args);
                r.args = args;
            }
            None => r.import_failed = true,
        }
    }
    r
}

/// `{ file: PATH }` → the full path (relative to the scenario's folder) and where it was named.
fn file_name(
    n: &Node,
    path: &str,
    base_dir: &Path,
    d: &mut Diagnostics,
) -> Option<(String, At<String>)> {
    let mut f = Fields::strict(n, path, d)?;
    let file: Option<At<String>> = f.req_at("file", d);
    f.finish(d);
    let file = file?;
    Some((base_dir.join(&file.value).display().to_string(), file))
}

/// The flags of the kube-router container of the DaemonSet in a manifest file (`args`, and
/// flags written into `command`), each with its line.
fn daemonset_args(name: &str, at: &At<String>, d: &mut Diagnostics) -> Option<Vec<At<String>>> {
    let objects = super::object::load_objects(name, at, d)?;
    for obj in &objects {
        if super::object::text_at(obj, &["kind"]).as_deref() != Some("DaemonSet") {
            continue;
        }
        let containers = child(obj, "spec")
            .and_then(|s| child(s, "template"))
            .and_then(|t| child(t, "spec"))
            .and_then(|s| child(s, "containers"));
        let Some(Value::Seq(cs)) = containers.map(|c| &c.value) else {
            continue;
        };
        // The container running kube-router (its name, or its image).
        let Some(c) = cs.iter().find(|c| {
            super::object::text_at(c, &["name"]).as_deref() == Some("kube-router")
                || super::object::text_at(c, &["image"]).is_some_and(|i| i.contains("kube-router"))
        }) else {
            continue;
        };
        let mut out = Vec::new();
        for key in ["command", "args"] {
            if let Some(Value::Seq(items)) = child(c, key).map(|x| &x.value) {
                for (i, x) in items.iter().enumerate() {
                    if let Value::Str(s) = &x.value
                        && (key == "args" || s.starts_with("--"))
                    {
                        out.push(At {
                            value: s.clone(),
                            loc: x.loc.clone(),
                            path: format!("DaemonSet kube-router.{key}[{i}]"),
                        });
                    }
                }
            }
        }
        return Some(out);
    }
    d.error(
        &at.loc,
        &at.path,
        format!("{name} holds no DaemonSet with a kube-router container"),
    );
    None
}

/// `{ file: PATH }` → the file's name and its first document.
fn read_file(n: &Node, path: &str, base_dir: &Path, d: &mut Diagnostics) -> Option<(String, Node)> {
    let (name, at) = file_name(n, path, base_dir, d)?;
    let text = super::read_input(&name)
        .map_err(|e| d.error(&at.loc, &at.path, format!("cannot read {name}: {e}")))
        .ok()?;
    let docs = super::yaml::parse_multi(&Arc::from(name.as_str()), &text, d)?;
    let first = docs.into_iter().next()?;
    Some((name, first))
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
    "topology.rack[].leaf[].local_ip",
    "topology.rack[].node[].name",
];

/// The acc-provision Calico flavour (lenient: unknown keys are accepted silently).
// Long: it reads one object's keys in the order the file gives them, each with its
// default, its check and its message; one block per key.
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
            let leaf_ips = match child(r, "leaf").map(|l| &l.value) {
                Some(Value::Seq(ls)) => ls
                    .iter()
                    .filter_map(|l| {
                        let id = get::<u32>(l, &["id"], d)?.value;
                        let ip = get::<String>(l, &["local_ip"], d)?;
                        // `192.168.50.201` or with its prefix length.
                        let addr = ip.value.split('/').next().unwrap_or_default();
                        addr.parse().ok().map(|a| (id, a))
                    })
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
            fl.racks.push(RawFlavourRack {
                id,
                leaves,
                leaf_ips,
                nodes,
            });
        }
    }
    Some(fl)
}

/// kube-router's flags as its DaemonSet passes them: `--name=value` or `--name` (true).
pub fn parse_args(args: &[At<String>], d: &mut Diagnostics) -> super::kube_router_flags::Flags {
    let mut out = super::kube_router_flags::Flags::default();
    let mut admin = Vec::new();
    for a in args {
        let Some(body) = a.value.strip_prefix("--") else {
            d.error(
                &a.loc,
                &a.path,
                // Only the name: the value may be a password.
                format!(
                    "`{}` is not a flag; kube-router's are written --name=value",
                    a.value.split('=').next().unwrap_or_default()
                ),
            );
            continue;
        };
        let (k, v) = body.split_once('=').unwrap_or((body, "true"));
        // kube-router parses its flags with pflag, which stops the pod on an unknown one.
        if !super::kube_router_flags::known(k) {
            let hint = super::decode::closest(k, &super::kube_router_flags::names())
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
        use super::kube_router_flags::Use;
        match super::kube_router_flags::use_of(k) {
            // A switched-off feature changes nothing (`--run-firewall=false`).
            Some(Use::NotModelled(what)) if v != "false" => d.warning(
                &a.loc,
                &a.path,
                format!("--{k}: read, not modelled — {what}"),
            ),
            Some(Use::Admin) => admin.push(format!("--{k}")),
            _ => {}
        }
        // Twice in one list is likely a slip; the design's `args` overriding the DaemonSet's is
        // what they are for.
        if let Some(v0) = out.get(k)
            && v0 != v
            && out.place(k, (&a.loc, &a.path)).0.file == a.loc.file
        {
            let (l, p) = out.place(k, (&a.loc, &a.path));
            d.warning(
                &a.loc,
                &a.path,
                format!(
                    "--{k} is given again (first at {}:{}, {p}): kube-router takes the last one",
                    l.file, l.line
                ),
            );
        }
        out.set(k, v, &a.loc, &a.path);
    }
    if let Some(first) = args.first()
        && !admin.is_empty()
    {
        d.warning(
            &first.loc,
            &first.path,
            format!(
                "read, no effect on what fabsim simulates (API access, metrics, logging, sync periods, local ports): {}",
                admin.join(", ")
            ),
        );
    }
    out
}
