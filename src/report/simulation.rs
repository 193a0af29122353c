//! The report of `fabsim simulate`: the designs side by side (connections, paths, NAT, failures),
//! the plots, the assumptions and every default applied.

use super::doc::{Cell, Doc, parse_md_table};
use super::plot::{BarChart, LineChart, Mark, Series, bar_chart, line_chart};
use crate::scenario::{EventKind, Scenario};
use crate::sim::metrics::{DesignResult, Results, TimeSeries};
use std::collections::BTreeSet;

/// Approximations the engine makes, beyond the per-design rule table.
pub const APPROXIMATIONS: &[&str] = &[
    "Fabric reconvergence (IS-IS, LACP, vPC) after a leaf, spine or uplink failure is immediate.",
    "IP SLA declares a PBR destination down after detect multiplier × service_monitor_interval (APIC's multiplier 3 inferred).",
    "ACI-CNI is modelled on acc-provision 6.1.2.1 and aci-containers 6.1.2.1 (EPGs aci-containers-default/-system/-nodes and their contracts, kubernetes flavours) and opflex's SNAT and routing-domain flows.",
    "PBR resilient hashing uses 256 buckets; the APIC bucket count is not documented. A removed destination's flows all go to one remaining destination (Cisco's PBR white paper), taken to be the next by name.",
    "The controller serves SNAT chunk requests in node-name order (it takes them in event order); the SNAT graph is cut at max_nodes_svc_graph in name order.",
    "A node left without a SNAT chunk for a policy has no SNAT flow for it (aci-containers updateEpFiles, opflex handleEndpointUpdate): its pods' traffic takes the next SNAT flow of their stack or leaves un-NATed.",
    "A broken connection frees its NAT port at once (no TIME_WAIT).",
    "NAT source ports follow the node kernel's search (conntrack.node_kernel, default 5.15: at most 248 probes from random offsets; from 6.5 TIME_WAIT entries can be taken over); whether a new SYN's sequence number passes the old connection's is a coin flip for different original 4-tuples.",
    "Hold-timer expiry withdraws a failed node's routes regardless of graceful restart (RFC 4724 helps a restarting speaker, not a dead one).",
    "A LoadBalancer connection moved to another node breaks (no conntrack there); Cilium DSR is not modelled.",
    "A node cut off from the fabric is handled as failed: its connections break at once.",
    "ICMP through SNAT is dropped at the node (the talk: not supported).",
];

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// One row per design: what happened to the connections, the paths and the NAT ports.
pub fn summary_rows(r: &Results) -> (Vec<String>, Vec<Vec<Cell>>) {
    let headers = [
        "design",
        "cni",
        "attempted",
        "established",
        "refused",
        "broken",
        "completed",
        "active at end",
        "hops p50/p99",
        "latency µs p50/p99",
        "bounced",
        "anchor detour",
        "backend nodes idle",
        "load max/mean (min/mean)",
        "peak NAT ports (node) / available",
    ]
    .map(String::from)
    .to_vec();
    let rows = r
        .designs
        .iter()
        .map(|d| {
            let c = &d.connections;
            vec![
                Cell::from(d.name.clone()),
                Cell::from(d.cni),
                c.attempted.to_string().into(),
                c.established.to_string().into(),
                c.refused.values().sum::<u64>().to_string().into(),
                c.broken.values().sum::<u64>().to_string().into(),
                c.completed.to_string().into(),
                c.active_at_end.to_string().into(),
                format!("{}/{}", d.paths.hop_count_p50, d.paths.hop_count_p99).into(),
                format!(
                    "{}/{}",
                    d.paths.fabric_latency_us_p50, d.paths.fabric_latency_us_p99
                )
                .into(),
                pct(d.paths.replies_bounced_share).into(),
                pct(d.paths.anchor_detour_share).into(),
                spread_idle(&d.paths.load_spread).into(),
                spread_ratio(&d.paths.load_spread).into(),
                format!(
                    "{} / {}",
                    d.nat.peak_ports_in_use_node,
                    d.nat
                        .ports_per_node_available
                        .map_or("no NAT".to_string(), |v| v.to_string())
                )
                .into(),
            ]
        })
        .collect();
    (headers, rows)
}

/// Rows = reasons, columns = designs.
pub fn reason_rows(
    r: &Results,
    pick: impl Fn(&DesignResult) -> &std::collections::BTreeMap<&'static str, u64>,
) -> (Vec<String>, Vec<Vec<Cell>>) {
    let reasons: BTreeSet<&str> = r
        .designs
        .iter()
        .flat_map(|d| pick(d).keys().copied())
        .collect();
    let mut headers = vec!["reason".to_string()];
    headers.extend(r.designs.iter().map(|d| d.name.clone()));
    let rows = reasons
        .iter()
        .map(|reason| {
            let mut row = vec![Cell::from(*reason)];
            row.extend(
                r.designs
                    .iter()
                    .map(|d| Cell::from(pick(d).get(reason).copied().unwrap_or(0).to_string())),
            );
            row
        })
        .collect();
    (headers, rows)
}

fn failure_rows(r: &Results) -> (Vec<String>, Vec<Vec<Cell>>) {
    let headers = [
        "design",
        "target",
        "at (s)",
        "first reaction after (s)",
        "blackholed",
        "broken at once",
        "broken by rehash",
        "success ratio back after (s)",
        "vs the run without it: excess refused / broken, ratio matches after (s)",
        "reactions",
    ]
    .map(String::from)
    .to_vec();
    let num = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "–".to_string(),
        v => v.to_string(),
    };
    let mut rows = Vec::new();
    for d in &r.designs {
        for f in &d.failover {
            let reactions: Vec<String> = f["reactions"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| format!("{} s {}", x["at_s"], x["action"].as_str().unwrap_or("")))
                        .collect()
                })
                .unwrap_or_default();
            rows.push(vec![
                Cell::from(d.name.clone()),
                Cell::from(f["target"].as_str().unwrap_or("?")),
                num(&f["at_s"]).into(),
                num(&f["detection_s"]).into(),
                num(&f["blackholed"]).into(),
                num(&f["broken_at_failure"]).into(),
                num(&f["broken_rehashed"]).into(),
                num(&f["success_ratio_back_after_s"]).into(),
                against(f).into(),
                reactions.join("; ").into(),
            ]);
        }
    }
    (headers, rows)
}

/// The failure against the same run without it (`sim::baseline`), or why there is nothing.
fn against(f: &serde_json::Value) -> String {
    if let Some(why) = f["why_nothing"].as_str() {
        return format!("changed nothing: {why}");
    }
    let w = &f["against_run_without"];
    if w.is_null() {
        return "not measured (--no-baseline)".into();
    }
    if w["changed_nothing"] == true {
        return "changed nothing".into();
    }
    format!(
        "{} / {}, {}",
        w["excess_refused"], w["excess_broken"], w["success_ratio_matches_after_s"]
    )
}

/// The event times and names, for vertical marks.
fn event_marks(s: &Scenario) -> Vec<Mark> {
    s.events
        .iter()
        .map(|e| {
            let what = crate::scenario::reference::Display(&e.target, &s.fabric, &s.cluster);
            let verb = match e.kind {
                EventKind::Fail => "fail",
                EventKind::Recover => "recover",
            };
            Mark::X(e.at.as_secs_f64(), format!("{verb} {what}"))
        })
        .collect()
}

/// One line per design result: a time series picked from each, against the sample times.
pub fn time_lines<'a>(
    items: impl Iterator<Item = (String, &'a DesignResult)>,
    pick: impl Fn(&TimeSeries) -> Vec<f64>,
) -> Vec<Series> {
    items
        .map(|(name, d)| Series {
            name,
            points: d
                .timeseries
                .t_s
                .iter()
                .copied()
                .zip(pick(&d.timeseries))
                .collect(),
        })
        .collect()
}

pub fn success_ratio(t: &TimeSeries) -> Vec<f64> {
    t.new_connection_success_ratio.clone()
}

pub fn nat_max_node(t: &TimeSeries) -> Vec<f64> {
    t.nat_ports_in_use_max_node
        .iter()
        .map(|n| *n as f64)
        .collect()
}

fn by_design(r: &Results) -> impl Iterator<Item = (String, &DesignResult)> {
    r.designs.iter().map(|d| (d.name.clone(), d))
}

pub fn success_plot(s: &Scenario, r: &Results) -> Result<String, String> {
    line_chart(&LineChart {
        title: "New-connection success ratio (events marked)",
        x_label: "time (s)",
        y_label: "established / attempted",
        series: &time_lines(by_design(r), success_ratio),
        marks: &event_marks(s),
        log_y: false,
    })
}

pub fn nat_plot(r: &Results) -> Result<String, String> {
    // The SNAT chunk is the limit of an ACI-CNI node; masquerade's 64k per destination is not drawn.
    let marks: Vec<Mark> = r
        .designs
        .iter()
        .filter(|d| d.cni == "aci-cni")
        .filter_map(|d| {
            d.nat
                .ports_per_node_available
                .map(|p| Mark::Y(p as f64, format!("{} SNAT chunk {p}", d.name)))
        })
        .collect();
    line_chart(&LineChart {
        title: "NAT ports in use on the busiest node",
        x_label: "time (s)",
        y_label: "ports",
        series: &time_lines(by_design(r), nat_max_node),
        marks: &marks,
        log_y: false,
    })
}

/// At most this many nodes in the load bars.
const LOAD_BARS: usize = 48;

pub fn load_plot(s: &Scenario, r: &Results) -> Result<String, String> {
    let n = s.cluster.nodes.len().min(LOAD_BARS);
    let categories: Vec<String> = s.cluster.nodes[..n]
        .iter()
        .map(|x| x.name.clone())
        .collect();
    let series: Vec<(String, Vec<f64>)> = r
        .designs
        .iter()
        .map(|d| {
            let v = d
                .paths
                .load_per_node
                .iter()
                .take(n)
                .map(|x| *x as f64)
                .collect();
            (d.name.clone(), v)
        })
        .collect();
    let title = if s.cluster.nodes.len() > n {
        format!("Service connections per serving node (first {n} nodes)")
    } else {
        "Service connections per serving node".to_string()
    };
    bar_chart(&BarChart {
        title: &title,
        x_label: "node",
        y_label: "connections",
        categories: &categories,
        series: &series,
    })
}

pub fn hops_plot(r: &Results) -> Result<String, String> {
    let (lo, hi) = r
        .designs
        .iter()
        .flat_map(|d| {
            d.paths
                .hop_count_histogram
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(h, _)| h)
        })
        .fold((usize::MAX, 0), |(a, b), h| (a.min(h), b.max(h)));
    let (lo, hi) = if lo > hi { (0, 0) } else { (lo, hi) };
    let categories: Vec<String> = (lo..=hi).map(|h| h.to_string()).collect();
    let series: Vec<(String, Vec<f64>)> = r
        .designs
        .iter()
        .map(|d| {
            let h = &d.paths.hop_count_histogram;
            let total: u64 = h.iter().sum::<u64>().max(1);
            let v = (lo..=hi)
                .map(|i| 100.0 * h.get(i).copied().unwrap_or(0) as f64 / total as f64)
                .collect();
            (d.name.clone(), v)
        })
        .collect();
    bar_chart(&BarChart {
        title: "Hop count of established connections (request + reply)",
        x_label: "hops",
        y_label: "share of connections (%)",
        categories: &categories,
        series: &series,
    })
}

/// The whole report.
pub fn document(s: &Scenario, r: &Results) -> Result<Doc, String> {
    let mut doc = Doc::new(format!("{} — simulation report", r.scenario));
    doc.p(format!(
        "Seed {}, {} s simulated, designs: {}. Produced by `fabsim simulate`; results.json holds every number.",
        r.seed,
        r.duration_s,
        r.designs.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ")
    ));
    doc.h(2, "Designs side by side");
    let (h, rows) = summary_rows(r);
    doc.table(h, rows);
    doc.h(2, "Refused connections by reason");
    let (h, rows) = reason_rows(r, |d| &d.connections.refused);
    if rows.is_empty() {
        doc.p("None refused.");
    } else {
        doc.table(h, rows);
    }
    doc.h(2, "Broken connections by reason");
    let (h, rows) = reason_rows(r, |d| &d.connections.broken);
    if rows.is_empty() {
        doc.p("None broken.");
    } else {
        doc.table(h, rows);
    }
    doc.h(2, "Traffic generators");
    let mut rows = Vec::new();
    for d in &r.designs {
        for (g, t) in &d.traffic {
            let c = &t.connections;
            rows.push(vec![
                Cell::from(g.clone()),
                Cell::from(d.name.clone()),
                c.attempted.to_string().into(),
                c.established.to_string().into(),
                c.refused.values().sum::<u64>().to_string().into(),
                c.broken.values().sum::<u64>().to_string().into(),
            ]);
        }
    }
    doc.table(
        [
            "generator",
            "design",
            "attempted",
            "established",
            "refused",
            "broken",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    );
    doc.h(2, "Failures");
    let (h, rows) = failure_rows(r);
    if rows.is_empty() {
        doc.p("The scenario has no failure events.");
    } else {
        doc.table(h, rows);
    }
    doc.h(2, "Plots");
    doc.plot(
        "success-ratio.svg",
        "New-connection success ratio over time, one line per design (designs with the same values overlap); the scenario's events marked",
        success_plot(s, r)?,
    );
    doc.plot(
        "nat-ports.svg",
        "NAT ports in use on the busiest node over time, against the SNAT chunk of ACI-CNI designs",
        nat_plot(r)?,
    );
    doc.plot(
        "load-per-node.svg",
        "Established service connections per serving node (PBR or ECMP spread, then the node's proxy)",
        load_plot(s, r)?,
    );
    doc.plot(
        "hop-count.svg",
        "Hop-count distribution of established connections per design",
        hops_plot(r)?,
    );
    doc.h(2, "Assumptions: live connections at a failure, per design");
    let (h, rows) = parse_md_table(crate::sim::failure::ASSUMPTIONS);
    doc.table(h, rows);
    doc.h(2, "Approximations");
    doc.list(APPROXIMATIONS.iter().map(|x| x.to_string()).collect());
    doc.h(2, "Defaults applied");
    if s.defaults_applied.is_empty() {
        doc.p("None: the scenario sets every value itself.");
    } else {
        doc.list(s.defaults_applied.clone());
    }
    Ok(doc)
}

/// Writes report.md, report.html, results.json and the plots into `dir`.
pub fn write(dir: &std::path::Path, doc: &Doc, results_json: &str) -> Result<(), String> {
    let w = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    w("results.json", results_json)?;
    w("report.md", &doc.markdown())?;
    w("report.html", &doc.html())?;
    for (file, svg) in doc.plots() {
        w(file, svg)?;
    }
    Ok(())
}

/// Eligible backend nodes that served nothing, of those eligible (the services the traffic
/// reached; idle ones named).
pub(crate) fn spread_idle(l: &crate::sim::spread::LoadSpread) -> String {
    if l.eligible_nodes == 0 {
        return "no service traffic".into();
    }
    let names: Vec<&str> = l
        .per_service
        .iter()
        .flat_map(|s| s.idle_node_names.iter().map(String::as_str))
        .take(4)
        .collect();
    if names.is_empty() {
        format!("0 of {}", l.eligible_nodes)
    } else {
        let more = if l.idle_nodes > names.len() {
            ", …"
        } else {
            ""
        };
        format!(
            "{} of {} ({}{more})",
            l.idle_nodes,
            l.eligible_nodes,
            names.join(", ")
        )
    }
}

/// The worst service's max / mean and min / mean over its eligible nodes, idle ones included.
pub(crate) fn spread_ratio(l: &crate::sim::spread::LoadSpread) -> String {
    if l.eligible_nodes == 0 {
        return "–".into();
    }
    format!("{:.2} ({:.2})", l.node_max_over_mean, l.node_min_over_mean)
}
