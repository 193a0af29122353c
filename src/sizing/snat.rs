//! `fabsim size snat`: how many SNAT ports each node needs, how many SNAT IPs the cluster needs,
//! and what the same workload would meet masqueraded to the node IPs — each number with the
//! formula and values that gave it.
//!
//! Model (FACTS §1 and §4): a node's outbound connections are a loss system per destination
//! IP:port (conntrack's uniqueness is on the whole 5-tuple, so a port serves different
//! destinations at once); a port is held for the connection's lifetime plus TIME_WAIT; the
//! refused fraction is Erlang-B(ports, λ·h). The talk's rule ("strict") is the worst case: one
//! port per connection whatever the destination. Chunks follow the controller's rule; each node
//! gets one chunk of one SNAT IP per policy.

use super::erlang::{erlang_b, ports_for_streams, servers_for, weighted_loss};
use crate::cluster::NodeId;
use crate::nat::kernel::PortSearch;
use crate::nat::snat::{PortRange, SnatGlobalInfo};
use serde::Serialize;
use std::net::Ipv4Addr;

/// What `size snat` is asked.
#[derive(Clone, Debug)]
pub struct SnatInput {
    /// Node names (generated `node-1` … when the nodes come from `--nodes`).
    pub nodes: Vec<String>,
    /// New outbound connections per second on the busiest node.
    pub rate_per_node: f64,
    pub lifetime_s: f64,
    pub time_wait_s: f64,
    /// How the traffic spreads over destinations: (share of the traffic each, how many such).
    pub streams: Vec<(f64, u64)>,
    /// Acceptable refused fraction.
    pub target: f64,
    pub range: PortRange,
    /// Evaluate this setting instead of recommending one.
    pub ports_per_node: Option<u32>,
    pub snat_ips: Option<u32>,
    /// Extra nodes during upgrades (surge), which need chunks too.
    pub surge: u64,
    /// Size by the talk's rule (one port per connection, any destination).
    pub strict: bool,
    /// How the nodes' kernel searches NAT ports (`--node-kernel`, `--nat-port-search`).
    pub search: PortSearch,
    /// The ports per node the scenario configures (`--from-scenario`): also evaluated, so the
    /// refusal as configured stands next to the recommendation.
    pub configured_ports_per_node: Option<u32>,
}

impl SnatInput {
    /// Even spread over `k` destinations, or one hot destination with `share` of the traffic and
    /// the rest spread over the other `k − 1`.
    pub fn streams_for(k: u64, hot_share: Option<f64>) -> Vec<(f64, u64)> {
        match hot_share {
            Some(f) if k > 1 => vec![(f, 1), ((1.0 - f) / (k - 1) as f64, k - 1)],
            Some(_) => vec![(1.0, 1)],
            None => vec![(1.0 / k.max(1) as f64, k)],
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Offered {
    pub per_node: f64,
    /// The busiest destination of a node.
    pub per_destination: f64,
    pub total: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Required {
    /// Per-destination reuse (the kernel's conntrack): `None` when no chunk of the range is enough.
    pub per_tuple: Option<u64>,
    /// One port per connection (the talk's rule).
    pub strict: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Refusal {
    pub per_tuple: f64,
    pub strict: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Masquerade {
    pub range: String,
    /// Ports per destination IP:port a node IP offers.
    pub ports_per_destination: u64,
    pub refusal_probability: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SnatSizing {
    pub offered_erlangs: Offered,
    pub required_ports_per_node: Required,
    /// `None` when evaluating a given setting, or when no chunk of the range is large enough.
    pub recommended_ports_per_node: Option<u32>,
    /// The setting the rest is computed for: the given one or the recommendation.
    pub ports_per_node: u32,
    pub chunks_per_ip: u32,
    pub snat_ips_needed: u64,
    pub refusal_probability: Refusal,
    pub nodes_without_chunk: Vec<String>,
    pub masquerade: Vec<Masquerade>,
    /// Which port search the analytic figures assume, against the kernel's.
    pub port_search: String,
    /// How each number was reached, in order.
    pub explanation: Vec<(String, String)>,
}

/// A probability for people: `< 1e-30` when it is that small, else three significant digits.
pub fn fmt_p(p: f64) -> String {
    if p < 1e-30 {
        "< 1e-30".into()
    } else {
        format!("{p:.3e}")
    }
}

/// The value a person would configure: rounded up to 100 below 1,000, to 500 below 10,000, to
/// 1,000 above.
pub fn round_up_nicely(x: u64) -> u64 {
    let step = match x {
        0..=1000 => 100,
        1001..=10_000 => 500,
        _ => 1000,
    };
    x.div_ceil(step).max(1) * step
}

/// The largest chunk the controller's rule can cut from the range (a chunk must end before `end`).
pub fn largest_chunk(r: &PortRange) -> u32 {
    r.end.saturating_sub(r.start)
}

/// Why a SNAT sizing has no answer.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SizingError {
    #[error("there must be at least one node")]
    NoNodes,
    #[error("the target refused fraction must be between 0 and 1, not {0}")]
    Target(f64),
    #[error("rates and durations cannot be negative")]
    Negative,
    #[error("the controller rejects the port range {start}–{end} ({why}) and would use 5000–65000")]
    RangeRejected {
        start: u32,
        end: u32,
        why: crate::nat::snat::RangeRejected,
    },
    #[error("there must be at least one destination")]
    NoDestination,
    #[error(
        "no chunk of the range {start}–{end} meets the target: a node gets one chunk per policy, at most {limit} ports; widen the range, shorten TIME_WAIT or spread the traffic"
    )]
    NoChunkMeetsTarget { start: u32, end: u32, limit: u64 },
    #[error(
        "ports_per_node 0 passes the controller's checks and then loops forever in ExpandPortRanges (aci-containers pkg/util/snat.go): give a positive number"
    )]
    ZeroPortsPerNode,
    #[error("ports_per_node {ppn} in {start}–{end}: {why}")]
    PortsPerNodeRejected {
        ppn: u32,
        start: u32,
        end: u32,
        why: crate::nat::snat::RangeRejected,
    },
    #[error(
        "ports_per_node {ppn} cuts no chunk from {start}–{end}: a chunk must end before {end} (at most {limit} ports)"
    )]
    NoChunk {
        ppn: u32,
        start: u32,
        end: u32,
        limit: u64,
    },
}

/// Sizes (or evaluates) the SNAT ports of `i`.
// Long: each number of the sizing is computed and explained in order (offered load,
// ports per node, chunks, SNAT IPs, masquerade); the explanation reads as the function does.
pub fn size(i: &SnatInput) -> Result<SnatSizing, SizingError> {
    if i.nodes.is_empty() {
        return Err(SizingError::NoNodes);
    }
    if !(i.target > 0.0 && i.target < 1.0) {
        return Err(SizingError::Target(i.target));
    }
    if !(i.rate_per_node >= 0.0 && i.lifetime_s >= 0.0 && i.time_wait_s >= 0.0) {
        return Err(SizingError::Negative);
    }
    let probe = PortRange {
        ports_per_node: 1,
        ..i.range
    };
    if let Err(e) = probe.check() {
        return Err(SizingError::RangeRejected {
            start: i.range.start,
            end: i.range.end,
            why: e,
        });
    }
    if i.streams.iter().map(|s| s.1).sum::<u64>() == 0 {
        return Err(SizingError::NoDestination);
    }
    let mut why = Vec::new();
    let mut explain = |k: &str, v: String| why.push((k.to_string(), v));
    let hold = i.lifetime_s + i.time_wait_s;
    let a_node = i.rate_per_node * hold;
    let busiest_share = i.streams.iter().map(|s| s.0).fold(0.0, f64::max);
    let a_dest = a_node * busiest_share;
    let n = i.nodes.len() as u64;
    let offered = Offered {
        per_node: a_node,
        per_destination: a_dest,
        total: a_node * n as f64,
    };
    explain(
        "offered_erlangs",
        format!(
            "a port is held for the lifetime plus TIME_WAIT: h = {} s + {} s = {} s; per node A = λ·h = {} /s × {} s = {:.1} erlangs; the busiest destination takes {:.1}% of it: {:.1} erlangs; {} nodes: {:.1} erlangs",
            i.lifetime_s,
            i.time_wait_s,
            hold,
            i.rate_per_node,
            hold,
            a_node,
            100.0 * busiest_share,
            a_dest,
            n,
            offered.total
        ),
    );
    let limit = u64::from(largest_chunk(&i.range));
    let required = Required {
        per_tuple: ports_for_streams(a_node, &i.streams, i.target, limit),
        strict: servers_for(a_node, i.target, limit),
    };
    let show = |x: Option<u64>| {
        x.map_or(format!("more than {limit} (the largest chunk)"), |v| {
            v.to_string()
        })
    };
    explain(
        "required_ports_per_node",
        format!(
            "smallest c with refused fraction ≤ {}: per destination, Σ share·B(c, share·A) over the destinations → {}; strict (the talk's rule, every connection takes a port) B(c, {:.1}) → {}",
            i.target,
            show(required.per_tuple),
            a_node,
            show(required.strict)
        ),
    );
    let basis = if i.strict {
        required.strict
    } else {
        required.per_tuple
    };
    let recommended = match (i.ports_per_node, basis) {
        (Some(_), _) | (None, None) => None,
        (None, Some(c)) => {
            let nice = round_up_nicely(c).min(u64::from(largest_chunk(&i.range)));
            Some(nice.max(c) as u32)
        }
    };
    if let (None, Some(r), Some(c)) = (i.ports_per_node, recommended, basis) {
        explain(
            "recommended_ports_per_node",
            format!(
                "{c} ({}) rounded up to a value to configure: {r}",
                if i.strict {
                    "strict"
                } else {
                    "per destination"
                }
            ),
        );
    }
    let ppn = match (i.ports_per_node, recommended) {
        (Some(p), _) | (None, Some(p)) => p,
        (None, None) => {
            return Err(SizingError::NoChunkMeetsTarget {
                start: i.range.start,
                end: i.range.end,
                limit,
            });
        }
    };
    if ppn == 0 {
        return Err(SizingError::ZeroPortsPerNode);
    }
    let range = PortRange {
        ports_per_node: ppn,
        ..i.range
    };
    range
        .check()
        .map_err(|why| SizingError::PortsPerNodeRejected {
            ppn,
            start: range.start,
            end: range.end,
            why,
        })?;
    let chunks = range.chunks().len() as u32;
    if chunks == 0 {
        return Err(SizingError::NoChunk {
            ppn,
            start: range.start,
            end: range.end,
            limit,
        });
    }
    explain(
        "chunks_per_ip",
        format!(
            "chunks [s, s+{ppn}−1] from {} stepping by {ppn}, kept while the chunk ends before {}: {chunks}",
            range.start, range.end
        ),
    );
    let needing = n + i.surge;
    let ips_needed = needing.div_ceil(u64::from(chunks.max(1)));
    explain(
        "snat_ips_needed",
        format!(
            "one chunk per node: ⌈({n} nodes + {} surge) / {chunks}⌉ = {ips_needed}",
            i.surge
        ),
    );
    let refusal = Refusal {
        per_tuple: weighted_loss(u64::from(ppn), a_node, &i.streams),
        strict: erlang_b(u64::from(ppn), a_node),
    };
    explain(
        "refusal_probability",
        format!(
            "with {ppn} ports: per destination Σ share·B({ppn}, share·{a_node:.1}) = {}; strict B({ppn}, {a_node:.1}) = {}",
            fmt_p(refusal.per_tuple),
            fmt_p(refusal.strict)
        ),
    );
    let mut without = Vec::new();
    if let Some(k) = i.snat_ips {
        // The controller's own allocation, nodes in order, surge nodes last.
        let ips: Vec<Ipv4Addr> = (0..k).map(|x| Ipv4Addr::from(0x0A14_1E01 + x)).collect();
        let info =
            SnatGlobalInfo::allocate(&range, &[ips], (0..needing as u32).map(|x| (NodeId(x), 0)));
        let name = |id: NodeId| {
            i.nodes
                .get(id.index())
                .cloned()
                .unwrap_or_else(|| format!("surge-{}", id.index() + 1 - i.nodes.len()))
        };
        without = info
            .exhausted
            .get(&0)
            .map(|v| v.iter().map(|id| name(*id)).collect())
            .unwrap_or_default();
        explain(
            "nodes_without_chunk",
            format!(
                "{k} SNAT IP(s) × {chunks} chunks = {} chunks for {needing} nodes: {} without (their pods leave un-NATed, the policy is IpPortsExhausted)",
                u64::from(k) * u64::from(chunks),
                without.len()
            ),
        );
    }
    let masquerade: Vec<Masquerade> = [(1024u64, 65535u64, "Linux"), (32768, 65535, "Cilium BPF")]
        .iter()
        .map(|(lo, hi, who)| {
            let ports = hi - lo + 1;
            Masquerade {
                range: format!("{lo}–{hi} ({who})"),
                ports_per_destination: ports,
                refusal_probability: weighted_loss(ports, a_node, &i.streams),
            }
        })
        .collect();
    explain(
        "masquerade",
        format!(
            "to the node IP, every port of the range for each destination: Σ share·B(ports, share·{a_node:.1}) = {} with 64,512 ports, {} with 32,768",
            fmt_p(masquerade[0].refusal_probability),
            fmt_p(masquerade[1].refusal_probability)
        ),
    );
    let port_search = match i.search {
        PortSearch::WholeRange | PortSearch::CiliumBpf => "Erlang-B assumes that every free port of the chunk can be found: exact for an allocator that tries the whole range (nat_port_search: whole-range)".to_string(),
        PortSearch::Bounded => "Erlang-B assumes that every free port can be found; the kernel (< 6.5) gives up after 248 probes (rounds of 128, 64, 32, 16, 8 consecutive ports, nf_nat_l4proto_unique_tuple), so it refuses more near the limit — at 3000 erlangs on 3000 ports 3.3% instead of 1.44% (tests/nat_kernel.rs): the figures are a lower bound; --verify simulates the kernel's search".to_string(),
        PortSearch::BoundedEvict => {
            let lower = erlang_b(u64::from(ppn), i.rate_per_node * i.lifetime_s * busiest_share);
            format!("the kernel (≥ 6.5) lets a new TCP connection take over a TIME_WAIT entry under pressure (nf_nat_used_tuple_harder): TIME_WAIT then holds a port only while ports are free, so the figures (lifetime + TIME_WAIT) are an upper bound and Erlang-B on the lifetime alone, {}, the lower one at {ppn} ports; --verify simulates the kernel's search", fmt_p(lower))
        }
    };
    explain("port_search", port_search.clone());
    Ok(SnatSizing {
        port_search,
        offered_erlangs: offered,
        required_ports_per_node: required,
        recommended_ports_per_node: recommended,
        ports_per_node: ppn,
        chunks_per_ip: chunks,
        snat_ips_needed: ips_needed,
        refusal_probability: refusal,
        nodes_without_chunk: without,
        masquerade,
        explanation: why,
    })
}

/// The refused fraction against ports per node, per destination and strict, for the curve.
pub fn curve(i: &SnatInput, upto: u32, points: u32) -> Vec<(u32, f64, f64)> {
    let a = i.rate_per_node * (i.lifetime_s + i.time_wait_s);
    (1..=points)
        .map(|k| {
            let c = (u64::from(upto) * u64::from(k) / u64::from(points)) as u32;
            (
                c,
                weighted_loss(u64::from(c), a, &i.streams),
                erlang_b(u64::from(c), a),
            )
        })
        .collect()
}
