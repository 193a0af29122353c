//! The committed report of scenarios/brkdcn-2663.yaml is what the code produces now (refresh
//! with FABSIM_BLESS=1 after reviewing the change), the HTML is well-formed with its plots
//! inline, and every plot is an SVG with a title, axis labels and one series per design.

mod common;
use common::*;
use fabsim::report::simulation;
use fabsim::sim;

const PLOTS: [&str; 4] = [
    "success-ratio.svg",
    "nat-ports.svg",
    "load-per-node.svg",
    "hop-count.svg",
];

fn texts(doc: &roxmltree::Document) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect()
}

#[test]
fn the_committed_brkdcn_report_is_current() {
    let s = load("scenarios/brkdcn-2663.yaml");
    let r = sim::run_all(&s, &[], sim::engine::DEFAULT_SAMPLE_INTERVAL).unwrap();
    let json = serde_json::to_string_pretty(&r).unwrap() + "\n";
    let doc = simulation::document(&s, &r).unwrap();
    let dir = root().join("reports/brkdcn-2663");
    let guard = scratch("report");
    let tmp = guard.path().join("report");
    simulation::write(&tmp, &doc, &json).unwrap();
    let bless = std::env::var_os("FABSIM_BLESS").is_some();
    let mut files: Vec<String> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "hop-count.svg",
            "load-per-node.svg",
            "nat-ports.svg",
            "report.html",
            "report.md",
            "results.json",
            "success-ratio.svg"
        ]
    );
    for f in &files {
        let now = std::fs::read_to_string(tmp.join(f)).unwrap();
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(f), &now).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        assert!(
            committed == now,
            "reports/brkdcn-2663/{f} differs from what the code produces now; review and rerun with FABSIM_BLESS=1"
        );
    }
}

#[test]
fn html_and_plots_are_well_formed_with_one_series_per_design() {
    let s = load("scenarios/failure-catalogue.yaml");
    let r = sim::run_all(&s, &[], sim::engine::DEFAULT_SAMPLE_INTERVAL).unwrap();
    let doc = simulation::document(&s, &r).unwrap();
    let designs: Vec<&str> = r.designs.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(designs.len(), 4);

    let html = doc.html();
    let options = roxmltree::ParsingOptions {
        allow_dtd: true, // <!DOCTYPE html>
        ..Default::default()
    };
    let page = roxmltree::Document::parse_with_options(&html, options)
        .expect("report.html is well-formed");
    assert_eq!(page.root_element().tag_name().name(), "html");
    // Self-contained: the four plots inline, nothing fetched.
    let inline = page.descendants().filter(|n| n.has_tag_name("svg")).count();
    assert_eq!(inline, 4);
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    // Every default the scenario applied is listed.
    for d in &s.defaults_applied {
        assert!(html.contains(&fabsim::report::doc::escape(d)), "{d}");
    }

    for (file, svg) in doc.plots() {
        assert!(PLOTS.contains(&file), "{file}");
        let plot = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(plot.root_element().tag_name().name(), "svg");
        let t = texts(&plot);
        // The legend names each design once; title and axis labels are there.
        for d in &designs {
            assert_eq!(t.iter().filter(|x| x == d).count(), 1, "{file}: legend {d}");
        }
        assert!(t.len() > designs.len() + 3, "{file}: {t:?}");
        if ["success-ratio.svg", "nat-ports.svg"].contains(&file) {
            // One 2-px line per design and its legend sample (axes and reference lines are 1 px).
            let lines = plot
                .descendants()
                .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke-width") == Some("2"))
                .count();
            assert_eq!(lines, 2 * designs.len(), "{file}");
        }
    }
    // Eleven failures, four designs: every table still fits the page.
    for block in &doc.blocks {
        if let fabsim::report::doc::Block::Table { headers, rows } = block {
            let w = fabsim::report::doc::table_width(headers, rows, true);
            assert!(w <= 120, "{w} characters: {headers:?}");
        }
    }
    // The success-ratio plot marks the catalogue's eleven events.
    let (_, svg) = doc.plots()[0];
    let marks = svg.matches(">\nfail ").count() + svg.matches(">\nrecover ").count();
    assert_eq!(marks, s.events.len());
}

#[test]
fn simulate_writes_the_report_folder() {
    let scratch_dir = scratch("simulate");
    let dir = scratch_dir.path().to_path_buf();
    let scenario = root().join("scenarios/brkdcn-2663.yaml");
    let json = dir.join("copy.json");
    let (code, out, err) = fabsim(&[
        "simulate",
        scenario.to_str().unwrap(),
        "--design",
        "calico",
        "--out",
        dir.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.starts_with("calico ")), "{out}");
    for f in ["report.md", "report.html", "results.json"]
        .iter()
        .chain(PLOTS.iter())
    {
        assert!(dir.join(f).is_file(), "{f}");
    }
    assert_eq!(
        std::fs::read(dir.join("results.json")).unwrap(),
        std::fs::read(&json).unwrap()
    );
    let (code, _, err) = fabsim(&[
        "simulate",
        scenario.to_str().unwrap(),
        "--design",
        "flannel",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("no design named `flannel`"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The load spread counts idle backends (issue 12): under the BGP designs k8s-r2-1 and k8s-r2-2
/// host web pods but serve nothing (the old max/mean over loaded nodes said 1.12 and hid them);
/// ACI-CNI's PBR uses every web node.
#[test]
fn the_brkdcn_bgp_designs_report_their_idle_backends() {
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("reports/brkdcn-2663/results.json")).unwrap(),
    )
    .unwrap();
    for d in r["designs"].as_array().unwrap() {
        let l = &d["paths"]["load_spread"];
        let web = &l["per_service"][0];
        assert_eq!(web["service"], "shop/web");
        assert_eq!(web["eligible_nodes"], 6, "{}", d["name"]);
        if d["name"] == "aci-cni" {
            assert_eq!(web["idle_nodes"], 0);
            assert!(l["node_min_over_mean"].as_f64().unwrap() > 0.0);
        } else {
            assert_eq!(
                web["idle_node_names"],
                serde_json::json!(["k8s-r2-1", "k8s-r2-2"]),
                "{}",
                d["name"]
            );
            assert_eq!(l["node_min_over_mean"].as_f64().unwrap(), 0.0);
            // With two of six idle, the max over the mean of all six is above the 1.12 that the
            // loaded nodes alone give.
            assert!(
                l["node_max_over_mean"].as_f64().unwrap()
                    > d["paths"]["load_max_over_mean"].as_f64().unwrap()
            );
        }
    }
}

/// Every plot's series differ in colour and in dash pattern together: no (colour, dash) pair
/// repeats within a plot, and the series lines carry both (parsed from the SVG).
#[test]
fn plot_series_are_told_apart_by_colour_and_dash() {
    use fabsim::report::plot::{LineChart, Series, line_chart};
    let series: Vec<Series> = (0..20)
        .map(|i| Series {
            name: format!("s{i}"),
            points: vec![(0.0, i as f64), (1.0, i as f64 + 1.0)],
        })
        .collect();
    let svg = line_chart(&LineChart {
        title: "t",
        x_label: "x",
        y_label: "y",
        series: &series,
        marks: &[],
        log_y: false,
    })
    .unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let mut pairs = std::collections::BTreeSet::new();
    let mut lines = 0;
    for n in doc.descendants().filter(|n| n.has_tag_name("polyline")) {
        if n.attribute("stroke-width") != Some("2") {
            continue; // axes, ticks, reference lines
        }
        lines += 1;
        pairs.insert((
            n.attribute("stroke").unwrap().to_string(),
            n.attribute("stroke-dasharray").unwrap_or("").to_string(),
        ));
    }
    // Each series draws its line and its legend sample, in the same style.
    assert_eq!(lines, 40);
    assert_eq!(pairs.len(), 20, "{pairs:?}");
    let colours: std::collections::BTreeSet<_> = pairs.iter().map(|p| p.0.clone()).collect();
    assert_eq!(colours.len(), 20, "no colour repeats within a plot");
}

/// The summary a reviewer reads first, checked against the other commands: the ports per node
/// it says `size snat` would set are what `fabsim size snat --from-scenario` recommends, the
/// refusals are the design's own, and the aci-cni run (3,000 ports, SNAT exhaustion since 76 s)
/// is said not to be in steady state before its first event. Every table of the report fits the
/// page and a 120-column terminal, and so does simulate's output.
#[test]
fn the_summary_agrees_with_size_snat_and_everything_fits_120_columns() {
    let path = root().join("scenarios/brkdcn-2663.yaml");
    let s = load("scenarios/brkdcn-2663.yaml");
    let r = sim::run_all(&s, &[], sim::engine::DEFAULT_SAMPLE_INTERVAL).unwrap();
    let lines = fabsim::report::verdict::lines(&s, &r, true);
    let (code, out, _) = fabsim(&[
        "size",
        "snat",
        "--from-scenario",
        path.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0);
    let sized: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ppn = sized["recommended_ports_per_node"].as_u64().unwrap();
    let ppn = fabsim::report::doc::group_digits(&ppn.to_string());
    assert!(lines[0].starts_with("aci-cni: refused "), "{}", lines[0]);
    assert!(
        lines[0].contains(&format!("size snat puts ports_per_node at {ppn} ")),
        "{}",
        lines[0]
    );
    let refused: u64 = r.designs[0].connections.refused.values().sum();
    assert!(lines[0].contains(&fabsim::report::doc::group_digits(&refused.to_string())));
    assert!(lines[0].contains("Not in steady state"), "{}", lines[0]);
    assert!(!r.designs[0].steady_state.steady);
    assert!(
        r.designs[1].steady_state.steady,
        "{:?}",
        r.designs[1].steady_state
    );
    assert!(
        lines[1].contains("worst failover: node:k8s-r1-2 at 150 s"),
        "{}",
        lines[1]
    );
    // Links go to headings the page has.
    let html = simulation::document(&s, &r).unwrap().html();
    for anchor in [
        "refused-connections-by-reason",
        "failures",
        "load-and-nat",
        "counting",
    ] {
        assert!(html.contains(&format!("href=\"#{anchor}\"")), "{anchor}");
        assert!(html.contains(&format!("id=\"{anchor}\"")), "{anchor}");
    }
    for block in &simulation::document(&s, &r).unwrap().blocks {
        if let fabsim::report::doc::Block::Table { headers, rows } = block {
            let w = fabsim::report::doc::table_width(headers, rows, true);
            assert!(w <= 120, "{w} characters: {headers:?}");
        }
    }
    let text = fabsim::cli::simulate::table(&s, &r);
    for line in text.lines() {
        assert!(
            line.chars().count() <= 120,
            "{} columns: {line}",
            line.chars().count()
        );
    }
}
