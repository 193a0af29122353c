//! `fabsim size snat`: the port-range sizing tool. Inputs from flags or from a scenario's
//! cluster and egress traffic; a table with how each number was reached (or `--json`); the
//! refusal curve as SVG; `--verify` runs the engine on a one-node scenario built from the inputs.

use super::{EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, emit, load_valid};
use crate::nat::snat::PortRange;
use crate::report::plot::{LineChart, Mark, Series, line_chart};
use crate::sizing::scenario::from_scenario;
use crate::sizing::snat::{SnatInput, SnatSizing, curve, fmt_p, size};
use std::fmt::Write;
use std::path::PathBuf;

/// The flags as given (`None`: not given).
#[derive(Clone, Debug, Default)]
pub struct Args {
    pub from_scenario: Option<PathBuf>,
    pub design: Option<String>,
    pub nodes: Option<u64>,
    pub rate: Option<f64>,
    pub rate_per_pod: Option<f64>,
    pub pods_per_node: Option<f64>,
    pub lifetime_s: Option<f64>,
    pub time_wait_s: Option<f64>,
    pub destinations: Option<u64>,
    pub hot_destination_share: Option<f64>,
    pub target: f64,
    pub port_range: Option<(u32, u32)>,
    pub ports_per_node: Option<u32>,
    pub snat_ips: Option<u32>,
    pub surge: u64,
    pub strict: bool,
    /// `--node-kernel` (a Linux version) and `--nat-port-search` (kernel | whole-range).
    pub node_kernel: Option<String>,
    pub nat_port_search: Option<String>,
    pub json: bool,
    pub verify: bool,
    pub out: Option<PathBuf>,
}

/// The most nodes (and surge nodes) `size snat` takes: twenty times Kubernetes' 5,000.
pub const MAX_NODES: u64 = 100_000;

/// The most SNAT IPs `size snat` takes.
pub const MAX_SNAT_IPS: u32 = 100_000;

/// `5000-65000` → (5000, 65000).
pub fn parse_range(s: &str) -> Result<(u32, u32), String> {
    let (a, b) = s
        .split_once(['-', '–'])
        .ok_or_else(|| format!("`{s}` is not a port range; write START-END, e.g. 5000-65000"))?;
    let p = |x: &str| {
        x.trim()
            .parse::<u32>()
            .ok()
            .filter(|v| *v <= 65535)
            .ok_or_else(|| format!("`{x}` is not a port number"))
    };
    Ok((p(a)?, p(b)?))
}

/// Turns flags (and a scenario) into the sizing input; the error names the missing flag.
// Long: the flags of `size snat` merged with what `--from-scenario` gives, one block
// per flag.
pub fn input(a: &Args) -> Result<SnatInput, String> {
    let scen = match &a.from_scenario {
        Some(p) => {
            let s =
                load_valid(p).map_err(|_| format!("{} is not a valid scenario", p.display()))?;
            Some(from_scenario(&s, a.design.as_deref()).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    // Counts a person types size lists: checked before anything is sized by them.
    if let Some(n) = a.nodes
        && !(1..=MAX_NODES).contains(&n)
    {
        return Err(format!(
            "--nodes {n}: give 1 to {MAX_NODES} nodes (Kubernetes supports 5,000 per cluster)"
        ));
    }
    if a.surge > MAX_NODES {
        return Err(format!(
            "--surge {}: at most {MAX_NODES} extra nodes",
            a.surge
        ));
    }
    if let Some(k) = a.snat_ips
        && !(1..=MAX_SNAT_IPS).contains(&k)
    {
        return Err(format!(
            "--snat-ips {k}: give 1 to {MAX_SNAT_IPS} SNAT IPs (one chunk per node each is the most a cluster uses)"
        ));
    }
    for (flag, v) in [
        ("--rate", a.rate),
        ("--rate-per-pod", a.rate_per_pod),
        ("--pods-per-node", a.pods_per_node),
        ("--lifetime", a.lifetime_s),
    ] {
        if let Some(v) = v
            && !(v.is_finite() && v > 0.0)
        {
            return Err(format!("{flag} {v}: give a positive, finite number"));
        }
    }
    if a.time_wait_s.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
        return Err("--time-wait: give a duration of 0 or more".into());
    }
    if !(a.target.is_finite() && a.target > 0.0 && a.target < 1.0) {
        return Err(format!(
            "--target {}: give the acceptable refused fraction, between 0 and 1 (e.g. 1e-4)",
            a.target
        ));
    }
    let nodes: Vec<String> = match (a.nodes, &scen) {
        (Some(n), _) => (1..=n).map(|i| format!("node-{i}")).collect(),
        (None, Some(s)) => s.nodes.clone(),
        (None, None) => return Err("give --nodes N (or --from-scenario FILE)".into()),
    };
    let rate = match (a.rate, a.rate_per_pod, a.pods_per_node, &scen) {
        (Some(r), None, _, _) => r,
        (None, Some(r), Some(p), _) => r * p,
        (None, Some(_), None, _) => return Err("--rate-per-pod needs --pods-per-node".into()),
        (Some(_), Some(_), _, _) => return Err("give --rate or --rate-per-pod, not both".into()),
        (None, None, _, Some(s)) => s.rate,
        (None, None, _, None) => {
            return Err("give --rate R (new outbound connections per second per node) or --rate-per-pod R --pods-per-node P".into());
        }
    };
    let lifetime_s = match (a.lifetime_s, &scen) {
        (Some(l), _) => l,
        (None, Some(s)) => s.lifetime_s,
        (None, None) => {
            return Err("give --lifetime D (the mean connection lifetime, e.g. 5s)".into());
        }
    };
    if a.hot_destination_share
        .is_some_and(|f| !(0.0..=1.0).contains(&f))
    {
        return Err("--hot-destination-share is a fraction between 0 and 1".into());
    }
    let streams = match (a.destinations, a.hot_destination_share, &scen) {
        (None, None, Some(s)) => s.streams.clone(),
        (k, hot, _) => SnatInput::streams_for(k.unwrap_or(1), hot),
    };
    let (start, end) = a
        .port_range
        .or(scen
            .as_ref()
            .and_then(|s| s.range.map(|r| (r.start, r.end))))
        .unwrap_or((PortRange::DEFAULT.start, PortRange::DEFAULT.end));
    use crate::nat::kernel::PortSearch;
    let kernel = match &a.node_kernel {
        Some(k) => Some(crate::scenario::parse_kernel(k).ok_or_else(|| {
            format!("--node-kernel `{k}` is not a Linux version like 5.15 or 6.8.0-45-generic")
        })?),
        None => None,
    };
    let search = match (a.nat_port_search.as_deref(), kernel, &scen) {
        (Some("whole-range"), _, _) => PortSearch::WholeRange,
        (Some(other), _, _) if other != "kernel" => {
            return Err(format!(
                "--nat-port-search `{other}`: expected kernel or whole-range"
            ));
        }
        (_, Some((major, minor)), _) => PortSearch::for_kernel(major, minor),
        // `--nat-port-search kernel` overrides a scenario's whole-range with its kernel.
        (Some(_), None, Some(s)) => PortSearch::for_kernel(s.node_kernel.0, s.node_kernel.1),
        (None, None, Some(s)) => s.search,
        (_, None, None) => {
            let (major, minor) = crate::scenario::DEFAULT_NODE_KERNEL;
            PortSearch::for_kernel(major, minor)
        }
    };
    Ok(SnatInput {
        search,
        nodes,
        rate_per_node: rate,
        lifetime_s,
        time_wait_s: a
            .time_wait_s
            .or(scen.as_ref().map(|s| s.time_wait_s))
            .unwrap_or(120.0),
        streams,
        target: a.target,
        range: PortRange {
            start,
            end,
            ports_per_node: PortRange::DEFAULT.ports_per_node,
        },
        ports_per_node: a.ports_per_node,
        snat_ips: a.snat_ips.or(scen.as_ref().and_then(|s| s.snat_ips)),
        surge: a.surge,
        strict: a.strict,
        configured_ports_per_node: scen
            .as_ref()
            .and_then(|s| s.range)
            .map(|r| r.ports_per_node),
    })
}

/// The table a person reads: quantity, value, how it was reached.
pub fn table(r: &SnatSizing) -> String {
    let mut out = String::new();
    let opt = |x: Option<u64>| x.map_or("not reachable".to_string(), |v| v.to_string());
    let rows: Vec<(&str, String)> = vec![
        (
            "offered_erlangs",
            format!(
                "{:.1} per node, {:.1} per destination, {:.1} in total",
                r.offered_erlangs.per_node,
                r.offered_erlangs.per_destination,
                r.offered_erlangs.total
            ),
        ),
        (
            "required_ports_per_node",
            format!(
                "{} per destination reuse, {} strict",
                opt(r.required_ports_per_node.per_tuple),
                opt(r.required_ports_per_node.strict)
            ),
        ),
        (
            "recommended_ports_per_node",
            r.recommended_ports_per_node
                .map_or("(evaluating the given setting)".into(), |v| v.to_string()),
        ),
        ("chunks_per_ip", r.chunks_per_ip.to_string()),
        ("snat_ips_needed", r.snat_ips_needed.to_string()),
        (
            "refusal_probability",
            format!(
                "{} per destination reuse, {} strict, at {} ports per node",
                fmt_p(r.refusal_probability.per_tuple),
                fmt_p(r.refusal_probability.strict),
                r.ports_per_node
            ),
        ),
        (
            "nodes_without_chunk",
            if r.nodes_without_chunk.is_empty() {
                "none".into()
            } else {
                format!(
                    "{}: {}",
                    r.nodes_without_chunk.len(),
                    r.nodes_without_chunk.join(", ")
                )
            },
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(out, "{k:<27} {v}");
    }
    for m in &r.masquerade {
        let _ = writeln!(
            out,
            "{:<27} {}: {} ports per destination, refusal {}",
            "masquerade",
            m.range,
            m.ports_per_destination,
            fmt_p(m.refusal_probability)
        );
    }
    let _ = writeln!(out, "\nhow:");
    for (k, v) in &r.explanation {
        let _ = writeln!(out, "  {k}: {v}");
    }
    out
}

/// The refusal curve with the target and the setting marked.
pub fn curve_svg(i: &SnatInput, r: &SnatSizing) -> Result<String, crate::report::ReportError> {
    // Wide enough to show where both rules fall below the target.
    let needed = [
        r.required_ports_per_node.per_tuple,
        r.required_ports_per_node.strict,
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(0) as f64;
    let upto = (f64::from(r.ports_per_node.max(1) * 2))
        .max(needed * 1.2)
        .min(f64::from(
            crate::sizing::snat::largest_chunk(&i.range).max(2),
        )) as u32;
    let pts = curve(i, upto, 200);
    let series = [
        Series {
            name: "per destination (kernel conntrack)".into(),
            points: pts.iter().map(|(c, p, _)| (f64::from(*c), *p)).collect(),
        },
        Series {
            name: "strict (the talk's rule)".into(),
            points: pts.iter().map(|(c, _, s)| (f64::from(*c), *s)).collect(),
        },
    ];
    let label = if r.recommended_ports_per_node.is_some() {
        "recommended"
    } else {
        "evaluated"
    };
    let marks = [
        Mark::Y(i.target, format!("target {:.0e}", i.target)),
        Mark::X(
            f64::from(r.ports_per_node),
            format!("{label} {}", r.ports_per_node),
        ),
    ];
    line_chart(&LineChart {
        title: "SNAT: refused fraction against ports per node",
        x_label: "ports per node",
        y_label: "refused fraction (log)",
        series: &series,
        marks: &marks,
        log_y: true,
    })
}

// Long: the command's steps in order, each printing its own error with its exit code.
pub fn run(a: &Args) -> u8 {
    let i = match input(a) {
        Ok(i) => i,
        Err(m) => {
            eprintln!("fabsim size snat: {m}");
            return EXIT_BAD_INPUT;
        }
    };
    let r = match size(&i) {
        Ok(r) => r,
        Err(m) => {
            eprintln!("fabsim size snat: {m}");
            return EXIT_BAD_INPUT;
        }
    };
    // What --verify cannot measure is refused before anything is printed or written.
    if a.verify
        && let Err(m) = super::size_verify::scenario_yaml(&i, r.ports_per_node, 1)
    {
        eprintln!("fabsim size snat --verify: {m}");
        return EXIT_BAD_INPUT;
    }
    // The scenario's own setting, evaluated too (unless a setting was asked for).
    let configured = i
        .configured_ports_per_node
        .filter(|_| a.ports_per_node.is_none())
        .and_then(|c| {
            let mut j = i.clone();
            j.ports_per_node = Some(c);
            size(&j).ok().map(|rc| (c, rc))
        });
    let mut value = serde_json::to_value(&r).unwrap_or_default();
    if let (Some((c, rc)), Some(obj)) = (&configured, value.as_object_mut()) {
        obj.insert(
            "at_scenario_setting".into(),
            serde_json::json!({
                "ports_per_node": c,
                "refusal_probability": rc.refusal_probability,
                "nodes_without_chunk": rc.nodes_without_chunk,
            }),
        );
    }
    let json = serde_json::to_string_pretty(&value).unwrap_or_default() + "\n";
    if a.json {
        emit(&json);
    } else {
        let mut text = table(&r);
        if let Some((c, rc)) = &configured {
            text.insert_str(
                0,
                &format!(
                    "{:<27} refusal {} per destination reuse ({} strict) at the scenario's {c} ports per node\n",
                    "at_scenario_setting",
                    fmt_p(rc.refusal_probability.per_tuple),
                    fmt_p(rc.refusal_probability.strict)
                ),
            );
        }
        emit(&text);
    }
    let dir = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join("size-snat"));
    let svg = match curve_svg(&i, &r) {
        Ok(s) => s,
        Err(m) => {
            eprintln!("{m}");
            return EXIT_FAILURE;
        }
    };
    let written = std::fs::create_dir_all(&dir)
        .map_err(|source| crate::report::ReportError::CreateDir {
            path: dir.clone(),
            source,
        })
        .and_then(|()| {
            crate::report::files::write_all(&[
                (dir.join("refusal-curve.svg"), svg.as_str()),
                (dir.join("size.json"), json.as_str()),
            ])
        });
    if let Err(m) = written {
        eprintln!("{m}");
        return EXIT_FAILURE;
    }
    eprintln!(
        "refusal curve written to {}",
        dir.join("refusal-curve.svg").display()
    );
    if a.verify {
        match super::size_verify::verify(&i, &r) {
            Ok(text) => emit(&text),
            Err(m) => {
                eprintln!("--verify: {m}");
                return EXIT_FAILURE;
            }
        }
    }
    EXIT_OK
}
