//! The EPGs and contracts acc-provision creates, and which EPG each pod lands in.
//!
//! Modelled release: acc-provision 6.1.2.1 (570d108), `apic_provision.py` `kube_tn`, kubernetes
//! flavours, `use_legacy_kube_naming_convention: false` unless the scenario sets it:
//!
//! | EPG | provides | consumes |
//! |---|---|---|
//! | aci-containers-default | health-check | dns, icmp, api¹, (l3out-allow-all²) |
//! | aci-containers-system | dns, icmp, health-check | icmp, api, l3out-allow-all |
//! | aci-containers-nodes | dns, api, icmp | health-check, l3out-allow-all |
//!
//! ¹ the kubernetes flavours set `allow_pods_kube_api_access` (flavors.yaml). ² only with
//! `kube_config.allow_pods_external_access`. Contracts are named `aci-containers-<system_id>-…`
//! (legacy: `kube-api`, `dns`, `icmp`, `health-check`); `<system_id>-l3out-allow-all` lives in
//! the VRF's tenant and every external network of the L3Out provides it. Filters: api tcp/6443
//! and tcp/8443; dns udp/53 and tcp/53; icmp; health-check tcp any port, its out term
//! established only (`tcpRules: est`). Not modelled: the istio EPG and contract and
//! prometheus-opflex-agent (tcp/9612), which no scenario traffic uses.

use super::config::{AciConfig, EPG_ANNOTATION, default_epg_names, epg_from_annotation};
use crate::cluster::Cluster;
use crate::net::Proto;
use crate::policy::{Contract, ContractId, EpgId, EpgKind, Filter, PolicyModel};

/// Why an endpoint is in its EPG.
#[derive(Clone, Debug)]
pub enum EpgReason {
    Default,
    SystemNamespace,
    NamespaceAnnotation,
    DeploymentAnnotation,
    PodAnnotation,
}

impl std::fmt::Display for EpgReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EpgReason::Default => "the cluster's default EPG",
            EpgReason::SystemNamespace => "a system namespace maps to the system EPG",
            EpgReason::NamespaceAnnotation => "the namespace's endpoint-group annotation",
            EpgReason::DeploymentAnnotation => "the deployment's endpoint-group annotation",
            EpgReason::PodAnnotation => "the pod's endpoint-group annotation",
        })
    }
}

/// Namespaces whose pods the controller places in the system EPG (kube-system, and the
/// aci-containers-system namespace of the CNI's own pods).
pub const SYSTEM_NAMESPACES: [&str; 2] = ["kube-system", "aci-containers-system"];

/// The default policy model's handles.
pub struct DefaultPolicy {
    pub policy: PolicyModel,
    pub default: EpgId,
    pub system: EpgId,
    pub nodes: EpgId,
    pub l3out_epgs: Vec<EpgId>,
    pub l3out_contract: ContractId,
}

fn contract(name: String, filters: Vec<Filter>, prov: Vec<EpgId>, cons: Vec<EpgId>) -> Contract {
    Contract {
        name,
        filters,
        providers: prov,
        consumers: cons,
        graph: None,
        reverse_tcp_established: false,
    }
}

/// acc-provision's EPGs and contracts, and the L3Out's external EPGs (the first classifies
/// 0.0.0.0/0).
pub fn default_policy(cfg: &AciConfig) -> DefaultPolicy {
    let mut policy = PolicyModel::default();
    let [dn, sn, nn] = default_epg_names(cfg.legacy_naming);
    let default = policy.add_epg(dn, EpgKind::App);
    let system = policy.add_epg(sn, EpgKind::App);
    let nodes = policy.add_epg(nn, EpgKind::App);
    let l3out_epgs: Vec<EpgId> = cfg
        .external_networks
        .iter()
        .map(|n| policy.add_epg(n, EpgKind::External))
        .collect();
    if let Some(first) = l3out_epgs.first() {
        policy.add_external_subnet("0.0.0.0/0".parse().expect("valid"), *first);
    }
    let sys = &cfg.system_id;
    let (prefix, api) = if cfg.legacy_naming {
        (String::new(), "kube-api".to_string())
    } else {
        let p = format!("aci-containers-{sys}-");
        (p.clone(), format!("{p}api"))
    };
    policy.add_contract(contract(
        api,
        vec![Filter::tcp(6443), Filter::tcp(8443)],
        vec![nodes],
        vec![default, system],
    ));
    policy.add_contract(contract(
        format!("{prefix}dns"),
        vec![Filter::udp(53), Filter::tcp(53)],
        vec![system, nodes],
        vec![default],
    ));
    policy.add_contract(contract(
        format!("{prefix}icmp"),
        vec![Filter::proto(Proto::Icmp)],
        vec![system, nodes],
        vec![default, system],
    ));
    policy.add_contract(Contract {
        reverse_tcp_established: true,
        ..contract(
            format!("{prefix}health-check"),
            vec![Filter::proto(Proto::Tcp)],
            vec![default, system],
            vec![nodes],
        )
    });
    let mut l3out_consumers = vec![system, nodes];
    if cfg.allow_pods_external_access {
        l3out_consumers.push(default);
    }
    let l3out_contract = policy.add_contract(contract(
        format!("{sys}-l3out-allow-all"),
        vec![Filter::ANY],
        l3out_epgs.clone(),
        l3out_consumers,
    ));
    DefaultPolicy {
        policy,
        default,
        system,
        nodes,
        l3out_epgs,
        l3out_contract,
    }
}

/// Each pod's EPG: default < system namespace < namespace annotation < deployment annotation <
/// pod annotation (FACTS §1 "Policy model"). Annotated EPGs are added to `policy`.
pub fn place_pods(cluster: &Cluster, dp: &mut DefaultPolicy) -> Vec<(EpgId, EpgReason)> {
    // A pod is placed as its deployment's pod template says (its annotations are the
    // template's): worked out at the deployment's first pod (pods come by deployment) and
    // reused for the rest, not an annotation parsed per pod.
    let mut last: Option<(crate::cluster::DeploymentId, (EpgId, EpgReason))> = None;
    let ann = |a: &crate::cluster::Labels| {
        a.get(EPG_ANNOTATION)
            .and_then(|v| epg_from_annotation(v).ok())
    };
    cluster
        .pods
        .iter()
        .map(|p| {
            if let Some((d, placed)) = &last
                && *d == p.deployment
            {
                return placed.clone();
            }
            let dep = &cluster.deployments[p.deployment.index()];
            let ns = &cluster.namespaces[p.namespace.index()];
            let mut add = |n: String, r| (dp.policy.add_epg(&n, EpgKind::App), r);
            let placed = if let Some(n) = ann(&dep.pod_annotations) {
                add(n, EpgReason::PodAnnotation)
            } else if let Some(n) = ann(&dep.annotations) {
                add(n, EpgReason::DeploymentAnnotation)
            } else if let Some(n) = ann(&ns.annotations) {
                add(n, EpgReason::NamespaceAnnotation)
            } else if SYSTEM_NAMESPACES.contains(&ns.name.as_str()) {
                (dp.system, EpgReason::SystemNamespace)
            } else {
                (dp.default, EpgReason::Default)
            };
            last = Some((p.deployment, placed.clone()));
            placed
        })
        .collect()
}
