//! The resolved ACI-CNI configuration: acc-provision's keys with their real defaults applied
//! (FACTS.md §1, acc_provision.py `config_default`), and the SNAT policies.

use crate::cluster::Labels;
use crate::cluster::NamespaceId;
use crate::nat::snat::PortRange;
use crate::net::Subnet;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// acc-provision's `pod_subnet_chunk_size` default.
pub const DEFAULT_POD_SUBNET_CHUNK_SIZE: u32 = 32;
/// `kube_config.max_nodes_svc_graph` default, and APIC's maximum of destinations per redirect policy.
pub const DEFAULT_MAX_NODES_SVC_GRAPH: u32 = 32;
pub const MAX_MAX_NODES_SVC_GRAPH: u32 = 64;
/// `net_config.service_monitor_interval` default, seconds (0 disables IP SLA tracking).
pub const DEFAULT_SERVICE_MONITOR_INTERVAL: u32 = 5;

#[derive(Clone, Debug)]
pub struct AciConfig {
    /// `aci_config.system_id`: the prefix of the objects the controller creates.
    pub system_id: String,
    pub vrf: String,
    pub l3out: String,
    /// The L3Out's external EPGs (`aci_config.l3out.external_networks`).
    pub external_networks: Vec<String>,
    pub node_subnets: Vec<Subnet>,
    pub pod_subnets: Vec<Subnet>,
    pub pod_subnet_chunk_size: u32,
    pub extern_dynamic: Vec<Subnet>,
    pub extern_static: Vec<Subnet>,
    pub node_svc_subnet: Subnet,
    pub cluster_svc_subnet: Option<Subnet>,
    pub service_monitor_interval: u32,
    pub pbr_tracking_non_snat: bool,
    /// The range in force (the controller's fallback when the configured one is invalid).
    pub port_range: PortRange,
    pub max_nodes_svc_graph: u32,
    /// On by default; `kube_config.disable_resilient_hashing: true` turns it off.
    pub resilient_hashing: bool,
    /// `kube_config.add_external_contract_to_default_epg`: the default EPG consumes the contract
    /// of every LoadBalancer service, so pods reach LB IPs through the fabric and PBR
    /// (aci-containers `services.go`, `apicDefaultEgCons`). It does not open the L3Out.
    pub add_external_contract_to_default_epg: bool,
    /// `kube_config.allow_pods_external_access`: the default EPG consumes
    /// `<system_id>-l3out-allow-all` and the pod subnet is advertised (scope public), so un-NATed
    /// pod traffic can leave and its replies come back (acc-provision `apic_provision.py` `kube_tn`).
    pub allow_pods_external_access: bool,
    /// `kube_config.add_external_subnets_to_rdconfig`: extern_dynamic and extern_static join the
    /// routing domain's internal subnets, so OVS never SNATs towards a LoadBalancer IP
    /// (aci-containers `rdconfig.go` `syncRdConfig`, UserSubnets).
    pub add_external_subnets_to_rdconfig: bool,
    /// `kube_config.node_snat_redirect_exclude`: each entry's labels; a node carrying every
    /// `node-role.kubernetes.io/<label>` of one entry is left out of the SNAT redirect policy
    /// (aci-containers `services.go` `nodeLabelsInExcludeList`; the group name is not used).
    pub node_snat_redirect_exclude: Vec<Vec<String>>,
    /// `aci_config.use_legacy_kube_naming_convention`: kube-default / kube-system / kube-nodes
    /// instead of aci-containers-default / -system / -nodes.
    pub legacy_naming: bool,
    pub snat_policies: Vec<SnatPolicySpec>,
    /// `snat_accounting: strict`: the talk's sizing rule (one port per connection, any destination).
    pub strict_snat_accounting: bool,
    /// Probes missed before IP SLA declares a PBR destination down (APIC's detect multiplier, 3).
    pub ip_sla_detect_multiplier: u32,
    /// Contracts added by the user, beyond acc-provision's defaults.
    pub contracts: Vec<ContractSpec>,
}

#[derive(Clone, Debug)]
pub struct ContractSpec {
    pub name: String,
    pub providers: Vec<String>,
    pub consumers: Vec<String>,
    pub filters: Vec<crate::policy::Filter>,
}

/// The annotation that places endpoints in an EPG (`{"tenant": .., "app-profile": .., "name": ..}`).
pub const EPG_ANNOTATION: &str = "opflex.cisco.com/endpoint-group";

/// Why an EPG annotation cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EpgAnnotationError {
    #[error(
        "{EPG_ANNOTATION} must be JSON like {{\"tenant\":\"t\",\"app-profile\":\"kubernetes\",\"name\":\"my-epg\"}}: {0}"
    )]
    NotJson(String),
    #[error("{EPG_ANNOTATION} has no \"name\"")]
    NoName,
}

/// The EPG name an annotation value names, or why it cannot be read.
pub fn epg_from_annotation(value: &str) -> Result<String, EpgAnnotationError> {
    let v: serde_json::Value =
        serde_json::from_str(value).map_err(|e| EpgAnnotationError::NotJson(e.to_string()))?;
    v.get("name")
        .and_then(|n| n.as_str())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .ok_or(EpgAnnotationError::NoName)
}

/// A SnatPolicy (aci.snat/v1) as the scenario writes it.
#[derive(Clone, Debug)]
pub struct SnatPolicySpec {
    pub name: String,
    /// `spec.snatIp` expanded to single IPs; `None` → SERVICE scope (the selected services' LB IPs).
    pub snat_ips: Option<Vec<Ipv4Addr>>,
    /// `spec.destIp`; empty → every destination (0.0.0.0/0).
    pub dest: Vec<Ipv4Net>,
    pub namespace: Option<NamespaceId>,
    pub labels: Option<Labels>,
    /// `Failed` status: its snatIp overlaps an earlier policy's.
    pub failed: Option<String>,
}

/// The usable addresses of an acc-provision IP pool: the hosts n[2] … n[−2] of each subnet,
/// whatever address the subnet was written with (acc-provision `acc_provision.py` `cidr_split`:
/// `first, last = n[2], n[-2]`): 10.34.0.1/24 gives 10.34.0.2 – 10.34.0.254.
fn pool_span(s: &Subnet) -> (u32, u32) {
    let net = u32::from(s.net.network());
    let size = s.size();
    if size < 4 {
        return (1, 0); // empty
    }
    (net + 2, net + (size - 2) as u32)
}

/// The `n`-th usable address of a pool (`cidr_split` hosts, subnet after subnet).
pub fn pool_host(subnets: &[Subnet], mut n: u64) -> Option<Ipv4Addr> {
    for s in subnets {
        let (first, last) = pool_span(s);
        let len = u64::from(last.saturating_sub(first)) + u64::from(first <= last);
        if n < len {
            return Some(Ipv4Addr::from(first + n as u32));
        }
        n -= len;
    }
    None
}

/// Whether `ip` is a usable address of the pool.
pub fn in_pool(subnets: &[Subnet], ip: Ipv4Addr) -> bool {
    let ip = u32::from(ip);
    subnets.iter().any(|s| {
        let (first, last) = pool_span(s);
        (first..=last).contains(&ip)
    })
}

/// How many usable addresses a pool has.
pub fn pool_len(subnets: &[Subnet]) -> u64 {
    subnets.iter().map(|s| s.size().saturating_sub(3)).sum()
}

/// The EPG names of the modelled acc-provision release (6.1.2.1, `acc_provision.py`: the
/// `aci-containers-` prefix unless `use_legacy_kube_naming_convention`).
pub fn default_epg_names(legacy: bool) -> [&'static str; 3] {
    if legacy {
        ["kube-default", "kube-system", "kube-nodes"]
    } else {
        [
            "aci-containers-default",
            "aci-containers-system",
            "aci-containers-nodes",
        ]
    }
}
