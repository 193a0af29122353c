//! What a scenario says to `size snat`: the busiest node's egress to outside the cluster (rate,
//! destinations, mean lifetime), the SNAT configuration of its ACI-CNI design and the node
//! kernel — read by `fabsim size snat --from-scenario` and by the simulate report's summary.

use super::snat::SnatInput;
use crate::nat::snat::PortRange;
use crate::scenario::Scenario;
use crate::scenario::reference::Ref;
use std::collections::BTreeMap;

/// What a scenario says: the busiest node's egress rate, its destinations and the mean lifetime.
pub struct FromScenario {
    pub nodes: Vec<String>,
    pub rate: f64,
    pub lifetime_s: f64,
    pub streams: Vec<(f64, u64)>,
    pub time_wait_s: f64,
    pub range: Option<PortRange>,
    pub snat_ips: Option<u32>,
    pub search: crate::nat::kernel::PortSearch,
    pub node_kernel: (u32, u32),
}

/// Why a scenario gives no SNAT sizing input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FromScenarioError {
    #[error("a Pareto lifetime with shape ≤ 1 has no mean: give --lifetime")]
    NoMeanLifetime,
    #[error("the scenario has no traffic from pods to outside the cluster to size SNAT for")]
    NoEgress,
    #[error(transparent)]
    UnknownDesign(#[from] crate::scenario::UnknownDesign),
    #[error("design `{0}` is not an aci-cni design")]
    NotAciCni(String),
}

// Long: what a scenario offers `size snat`, one block per input (egress load per node,
// lifetimes, hold, the design's range).
pub fn from_scenario(
    s: &Scenario,
    design: Option<&str>,
) -> Result<FromScenario, FromScenarioError> {
    let cl = &s.cluster;
    // A destination outside the cluster, by name (inside the cluster: no SNAT).
    let dest_of = |to: &Ref| match *to {
        Ref::Literal { ip, port, .. } => Some(format!("{ip}:{}", port.unwrap_or(0))),
        Ref::External { ext, port } => Some(format!(
            "{}:{}",
            s.fabric.externals[ext.index()].name,
            port.unwrap_or(0)
        )),
        _ => None,
    };
    let pairs = || {
        s.traffic
            .iter()
            .flat_map(|t| t.pairs.iter().map(move |p| (t, p)))
    };
    // Each destination's place in name order: the per-node maps are keyed by it, so they
    // iterate (and sum) in name order as when keyed by the name, without a name per pod.
    let names: std::collections::BTreeSet<String> =
        pairs().filter_map(|(_, (_, to))| dest_of(to)).collect();
    let rank_of: BTreeMap<&str, u32> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i as u32))
        .collect();
    // Per node: (rate, rate × lifetime) per destination.
    let mut per_node: Vec<BTreeMap<u32, (f64, f64)>> = vec![BTreeMap::new(); cl.nodes.len()];
    for (t, (from, to)) in pairs() {
        let pairs = t.pairs.len() as f64;
        let pods: Vec<usize> = match *from {
            Ref::Pod { pod, .. } => vec![pod.index()],
            Ref::Deployment { dep, .. } => {
                let d = &cl.deployments[dep.index()];
                (d.first_pod..d.first_pod + d.replicas)
                    .map(|p| p as usize)
                    .collect()
            }
            Ref::Namespace(ns) => (0..cl.pods.len())
                .filter(|p| cl.pods[*p].namespace == ns)
                .collect(),
            _ => continue,
        };
        let Some(dest) = dest_of(to).and_then(|d| rank_of.get(d.as_str()).copied()) else {
            continue; // inside the cluster: no SNAT
        };
        if pods.is_empty() {
            continue;
        }
        // A counted entry's rate is shared by its pairs.
        let r = t.arrivals.mean_rate() / pairs;
        let m = t
            .lifetime
            .mean_s()
            .ok_or(FromScenarioError::NoMeanLifetime)?;
        for p in &pods {
            let e = per_node[cl.pod_node(crate::cluster::PodId(*p as u32)).index()]
                .entry(dest)
                .or_insert((0.0, 0.0));
            let share = r / pods.len() as f64;
            e.0 += share;
            e.1 += share * m;
        }
    }
    let total = |m: &BTreeMap<u32, (f64, f64)>| m.values().map(|v| v.0).sum::<f64>();
    let busiest = per_node
        .iter()
        .max_by(|a, b| total(a).total_cmp(&total(b)))
        .filter(|m| total(m) > 0.0)
        .ok_or(FromScenarioError::NoEgress)?;
    let rate = total(busiest);
    let lifetime_s = busiest.values().map(|v| v.1).sum::<f64>() / rate;
    let streams = busiest.values().map(|v| (v.0 / rate, 1)).collect();
    let aci = match design {
        Some(n) => Some(
            s.design_named(n)?
                .aci()
                .ok_or_else(|| FromScenarioError::NotAciCni(n.into()))?,
        ),
        None => s.designs.iter().find_map(|d| d.aci()),
    };
    Ok(FromScenario {
        nodes: cl.nodes.iter().map(|n| n.name.clone()).collect(),
        rate,
        lifetime_s,
        streams,
        time_wait_s: s.conntrack.time_wait.as_secs_f64(),
        range: aci.map(|c| c.port_range),
        search: s.conntrack.nat_search,
        node_kernel: s.conntrack.node_kernel,
        snat_ips: aci.and_then(|c| {
            c.snat_policies
                .iter()
                .find_map(|p| p.snat_ips.as_ref().map(|v| v.len() as u32))
        }),
    })
}

impl FromScenario {
    /// The sizing question with nothing overridden: recommend ports per node for `target`,
    /// evaluating the configured setting too.
    pub fn input(&self, target: f64) -> SnatInput {
        let range = self.range.unwrap_or(PortRange::DEFAULT);
        SnatInput {
            nodes: self.nodes.clone(),
            rate_per_node: self.rate,
            lifetime_s: self.lifetime_s,
            time_wait_s: self.time_wait_s,
            streams: self.streams.clone(),
            target,
            range: PortRange {
                ports_per_node: PortRange::DEFAULT.ports_per_node,
                ..range
            },
            ports_per_node: None,
            snat_ips: self.snat_ips,
            surge: 0,
            strict: false,
            search: self.search,
            configured_ports_per_node: self.range.map(|r| r.ports_per_node),
        }
    }
}
