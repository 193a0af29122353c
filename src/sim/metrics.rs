//! What a run counts, and the results.json shape (README "results.json").
//!
//! Invariant: counters only during the run (fixed-size histograms, maps keyed by static reason
//! names); percentiles and shares are computed once at the end.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Connections {
    /// Open when counting started (the end of the warm-up): established before it, and counted
    /// when they complete or break, so open at the end = this + established − completed − broken.
    pub active_at_start: u64,
    pub attempted: u64,
    pub established: u64,
    pub completed: u64,
    pub active_at_end: u64,
    pub refused: BTreeMap<&'static str, u64>,
    pub broken: BTreeMap<&'static str, u64>,
}

impl Connections {
    pub fn refuse(&mut self, reason: &'static str) {
        *self.refused.entry(reason).or_insert(0) += 1;
    }

    pub fn break_for(&mut self, reason: BreakReason) {
        *self.broken.entry(reason.as_str()).or_insert(0) += 1;
    }
}

/// Why an established connection broke (results.json `broken` keys, README "Broken reasons").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakReason {
    /// The node it was served by, NATed on or sent from failed.
    NodeFailed,
    /// ACI-CNI SNAT: PBR still sends its replies to a failed node.
    ReplyBlackholed,
    /// A LoadBalancer connection moved to another node by a route or graph change (no conntrack
    /// there).
    Rehashed,
}

impl BreakReason {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakReason::NodeFailed => "node-failed",
            BreakReason::ReplyBlackholed => "reply-blackholed",
            BreakReason::Rehashed => "rehashed",
        }
    }
}

/// Hop count and fabric latency histograms of established connections.
#[derive(Clone, Debug)]
pub struct PathStats {
    hops: [u64; 64],
    /// Request + reply fabric latency, microseconds, the last bucket holding everything above.
    latency_us: Box<[u64; 4096]>,
    pub bounced: u64,
    pub detoured: u64,
    pub established: u64,
    /// Established connections to a service, per node that received them (the load spread).
    pub load: Vec<u64>,
}

impl Default for PathStats {
    fn default() -> Self {
        PathStats {
            hops: [0; 64],
            latency_us: Box::new([0; 4096]),
            bounced: 0,
            detoured: 0,
            established: 0,
            load: Vec::new(),
        }
    }
}

fn percentile(h: &[u64], q: f64) -> usize {
    let total: u64 = h.iter().sum();
    if total == 0 {
        return 0;
    }
    let target = (q * total as f64).ceil().max(1.0) as u64;
    let mut acc = 0;
    for (i, c) in h.iter().enumerate() {
        acc += c;
        if acc >= target {
            return i;
        }
    }
    h.len() - 1
}

impl PathStats {
    pub fn with_nodes(nodes: usize) -> Self {
        PathStats {
            load: vec![0; nodes],
            ..PathStats::default()
        }
    }

    pub fn record(
        &mut self,
        hops: u16,
        latency_ns: u64,
        bounced: bool,
        detoured: bool,
        node: Option<usize>,
    ) {
        self.hops[(hops as usize).min(63)] += 1;
        self.latency_us[((latency_ns / 1000) as usize).min(4095)] += 1;
        self.bounced += u64::from(bounced);
        self.detoured += u64::from(detoured);
        self.established += 1;
        if let Some(n) = node.and_then(|n| self.load.get_mut(n)) {
            *n += 1;
        }
    }

    pub fn summary(&self) -> Paths {
        let share = |n: u64| {
            if self.established == 0 {
                0.0
            } else {
                n as f64 / self.established as f64
            }
        };
        Paths {
            hop_count_p50: percentile(&self.hops, 0.5),
            hop_count_p99: percentile(&self.hops, 0.99),
            fabric_latency_us_p50: percentile(&self.latency_us[..], 0.5),
            fabric_latency_us_p99: percentile(&self.latency_us[..], 0.99),
            replies_bounced_share: share(self.bounced),
            anchor_detour_share: share(self.detoured),
            hop_count_histogram: {
                let last = self.hops.iter().rposition(|x| *x > 0).map_or(0, |i| i + 1);
                self.hops[..last].to_vec()
            },
            load_per_node: self.load.clone(),
            load_max_over_mean: {
                let loaded = self.load.iter().filter(|x| **x > 0).count();
                let max = self.load.iter().copied().max().unwrap_or(0) as f64;
                let total: u64 = self.load.iter().sum();
                if loaded == 0 {
                    0.0
                } else {
                    max / (total as f64 / loaded as f64)
                }
            },
            load_spread: Default::default(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Paths {
    /// Hops of the request and the reply together, as `trace` counts them.
    pub hop_count_p50: usize,
    pub hop_count_p99: usize,
    /// Established connections by hop count (index = hops).
    pub hop_count_histogram: Vec<u64>,
    pub fabric_latency_us_p50: usize,
    pub fabric_latency_us_p99: usize,
    pub replies_bounced_share: f64,
    /// Share of established connections whose packets crossed an anchor leaf that does not
    /// attach the node (BGP designs, floating L3Out).
    pub anchor_detour_share: f64,
    /// Established service connections per receiving node (in node order), and max over mean
    /// among loaded nodes.
    pub load_per_node: Vec<u64>,
    pub load_max_over_mean: f64,
    /// Per service, over every backend eligible to serve it, idle ones included.
    pub load_spread: super::spread::LoadSpread,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TimeSeries {
    pub interval_s: f64,
    /// The interval asked for, when it was coarsened to keep at most `estimate::MAX_POINTS`
    /// samples.
    pub interval_raised_from_s: Option<f64>,
    pub t_s: Vec<f64>,
    /// Established / attempted among the connections that arrived in the interval (1 when none did).
    pub new_connection_success_ratio: Vec<f64>,
    /// Connections that arrived in the interval (what the ratio is over).
    pub new_connections: Vec<u64>,
    pub active_connections: Vec<u64>,
    pub nat_ports_in_use: Vec<u64>,
    /// NAT ports in use on the busiest node.
    pub nat_ports_in_use_max_node: Vec<u64>,
    /// Open connections on the busiest serving node, and the mean over the nodes serving any.
    pub load_max_node: Vec<u64>,
    pub load_mean_node: Vec<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GeneratorResult {
    pub connections: Connections,
}

/// NAT ports against what a node has.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NatSummary {
    /// ACI-CNI: the SNAT chunk a node holds (ports_per_node); BGP designs with masquerade: the
    /// ports of the masquerade range (per destination); `None` without NAT.
    pub ports_per_node_available: Option<u64>,
    /// The most NAT ports one node held at a sample, and all nodes together.
    pub peak_ports_in_use_node: u64,
    pub peak_ports_in_use_total: u64,
    /// ACI-CNI: SNAT IPs holding at least one node's chunk.
    pub snat_ips_in_use: Option<usize>,
    /// How the nodes' kernel searched NAT ports (`conntrack.node_kernel`, `nat_port_search`).
    pub port_search: &'static str,
    /// TIME_WAIT entries a new connection took over (Linux ≥ 6.5).
    pub time_wait_evicted: u64,
}

impl NatSummary {
    /// The design's egress is a per-node SNAT chunk (ACI-CNI's SNAT policy), not masquerade.
    pub fn is_snat_chunk(&self) -> bool {
        self.snat_ips_in_use.is_some()
    }
}

/// One failure's record in results.json (README "Failures"). Fields in alphabetical order: the
/// order results.json has always had.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FailoverRecord {
    /// Against the same run without this failure and its recovery (`sim::baseline`); absent
    /// with `--no-baseline`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub against_run_without: Option<AgainstRunWithout>,
    pub at_s: f64,
    pub blackholed: u64,
    pub broken_at_failure: u64,
    pub broken_rehashed: u64,
    pub changed_nothing: bool,
    /// The first reaction after the failure, seconds.
    pub detection_s: Option<f64>,
    pub node_recovered_at_s: Option<f64>,
    pub overlapped_by: Option<String>,
    pub reactions: Vec<Reaction>,
    pub refused_while_failed: u64,
    pub success_ratio_back_after_s: Option<f64>,
    pub target: String,
    /// Why the failure cannot matter to the design, when it cannot.
    pub why_nothing: Option<&'static str>,
}

/// A reaction of the design to a failure, in time.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Reaction {
    pub action: &'static str,
    pub at_s: f64,
}

/// A failure against the same run without it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AgainstRunWithout {
    pub changed_nothing: bool,
    pub excess_broken: i64,
    pub excess_refused: i64,
    pub success_ratio_matches_after_s: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct DesignResult {
    pub name: String,
    pub cni: &'static str,
    pub connections: Connections,
    /// Failure events and their effects.
    pub failover: Vec<FailoverRecord>,
    pub paths: Paths,
    pub nat: NatSummary,
    pub timeseries: TimeSeries,
    pub traffic: BTreeMap<String, GeneratorResult>,
    /// When counting started, and whether the run was steady before its first event.
    pub steady_state: super::steady::SteadyCheck,
    pub events_processed: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Results {
    pub scenario: String,
    pub seed: u64,
    pub duration_s: f64,
    pub designs: Vec<DesignResult>,
}
