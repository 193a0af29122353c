//! What a run counts, and the results.json shape (README "results.json").
//!
//! Invariant: counters only during the run (fixed-size histograms, maps keyed by static reason
//! names); percentiles and shares are computed once at the end.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Connections {
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
}

/// Hop count and fabric latency histograms of established connections.
#[derive(Clone, Debug)]
pub struct PathStats {
    hops: [u64; 64],
    /// Request + reply fabric latency, microseconds, the last bucket holding everything above.
    latency_us: Box<[u64; 4096]>,
    pub bounced: u64,
    pub established: u64,
}

impl Default for PathStats {
    fn default() -> Self {
        PathStats {
            hops: [0; 64],
            latency_us: Box::new([0; 4096]),
            bounced: 0,
            established: 0,
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
    pub fn record(&mut self, hops: u16, latency_ns: u64, bounced: bool) {
        self.hops[(hops as usize).min(63)] += 1;
        self.latency_us[((latency_ns / 1000) as usize).min(4095)] += 1;
        self.bounced += u64::from(bounced);
        self.established += 1;
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
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Paths {
    /// Hops of the request and the reply together, as `trace` counts them.
    pub hop_count_p50: usize,
    pub hop_count_p99: usize,
    pub fabric_latency_us_p50: usize,
    pub fabric_latency_us_p99: usize,
    pub replies_bounced_share: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TimeSeries {
    pub interval_s: f64,
    pub t_s: Vec<f64>,
    /// Established / attempted among the connections that arrived in the interval (1 when none did).
    pub new_connection_success_ratio: Vec<f64>,
    pub active_connections: Vec<u64>,
    pub nat_ports_in_use: Vec<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GeneratorResult {
    pub connections: Connections,
}

#[derive(Clone, Debug, Serialize)]
pub struct DesignResult {
    pub name: String,
    pub cni: &'static str,
    pub connections: Connections,
    /// Failure events and their effects (not simulated yet: see the README).
    pub failover: Vec<serde_json::Value>,
    pub paths: Paths,
    pub timeseries: TimeSeries,
    pub traffic: BTreeMap<String, GeneratorResult>,
    pub events_processed: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Results {
    pub scenario: String,
    pub seed: u64,
    pub duration_s: f64,
    pub designs: Vec<DesignResult>,
}
