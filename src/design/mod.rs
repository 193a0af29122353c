//! Designs: each turns the same cluster into forwarding, classification and NAT state.
//! ACI-CNI is modelled; the BGP designs (Calico, kube-router, Cilium) are recognised in scenario
//! files and modelled by their own issue.

pub mod aci_cni;
pub mod bgp;
pub mod compiled;
pub mod control;

pub use aci_cni::allocation::Allocation;

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

/// The assumptions table: what holds for every design, then each design family's own rows, by
/// what failed.
pub fn assumptions() -> Vec<&'static control::Assumption> {
    let mut rows: Vec<&control::Assumption> = control::ASSUMPTIONS
        .iter()
        .chain(aci_cni::plane::ASSUMPTIONS)
        .chain(bgp::plane::ASSUMPTIONS)
        .collect();
    rows.sort_by_key(|a| a.topic); // stable: the generic row first within a topic
    rows
}

/// A design of the scenario, with its resolved configuration: exactly one per CNI family.
#[derive(Clone, Debug)]
pub struct DesignSpec {
    pub name: String,
    pub cni: Cni,
    pub config: DesignConfig,
}

/// The resolved configuration of a design, by family.
#[derive(Clone, Debug)]
pub enum DesignConfig {
    AciCni(Box<aci_cni::AciConfig>),
    /// Calico, kube-router and Cilium: one configuration type, told apart by `BgpConfig::cni`.
    Bgp(Box<bgp::BgpConfig>),
}

/// The seam between the designs and the rest: `sim`, `cli` and `report` call these and never
/// match on a design themselves. Each arm only forwards to the design's own folder.
impl DesignSpec {
    /// The ACI-CNI configuration, for the importers' tests and `size snat` (ACI-CNI's SNAT).
    pub fn aci(&self) -> Option<&aci_cni::AciConfig> {
        match &self.config {
            DesignConfig::AciCni(c) => Some(c),
            DesignConfig::Bgp(_) => None,
        }
    }

    /// The BGP configuration, for the importers' tests.
    pub fn bgp(&self) -> Option<&bgp::BgpConfig> {
        match &self.config {
            DesignConfig::Bgp(c) => Some(c),
            DesignConfig::AciCni(_) => None,
        }
    }

    /// The design compiled for a run of `s`, with its NAT table and the state its reactions
    /// change.
    pub fn compile<'a>(&'a self, s: &crate::scenario::Scenario) -> compiled::Plane<'a> {
        match &self.config {
            DesignConfig::AciCni(c) => {
                compiled::Plane::Aci(aci_cni::plane::AciPlane::compile(s, c))
            }
            DesignConfig::Bgp(c) => compiled::Plane::Bgp(bgp::plane::BgpPlane::compile(s, c)),
        }
    }

    /// The reactions of the design to a node failing (`up` false) or recovering, with their
    /// delays.
    pub fn node_reactions(
        &self,
        s: &crate::scenario::Scenario,
        up: bool,
    ) -> Vec<(crate::time::Nanos, control::Control)> {
        match &self.config {
            DesignConfig::AciCni(c) => aci_cni::plane::node_reactions(s, c, up),
            DesignConfig::Bgp(c) => bgp::plane::node_reactions(s, c, up),
        }
    }

    /// The reactions of the design to one BGP session (node, leaf) failing or coming back.
    pub fn session_reactions(&self, up: bool) -> Vec<(crate::time::Nanos, control::Control)> {
        match &self.config {
            DesignConfig::AciCni(_) => Vec::new(),
            DesignConfig::Bgp(c) => bgp::plane::session_reactions(c, up),
        }
    }

    /// Why a failure of `target` changes nothing under this design, if it does not.
    pub fn inert(&self, target: &crate::scenario::reference::Ref) -> Option<&'static str> {
        match &self.config {
            DesignConfig::AciCni(_) => aci_cni::plane::inert(target),
            DesignConfig::Bgp(_) => bgp::plane::inert(target),
        }
    }

    /// What `device`'s table holds under this design (`fabsim routes`).
    pub fn routes(
        &self,
        s: &crate::scenario::Scenario,
        device: &crate::scenario::reference::Ref,
    ) -> Result<Vec<crate::bgp::Route>, String> {
        match &self.config {
            DesignConfig::AciCni(c) => aci_cni::routes::routes(s, c, device),
            DesignConfig::Bgp(c) => bgp::routes::routes(s, c, device),
        }
    }

    /// What the design's controller or fabric would set up, with its own warnings (lines
    /// starting `  warning:`), for `validate`.
    pub fn summary(&self, s: &crate::scenario::Scenario) -> String {
        match &self.config {
            DesignConfig::AciCni(c) => aci_cni::allocation::summary(s, &self.name, c),
            DesignConfig::Bgp(c) => bgp::summary::summary(s, &self.name, c),
        }
    }

    /// ACI-CNI's controller allocation (LoadBalancer IPs, redirect policies, SNAT chunks), for
    /// `validate --json`; none for the BGP designs.
    pub fn allocation(&self, s: &crate::scenario::Scenario) -> Option<Allocation> {
        self.aci().map(|c| {
            aci_cni::allocation::Allocation::of(
                &self.name,
                &s.cluster,
                &aci_cni::AciState::compile(&s.cluster, c),
            )
        })
    }
}
