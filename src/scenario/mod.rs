//! Scenario files: YAML → located tree → raw structs → a validated, resolved [`Scenario`] with
//! typed ids, collecting every problem on the way.
//!
//! Invariant: this is the only module that reads files or knows YAML. The resolved model is
//! plain data; nothing below it can fail on user input.

mod acc_audit;
pub mod acc_provision;
mod bgp_resources;
mod cilium_audit;
pub mod decode;
pub mod diag;
mod expand;
mod kube_router_flags;
mod manifest_place;
mod manifest_service;
pub mod manifests;
mod object;
pub mod raw;
pub mod raw_bgp;
mod raw_traffic;
pub mod reference;
mod resolve;
mod resolve_aci;
mod resolve_bgp;
mod resolve_cluster;
mod resolve_fabric_bgp;
mod resolve_peering;
pub mod secret;
pub mod variant;
pub mod warmup;
pub mod yaml;

use crate::cluster::Cluster;
use crate::design::DesignSpec;
use crate::fabric::Fabric;
use crate::time::Nanos;
use diag::{Diagnostics, Loc};
use raw::{RawArrivals, RawLifetime};
use reference::Ref;
use std::path::Path;
use std::sync::Arc;

/// Linux conntrack timeouts the engine uses (FACTS §3: time_wait 120 s, UDP 30 s), and how the
/// nodes' kernel searches a NAT source port.
#[derive(Clone, Copy, Debug)]
pub struct Conntrack {
    pub time_wait: Nanos,
    pub udp_timeout: Nanos,
    /// The nodes' kernel (major, minor).
    pub node_kernel: (u32, u32),
    pub nat_search: crate::nat::kernel::PortSearch,
}

/// The node kernel assumed when the scenario names none: 5.15, Ubuntu 22.04 LTS's, and like
/// RHEL 9's 5.14, before Linux 6.5's TIME_WAIT eviction — the kernels the clusters ACI-CNI and the
/// BGP CNIs support mostly run today.
pub const DEFAULT_NODE_KERNEL: (u32, u32) = (5, 15);

/// `major.minor` from a kernel version as `uname -r` prints it (`5.15.0-91-generic`, `6.8`).
pub fn parse_kernel(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// A connection-lifetime distribution ready to draw from, in seconds.
#[derive(Clone, Copy, Debug)]
pub enum LifetimeDist {
    Exp(rand_distr::Exp<f64>),
    Constant(f64),
    LogNormal(rand_distr::LogNormal<f64>),
    Pareto(rand_distr::Pareto<f64>),
}

/// Parameters a lifetime distribution refuses (rand_distr's reason).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LifetimeError {
    #[error("exponential: {0}")]
    Exponential(String),
    #[error("lognormal: {0}")]
    Lognormal(String),
    #[error("pareto: {0}")]
    Pareto(String),
}

impl LifetimeDist {
    /// The distribution of a lifetime's parameters, or what is wrong with them.
    pub fn new(l: &RawLifetime) -> Result<LifetimeDist, LifetimeError> {
        let secs = |n: crate::time::Nanos| n.as_secs_f64();
        Ok(match l {
            RawLifetime::Exponential(m) if m.0 > 0 => LifetimeDist::Exp(
                rand_distr::Exp::new(1.0 / secs(*m))
                    .map_err(|e| LifetimeError::Exponential(e.to_string()))?,
            ),
            RawLifetime::Exponential(_) => LifetimeDist::Constant(0.0),
            RawLifetime::Constant(c) => LifetimeDist::Constant(secs(*c)),
            RawLifetime::Lognormal { mean, sigma } => {
                // Parameterised by its mean: mu = ln(mean) − sigma²/2.
                let mu = secs(*mean).max(1e-12).ln() - sigma * sigma / 2.0;
                LifetimeDist::LogNormal(
                    rand_distr::LogNormal::new(mu, *sigma)
                        .map_err(|e| LifetimeError::Lognormal(e.to_string()))?,
                )
            }
            RawLifetime::Pareto { scale, shape } => LifetimeDist::Pareto(
                rand_distr::Pareto::new(secs(*scale), *shape)
                    .map_err(|e| LifetimeError::Pareto(e.to_string()))?,
            ),
        })
    }

    /// One lifetime, seconds.
    pub fn sample<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        use rand_distr::Distribution;
        match self {
            LifetimeDist::Exp(e) => e.sample(rng),
            LifetimeDist::Constant(c) => *c,
            LifetimeDist::LogNormal(l) => l.sample(rng),
            LifetimeDist::Pareto(p) => p.sample(rng),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Traffic {
    pub name: String,
    /// The (from, to) pairs; each connection picks one uniformly (one pair unless the entry
    /// has `count`).
    pub pairs: Vec<(Ref, Ref)>,
    /// Each pair's flow request as the engine sends it (built, and so checked, at load).
    pub requests: Vec<crate::dataplane::request::FlowRequest>,
    pub arrivals: RawArrivals,
    /// The lifetime's parameters (for the warm-up, the estimate, size snat) …
    pub lifetime: RawLifetime,
    /// … and the distribution drawn from, checked at load: nothing below the scenario fails on
    /// a user's numbers.
    pub lifetime_dist: LifetimeDist,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Fail,
    Recover,
}

#[derive(Clone, Debug)]
pub struct Event {
    pub at: Nanos,
    pub kind: EventKind,
    pub target: Ref,
}

/// A validated scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub seed: u64,
    pub duration: Option<Nanos>,
    pub fabric: Fabric,
    pub cluster: Cluster,
    pub designs: Vec<DesignSpec>,
    pub traffic: Vec<Traffic>,
    pub events: Vec<Event>,
    pub conntrack: Conntrack,
    /// How long the run goes before it counts (`warmup`, automatic by default).
    pub warmup: warmup::Warmup,
    /// kube-controller-manager `--node-monitor-grace-period`: a failed node's pods stop being
    /// endpoints this long after it stops posting status (40 s; 50 s from Kubernetes 1.32).
    pub node_monitor_grace_period: Nanos,
    /// kubelet `--node-status-update-frequency`: a recovered node's pods are ready again by its
    /// next status post (10 s).
    pub node_status_update_frequency: Nanos,
    /// Every default applied, in words ("aci-cni: pod_subnet_chunk_size = 32 (acc-provision default)").
    pub defaults_applied: Vec<String>,
}

impl Scenario {
    pub fn design(&self, name: &str) -> Option<&DesignSpec> {
        self.designs.iter().find(|d| d.name == name)
    }

    /// The design called `name`, or an error naming the designs there are.
    pub fn design_named(&self, name: &str) -> Result<&DesignSpec, UnknownDesign> {
        self.design(name).ok_or_else(|| UnknownDesign {
            name: name.to_string(),
            known: self.designs.iter().map(|d| d.name.clone()).collect(),
        })
    }
}

/// A design name the scenario does not have.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no design named `{name}` (designs: {})", known.join(", "))]
pub struct UnknownDesign {
    pub name: String,
    pub known: Vec<String>,
}

/// The result of a load: the scenario if there were no errors, and every diagnostic (warnings too).
pub struct Loaded {
    pub scenario: Option<Scenario>,
    pub diagnostics: Diagnostics,
}

/// The largest input file fabsim reads: far beyond any scenario, manifest dump or resource file.
pub const MAX_INPUT_BYTES: u64 = 64 << 20;

/// Reads an input file whole, refusing what is not a regular file (a device like /dev/zero, a
/// pipe that may never end, a folder) and what is larger than [`MAX_INPUT_BYTES`] — before
/// reading it.
pub fn read_input(path: impl AsRef<Path>) -> std::io::Result<String> {
    use std::io::Read;
    let path = path.as_ref();
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::other(
            "not a regular file (a device, a pipe or a folder): give a file",
        ));
    }
    if meta.len() > MAX_INPUT_BYTES {
        return Err(std::io::Error::other(format!(
            "{} bytes, more than the {} MiB fabsim reads",
            meta.len(),
            MAX_INPUT_BYTES >> 20
        )));
    }
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_INPUT_BYTES + 1)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// Loads and validates a scenario file.
pub fn load(path: &Path) -> Loaded {
    let mut d = Diagnostics::default();
    let file: Arc<str> = Arc::from(path.display().to_string());
    let text = match read_input(path) {
        Ok(t) => t,
        Err(e) => {
            d.error(
                &Loc::new(file, 1, 1),
                "",
                format!("cannot read the scenario: {e}"),
            );
            return Loaded {
                scenario: None,
                diagnostics: d,
            };
        }
    };
    let base = path.parent().unwrap_or(Path::new("."));
    load_str(&file, &text, base, d)
}

/// Loads a scenario from text; `base_dir` resolves relative file references (acc-provision).
pub fn load_str(file: &Arc<str>, text: &str, base_dir: &Path, mut d: Diagnostics) -> Loaded {
    let scenario = yaml::parse(file, text, &mut d)
        .and_then(|node| {
            variant::listed(&node, &mut d);
            raw::RawScenario::decode(&node, &mut d, base_dir)
        })
        .and_then(|raw| resolve::resolve(raw, &mut d));
    let scenario = if d.has_errors() { None } else { scenario };
    Loaded {
        scenario,
        diagnostics: d,
    }
}
