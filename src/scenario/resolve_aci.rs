//! Resolution of an aci-cni design: acc-provision keys merged (inline over file), defaults
//! applied and recorded, subnets checked for overlap, the port range checked as the controller
//! does, SNAT policies and LoadBalancer IPs checked against the cluster.

use super::decode::{At, Cidr};
use super::diag::{Diagnostics, Loc};
use super::raw::{RawAciDesign, RawDesign};
use crate::cluster::{Cluster, ServiceType};
use crate::design::aci_cni::config::*;
use crate::nat::snat::PortRange;
use crate::net::{Subnet, overlaps};
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// The part of the configuration the cluster needs before it can be built (its node subnet).
#[derive(Clone, Debug)]
pub(super) struct NetPart {
    pub node_subnets: Vec<Subnet>,
    pub config: AciConfig,
    /// Where each subnet kind was written, for later messages.
    locs: Vec<(&'static str, Loc, String, Vec<Subnet>)>,
}

// Long: it reads one object's keys in the order the file gives them, each with its
// default, its check and its message; one block per key.
pub(super) fn resolve_net(
    rd: &RawDesign,
    a: &RawAciDesign,
    defaults: &mut Vec<String>,
    d: &mut Diagnostics,
) -> Option<NetPart> {
    let c = a
        .imported
        .clone()
        .unwrap_or_default()
        .overridden_by(&a.inline);
    let dn = &rd.name.value;
    let missing = |d: &mut Diagnostics, key: &str| {
        d.error(
            &rd.loc,
            &rd.path,
            format!("design {dn} needs net_config.{key} (in its acc-provision file or inline)"),
        );
    };
    let mut dflt = |key: &str, value: String, source: &str| {
        defaults.push(format!("{dn}: {key} = {value} ({source})"))
    };
    let node = c.node_subnet.clone();
    let pod = c.pod_subnet.clone();
    let dynamic = c.extern_dynamic.clone();
    let node_svc = c.node_svc_subnet.clone();
    for (v, k) in [
        (node.is_none() && !a.import_failed, "node_subnet"),
        (pod.is_none() && !a.import_failed, "pod_subnet"),
        (dynamic.is_none() && !a.import_failed, "extern_dynamic"),
        (node_svc.is_none() && !a.import_failed, "node_svc_subnet"),
    ] {
        if v {
            missing(d, k);
        }
    }
    let (node, pod, dynamic, node_svc) = (node?, pod?, dynamic?, node_svc?);
    let stat = c.extern_static.clone();

    let mut locs: Vec<(&'static str, Loc, String, Vec<Subnet>)> = vec![
        (
            "node_subnet",
            node.loc.clone(),
            node.path.clone(),
            node.value.clone(),
        ),
        (
            "pod_subnet",
            pod.loc.clone(),
            pod.path.clone(),
            pod.value.clone(),
        ),
        (
            "extern_dynamic",
            dynamic.loc.clone(),
            dynamic.path.clone(),
            dynamic.value.clone(),
        ),
        (
            "node_svc_subnet",
            node_svc.loc.clone(),
            node_svc.path.clone(),
            vec![node_svc.value],
        ),
    ];
    if let Some(s) = &stat {
        locs.push((
            "extern_static",
            s.loc.clone(),
            s.path.clone(),
            s.value.clone(),
        ));
    }
    if let Some(s) = &c.cluster_svc_subnet {
        locs.push((
            "cluster_svc_subnet",
            s.loc.clone(),
            s.path.clone(),
            vec![s.value],
        ));
    }
    check_disjoint(&locs, d);

    let chunk = match &c.pod_subnet_chunk_size {
        Some(At { value, loc, path }) => {
            if *value == 0 || *value > 65536 {
                d.error(
                    loc,
                    path,
                    format!("pod_subnet_chunk_size {value} must be between 1 and 65536"),
                );
            }
            *value
        }
        None => {
            dflt(
                "net_config.pod_subnet_chunk_size",
                DEFAULT_POD_SUBNET_CHUNK_SIZE.to_string(),
                "acc-provision default",
            );
            DEFAULT_POD_SUBNET_CHUNK_SIZE
        }
    };
    let port_range = port_range(c.port_range.as_ref(), &mut dflt, d);
    let max_nodes = match &c.max_nodes_svc_graph {
        Some(At { value, loc, path }) => {
            if *value == 0 || *value > MAX_MAX_NODES_SVC_GRAPH {
                d.error(loc, path, format!("max_nodes_svc_graph {value} must be between 1 and {MAX_MAX_NODES_SVC_GRAPH} (APIC's maximum of PBR destinations)"));
            }
            *value
        }
        None => {
            dflt(
                "kube_config.max_nodes_svc_graph",
                DEFAULT_MAX_NODES_SVC_GRAPH.to_string(),
                "acc-provision default",
            );
            DEFAULT_MAX_NODES_SVC_GRAPH
        }
    };
    let monitor = match &c.service_monitor_interval {
        Some(v) => v.value,
        None => {
            dflt(
                "net_config.service_monitor_interval",
                format!("{DEFAULT_SERVICE_MONITOR_INTERVAL}s"),
                "acc-provision default",
            );
            DEFAULT_SERVICE_MONITOR_INTERVAL
        }
    };
    let system_id = match &c.system_id {
        Some(s) => s.value.clone(),
        None => {
            dflt(
                "aci_config.system_id",
                "kube".into(),
                "fabsim's placeholder; acc-provision requires one",
            );
            "kube".into()
        }
    };
    let external_networks = c.external_networks.clone().unwrap_or_else(|| {
        dflt(
            "aci_config.l3out.external_networks",
            "[default]".into(),
            "fabsim's placeholder",
        );
        vec!["default".into()]
    });
    if external_networks.is_empty() {
        d.error(
            &rd.loc,
            &rd.path,
            "aci_config.l3out.external_networks is empty: the L3Out needs an external EPG",
        );
    }
    let config = AciConfig {
        system_id,
        vrf: c.vrf_name.clone().unwrap_or_else(|| "vrf".into()),
        l3out: c.l3out_name.clone().unwrap_or_else(|| "l3out".into()),
        external_networks,
        node_subnets: node.value.clone(),
        pod_subnets: pod.value.clone(),
        pod_subnet_chunk_size: chunk,
        extern_dynamic: dynamic.value.clone(),
        extern_static: stat.map(|s| s.value).unwrap_or_default(),
        node_svc_subnet: node_svc.value,
        cluster_svc_subnet: c.cluster_svc_subnet.as_ref().map(|s| s.value),
        service_monitor_interval: monitor,
        pbr_tracking_non_snat: c.pbr_tracking_non_snat.unwrap_or(false),
        port_range,
        max_nodes_svc_graph: max_nodes,
        resilient_hashing: !c.disable_resilient_hashing.unwrap_or(false),
        add_external_contract_to_default_epg: c
            .add_external_contract_to_default_epg
            .unwrap_or(false),
        allow_pods_external_access: c.allow_pods_external_access.unwrap_or(false),
        add_external_subnets_to_rdconfig: c.add_external_subnets_to_rdconfig.unwrap_or(false),
        node_snat_redirect_exclude: c
            .node_snat_redirect_exclude
            .as_ref()
            .map(|x| {
                x.value
                    .iter()
                    .filter(|g| !g.labels.is_empty())
                    .map(|g| g.labels.clone())
                    .collect()
            })
            .unwrap_or_default(),
        legacy_naming: c.use_legacy_kube_naming_convention.unwrap_or(false),
        snat_policies: Vec::new(),
        contracts: Vec::new(),
        strict_snat_accounting: false,
        ip_sla_detect_multiplier: match &a.ip_sla_detect_multiplier {
            Some(m) if m.value == 0 => {
                d.error(
                    &m.loc,
                    &m.path,
                    "ip_sla_detect_multiplier must be at least 1 (APIC accepts 1–100)",
                );
                3
            }
            Some(m) => m.value,
            None => {
                dflt(
                    "ip_sla_detect_multiplier",
                    "3".into(),
                    "APIC IP SLA monitoring policy default",
                );
                3
            }
        },
    };
    Some(NetPart {
        node_subnets: node.value,
        config,
        locs,
    })
}

/// Expands `spec.snatIp` entries as the controller does (aci-containers `pkg/util/iputil.go`
/// `GetIPsFromCIDR`, `ExpandCIDRs`): a bare IP or a /32 is itself; a CIDR gives its hosts only
/// (network and broadcast dropped, so a /31 gives none); the result is sorted numerically,
/// duplicates kept. Prefixes wider than /20 are refused (fabsim's bound on memory).
fn expand(ips: &[At<Cidr>], d: &mut Diagnostics) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    for s in ips {
        let net = s.value.0;
        if net.prefix_len() < 20 {
            d.error(
                &s.loc,
                &s.path,
                format!(
                    "snat_ip {net} expands to {} addresses; at most a /20",
                    1u64 << (32 - net.prefix_len())
                ),
            );
        } else if net.prefix_len() == 32 {
            out.push(net.addr());
        } else {
            let (first, last) = (u32::from(net.network()), u32::from(net.broadcast()));
            if last - first < 2 {
                d.warning(&s.loc, &s.path, format!(
                    "snat_ip {net} gives no address: the controller drops a CIDR's network and broadcast addresses (GetIPsFromCIDR)"
                ));
            }
            out.extend((first + 1..last).map(Ipv4Addr::from));
        }
    }
    out.sort();
    out
}

pub(super) fn finish(
    rd: &RawDesign,
    a: &RawAciDesign,
    net: NetPart,
    cluster: &Cluster,
    d: &mut Diagnostics,
) -> Option<AciConfig> {
    let mut cfg = net.config;
    let cluster_nets: Vec<(&str, Vec<Ipv4Net>)> = {
        let mut v: Vec<(&str, Vec<Ipv4Net>)> = net
            .locs
            .iter()
            .filter(|l| l.0 != "extern_static")
            .map(|l| (l.0, l.3.iter().map(|s| s.net).collect()))
            .collect();
        if let Some(s) = cluster.service_subnet {
            v.push(("cluster.service_subnet", vec![s.net]));
        }
        v
    };

    check_pod_and_node_addresses(&cfg, &net.locs, cluster, d);
    check_lb_ips(rd, &cfg, &net.locs, cluster, d);
    snat_policies(a, &mut cfg, cluster, &cluster_nets, d);
    cfg.strict_snat_accounting = match a.snat_accounting.as_ref().map(|x| (x.value.as_str(), x)) {
        None | Some(("per-tuple", _)) => false,
        Some(("strict", _)) => true,
        Some((other, x)) => {
            d.error(&x.loc, &x.path, format!("snat_accounting `{other}`: expected per-tuple (the kernel's) or strict (the talk's sizing rule)"));
            false
        }
    };

    contracts(rd, a, &mut cfg, cluster, d);
    Some(cfg)
}

/// The pools' address ranges as text (n[2] – n[-2] of each subnet).
fn pool_text(subnets: &[Subnet]) -> String {
    if subnets.is_empty() {
        return "none configured".into();
    }
    subnets
        .iter()
        .map(|s| {
            let first = pool_host(std::slice::from_ref(s), 0);
            let last = pool_host(
                std::slice::from_ref(s),
                pool_len(std::slice::from_ref(s)).saturating_sub(1),
            );
            match (first, last) {
                (Some(a), Some(b)) => format!("{a}–{b}"),
                _ => format!("{s}: no usable address"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The pod, node-service and node subnets hold what the cluster needs.
fn check_pod_and_node_addresses(
    cfg: &AciConfig,
    locs: &[(&'static str, Loc, String, Vec<Subnet>)],
    cluster: &Cluster,
    d: &mut Diagnostics,
) {
    // Pod addresses: each node holds the chunks the controller gives it (another one when its
    // pods exceed size − chunk/2, `allocateIpChunk`).
    let usable: u64 = cfg
        .pod_subnets
        .iter()
        .map(|s| s.size().saturating_sub(3))
        .sum();
    let chunk = u64::from(cfg.pod_subnet_chunk_size.max(1));
    let needed: u64 = cluster
        .pods_by_node()
        .iter()
        .map(|pods| crate::design::aci_cni::compile::pod_chunks(pods.len() as u64, chunk) * chunk)
        .sum();
    if needed > usable {
        let (_, loc, path, _) = &locs[1];
        d.error(loc, path, format!(
            "pod_subnet holds {usable} usable addresses but the nodes need {needed} (chunks of {chunk}; a node takes another when its pods exceed its addresses − {}, aci-containers allocateIpChunk)", chunk / 2
        ));
    }
    let svc_cap = cfg.node_svc_subnet.size().saturating_sub(3);
    if cluster.nodes.len() as u64 > svc_cap {
        let (_, loc, path, _) = &locs[3];
        d.error(
            loc,
            path,
            format!(
                "node_svc_subnet has {svc_cap} addresses for {} nodes",
                cluster.nodes.len()
            ),
        );
    }
}

/// LoadBalancer IPs: requested ones must come from extern_static; dynamic ones must fit.
fn check_lb_ips(
    rd: &RawDesign,
    cfg: &AciConfig,
    locs: &[(&'static str, Loc, String, Vec<Subnet>)],
    cluster: &Cluster,
    d: &mut Diagnostics,
) {
    // LoadBalancer IPs: requested ones must come from extern_static; dynamic ones must fit.
    let lbs: Vec<_> = cluster
        .services
        .iter()
        .filter(|s| s.kind == ServiceType::LoadBalancer)
        .collect();
    let dyn_cap = pool_len(&cfg.extern_dynamic);
    let dyn_count = lbs.iter().filter(|s| s.requested_lb_ip.is_none()).count() as u64;
    if dyn_count > dyn_cap {
        let (_, loc, path, _) = &locs[2];
        d.error(
            loc,
            path,
            format!("extern_dynamic has {dyn_cap} addresses for {dyn_count} LoadBalancer services"),
        );
    }
    // aci-containers `services.go` `allocateServiceIps`: a requested IP (annotation
    // opflex.cisco.com/lb-ipam-ips or spec.loadBalancerIP) comes only from extern_static's pool
    // (`cidr_split`: hosts n[2]..n[-2]); otherwise the service gets no IP and the condition
    // `LbIpamAllocation` False, reason RequestedIpsNotAllocatable.
    let mut requested: Vec<Ipv4Addr> = Vec::new();
    for s in &lbs {
        if let Some(ip) = s.requested_lb_ip {
            let why = if !in_pool(&cfg.extern_static, ip) {
                Some(format!(
                    "{ip} is not in extern_static's pool ({})",
                    pool_text(&cfg.extern_static)
                ))
            } else if requested.contains(&ip) {
                Some(format!("{ip} is already requested by another service"))
            } else {
                requested.push(ip);
                None
            };
            if let Some(why) = why {
                d.warning(&rd.loc, &rd.path, format!(
                    "service {}/{}: RequestedIpsNotAllocatable — {why}: the controller assigns no LoadBalancer IP (\"The requested ips for loadbalancer service are not available or not in extern static range\")",
                    cluster.namespace_name(s.namespace), s.name
                ));
            }
        }
    }
}

/// The SNAT policies, each checked as the controller's `validateCr` does (`cluster_nets`: the
/// design's and the cluster's subnets by kind).
// Long: each policy checked as the controller's validateCr does, in its order, against
// the policies before it.
fn snat_policies(
    a: &RawAciDesign,
    cfg: &mut AciConfig,
    cluster: &Cluster,
    cluster_nets: &[(&str, Vec<Ipv4Net>)],
    d: &mut Diagnostics,
) {
    // SNAT policies.
    super::resolve::check_unique(
        d,
        "SNAT policy",
        a.snat_policies
            .iter()
            .map(|p| (p.name.value.clone(), &p.name.loc, p.name.path.as_str())),
    );
    // The controller's `validateCr` (aci-containers `pkg/controller/snats.go`) compares a new
    // policy with every policy it already holds (here: the ones written before it): the same
    // namespace with no labels on either side ("Namespace is conflicting": a second CLUSTER
    // policy too), or a snatIp of one containing a snatIp of the other, makes it `Failed`.
    let mut earlier: Vec<&super::raw::RawSnatPolicy> = Vec::new();
    for p in &a.snat_policies {
        let snat_ips = p.snat_ip.as_ref().map(|ips| expand(ips, d));
        for ip_at in p.snat_ip.iter().flatten() {
            for (kind, nets) in cluster_nets {
                if let Some(n) = nets.iter().find(|n| overlaps(n, &ip_at.value.0)) {
                    d.error(&ip_at.loc, &ip_at.path, format!(
                        "SNAT IP {} lies inside the cluster's {kind} {n}: SNAT IPs must be outside the cluster subnets",
                        ip_at.value.0
                    ));
                }
            }
        }
        let unlabelled =
            |x: &super::raw::RawSnatPolicy| x.labels.as_ref().is_none_or(|l| l.is_empty());
        let ns_of = |x: &super::raw::RawSnatPolicy| {
            x.namespace
                .as_ref()
                .map(|n| n.value.clone())
                .unwrap_or_default()
        };
        let conflict = earlier.iter().find_map(|e| {
            if unlabelled(p) && unlabelled(e) && ns_of(p) == ns_of(e) {
                let ns = ns_of(p);
                let what = if ns.is_empty() {
                    "both select the whole cluster (no namespace, no labels)".to_string()
                } else {
                    format!("both select namespace {ns} without labels")
                };
                return Some(format!(
                    "policy `{}` was there first and {what} (\"Namespace is conflicting\")",
                    e.name.value
                ));
            }
            let mine = p.snat_ip.iter().flatten();
            for a in mine {
                for b in e.snat_ip.iter().flatten() {
                    let (x, y) = (a.value.0, b.value.0);
                    if x.contains(&y.network()) || y.contains(&x.network()) {
                        return Some(format!(
                            "snat_ip {x} overlaps {y} of policy `{}`",
                            e.name.value
                        ));
                    }
                }
            }
            None
        });
        let failed = conflict.map(|why| {
            let msg =
                format!("{why}: the controller's validateCr sets this policy's status to Failed");
            d.warning(&p.loc, &p.path, msg.clone());
            msg
        });
        // The controller's cache holds only policies that became Ready.
        if failed.is_none() {
            earlier.push(p);
        }
        let namespace = match &p.namespace {
            Some(n) => match cluster.namespace_by_name(&n.value) {
                Some(id) => Some(id),
                None => {
                    d.error(
                        &n.loc,
                        &n.path,
                        format!(
                            "namespace `{}` is not declared under cluster.namespaces",
                            n.value
                        ),
                    );
                    None
                }
            },
            None => None,
        };
        if snat_ips.is_none()
            && p.labels.as_ref().is_none_or(|l| l.is_empty())
            && p.namespace.is_none()
        {
            // The SnatPolicy CRD requires one of snatIp, selector.namespace, selector.labels.
            d.error(&p.loc, &p.path, "a policy without snat_ip takes the LoadBalancer IPs of the services it selects: give selector.labels or selector.namespace (the SnatPolicy CRD requires one of snatIp, namespace, labels)");
        }
        cfg.snat_policies.push(SnatPolicySpec {
            name: p.name.value.clone(),
            snat_ips,
            dest: p.dest_ip.iter().map(|x| x.value.0).collect(),
            namespace,
            labels: p.labels.clone(),
            failed,
        });
    }
}

/// User contracts: EPG names must exist (defaults, external networks or annotation EPGs).
fn contracts(
    rd: &RawDesign,
    a: &RawAciDesign,
    cfg: &mut AciConfig,
    cluster: &Cluster,
    d: &mut Diagnostics,
) {
    // User contracts: EPG names must exist (defaults, external networks or annotation EPGs).
    let mut known: Vec<String> = ["kube-default", "kube-system", "kube-nodes"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    known.extend(cfg.external_networks.iter().cloned());
    // The EPGs the namespaces, deployments and pods name in their endpoint-group annotation.
    let mut annotated: Vec<String> = cluster
        .namespaces
        .iter()
        .map(|n| &n.annotations)
        .chain(cluster.deployments.iter().map(|x| &x.annotations))
        .chain(cluster.deployments.iter().map(|x| &x.pod_annotations))
        .filter_map(|a| a.get(EPG_ANNOTATION))
        .filter_map(|v| epg_from_annotation(v).ok())
        .collect();
    annotated.sort();
    annotated.dedup();
    known.extend(annotated.iter().cloned());
    super::resolve::check_unique(
        d,
        "contract",
        a.contracts
            .iter()
            .map(|c| (c.name.value.clone(), &c.name.loc, c.name.path.as_str())),
    );
    for c in &a.contracts {
        for e in c.providers.iter().chain(&c.consumers) {
            if !known.contains(&e.value) {
                d.error(
                    &e.loc,
                    &e.path,
                    format!("no EPG `{}` (known: {})", e.value, known.join(", ")),
                );
            }
        }
        let mut filters = Vec::new();
        for f in &c.filters {
            match crate::policy::Filter::parse(&f.value) {
                Ok(x) => filters.push(x),
                Err(m) => d.error(&f.loc, &f.path, m),
            }
        }
        cfg.contracts.push(ContractSpec {
            name: c.name.value.clone(),
            providers: c.providers.iter().map(|x| x.value.clone()).collect(),
            consumers: c.consumers.iter().map(|x| x.value.clone()).collect(),
            filters,
        });
    }
    // An EPG named only by an annotation: acc-provision does not create it and no contract of
    // this design names it, so in the model its pods reach only each other (on APIC, the EPG and
    // its contracts are the network team's: give them as `contracts`).
    let builtin = |n: &str| n.starts_with("aci-containers-") || n.starts_with("kube-");
    let alone = annotated.into_iter().filter(|e| !builtin(e)).filter(|e| {
        !cfg.contracts
            .iter()
            .any(|c| c.providers.contains(e) || c.consumers.contains(e))
    });
    for e in alone {
        d.warning(&rd.loc, &rd.path, format!("EPG `{e}` is named by an endpoint-group annotation but by no contract of this design (acc-provision does not create it): its pods reach only each other; give its contracts under `contracts`"));
    }
}

/// Subnets that must not overlap, pairwise (and within one list).
fn check_disjoint(locs: &[(&'static str, Loc, String, Vec<Subnet>)], d: &mut Diagnostics) {
    for i in 0..locs.len() {
        for j in i..locs.len() {
            for (x, a) in locs[i].3.iter().enumerate() {
                for (y, b) in locs[j].3.iter().enumerate() {
                    if (i, x) >= (j, y) || !overlaps(&a.net, &b.net) {
                        continue;
                    }
                    let (ki, kj) = (locs[i].0, locs[j].0);
                    let (loc, path) = (&locs[j].1, &locs[j].2);
                    d.error(
                        loc,
                        path,
                        format!("{kj} {b} overlaps {ki} {a}: they must be disjoint"),
                    );
                }
            }
        }
    }
}

/// The SNAT port range as the controller takes it: its fallback when it rejects the one given.
fn port_range(
    port_range: Option<&At<super::acc_provision::RawPortRange>>,
    dflt: &mut dyn FnMut(&str, String, &str),
    d: &mut Diagnostics,
) -> PortRange {
    match port_range {
        Some(At { value, loc, path }) => {
            let pr = PortRange {
                start: value.start.unwrap_or(PortRange::DEFAULT.start),
                end: value.end.unwrap_or(PortRange::DEFAULT.end),
                ports_per_node: value
                    .ports_per_node
                    .unwrap_or(PortRange::DEFAULT.ports_per_node),
            };
            if let Err(why) = pr.check() {
                d.warning(loc, path, format!(
                    "the controller rejects this port range ({why}) and falls back to 5000–65000 with 3000 ports per node; the model uses that fallback"
                ));
            } else if pr.ports_per_node == 0 {
                // aci-containers `pkg/util/snat.go`: nothing rejects 0, and `ExpandPortRanges`
                // then steps by 0 forever (`for temp < item.End-1 { … temp += step }`).
                d.error(loc, path, format!(
                    "ports_per_node 0 passes the controller's checks (start ≥ 5000, end ≤ 65000, start ≤ end, ports_per_node ≤ end − start + 1) and then loops forever in ExpandPortRanges (aci-containers pkg/util/snat.go): no chunk is ever allocated; give a positive number ({} is the default)",
                    PortRange::DEFAULT.ports_per_node
                ));
            }
            pr.effective()
        }
        None => {
            dflt(
                "kube_config.snat_operator.port_range",
                "5000–65000, 3000 ports per node".into(),
                "aci-containers default",
            );
            PortRange::DEFAULT
        }
    }
}
