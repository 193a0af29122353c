//! The acc-provision importer: reads a real acc-provision input file (aci_config, net_config,
//! kube_config) and the same keys written inline in a design.
//!
//! Invariant: in an acc-provision file, keys the simulation does not use are accepted and listed
//! as not modelled (`acc_audit`; real files carry credentials, registries, logging); written
//! inline in fabsim's format, the same sections are strict. Key names are acc-provision's own.

use super::decode::{At, DualStackSubnets, Fields};
use super::diag::Diagnostics;
use super::yaml::Node;
use crate::net::Subnet;
use std::path::Path;
use std::sync::Arc;

/// `kube_config.snat_operator.port_range` as written (each part optional).
#[derive(Clone, Debug, Default)]
pub struct RawPortRange {
    pub start: Option<u32>,
    pub end: Option<u32>,
    pub ports_per_node: Option<u32>,
}

/// The acc-provision keys fabsim uses. Every field is optional: defaults are applied on resolve.
#[derive(Clone, Debug, Default)]
pub struct AccConfig {
    pub system_id: Option<At<String>>,
    pub use_legacy_kube_naming_convention: Option<bool>,
    pub vrf_name: Option<String>,
    pub vrf_tenant: Option<String>,
    pub l3out_name: Option<String>,
    pub external_networks: Option<Vec<String>>,
    pub node_subnet: Option<At<Vec<Subnet>>>,
    pub pod_subnet: Option<At<Vec<Subnet>>>,
    pub pod_subnet_chunk_size: Option<At<u32>>,
    pub extern_dynamic: Option<At<Vec<Subnet>>>,
    pub extern_static: Option<At<Vec<Subnet>>>,
    pub node_svc_subnet: Option<At<Subnet>>,
    pub cluster_svc_subnet: Option<At<Subnet>>,
    pub service_monitor_interval: Option<At<u32>>,
    pub pbr_tracking_non_snat: Option<bool>,
    pub port_range: Option<At<RawPortRange>>,
    pub max_nodes_svc_graph: Option<At<u32>>,
    pub disable_resilient_hashing: Option<bool>,
    pub add_external_contract_to_default_epg: Option<bool>,
    pub allow_pods_external_access: Option<bool>,
    pub add_external_subnets_to_rdconfig: Option<bool>,
    /// `kube_config.node_snat_redirect_exclude`: groups of node-role labels.
    pub node_snat_redirect_exclude: Option<At<Vec<RawRedirectExclude>>>,
}

/// One entry of `kube_config.node_snat_redirect_exclude` (`{group, labels}`; the controller's
/// `NodeSnatRedirectExclude`).
#[derive(Clone, Debug, Default)]
pub struct RawRedirectExclude {
    pub group: String,
    pub labels: Vec<String>,
}

impl super::decode::Decode for RawRedirectExclude {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        // Strict: the entry's shape is small and a typo would silently exclude nothing.
        let mut f = Fields::strict(node, path, d)?;
        let group = f.opt("group", d).unwrap_or_default();
        let labels = f.opt("labels", d).unwrap_or_default();
        f.finish(d);
        Some(RawRedirectExclude { group, labels })
    }
}

fn many(a: Option<At<DualStackSubnets>>) -> Option<At<Vec<Subnet>>> {
    a.map(|x| x.map(|v| v.0))
}

impl AccConfig {
    /// Reads the three sections from a mapping (the file's top level, or a design's inline keys).
    // Long: it reads one object's keys in the order the file gives them, each with its
    // default, its check and its message; one block per key.
    fn read_sections(f: &mut Fields, d: &mut Diagnostics, strict: bool) -> AccConfig {
        let mut c = AccConfig::default();
        fn section<'n>(
            f: &mut Fields<'n>,
            key: &'static str,
            _d: &mut Diagnostics,
        ) -> Option<(&'n Node, String)> {
            let path = f.child(key);
            f.node(key).map(|n| (n, path))
        }
        fn open<'n>(n: &'n Node, p: &str, d: &mut Diagnostics, strict: bool) -> Option<Fields<'n>> {
            if strict {
                Fields::strict(n, p, d)
            } else {
                Fields::lenient(n, p, d)
            }
        }
        if let Some((n, p)) = section(f, "aci_config", d)
            && let Some(mut a) = open(n, &p, d, strict)
        {
            c.system_id = a.opt_at("system_id", d);
            c.use_legacy_kube_naming_convention = a.opt("use_legacy_kube_naming_convention", d);
            if let Some(v) = a.node("vrf")
                && let Some(mut g) = open(v, &a.child("vrf"), d, strict)
            {
                c.vrf_name = g.opt("name", d);
                c.vrf_tenant = g.opt("tenant", d);
                g.finish(d);
            }
            if let Some(l) = a.node("l3out")
                && let Some(mut g) = open(l, &a.child("l3out"), d, strict)
            {
                c.l3out_name = g.opt("name", d);
                c.external_networks = g.opt("external_networks", d);
                g.finish(d);
            }
            a.finish(d);
        }
        if let Some((n, p)) = section(f, "net_config", d)
            && let Some(mut g) = open(n, &p, d, strict)
        {
            c.node_subnet = many(g.opt_at("node_subnet", d));
            c.pod_subnet = many(g.opt_at("pod_subnet", d));
            c.pod_subnet_chunk_size = g.opt_at("pod_subnet_chunk_size", d);
            c.extern_dynamic = many(g.opt_at("extern_dynamic", d));
            c.extern_static = many(g.opt_at("extern_static", d));
            c.node_svc_subnet = g.opt_at("node_svc_subnet", d);
            c.cluster_svc_subnet = g.opt_at("cluster_svc_subnet", d);
            c.service_monitor_interval = g.opt_at("service_monitor_interval", d);
            c.pbr_tracking_non_snat = g.opt("pbr_tracking_non_snat", d);
            g.finish(d);
        }
        if let Some((n, p)) = section(f, "kube_config", d)
            && let Some(mut g) = open(n, &p, d, strict)
        {
            if let Some(s) = g.node("snat_operator")
                && let Some(mut so) = open(s, &g.child("snat_operator"), d, strict)
            {
                if let Some(pr) = so.node("port_range") {
                    let pp = so.child("port_range");
                    if let Some(mut r) = open(pr, &pp, d, strict) {
                        let range = RawPortRange {
                            start: r.opt("start", d),
                            end: r.opt("end", d),
                            ports_per_node: r.opt("ports_per_node", d),
                        };
                        r.finish(d);
                        c.port_range = Some(At {
                            value: range,
                            loc: pr.loc.clone(),
                            path: pp,
                        });
                    }
                }
                so.finish(d);
            }
            c.max_nodes_svc_graph = g.opt_at("max_nodes_svc_graph", d);
            c.disable_resilient_hashing = g.opt("disable_resilient_hashing", d);
            c.add_external_contract_to_default_epg =
                g.opt("add_external_contract_to_default_epg", d);
            c.allow_pods_external_access = g.opt("allow_pods_external_access", d);
            c.add_external_subnets_to_rdconfig = g.opt("add_external_subnets_to_rdconfig", d);
            c.node_snat_redirect_exclude = g.opt_at("node_snat_redirect_exclude", d);
            g.finish(d);
        }
        c
    }

    /// The inline sections of a design entry (fabsim's format: strict).
    pub fn read_inline(f: &mut Fields, d: &mut Diagnostics) -> AccConfig {
        Self::read_sections(f, d, true)
    }

    /// Reads a whole acc-provision file (lenient).
    pub fn read_file(node: &Node, d: &mut Diagnostics) -> Option<AccConfig> {
        let mut f = Fields::lenient(node, "", d)?;
        let c = Self::read_sections(&mut f, d, false);
        f.finish(d);
        Some(c)
    }

    /// `self` with every key that `over` sets replaced by `over`'s value.
    pub fn overridden_by(self, over: &AccConfig) -> AccConfig {
        // The port range merges part by part: an inline ports_per_node keeps the file's start/end.
        let port_range = match (&over.port_range, &self.port_range) {
            (Some(o), Some(b)) => Some(At {
                value: RawPortRange {
                    start: o.value.start.or(b.value.start),
                    end: o.value.end.or(b.value.end),
                    ports_per_node: o.value.ports_per_node.or(b.value.ports_per_node),
                },
                loc: o.loc.clone(),
                path: o.path.clone(),
            }),
            (o, b) => o.clone().or(b.clone()),
        };
        macro_rules! pick {
            ($($f:ident),*) => { AccConfig { port_range, $($f: over.$f.clone().or(self.$f),)* } };
        }
        pick!(
            system_id,
            use_legacy_kube_naming_convention,
            vrf_name,
            vrf_tenant,
            l3out_name,
            external_networks,
            node_subnet,
            pod_subnet,
            pod_subnet_chunk_size,
            extern_dynamic,
            extern_static,
            node_svc_subnet,
            cluster_svc_subnet,
            service_monitor_interval,
            pbr_tracking_non_snat,
            max_nodes_svc_graph,
            disable_resilient_hashing,
            add_external_contract_to_default_epg,
            allow_pods_external_access,
            add_external_subnets_to_rdconfig,
            node_snat_redirect_exclude
        )
    }
}

/// The acc-provision keys an aci-cni design models (`AccConfig::read_sections`); every other
/// key of the file is listed by `acc_audit`.
pub const ACI_MODELLED: &[&str] = &[
    "aci_config.system_id",
    "aci_config.use_legacy_kube_naming_convention",
    "aci_config.vrf.name",
    "aci_config.vrf.tenant",
    "aci_config.l3out.name",
    "aci_config.l3out.external_networks",
    "net_config.node_subnet",
    "net_config.pod_subnet",
    "net_config.pod_subnet_chunk_size",
    "net_config.extern_dynamic",
    "net_config.extern_static",
    "net_config.node_svc_subnet",
    "net_config.cluster_svc_subnet",
    "net_config.service_monitor_interval",
    "net_config.pbr_tracking_non_snat",
    "kube_config.snat_operator.port_range.start",
    "kube_config.snat_operator.port_range.end",
    "kube_config.snat_operator.port_range.ports_per_node",
    "kube_config.max_nodes_svc_graph",
    "kube_config.disable_resilient_hashing",
    "kube_config.add_external_contract_to_default_epg",
    "kube_config.allow_pods_external_access",
    "kube_config.add_external_subnets_to_rdconfig",
    "kube_config.node_snat_redirect_exclude",
];

/// Loads an acc-provision file from text (the file name is used in messages).
pub fn load_text(file: &str, text: &str, d: &mut Diagnostics) -> Option<AccConfig> {
    let name: Arc<str> = Arc::from(file);
    let node = super::yaml::parse(&name, text, d)?;
    super::acc_audit::audit(&node, ACI_MODELLED, d);
    if !ipv4_present(&node, d) {
        return None;
    }
    AccConfig::read_file(&node, d)
}

/// The subnets of `net_config` by family: a dual-stack file simulates its IPv4 half, with one
/// warning listing the IPv6 entries; an IPv6-only file is refused in one error. `false`: refused.
pub fn ipv4_present(root: &super::yaml::Node, d: &mut Diagnostics) -> bool {
    use super::yaml::Value;
    let Some(net) = super::object::child(root, "net_config") else {
        return true;
    };
    let (mut v4, mut v6) = (0, Vec::new());
    if let Value::Map(entries) = &net.value {
        for (k, v) in entries
            .iter()
            .filter(|(k, _)| k.name.ends_with("_subnet") || k.name.starts_with("extern_"))
        {
            let items: Vec<&super::yaml::Node> = match &v.value {
                Value::Seq(xs) => xs.iter().collect(),
                _ => vec![v],
            };
            for x in items {
                match &x.value {
                    Value::Str(s) if s.contains(':') => {
                        v6.push(format!("{} {} (line {})", k.name, s.trim(), x.loc.line))
                    }
                    Value::Str(_) => v4 += 1,
                    _ => {}
                }
            }
        }
    }
    match (v4, v6.is_empty()) {
        (_, true) => true,
        (0, false) => {
            d.error(
                &net.loc,
                "net_config",
                format!(
                    "IPv6 only: fabsim models IPv4 only, so this design cannot be simulated ({})",
                    v6.join(", ")
                ),
            );
            false
        }
        _ => {
            d.warning(
                &net.loc,
                "net_config",
                format!(
                    "dual stack: fabsim models IPv4 only; these IPv6 subnets are not simulated: {}",
                    v6.join(", ")
                ),
            );
            true
        }
    }
}

/// Follows `acc_provision: { file: PATH }` (PATH relative to the scenario's folder).
pub fn import_reference(
    node: &Node,
    path: &str,
    base_dir: &Path,
    d: &mut Diagnostics,
) -> Option<AccConfig> {
    let mut f = Fields::strict(node, path, d)?;
    let file: Option<At<String>> = f.req_at("file", d);
    f.finish(d);
    let file = file?;
    let full = base_dir.join(&file.value);
    match super::read_input(&full) {
        Ok(text) => load_text(&full.display().to_string(), &text, d),
        Err(e) => {
            d.error(
                &file.loc,
                &file.path,
                format!("cannot read acc-provision file {}: {e}", full.display()),
            );
            None
        }
    }
}
