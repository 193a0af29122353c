//! Resolution of a BGP design: the CNI's real defaults (FACTS.md §2), kube-router's flags,
//! the acc-provision Calico flavour and Calico resources merged, checks, defaults recorded.
//! Precedence: the design's own keys, then Calico resources, then the acc-provision file.

use super::decode::Cidr;
use super::diag::Diagnostics;
use super::raw::RawDesign;
use super::raw_bgp::{RawBgpDesign, parse_args};
use crate::cluster::Cluster;
use crate::design::bgp::config::*;
use crate::fabric::Fabric;
use crate::net::Subnet;
use crate::time::Nanos;
use ipnet::Ipv4Net;

/// The node subnet a Calico-flavour file gives, for a cluster that does not state one.
pub(super) fn flavour_node_subnet(rd: &RawDesign) -> Option<Subnet> {
    let c = rd
        .bgp
        .as_ref()?
        .flavour
        .as_ref()?
        .node_subnet
        .as_ref()?
        .value
        .0;
    Subnet::parse(&c.to_string()).ok()
}

fn nets(v: &[Cidr]) -> Vec<Ipv4Net> {
    v.iter().map(|c| c.0).collect()
}

fn bool_flag(
    flags: &super::kube_router_flags::Flags,
    name: &str,
    default: bool,
    rd: &RawDesign,
    d: &mut Diagnostics,
) -> bool {
    match flags.get(name).map(String::as_str) {
        None => default,
        Some("true") => true,
        Some("false") => false,
        Some(v) => {
            let args = format!("{}.args", rd.path);
            let (loc, path) = flags.place(name, (&rd.loc, &args));
            d.error(loc, path, format!("--{name}={v}: expected true or false"));
            default
        }
    }
}

// Long: the steps of resolving a BGP design in order, then the config they make (a
// 45-line struct literal).
#[allow(clippy::too_many_arguments)]
pub(super) fn resolve(
    rd: &RawDesign,
    r: &RawBgpDesign,
    cni: BgpCni,
    fabric_bgp: Option<&super::raw_bgp::RawFabricBgp>,
    fabric: &Fabric,
    cluster: &Cluster,
    defaults: &mut Vec<String>,
    d: &mut Diagnostics,
) -> Option<BgpConfig> {
    let dn = rd.name.value.clone();
    let mut dflt = |key: &str, value: String, source: &str| {
        defaults.push(format!("{dn}: {key} = {value} ({source})"))
    };
    let fl = r.flavour.clone().unwrap_or_default();
    let res = r.resources.clone().unwrap_or_default();
    let flags = parse_args(&r.args, d);
    if cni != BgpCni::KubeRouter && !r.args.is_empty() {
        d.error(
            &rd.loc,
            &format!("{}.args", rd.path),
            "`args` are kube-router's DaemonSet flags",
        );
    }
    let i = Inputs {
        rd,
        r,
        cni,
        res,
        fl,
        flags,
        fabric,
        cluster,
    };
    let (cluster_asn, fabric_asn) = as_numbers(&i, &mut dflt, d);
    // A cluster in the fabric's own AS peers over iBGP (Cilium's own documentation does):
    // ACI iBGP L3Out peers, maxEcmpIbgp, no AS path to check.
    let ibgp = cluster_asn == fabric_asn;

    let (node_hold_time, node_keepalive, graceful_restart, restart_time) =
        node_timers(&i, &mut dflt, d);

    // The fabric side: fabric.bgp over APIC's or the Calico flavour's defaults, the design's
    // own fabric-side keys over fabric.bgp.
    let mut side_defaults = Vec::new();
    let node_bfd = cni == BgpCni::KubeRouter && bool_flag(&i.flags, "enable-bfd", false, rd, d);
    let side = super::resolve_fabric_bgp::resolve(
        &rd.name.value,
        cni,
        fabric_bgp,
        &r.bgp,
        r.flavour.as_ref().map(|f| f.prefixes),
        node_bfd,
        &mut side_defaults,
        d,
    );
    let (node_peer_asn, node_password, fabric_password) = peer_asn_and_passwords(&i, d);

    let (pods, pool) = pod_addressing(&i, &mut dflt, d)?;

    let Advertising {
        advertise_pod_cidr,
        advertise_lb,
        advertise_cluster_ips,
        advertise_external_ips,
        lb_pool,
        lb_service_selectors,
    } = advertising(&i, &mut dflt, d);

    // Import route control: node, pod and service subnets.
    let import = side.import.clone().unwrap_or_else(|| {
        let mut v = vec![cluster.node_subnet.net, pool];
        v.extend(lb_pool.iter().copied());
        v.extend(advertise_cluster_ips.iter().copied());
        v.extend(advertise_external_ips.iter().copied());
        v.extend(cluster.service_subnet.map(|s| s.net));
        v.extend(i.fl.cluster_svc_subnet.as_ref().map(|a| a.value.0));
        v
    });

    // iBGP among the nodes: Calico's full mesh and kube-router's --enable-ibgp default to on (the
    // ACI design turns them off); Cilium's BGP control plane peers only with what it is told.
    let node_mesh = match cni {
        BgpCni::Calico => r
            .bgp
            .node_to_node_mesh
            .or(i.res.node_to_node_mesh)
            .unwrap_or_else(|| {
                dflt(
                    "bgp.node_to_node_mesh",
                    "true".into(),
                    "Calico BGPConfiguration nodeToNodeMeshEnabled default",
                );
                true
            }),
        BgpCni::KubeRouter => r
            .bgp
            .node_to_node_mesh
            .unwrap_or_else(|| bool_flag(&i.flags, "enable-ibgp", true, rd, d)),
        BgpCni::Cilium => r.bgp.node_to_node_mesh.unwrap_or(false),
    };

    let (masquerade, masquerade_ports, bpf_masquerade, node_lb) = egress(&i, &mut dflt, d);

    check_flavour_topology(&i, d);

    let node_peering = node_peering(&i, d);

    defaults.extend(side_defaults);
    Some(BgpConfig {
        node_peering,
        cni,
        cluster_asn,
        fabric_asn,
        node_hold_time,
        node_keepalive,
        fabric_hold_time: side.hold_time,
        fabric_keepalive: side.keepalive,
        graceful_restart,
        restart_time,
        max_paths: side.max_paths,
        max_prefix: side.max_prefix,
        next_hop_propagate: side.next_hop_propagate,
        ignore_igp_metric: side.ignore_igp_metric,
        fabric_stale: side.stale,
        gr_helper: side.gr_helper,
        bfd: side.bfd,
        reconnect: crate::design::bgp::config::Reconnect::for_cni(cni),
        node_mesh,
        import,
        node_password,
        node_peer_asn,
        fabric_password,
        pods,
        advertise_pod_cidr,
        advertise_lb,
        advertise_cluster_ips,
        lb_service_selectors,
        advertise_external_ips,
        ibgp,
        lb_pool_selectors: i
            .res
            .lb_pool_selectors
            .iter()
            .map(|(c, sel)| (c.0, sel.clone()))
            .collect(),
        cluster_ip_host_routes: cni == BgpCni::KubeRouter
            && bool_flag(&i.flags, "advertise-cluster-ip", false, rd, d),
        lb_pool,
        masquerade,
        masquerade_ports,
        bpf_masquerade,
        // Felix and kube-router (`routing/pod_egress.go`) masquerade with --random-fully.
        masquerade_random_fully: cni != BgpCni::Cilium,
        node_lb,
    })
}

/// What every step of resolving one BGP design reads.
struct Inputs<'a> {
    rd: &'a RawDesign,
    r: &'a RawBgpDesign,
    cni: BgpCni,
    res: super::raw_bgp::RawResources,
    fl: super::raw_bgp::RawCalicoFlavour,
    flags: super::kube_router_flags::Flags,
    fabric: &'a Fabric,
    cluster: &'a Cluster,
}

impl Inputs<'_> {
    /// A duration flag of kube-router's, checked.
    fn dur_flag(&self, name: &str, d: &mut Diagnostics) -> Option<Nanos> {
        let v = self.flags.get(name)?;
        let args = format!("{}.args", self.rd.path);
        let (loc, path) = self.flags.place(name, (&self.rd.loc, &args));
        Nanos::parse(v)
            .map_err(|m| d.error(loc, path, format!("--{name}: {m}")))
            .ok()
    }

    /// Where a kube-router flag was written (the design's `args` when it was not).
    fn flag_at(&self, name: &str) -> (super::diag::Loc, String) {
        let args = format!("{}.args", self.rd.path);
        let (l, p) = self.flags.place(name, (&self.rd.loc, &args));
        (l.clone(), p.to_string())
    }
}

/// What a BGP design's nodes advertise, and its LoadBalancer pool.
struct Advertising {
    advertise_pod_cidr: bool,
    advertise_lb: Vec<Ipv4Net>,
    advertise_cluster_ips: Vec<Ipv4Net>,
    advertise_external_ips: Vec<Ipv4Net>,
    lb_pool: Vec<Ipv4Net>,
    lb_service_selectors: Option<Vec<crate::cluster::selector::LabelSelector>>,
}

/// The cluster's and the fabric's AS numbers: the design's keys, kube-router's flags, the Calico resources, the acc-provision flavour, the CNIs' default.
fn as_numbers(
    i: &Inputs,
    dflt: &mut dyn FnMut(&str, String, &str),
    d: &mut Diagnostics,
) -> (u32, u32) {
    let Inputs {
        r, res, fl, flags, ..
    } = i;
    let cni = i.cni;
    // AS numbers. kube-router refuses to start on an --cluster-asn that is not a number.
    let kr_asn = flags.get("cluster-asn").and_then(|v| match v.parse::<u32>() {
        Ok(a) if a > 0 => Some(a),
        _ => {
            let (l, p) = i.flag_at("cluster-asn");
            d.error(&l, &p, format!("--cluster-asn `{v}` is not an AS number (1–4294967295): kube-router refuses to start"));
            None
        }
    });
    let cluster_asn = r
        .bgp
        .cluster_asn
        .as_ref()
        .map(|a| a.value)
        .or(kr_asn)
        .or(res.as_number)
        .or(res.local_asn)
        .or(fl.remote_as)
        .unwrap_or_else(|| {
            dflt("bgp.cluster_asn", "64512".into(), "the CNIs' default AS");
            64512
        });
    // kube-router's global peer AS (--peer-router-asns) is the fabric's when nothing else says.
    let kr_peer_asn = (cni == BgpCni::KubeRouter)
        .then(|| {
            flags
                .get("peer-router-asns")
                .and_then(|v| v.split(',').next())
                .and_then(|x| x.trim().parse::<u32>().ok())
        })
        .flatten();
    let fabric_asn = r
        .bgp
        .fabric_asn
        .as_ref()
        .map(|a| a.value)
        .or(kr_peer_asn)
        .or(fl.aci_as)
        .or(res.peer_asn)
        .or_else(|| res.peers.iter().find_map(|p| p.as_number))
        .unwrap_or_else(|| {
            dflt(
                "bgp.fabric_asn",
                "65000".into(),
                "fabsim's placeholder: give the fabric's AS",
            );
            65000
        });
    (cluster_asn, fabric_asn)
}

/// The node side's hold time, keepalive and graceful restart, per CNI.
fn node_timers(
    i: &Inputs,
    dflt: &mut dyn FnMut(&str, String, &str),
    d: &mut Diagnostics,
) -> (Nanos, Nanos, bool, Nanos) {
    let Inputs {
        rd, r, res, flags, ..
    } = i;
    let cni = i.cni;
    // Node-side timers, per CNI.
    let (hold_default, ka_default, gr_default, gr_time_default, src) = match cni {
        BgpCni::Calico => (
            240,
            80,
            true,
            120,
            "BIRD's defaults, Calico's graceful restart",
        ),
        BgpCni::KubeRouter => (90, 30, false, 90, "kube-router's defaults"),
        BgpCni::Cilium => (90, 30, false, 120, "Cilium BGP control plane defaults"),
    };
    let node_hold_time = r
        .bgp
        .hold_time
        .as_ref()
        .map(|a| a.value)
        .or_else(|| i.dur_flag("bgp-holdtime", d))
        .or(res.hold_time)
        .unwrap_or_else(|| {
            dflt("bgp.hold_time (node side)", format!("{hold_default}s"), src);
            Nanos::from_secs(hold_default)
        });
    if node_hold_time < Nanos::from_secs(3) {
        let loc = r
            .bgp
            .hold_time
            .as_ref()
            .map(|a| (a.loc.clone(), a.path.clone()))
            .unwrap_or((rd.loc.clone(), rd.path.clone()));
        d.error(
            &loc.0,
            &loc.1,
            format!("hold time {node_hold_time} is below the 3 s minimum"),
        );
    }
    let node_keepalive = r.bgp.keepalive.or(res.keepalive).unwrap_or_else(|| {
        if cni == BgpCni::Cilium {
            // CiliumBGPPeerConfig keepAliveTimeSeconds defaults to 30 s whatever the hold time
            // (`bgp_peer_types.go`), and must stay below it.
            let ka = Nanos::from_secs(ka_default);
            if ka >= node_hold_time {
                d.warning(&rd.loc, &rd.path, format!(
                    "Cilium's keepalive default {ka} is not below the hold time {node_hold_time}: Cilium refuses such a peer config; give bgp.keepalive (a third of the hold time is usual) — {} is assumed",
                    Nanos(node_hold_time.0 / 3)
                ));
                return Nanos(node_hold_time.0 / 3);
            }
            ka
        } else {
            Nanos(node_hold_time.0 / 3).min(Nanos::from_secs(ka_default))
        }
    });
    let graceful_restart = r
        .bgp
        .graceful_restart
        .or(res.graceful_restart)
        .unwrap_or_else(|| bool_flag(flags, "bgp-graceful-restart", gr_default, rd, d));
    let restart_time = r
        .bgp
        .restart_time
        .or_else(|| i.dur_flag("bgp-graceful-restart-time", d))
        .or(res.restart_time)
        .unwrap_or(Nanos::from_secs(gr_time_default));
    (
        node_hold_time,
        node_keepalive,
        graceful_restart,
        restart_time,
    )
}

/// The fabric's AS as the nodes know it, and both sides' passwords: kube-router's node annotations and global peer flags (base64), the design's keys, the flavour's secret.
// Long: it reads one object's keys in the order the file gives them, each with its
// default, its check and its message; one block per key.
fn peer_asn_and_passwords(
    i: &Inputs,
    d: &mut Diagnostics,
) -> (Option<u32>, Option<String>, Option<String>) {
    let Inputs {
        rd, r, fl, flags, ..
    } = i;
    let cni = i.cni;
    // kube-router takes its peers from node annotations; passwords there are base64 (its docs).
    let mut node_peer_asn = None;
    let mut annotated_password = None;
    if let Some(ann) = &r.node_annotations {
        if cni != BgpCni::KubeRouter {
            d.error(
                &ann.loc,
                &ann.path,
                "node_annotations carry kube-router's peer settings (kube-router.io/peer.*)",
            );
        }
        let known = super::kube_router_flags::NODE_ANNOTATIONS;
        for key in ann.value.keys() {
            match known.iter().find(|(k, _)| k == key) {
                Some((_, None)) => {}
                Some((_, Some(what))) => d.warning(
                    &ann.loc,
                    &format!("{}.{key}", ann.path),
                    format!("read, not modelled: {what}"),
                ),
                None => {
                    let names: Vec<&str> = known.iter().map(|(k, _)| *k).collect();
                    let mut hint = super::decode::did_you_mean(key, &names);
                    if hint.is_empty() {
                        hint.push('.');
                    }
                    d.warning(&ann.loc, &format!("{}.{key}", ann.path), format!("`{key}` is not a node annotation kube-router reads{hint} As written it has no effect"));
                }
            }
        }
        if let Some(v) = ann.value.get("kube-router.io/peer.asns") {
            match v
                .split(',')
                .map(|x| x.trim().parse::<u32>())
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(list) => node_peer_asn = list.first().copied(),
                Err(_) => d.error(
                    &ann.loc,
                    &ann.path,
                    format!(
                        "kube-router.io/peer.asns `{v}` is not a comma-separated list of AS numbers"
                    ),
                ),
            }
        }
        if let Some(v) = ann.value.get("kube-router.io/peer.passwords") {
            use base64::Engine;
            let first = v.split(',').next().unwrap_or_default().trim();
            match base64::engine::general_purpose::STANDARD.decode(first).ok().and_then(|b| String::from_utf8(b).ok()) {
                Some(p) => annotated_password = Some(p),
                None => d.error(&ann.loc, &ann.path, "kube-router.io/peer.passwords is not base64 (kube-router expects base64-encoded passwords); the value is not shown".to_string()),
            }
        }
    }
    // kube-router's global peers (`--peer-router-ips`, `--peer-router-asns`,
    // `--peer-router-passwords`, base64 like the annotations; kube-router `options.go`): the
    // fabric's anchor leaves for every node. Node annotations, per node, take precedence.
    let mut global_password = None;
    if cni == BgpCni::KubeRouter {
        let list = |k: &str| -> Option<Vec<String>> {
            flags
                .get(k)
                .map(|v| v.split(',').map(|x| x.trim().to_string()).collect())
        };
        let ips = list("peer-router-ips");
        if ips.is_some() {
            // Global peers configured: the node annotations are not read.
            annotated_password = None;
            node_peer_asn = None;
        }
        if let Some(asns) = list("peer-router-asns") {
            match asns
                .iter()
                .map(|x| x.parse::<u32>())
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(v) => {
                    // kube-router reads the node annotations only when no global peers are
                    // configured (`network_routes_controller.go`): the flags win.
                    node_peer_asn = v.first().copied();
                    if let Some(ips) = &ips
                        && ips.len() != v.len()
                    {
                        {
                            let (l, p) = i.flag_at("peer-router-asns");
                            d.error(&l, &p, format!("--peer-router-ips lists {} peer(s) but --peer-router-asns {}: kube-router needs one AS per peer IP", ips.len(), v.len()));
                        }
                    }
                }
                Err(_) => d.error(
                    &i.flag_at("peer-router-asns").0,
                    &i.flag_at("peer-router-asns").1,
                    "--peer-router-asns is not a comma-separated list of AS numbers",
                ),
            }
        } else if ips.is_some() {
            d.error(&rd.loc, &rd.path, "--peer-router-ips needs --peer-router-asns (kube-router refuses peers without an AS)");
        }
        if let Some(pw) = list("peer-router-passwords") {
            use base64::Engine;
            let first = pw.first().cloned().unwrap_or_default();
            match base64::engine::general_purpose::STANDARD
                .decode(&first)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
            {
                Some(p) => {
                    global_password = Some(p);
                    annotated_password = None;
                }
                None => {
                    let (l, p) = i.flag_at("peer-router-passwords");
                    d.error(&l, &p, "--peer-router-passwords is not base64 (kube-router expects base64-encoded passwords)")
                }
            }
        }
    }
    let node_password = r
        .bgp
        .password
        .clone()
        .or(global_password)
        .or(annotated_password)
        .or(fl.secret.clone());
    let fabric_password = r.bgp.fabric_password.clone().or(node_password.clone());
    if node_password != fabric_password {
        d.warning(&rd.loc, &rd.path, "the nodes' and the fabric's BGP passwords differ: no session comes up, so nothing the nodes advertise reaches the fabric");
    }
    (node_peer_asn, node_password, fabric_password)
}

/// Pod addressing (Calico blocks or per-node podCIDRs) and the pod pool, checked against the pods the nodes run.
// Long: it reads one object's keys in the order the file gives them, each with its
// default, its check and its message; one block per key.
fn pod_addressing(
    i: &Inputs,
    dflt: &mut dyn FnMut(&str, String, &str),
    d: &mut Diagnostics,
) -> Option<(PodAddressing, Ipv4Net)> {
    let Inputs {
        rd,
        r,
        res,
        fl,
        cluster,
        ..
    } = i;
    let cni = i.cni;
    // Pod addressing.
    let pool = r
        .pool_cidr
        .as_ref()
        .or(res.pool_cidr.as_ref())
        .or(fl.pod_subnet.as_ref())
        .map(|a| a.value.0)
        .or(cluster.pod_subnet.map(|s| s.net));
    let Some(pool) = pool else {
        d.error(&rd.loc, &rd.path, format!("design {} needs a pod pool: ip_pool.cidr, cluster.pod_subnet or an acc-provision pod_subnet", rd.name.value));
        return None;
    };
    let pool_subnet = Subnet {
        net: pool,
        gateway: pool.network(),
    };
    let pods = match cni {
        BgpCni::Calico => {
            let bs = r
                .block_size
                .as_ref()
                .or(res.block_size.as_ref())
                .or(fl.block_size.as_ref());
            let block_size = match bs {
                Some(a) if !(20..=32).contains(&a.value) => {
                    d.error(
                        &a.loc,
                        &a.path,
                        format!(
                            "block_size {} must be between 20 and 32 (Calico IPv4)",
                            a.value
                        ),
                    );
                    26
                }
                Some(a) => a.value,
                None => {
                    dflt("ip_pool.block_size", "26".into(), "Calico IPPool default");
                    26
                }
            };
            PodAddressing::Blocks {
                pool: pool_subnet,
                block_size,
            }
        }
        _ => {
            let len = r.pod_cidr_len.as_ref().map(|a| a.value).unwrap_or_else(|| {
                dflt(
                    "pod_cidr_len",
                    "24".into(),
                    "kube-controller-manager --node-cidr-mask-size default",
                );
                24
            });
            if len < pool.prefix_len() || len > 30 {
                d.error(
                    &rd.loc,
                    &rd.path,
                    format!("a /{len} podCIDR per node does not fit the pod pool {pool}"),
                );
            }
            PodAddressing::PerNodeCidr {
                pool: pool_subnet,
                len,
            }
        }
    };

    // The pool must hold every node's podCIDR; Calico's blocks may run out (then nodes borrow).
    let per_node = cluster.pods_by_node();
    let (units, unit_len, per_unit) = match &pods {
        PodAddressing::Blocks { block_size, .. } => {
            let size = 1u64 << (32 - u32::from(*block_size));
            (
                per_node
                    .iter()
                    .map(|p| (p.len() as u64).div_ceil(size))
                    .sum::<u64>(),
                *block_size,
                size,
            )
        }
        PodAddressing::PerNodeCidr { len, .. } => {
            let size = 1u64 << (32 - u32::from(*len));
            if let Some((n, p)) = per_node
                .iter()
                .enumerate()
                .find(|(_, p)| p.len() as u64 > size.saturating_sub(2))
            {
                d.error(
                    &rd.loc,
                    &rd.path,
                    format!(
                        "node {} runs {} pods but a /{len} podCIDR holds {}",
                        cluster.nodes[n].name,
                        p.len(),
                        size.saturating_sub(2)
                    ),
                );
            }
            (per_node.len() as u64, *len, size)
        }
    };
    let capacity = 1u64 << (32 - u32::from(pool.prefix_len()));
    let pods_total = per_node.iter().map(|p| p.len() as u64).sum::<u64>();
    if let PodAddressing::Blocks { block_size, .. } = &pods
        && pool.prefix_len() > *block_size
    {
        // Calico's validation: "IP pool size is too small … must be equal to or greater than
        // the block size".
        d.error(&rd.loc, &rd.path, format!("the pod pool {pool} is smaller than one /{block_size} block (Calico requires the pool to be at least the block size)"));
    } else if matches!(pods, PodAddressing::Blocks { .. }) {
        // Calico IPAM with strictAffinity false (the default): a node that finds no free block
        // borrows single addresses from other nodes' blocks (advertised as /32s), so only the
        // pool's addresses bound the pods.
        if pods_total > capacity {
            d.error(&rd.loc, &rd.path, format!("the pod pool {pool} holds {capacity} addresses but the cluster runs {pods_total} pods"));
        } else if units * per_unit > capacity {
            d.warning(&rd.loc, &rd.path, format!(
                "the pod pool {pool} holds {} /{unit_len} blocks but the nodes would need {units}: nodes left without a block borrow addresses from others' blocks and advertise each as a /32 (Calico IPAM, strictAffinity false)",
                capacity / per_unit
            ));
        }
    } else if u32::from(unit_len) >= u32::from(pool.prefix_len()) && units * per_unit > capacity {
        d.error(
            &rd.loc,
            &rd.path,
            format!(
                "the pod pool {pool} holds {} /{unit_len} blocks but the nodes need {units}",
                capacity / per_unit
            ),
        );
    }
    Some((pods, pool))
}

/// What the nodes advertise and the LoadBalancer pool, per CNI.
// Long: it reads one object's keys in the order the file gives them, each with its
// default, its check and its message; one block per key.
fn advertising(
    i: &Inputs,
    dflt: &mut dyn FnMut(&str, String, &str),
    d: &mut Diagnostics,
) -> Advertising {
    let Inputs {
        rd,
        r,
        res,
        fl,
        flags,
        cluster,
        ..
    } = i;
    let cni = i.cni;
    // Advertisement and LoadBalancer pool.
    let mut lb_service_selectors: Option<Vec<crate::cluster::selector::LabelSelector>> = None;
    let mut advertise_external_ips: Vec<Ipv4Net> = Vec::new();
    let (advertise_pod_cidr, advertise_lb, advertise_cluster_ips, lb_pool) = match cni {
        BgpCni::Calico => {
            let lb = r
                .service_loadbalancer_ips
                .clone()
                .map(|v| nets(&v))
                .unwrap_or_else(|| {
                    let mut v = nets(&res.service_loadbalancer_ips);
                    if v.is_empty() {
                        v.extend(fl.extern_dynamic.as_ref().map(|a| a.value.0));
                    }
                    v
                });
            let mut ext = r
                .service_external_ips
                .clone()
                .map(|v| nets(&v))
                .unwrap_or_else(|| nets(&res.service_external_ips));
            ext.retain(|e| !lb.contains(e));
            // serviceExternalIPs CIDRs are announced from every node, but do not authorise a
            // LoadBalancer IP (`routes.go` isAllowedLoadBalancerIP checks serviceLoadBalancerIPs).
            advertise_external_ips = ext;
            let adv_lb = lb.clone();
            let cips = r
                .service_cluster_ips
                .clone()
                .map(|v| nets(&v))
                .unwrap_or_else(|| nets(&res.service_cluster_ips));
            (
                true,
                adv_lb,
                cips,
                r.lb_pool.clone().map(|v| nets(&v)).unwrap_or(lb),
            )
        }
        BgpCni::KubeRouter => {
            let pool = r.lb_pool.clone().map(|v| nets(&v)).unwrap_or_default();
            let adv_lb = bool_flag(flags, "advertise-loadbalancer-ip", false, rd, d);
            let any: Ipv4Net = "0.0.0.0/0".parse().expect("valid");
            (
                bool_flag(flags, "advertise-pod-cidr", true, rd, d),
                if adv_lb { vec![any] } else { Vec::new() },
                Vec::new(),
                pool,
            )
        }
        BgpCni::Cilium => {
            let pool = r
                .lb_pool
                .clone()
                .map(|v| nets(&v))
                .unwrap_or_else(|| nets(&res.lb_pool));
            let any: Ipv4Net = "0.0.0.0/0".parse().expect("valid");
            // With Cilium resources, exactly what the selected CiliumBGPAdvertisements list;
            // without them (the short keys) PodCIDR and LoadBalancer IPs, as Cisco's Cilium-on-ACI
            // design guide configures its advertisements.
            let (res_pod, selectors) = match res.advertisements.clone() {
                Some((p, sels)) => (p, Some(sels)),
                None => {
                    dflt(
                        "advertisements",
                        "PodCIDR and LoadBalancer IPs".into(),
                        "the short keys: what Cisco's Cilium-on-ACI design guide advertises",
                    );
                    (true, None)
                }
            };
            let lb = r
                .advertise_lb
                .unwrap_or(selectors.as_ref().is_none_or(|s| !s.is_empty()));
            lb_service_selectors = if r.advertise_lb.is_some() {
                None
            } else {
                selectors
            };
            (
                r.advertise_pod_cidr.unwrap_or(res_pod),
                if lb { vec![any] } else { Vec::new() },
                Vec::new(),
                pool,
            )
        }
    };
    let has_lb = cluster.services.iter().any(|s| {
        s.kind == crate::cluster::ServiceType::LoadBalancer
            && s.requested_lb_ip.is_none()
            && s.assigned_lb_ip.is_none()
    });
    if has_lb && lb_pool.is_empty() {
        d.error(&rd.loc, &rd.path, format!(
            "design {} has LoadBalancer services without load_balancer_ip but no pool to allocate from (advertise.service_loadbalancer_ips, load_balancer.pool or the acc-provision extern_dynamic)",
            rd.name.value
        ));
    }
    Advertising {
        advertise_pod_cidr,
        advertise_lb,
        advertise_cluster_ips,
        advertise_external_ips,
        lb_pool,
        lb_service_selectors,
    }
}

/// Egress (masquerade and its port range) and the nodes' service load balancing.
// Long: it reads one object's keys in the order the file gives them, each with its
// default, its check and its message; one block per key.
fn egress(
    i: &Inputs,
    dflt: &mut dyn FnMut(&str, String, &str),
    d: &mut Diagnostics,
) -> (bool, (u16, u16), bool, NodeLb) {
    let Inputs {
        rd, r, res, flags, ..
    } = i;
    let cni = i.cni;
    // Egress and node load balancing.
    let masquerade = match cni {
        BgpCni::Calico => {
            // acc-provision's Calico flavour: calico_config.net_config.nat_outgoing, "Disabled"
            // by default (acc_provision.py config_default), into the ipPool's natOutgoing.
            let given = r.nat_outgoing.or(res.nat_outgoing).is_some();
            let flavour = r.flavour.as_ref().filter(|_| !given).map(|f| match &f.nat_outgoing {
                Some(a) => match a.value.as_str() {
                    "Enabled" => true,
                    "Disabled" => false,
                    other => {
                        d.error(&a.loc, &a.path, format!("nat_outgoing `{other}`: acc-provision takes Enabled or Disabled"));
                        false
                    }
                },
                None => {
                    dflt(
                        "calico_config.net_config.nat_outgoing",
                        "Disabled".into(),
                        "acc-provision config_default",
                    );
                    false
                }
            });
            r.nat_outgoing
                .or(res.nat_outgoing)
                .or(flavour)
                .unwrap_or_else(|| {
                    dflt(
                        "ip_pool.nat_outgoing",
                        "true".into(),
                        "calico-node CALICO_IPV4POOL_NAT_OUTGOING default",
                    );
                    true
                })
        }
        BgpCni::KubeRouter => bool_flag(flags, "enable-pod-egress", true, rd, d),
        BgpCni::Cilium => r.masquerade.unwrap_or(true),
    };
    // Cilium masquerades with iptables unless Helm's bpf.masquerade is set; its BPF allocator
    // uses 32768–65535 (FACTS §2). iptables MASQUERADE without --to-ports searches 1024–65535
    // for source ports ≥ 1024 (nf_nat_core.c).
    if r.bpf_masquerade.is_some() && cni != BgpCni::Cilium {
        d.warning(
            &rd.loc,
            &rd.path,
            "bpf_masquerade is Cilium's Helm bpf.masquerade: ignored for this CNI",
        );
    }
    let bpf_masquerade = cni == BgpCni::Cilium
        && r.bpf_masquerade.unwrap_or_else(|| {
            dflt(
                "bpf_masquerade",
                "false (iptables MASQUERADE)".into(),
                "Cilium Helm bpf.masquerade default",
            );
            false
        });
    let masquerade_ports = if bpf_masquerade {
        (32768, 65535)
    } else {
        (1024, 65535)
    };
    let node_lb = match (cni, r.lb_algorithm.as_ref().map(|a| (a.value.as_str(), a))) {
        (_, Some(("maglev" | "mh", _))) => NodeLb::Maglev,
        (BgpCni::KubeRouter, Some(("rr", _))) | (BgpCni::KubeRouter, None) => NodeLb::RoundRobin,
        (BgpCni::Calico | BgpCni::Cilium, Some(("random", _)) | None) => NodeLb::Random,
        (_, Some((other, a))) => {
            d.error(
                &a.loc,
                &a.path,
                format!(
                    "load_balancer.algorithm `{other}` is not one of {}'s",
                    cni.name()
                ),
            );
            NodeLb::Random
        }
    };
    (masquerade, masquerade_ports, bpf_masquerade, node_lb)
}

/// The Calico flavour's racks must match the fabric's.
fn check_flavour_topology(i: &Inputs, d: &mut Diagnostics) {
    let Inputs {
        fl,
        fabric,
        cluster,
        ..
    } = i;
    // The Calico flavour's topology must match the fabric.
    for super::raw_bgp::RawFlavourRack {
        id, leaves, nodes, ..
    } in &fl.racks
    {
        match fabric.racks.iter().find(|x| x.number == id.value) {
            None => d.error(
                &id.loc,
                &id.path,
                format!(
                    "the acc-provision topology has rack {} but the fabric does not",
                    id.value
                ),
            ),
            Some(rack) => {
                for l in leaves {
                    if !rack.leaves.iter().any(|x| fabric.leaf(*x).number == *l) {
                        d.error(
                            &id.loc,
                            &id.path,
                            format!(
                                "acc-provision puts leaf {l} in rack {}, the fabric does not",
                                id.value
                            ),
                        );
                    }
                }
                for n in nodes {
                    let ok = cluster.node_by_name(&n.value).is_some_and(|x| {
                        fabric.racks[cluster.node(x).rack.index()].number == id.value
                    });
                    if !ok {
                        d.error(
                            &n.loc,
                            &n.path,
                            format!(
                                "acc-provision puts node {} in rack {}, the fabric does not",
                                n.value, id.value
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// Per node: Calico's BGPPeers and node BGPConfigurations; kube-router's peer addresses.
fn node_peering(i: &Inputs, d: &mut Diagnostics) -> Vec<NodePeering> {
    let Inputs {
        rd,
        r,
        res,
        flags,
        fabric,
        cluster,
        ..
    } = i;
    let cni = i.cni;
    // Per node: Calico's BGPPeers and node BGPConfigurations; kube-router's peer addresses.
    let mut peers = match cni {
        BgpCni::Calico => super::resolve_peering::calico_peers(res),
        BgpCni::Cilium => super::resolve_peering::cilium_peers(res, d),
        BgpCni::KubeRouter => Vec::new(),
    };
    if cni == BgpCni::KubeRouter {
        let ips = flags
            .get("peer-router-ips")
            .map(String::as_str)
            .or_else(|| {
                r.node_annotations
                    .as_ref()
                    .and_then(|a| a.value.get("kube-router.io/peer.ips"))
                    .map(String::as_str)
            });
        for ip in ips.into_iter().flat_map(|v| v.split(',')) {
            match ip.trim().parse() {
                Ok(ip) => peers.push(super::resolve_peering::Peer {
                    name: format!("{}: peer {ip}", rd.path),
                    ip: Some(ip),
                    asn: None,
                    loc: &rd.loc,
                    applies: super::resolve_peering::Applies::Every,
                }),
                Err(_) => d.error(
                    &rd.loc,
                    &rd.path,
                    format!(
                        "kube-router peer address `{}` is not an IPv4 address",
                        ip.trim()
                    ),
                ),
            }
        }
    }
    if cni == BgpCni::Calico
        && r.resources.is_some()
        && res.peers.is_empty()
        && let Some(loc) = &res.loc
    {
        d.warning(loc, "(document)", "the Calico resources hold no BGPPeer with a peerIP: Calico would peer with nothing outside the cluster; fabsim assumes acc-provision's per-rack peers (each node with its rack's anchor leaves)");
    }

    super::resolve_peering::resolve(
        &peers,
        &res.node_configs,
        &res.calico_nodes,
        r.flavour.as_ref(),
        fabric,
        cluster,
        d,
    )
}
