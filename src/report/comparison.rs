//! The report of `fabsim compare`: designs × variants side by side, metrics grouped as paths,
//! port exhaustion and failover, every value that differs from the base variant of the same
//! design highlighted; the talk's qualitative comparison next to the measured rows.

use super::doc::{Cell, Doc, group_digits};
use super::plot::{LineChart, line_chart};
use super::simulation::{nat_max_node, success_ratio, time_lines};
use crate::sim::metrics::{DesignResult, Results, TimeSeries};
use std::collections::BTreeSet;

/// One variant's run: its name and the results of every design.
pub struct VariantRun {
    pub name: String,
    /// The variant's nodes, in the order of its results' per-node figures.
    pub node_names: Vec<String>,
    /// What the variant changes, in words.
    pub changes: Vec<String>,
    pub results: Results,
}

/// The talk's CNI comparison (BRKDCN-2663, "CNI Comparison"), rows as the slide has them.
pub const QUALITATIVE: &[(&str, [&str; 4])] = &[
    (
        "Support",
        ["TAC", "OpenSource/Pay", "OpenSource", "OpenSource/Pay"],
    ),
    ("Network Infra", ["ACI Only", "Any", "Any", "Any"]),
    (
        "Network Config",
        ["Automated", "Automated", "Automated", "Automated"],
    ),
    ("Linux OS Support", ["Ubuntu/CoreOS", "Any", "Any", "Any"]),
    (
        "Service LoadBalancing",
        ["ACI PBR", "BGP ECMP", "BGP ECMP", "BGP ECMP"],
    ),
    (
        "POD SNAT",
        [
            "NAT Pools",
            "NAT To Node IP",
            "NAT To Node IP",
            "NAT To Node IP",
        ],
    ),
    (
        "Security Model",
        [
            "ACI Policy Model + K8s Network Policies",
            "Calico Network Policies",
            "K8s Network Policies",
            "Extended K8s Network Policies",
        ],
    ),
    (
        "End To End Visibility",
        [
            "Yes",
            "Via Opensource Tools",
            "Via Opensource Tools",
            "Hubble",
        ],
    ),
    (
        "Data Plane",
        [
            "OVS",
            "Linux or eBPF",
            "Linux + IPVS for LoadBalancing",
            "eBPF",
        ],
    ),
];

const CNIS: [&str; 4] = ["aci-cni", "calico", "kube-router", "cilium"];

type Metric = (&'static str, Box<dyn Fn(&DesignResult) -> String>);

fn f1(x: f64) -> String {
    format!("{x:.1}")
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

use crate::sim::metrics::{AgainstRunWithout, FailoverRecord};

fn sum_field(d: &DesignResult, field: fn(&FailoverRecord) -> u64) -> u64 {
    d.failover.iter().map(field).sum()
}

/// The largest of a figure over the failures, "–" when none has it.
fn max_of(values: impl Iterator<Item = f64>) -> String {
    values
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
        .map_or("–".into(), f1)
}

/// A figure of each failure against the run without it, summed over the failures.
fn against_sum(d: &DesignResult, field: fn(&AgainstRunWithout) -> i64) -> String {
    d.failover
        .iter()
        .filter_map(|f| f.against_run_without.as_ref().map(field))
        .sum::<i64>()
        .to_string()
}

// Long: the metric table's rows, one entry per metric; a list, not logic.
fn groups(reasons: &BTreeSet<&'static str>) -> Vec<(&'static str, Vec<Metric>)> {
    let mut exhaustion: Vec<Metric> = vec![(
        "refused (all reasons)",
        Box::new(|d| d.connections.refused.values().sum::<u64>().to_string()),
    )];
    for r in reasons.iter().copied() {
        exhaustion.push((
            r,
            Box::new(move |d| {
                d.connections
                    .refused
                    .get(r)
                    .copied()
                    .unwrap_or(0)
                    .to_string()
            }),
        ));
    }
    exhaustion.extend::<Vec<Metric>>(vec![
        (
            "peak NAT ports, busiest node",
            Box::new(|d| d.nat.peak_ports_in_use_node.to_string()),
        ),
        (
            "NAT ports available per node",
            Box::new(|d| {
                d.nat
                    .ports_per_node_available
                    .map_or("no NAT".into(), |v| v.to_string())
            }),
        ),
        (
            "peak NAT ports, all nodes",
            Box::new(|d| d.nat.peak_ports_in_use_total.to_string()),
        ),
        (
            "SNAT IPs in use",
            Box::new(|d| d.nat.snat_ips_in_use.map_or("–".into(), |v| v.to_string())),
        ),
    ]);
    vec![
        (
            "Connections",
            vec![
                (
                    "attempted",
                    Box::new(|d: &DesignResult| d.connections.attempted.to_string()) as _,
                ),
                (
                    "established",
                    Box::new(|d: &DesignResult| d.connections.established.to_string()),
                ),
                (
                    "broken",
                    Box::new(|d: &DesignResult| {
                        d.connections.broken.values().sum::<u64>().to_string()
                    }),
                ),
                (
                    "completed",
                    Box::new(|d: &DesignResult| d.connections.completed.to_string()),
                ),
            ],
        ),
        (
            "Paths",
            vec![
                (
                    "hop count p50",
                    Box::new(|d: &DesignResult| d.paths.hop_count_p50.to_string()) as _,
                ),
                (
                    "hop count p99",
                    Box::new(|d: &DesignResult| d.paths.hop_count_p99.to_string()),
                ),
                (
                    "fabric latency p50 (µs)",
                    Box::new(|d: &DesignResult| d.paths.fabric_latency_us_p50.to_string()),
                ),
                (
                    "fabric latency p99 (µs)",
                    Box::new(|d: &DesignResult| d.paths.fabric_latency_us_p99.to_string()),
                ),
                (
                    "replies bounced",
                    Box::new(|d: &DesignResult| pct(d.paths.replies_bounced_share)),
                ),
                (
                    "anchor detours",
                    Box::new(|d: &DesignResult| pct(d.paths.anchor_detour_share)),
                ),
                (
                    "backend nodes idle",
                    Box::new(|d: &DesignResult| {
                        super::simulation::spread_idle(&d.paths.load_spread)
                    }),
                ),
                (
                    "load max/mean (min/mean), idle included",
                    Box::new(|d: &DesignResult| {
                        super::simulation::spread_ratio(&d.paths.load_spread)
                    }),
                ),
            ],
        ),
        ("Port exhaustion", exhaustion),
        (
            "Failover",
            vec![
                (
                    "failure records",
                    Box::new(|d: &DesignResult| d.failover.len().to_string()) as _,
                ),
                (
                    "slowest detection (s)",
                    Box::new(|d: &DesignResult| {
                        max_of(d.failover.iter().filter_map(|f| f.detection_s))
                    }),
                ),
                (
                    "blackholed",
                    Box::new(|d: &DesignResult| {
                        d.connections
                            .refused
                            .get("blackholed")
                            .copied()
                            .unwrap_or(0)
                            .to_string()
                    }),
                ),
                (
                    "broken at the failures",
                    Box::new(|d: &DesignResult| sum_field(d, |f| f.broken_at_failure).to_string()),
                ),
                (
                    "broken by rehash",
                    Box::new(|d: &DesignResult| sum_field(d, |f| f.broken_rehashed).to_string()),
                ),
                (
                    "excess refused, vs the run without each failure",
                    Box::new(|d: &DesignResult| against_sum(d, |w| w.excess_refused)),
                ),
                (
                    "excess broken, vs the run without each failure",
                    Box::new(|d: &DesignResult| against_sum(d, |w| w.excess_broken)),
                ),
                (
                    "success ratio as without after (s, slowest)",
                    Box::new(|d: &DesignResult| {
                        max_of(d.failover.iter().filter_map(|f| {
                            f.against_run_without
                                .as_ref()
                                .map(|w| w.success_ratio_matches_after_s)
                        }))
                    }),
                ),
            ],
        ),
    ]
}

/// Column order: design by design, each with its variants (base first).
fn columns(runs: &[VariantRun]) -> Vec<(usize, usize)> {
    let designs = runs.first().map_or(0, |r| r.results.designs.len());
    (0..designs)
        .flat_map(|d| (0..runs.len()).map(move |v| (v, d)))
        .collect()
}

/// Which way a metric is better: fewer refusals, more established connections; `None`: neither
/// (how much was offered, what is configured).
fn lower_is_better(label: &str) -> Option<bool> {
    match label {
        "established" | "completed" => Some(false),
        // What is offered, configured or merely used: neither better nor worse.
        "attempted"
        | "NAT ports available per node"
        | "SNAT IPs in use"
        | "failure records"
        | "peak NAT ports, busiest node"
        | "peak NAT ports, all nodes" => None,
        _ => Some(true),
    }
}

/// The first number of a cell ("1.27 (0.63)" → 1.27, "29.4%" → 29.4, "2 of 6 (…)" → 2).
fn number(text: &str) -> Option<f64> {
    let t: String = text
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-' || *c == ',')
        .filter(|c| *c != ',')
        .collect();
    t.parse().ok()
}

/// "−23,628, better" against the base, when both are numbers and the metric has a direction.
fn versus(label: &str, text: &str, base: &str) -> Option<String> {
    let lower = lower_is_better(label)?;
    let (a, b) = (number(text)?, number(base)?);
    let delta = a - b;
    if delta == 0.0 {
        return None;
    }
    let amount = if delta.fract() == 0.0 && delta.abs() < 1e15 {
        group_digits(&format!("{}", delta.abs() as u64))
    } else {
        format!("{:.2}", delta.abs())
    };
    let sign = if delta > 0.0 { "+" } else { "−" };
    let verdict = if (delta < 0.0) == lower {
        "better"
    } else {
        "worse"
    };
    Some(format!("{sign}{amount}, {verdict}"))
}

/// A group's table: its heading, the headers and the rows.
pub type GroupTable = (String, Vec<String>, Vec<Vec<Cell>>);

/// The widest a table may be, in characters: a 120-column terminal, and within the report
/// page's 1,100 px at 0.9 em.
pub const WIDTH: usize = 120;

/// The measured tables, one per metric group: rows are design × metric, columns the variants
/// (the base first, each other variant's cell with its difference from the base, better or
/// worse). When the variants do not fit [`WIDTH`], the group goes on in more tables, each
/// repeating the base column where it fits.
pub fn tables(runs: &[VariantRun]) -> Vec<GroupTable> {
    let reasons: BTreeSet<&'static str> = runs
        .iter()
        .flat_map(|r| r.results.designs.iter())
        .flat_map(|d| d.connections.refused.keys().copied())
        .collect();
    let designs = runs.first().map_or(0, |r| r.results.designs.len());
    let mut out = Vec::new();
    for (group, metrics) in groups(&reasons) {
        let table = |variants: &[usize]| -> (Vec<String>, Vec<Vec<Cell>>) {
            let mut headers = vec!["design".to_string(), "metric".to_string()];
            headers.extend(variants.iter().map(|v| runs[*v].name.clone()));
            let mut rows = Vec::new();
            for d in 0..designs {
                for (m, (label, f)) in metrics.iter().enumerate() {
                    let name = if m == 0 {
                        runs[0].results.designs[d].name.clone()
                    } else {
                        String::new()
                    };
                    let mut row = vec![Cell::from(name), Cell::from(*label)];
                    let base = f(&runs[0].results.designs[d]);
                    for v in variants {
                        let text = f(&runs[*v].results.designs[d]);
                        let differs = *v != 0 && text != base;
                        let mut shown = group_digits(&text);
                        if differs && let Some(w) = versus(label, &text, &base) {
                            shown = format!("{shown} ({w})");
                        }
                        row.push(Cell {
                            highlight: differs,
                            text: shown,
                        });
                    }
                    rows.push(row);
                }
            }
            (headers, rows)
        };
        // Greedy: as many variants next to the base as fit; a variant that does not fit even
        // beside the base alone stands by itself (its cells still say how they differ).
        let fits = |c: &[usize]| {
            let (h, r) = table(c);
            super::doc::table_width(&h, &r, false) <= WIDTH
        };
        let mut chunks: Vec<Vec<usize>> = vec![vec![0]];
        for v in 1..runs.len() {
            let last = chunks.last_mut().expect("one chunk at least");
            last.push(v);
            if !fits(last) {
                last.pop();
                chunks.push(if fits(&[0, v]) { vec![0, v] } else { vec![v] });
            }
        }
        let parts = chunks.len();
        for (k, chunk) in chunks.iter().enumerate() {
            let (h, r) = table(chunk);
            let heading = if parts == 1 {
                group.to_string()
            } else {
                format!("{group} ({} of {parts})", k + 1)
            };
            out.push((heading, h, r));
        }
    }
    out
}

/// Every design / variant column with its result.
fn labelled(runs: &[VariantRun]) -> impl Iterator<Item = (String, &DesignResult)> {
    columns(runs).into_iter().map(|(v, d)| {
        let r = &runs[v].results.designs[d];
        (format!("{} / {}", r.name, runs[v].name), r)
    })
}

fn plot(
    runs: &[VariantRun],
    title: &str,
    y_label: &str,
    pick: fn(&TimeSeries) -> Vec<f64>,
) -> Result<String, super::ReportError> {
    line_chart(&LineChart {
        title,
        x_label: "time (s)",
        y_label,
        series: &time_lines(labelled(runs), pick),
        marks: &[],
        log_y: false,
    })
}

pub fn document(scenario: &str, runs: &[VariantRun]) -> Result<Doc, super::ReportError> {
    let mut doc = Doc::new(format!("{scenario} — what-if comparison"));
    doc.p("Rows are design and metric, columns the variants; a value that differs from the base variant of the same design is highlighted, with the difference and whether it is better or worse.");
    doc.h(2, "Variants");
    doc.list(
        runs.iter()
            .map(|r| {
                if r.changes.is_empty() {
                    format!("{}: the scenario as written", r.name)
                } else {
                    format!("{}: {}", r.name, r.changes.join("; "))
                }
            })
            .collect(),
    );
    for (group, headers, rows) in tables(runs) {
        doc.h(2, group);
        doc.table(headers, rows);
    }
    doc.h(2, "Plots");
    doc.plot(
        "success-ratio.svg",
        "New-connection success ratio over time per design and variant",
        plot(
            runs,
            "New-connection success ratio, design / variant",
            "established / attempted",
            success_ratio,
        )?,
    );
    doc.plot(
        "nat-ports.svg",
        "NAT ports in use on the busiest node per design and variant",
        plot(
            runs,
            "NAT ports in use on the busiest node, design / variant",
            "ports",
            nat_max_node,
        )?,
    );
    let nodes = runs.first().map_or(&[][..], |r| &r.node_names[..]);
    doc.plot(
        "load-per-node.svg",
        "Established service connections per serving node, per design and variant",
        super::simulation::load_plot_of(nodes, labelled(runs))?,
    );
    doc.plot(
        "hop-count.svg",
        "Hop-count distribution of established connections per design and variant",
        super::simulation::hops_plot_of(labelled(runs))?,
    );
    doc.h(2, "The talk's comparison (BRKDCN-2663)");
    let mut headers = vec![String::new()];
    headers.extend(CNIS.iter().map(|c| c.to_string()));
    doc.table(
        headers,
        QUALITATIVE
            .iter()
            .map(|(row, vals)| {
                let mut r = vec![Cell::from(*row)];
                r.extend(vals.iter().map(|v| Cell::from(*v)));
                r
            })
            .collect(),
    );
    doc.h(2, "Approximations");
    doc.list(
        super::simulation::APPROXIMATIONS
            .iter()
            .map(|x| x.to_string())
            .collect(),
    );
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_say_better_or_worse_with_the_amount() {
        assert_eq!(group_digits("205869"), "205,869");
        assert_eq!(group_digits("3000"), "3,000");
        assert_eq!(group_digits("300"), "300");
        assert_eq!(group_digits("1.27 (0.63)"), "1.27 (0.63)");
        assert_eq!(
            versus("refused (all reasons)", "2554", "28183").unwrap(),
            "−25,629, better"
        );
        assert_eq!(
            versus("established", "203315", "177686").unwrap(),
            "+25,629, better"
        );
        assert_eq!(
            versus("replies bounced", "36.6%", "29.4%").unwrap(),
            "+7.20, worse"
        );
        assert_eq!(versus("attempted", "1", "2"), None);
    }
}
