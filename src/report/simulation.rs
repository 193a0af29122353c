//! The report of `fabsim simulate`: the designs side by side (connections, paths, NAT, failures),
//! the plots, the assumptions and every default applied.

use super::doc::{Cell, Doc, group_digits};
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

fn n(x: u64) -> Cell {
    Cell::from(group_digits(&x.to_string()))
}

/// A table: its heading, the headers and the rows.
pub type Table = (&'static str, Vec<String>, Vec<Vec<Cell>>);

/// The designs side by side, one table per group of metrics (so each fits a page and a
/// 120-column terminal): connections, paths, load and NAT.
// Long: the document top to bottom, one block per section or row.
pub fn metric_tables(r: &Results) -> Vec<Table> {
    let heads = |h: &[&str]| h.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let rows = |f: &dyn Fn(&DesignResult) -> Vec<Cell>| {
        r.designs
            .iter()
            .map(|d| {
                let mut row = vec![Cell::from(d.name.clone())];
                row.extend(f(d));
                row
            })
            .collect::<Vec<_>>()
    };
    vec![
        (
            "Connections",
            heads(&[
                "design",
                "cni",
                "open at start",
                "attempted",
                "established",
                "refused",
                "broken",
                "completed",
                "open at end",
            ]),
            rows(&|d| {
                let c = &d.connections;
                vec![
                    Cell::from(d.cni),
                    n(c.active_at_start),
                    n(c.attempted),
                    n(c.established),
                    n(c.refused.values().sum()),
                    n(c.broken.values().sum()),
                    n(c.completed),
                    n(c.active_at_end),
                ]
            }),
        ),
        (
            "Paths",
            heads(&[
                "design",
                "hops p50/p99",
                "fabric latency µs p50/p99",
                "replies bounced",
                "anchor detour",
            ]),
            rows(&|d| {
                vec![
                    format!("{}/{}", d.paths.hop_count_p50, d.paths.hop_count_p99).into(),
                    format!(
                        "{}/{}",
                        d.paths.fabric_latency_us_p50, d.paths.fabric_latency_us_p99
                    )
                    .into(),
                    pct(d.paths.replies_bounced_share).into(),
                    pct(d.paths.anchor_detour_share).into(),
                ]
            }),
        ),
        (
            "Load and NAT",
            heads(&[
                "design",
                "backend nodes idle",
                "load max/mean (min/mean)",
                "peak NAT ports, node",
                "available",
                "peak NAT ports, all",
            ]),
            rows(&|d| {
                vec![
                    spread_idle(&d.paths.load_spread).into(),
                    spread_ratio(&d.paths.load_spread).into(),
                    n(d.nat.peak_ports_in_use_node),
                    d.nat
                        .ports_per_node_available
                        .map_or(Cell::from("no NAT"), n),
                    n(d.nat.peak_ports_in_use_total),
                ]
            }),
        ),
    ]
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
                    .map(|d| n(pick(d).get(reason).copied().unwrap_or(0))),
            );
            row
        })
        .collect();
    (headers, rows)
}

/// One failure event across the designs: its heading, a table (one row per design) and the
/// reactions and notes of each design in words.
pub struct FailureTable {
    pub heading: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    pub notes: Vec<String>,
}

/// What the failure columns mean, said once above the tables.
pub const FAILURE_COLUMNS: &str = "Per failure, one row per design: when the design first reacted, the connections blackholed while it lasted, broken at once and broken by a rehash; then against the same run without this failure (same seed, same arrivals): the excess refused (+refused) and broken (+broken), and when the success ratio matches that run again (as without). Each refusal belongs to one failure (the device that dropped it, else the latest data-plane failure), so the figures add up to the design's total.";

/// Seconds as results.json writes them (`3.0`), "–" when there are none.
fn secs(x: Option<f64>) -> String {
    match x.map(serde_json::Value::from) {
        None | Some(serde_json::Value::Null) => "–".into(),
        Some(v) => v.to_string(),
    }
}

/// A count, thousands separated (a negative one as it is).
fn count(x: i64) -> String {
    if x < 0 {
        x.to_string()
    } else {
        group_digits(&x.to_string())
    }
}

fn failure_tables(r: &Results) -> Vec<FailureTable> {
    let mut tables: Vec<FailureTable> = Vec::new();
    let Some(first) = r.designs.first() else {
        return tables;
    };
    for (i, f0) in first.failover.iter().enumerate() {
        let mut t = FailureTable {
            heading: format!("{} at {} s", f0.target, secs(Some(f0.at_s))),
            headers: [
                "design",
                "reacts (s)",
                "blackholed",
                "broken",
                "rehashed",
                "+refused",
                "+broken",
                "as without (s)",
            ]
            .map(String::from)
            .to_vec(),
            rows: Vec::new(),
            notes: Vec::new(),
        };
        for d in &r.designs {
            let Some(f) = d.failover.get(i) else { continue };
            let (more_refused, more_broken, matches) = match &f.against_run_without {
                None => ("not measured".to_string(), "–".to_string(), "–".to_string()),
                Some(w) => (
                    count(w.excess_refused),
                    count(w.excess_broken),
                    secs(Some(w.success_ratio_matches_after_s)),
                ),
            };
            let n = |x: u64| group_digits(&x.to_string());
            t.rows.push(vec![
                Cell::from(d.name.clone()),
                secs(f.detection_s).into(),
                n(f.blackholed).into(),
                n(f.broken_at_failure).into(),
                n(f.broken_rehashed).into(),
                more_refused.into(),
                more_broken.into(),
                matches.into(),
            ]);
            let reactions: Vec<String> = f
                .reactions
                .iter()
                .map(|x| format!("{} s {}", secs(Some(x.at_s)), x.action))
                .collect();
            let mut parts: Vec<String> = against(f).into_iter().collect();
            if !reactions.is_empty() {
                parts.push(format!("reactions: {}", reactions.join("; ")));
            }
            if let Some(o) = &f.overlapped_by {
                parts.push(format!("overlaps {o}"));
            }
            if parts.is_empty() {
                parts.push("no reaction".into());
            }
            t.notes.push(format!("{}: {}", d.name, parts.join("; ")));
        }
        tables.push(t);
    }
    tables
}

/// The failure against the same run without it (`sim::baseline`) in words, when the table's
/// figures need them.
fn against(f: &crate::sim::metrics::FailoverRecord) -> Option<String> {
    if let Some(why) = f.why_nothing {
        return Some(format!("changed nothing: {why}"));
    }
    match &f.against_run_without {
        None => Some("not measured against the run without it (--no-baseline)".into()),
        Some(w) if w.changed_nothing => Some("changed nothing against the run without it".into()),
        Some(_) => None,
    }
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

pub fn success_plot(s: &Scenario, r: &Results) -> Result<String, super::ReportError> {
    line_chart(&LineChart {
        title: "New-connection success ratio (events marked)",
        x_label: "time (s)",
        y_label: "established / attempted",
        series: &time_lines(by_design(r), success_ratio),
        marks: &event_marks(s),
        log_y: false,
    })
}

pub fn nat_plot(r: &Results) -> Result<String, super::ReportError> {
    // The SNAT chunk is the limit of an ACI-CNI node; masquerade's 64k per destination is not drawn.
    let marks: Vec<Mark> = r
        .designs
        .iter()
        .filter(|d| d.nat.is_snat_chunk())
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

pub fn load_plot(s: &Scenario, r: &Results) -> Result<String, super::ReportError> {
    let nodes: Vec<String> = s.cluster.nodes.iter().map(|x| x.name.clone()).collect();
    load_plot_of(&nodes, by_design(r))
}

/// Service connections per node, one bar series per labelled result (at most [`LOAD_BARS`] nodes).
pub fn load_plot_of<'a>(
    nodes: &[String],
    items: impl Iterator<Item = (String, &'a DesignResult)>,
) -> Result<String, super::ReportError> {
    let n = nodes.len().min(LOAD_BARS);
    let categories: Vec<String> = nodes[..n].to_vec();
    let series: Vec<(String, Vec<f64>)> = items
        .map(|(name, d)| {
            let v = d
                .paths
                .load_per_node
                .iter()
                .take(n)
                .map(|x| *x as f64)
                .collect();
            (name, v)
        })
        .collect();
    let title = if nodes.len() > n {
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

pub fn hops_plot(r: &Results) -> Result<String, super::ReportError> {
    hops_plot_of(by_design(r))
}

/// The hop-count distribution, one bar series per labelled result.
pub fn hops_plot_of<'a>(
    items: impl Iterator<Item = (String, &'a DesignResult)>,
) -> Result<String, super::ReportError> {
    let items: Vec<(String, &DesignResult)> = items.collect();
    let (lo, hi) = items
        .iter()
        .flat_map(|(_, d)| {
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
    let series: Vec<(String, Vec<f64>)> = items
        .iter()
        .map(|(name, d)| {
            let h = &d.paths.hop_count_histogram;
            let total: u64 = h.iter().sum::<u64>().max(1);
            let v = (lo..=hi)
                .map(|i| 100.0 * h.get(i).copied().unwrap_or(0) as f64 / total as f64)
                .collect();
            (name.clone(), v)
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

/// How counting was chosen, and each design's own check of its series before the first event.
pub fn counting(r: &Results) -> String {
    let Some(first) = r.designs.first() else {
        return String::new();
    };
    let c = &first.steady_state;
    let mut text = format!(
        "Connections are counted from {} s: {}.",
        c.counted_from_s, c.how
    );
    for d in &r.designs {
        for g in &d.steady_state.still_growing {
            text.push_str(&format!(
                " {}: {} still growing before {} s ({:+.1}% over the last {} s) — not in steady state.",
                d.name,
                g.series,
                d.steady_state.checked_before_s,
                100.0 * g.growth,
                g.window_s
            ));
        }
    }
    for d in &r.designs {
        let c = &d.steady_state;
        if let (Some(t), Some(hold)) = (c.nat_exhausted_from_s, c.nat_hold_s) {
            text.push_str(&format!(
                " {}: the success ratio first fell at {t} s, less than one NAT hold ({hold:.0} s: lifetime + TIME_WAIT) before {} s — ports that run out come back in waves of that period: not in steady state.",
                d.name, c.checked_before_s
            ));
        }
    }
    let t = &first.timeseries;
    if let Some(asked) = t.interval_raised_from_s {
        text.push_str(&format!(
            " Sampled every {} s, not the {asked} s asked: at most {} samples per series.",
            t.interval_s,
            crate::sim::estimate::MAX_POINTS
        ));
    }
    if r.designs.iter().all(|d| d.steady_state.steady) {
        text.push_str(&format!(
            " Measured: every design steady before {} s — open connections and NAT ports in use not growing (last two windows of up to 10 samples: more than 2% and three times the Poisson noise counts as growing), no NAT exhaustion wave.",
            c.checked_before_s
        ));
    }
    text
}

/// The whole report.
// Long: the document top to bottom, one block per section or row.
pub fn document(s: &Scenario, r: &Results) -> Result<Doc, super::ReportError> {
    let mut doc = Doc::new(format!("{} — simulation report", r.scenario));
    doc.p(format!(
        "Seed {}, {} s simulated, designs: {}. Produced by `fabsim simulate`; results.json holds every number.",
        r.seed,
        r.duration_s,
        r.designs.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ")
    ));
    doc.h(2, "Summary");
    doc.list(super::verdict::lines(s, r, true));
    doc.h(2, "Counting");
    doc.p(counting(r));
    for (title, h, rows) in metric_tables(r) {
        doc.h(2, title);
        doc.table(h, rows);
    }
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
                n(c.attempted),
                n(c.established),
                n(c.refused.values().sum()),
                n(c.broken.values().sum()),
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
    let tables = failure_tables(r);
    if tables.is_empty() {
        doc.p("The scenario has no failure events.");
    } else {
        doc.p(FAILURE_COLUMNS);
        for t in tables {
            doc.h(3, t.heading);
            doc.table(t.headers, t.rows);
            doc.list(t.notes);
        }
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
    doc.table(
        crate::design::control::ASSUMPTION_HEADERS
            .map(String::from)
            .to_vec(),
        crate::design::assumptions()
            .iter()
            .map(|a| vec![a.design.into(), a.at_failure.into(), a.control_plane.into()])
            .collect(),
    );
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

/// Writes report.md, report.html, results.json and the plots into `dir`, whole or not at all.
pub fn write(
    dir: &std::path::Path,
    doc: &Doc,
    results_json: &str,
) -> Result<(), super::ReportError> {
    write_with(dir, doc, results_json, None)
}

/// Like [`write`], with results.json also at `json`: every file whole or none replaced
/// (`super::files`).
pub fn write_with(
    dir: &std::path::Path,
    doc: &Doc,
    results_json: &str,
    json: Option<&std::path::Path>,
) -> Result<(), super::ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| super::ReportError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let (md, html) = (doc.markdown(), doc.html());
    let mut files = vec![
        (dir.join("results.json"), results_json),
        (dir.join("report.md"), md.as_str()),
        (dir.join("report.html"), html.as_str()),
    ];
    for (file, svg) in doc.plots() {
        files.push((dir.join(file), svg));
    }
    if let Some(j) = json {
        files.push((j.to_path_buf(), results_json));
    }
    super::files::write_all(&files)
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
