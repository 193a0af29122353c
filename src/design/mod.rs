//! Designs: each turns the same cluster into forwarding, classification and NAT state.
//! ACI-CNI is modelled; the BGP designs (Calico, kube-router, Cilium) are recognised in scenario
//! files and modelled by their own issue.

pub mod aci_cni;
pub mod bgp;
pub mod compiled;
pub mod control;

/// The CNI of a design entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cni {
    AciCni,
    Calico,
    KubeRouter,
    Cilium,
}

impl Cni {
    pub fn name(self) -> &'static str {
        match self {
            Cni::AciCni => "aci-cni",
            Cni::Calico => "calico",
            Cni::KubeRouter => "kube-router",
            Cni::Cilium => "cilium",
        }
    }
}

/// A design of the scenario, with its resolved configuration.
#[derive(Clone, Debug)]
pub struct DesignSpec {
    pub name: String,
    pub cni: Cni,
    /// Present for `cni: aci-cni`.
    pub aci: Option<aci_cni::AciConfig>,
    /// Present for the BGP designs.
    pub bgp: Option<bgp::BgpConfig>,
}
