//! The resolved ACI-CNI configuration: acc-provision's keys with their real defaults applied
//! (FACTS.md §1, acc_provision.py `config_default`), and the SNAT policies.

use crate::cluster::NamespaceId;
use crate::nat::snat::PortRange;
use crate::net::Subnet;
use crate::scenario::decode::Labels;
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
    /// `kube_config.add_external_contract_to_default_epg`: kube-default consumes the L3Out contract.
    pub add_external_contract_to_default_epg: bool,
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

/// The EPG name an annotation value names, or why it cannot be read.
pub fn epg_from_annotation(value: &str) -> Result<String, String> {
    let v: serde_json::Value = serde_json::from_str(value)
        .map_err(|e| format!("{EPG_ANNOTATION} must be JSON like {{\"tenant\":\"t\",\"app-profile\":\"kubernetes\",\"name\":\"my-epg\"}}: {e}"))?;
    v.get("name")
        .and_then(|n| n.as_str())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .ok_or_else(|| format!("{EPG_ANNOTATION} has no \"name\""))
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
