//! `fabsim compare`: variants from --set and --fail, bad paths rejected with the path named, a
//! variant with twice the ports refuses no more, and a well-formed report.

mod common;
use common::*;
use fabsim::cli::compare::{Args, run_variants};
use fabsim::report::comparison;

const PPN: &str = "designs.aci-cni.kube_config.snat_operator.port_range.ports_per_node";

#[test]
fn a_bad_set_path_is_exit_2_naming_the_path() {
    let s = root().join("scenarios/brkdcn-2663.yaml");
    let s = s.to_str().unwrap();
    // A misspelt key: the strict decoder names it, with the --set it came from.
    let (code, _, err) = fabsim(&["compare", s, "--set", &format!("{PPN}x=6000")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ports_per_nodex"), "{err}");
    assert!(err.contains("--set designs.aci-cni"), "{err}");
    // A design that does not exist.
    let (code, _, err) = fabsim(&["compare", s, "--set", "designs.nope.cni=calico"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no element named `nope`") && err.contains("aci-cni, calico"),
        "{err}"
    );
    // A value of the wrong type.
    let (code, _, err) = fabsim(&["compare", s, "--set", &format!("{PPN}=lots")]);
    assert_eq!(code, 2);
    assert!(err.contains("ports_per_node"), "{err}");
    // Not PATH=VALUE, and a failure with no time.
    let (code, _, err) = fabsim(&["compare", s, "--set", "seed"]);
    assert_eq!(code, 2);
    assert!(err.contains("PATH=VALUE"), "{err}");
    let (code, _, err) = fabsim(&["compare", s, "--fail", "node:k8s-r1-1"]);
    assert_eq!(code, 2);
    assert!(err.contains("REF@TIME"), "{err}");
    let (code, _, err) = fabsim(&["compare", s, "--fail", "node:ghost@10s"]);
    assert_eq!(code, 2);
    assert!(err.contains("no node named `ghost`"), "{err}");
}

#[test]
fn twice_the_ports_refuse_no_more_and_the_report_is_well_formed() {
    let scenario = root().join("scenarios/brkdcn-2663.yaml");
    let sets = [format!("{PPN}=6000")];
    let fails = ["node:k8s-r1-1@50s".to_string()];
    let designs = ["aci-cni".to_string(), "cilium".to_string()];
    let a = Args {
        scenario: &scenario,
        designs: &designs,
        sets: &sets,
        fails: &fails,
        out: None,
        sample_interval: None,
        max_connections: fabsim::sim::estimate::DEFAULT_MAX_CONNECTIONS,
    };
    let (name, runs) = run_variants(&a).unwrap();
    assert_eq!(name, "brkdcn-2663");
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["base", "ports_per_node=6000", "fail node:k8s-r1-1@50s"]
    );
    let refused = |v: usize| -> u64 {
        runs[v].results.designs[0]
            .connections
            .refused
            .get("snat-port-exhausted")
            .copied()
            .unwrap_or(0)
    };
    assert!(refused(0) > 0, "the base exhausts its 3000 ports");
    assert!(refused(1) <= refused(0));
    assert_eq!(
        runs[1].results.designs[0].nat.ports_per_node_available,
        Some(6000)
    );
    // The change does not touch the other design.
    assert_eq!(
        runs[1].results.designs[1].connections,
        runs[0].results.designs[1].connections
    );
    // The added failure is there.
    assert_eq!(runs[2].results.designs[0].failover.len(), 2);

    // Differences from the base are highlighted, the base never is.
    let tables = comparison::tables(&runs);
    let exhaustion = &tables.iter().find(|t| t.0 == "Port exhaustion").unwrap().2;
    // Rows are design × metric: aci-cni's rows come first, the design named on its first row.
    assert_eq!(exhaustion[0][0].text, "aci-cni");
    let row = exhaustion
        .iter()
        .find(|r| r[1].text == "snat-port-exhausted")
        .unwrap();
    assert!(!row[2].highlight && row[3].highlight);
    assert!(row[3].text.ends_with(", better)"), "{}", row[3].text);

    let doc = comparison::document(&name, &runs).unwrap();
    let html = doc.html();
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let page = roxmltree::Document::parse_with_options(&html, options).expect("well-formed");
    assert!(
        page.descendants()
            .any(|n| n.has_tag_name("td") && n.attribute("class") == Some("diff"))
    );
    assert!(
        html.contains("NAT To Node IP"),
        "the talk's comparison table"
    );
    // Every plot simulate draws, each series told apart from the others: lines by (colour,
    // dash), bars by colour; one line or bar series per design × variant, in the legend once.
    let plots = doc.plots();
    let files: Vec<&str> = plots.iter().map(|p| p.0).collect();
    assert_eq!(
        files,
        [
            "success-ratio.svg",
            "nat-ports.svg",
            "load-per-node.svg",
            "hop-count.svg"
        ]
    );
    for (file, svg) in plots {
        let p = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{file}: {e}"));
        if file.ends_with("ports.svg") || file.starts_with("success") {
            let styles: Vec<(String, String)> = p
                .descendants()
                .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke-width") == Some("2"))
                .map(|n| {
                    (
                        n.attribute("stroke").unwrap_or("").to_string(),
                        n.attribute("stroke-dasharray").unwrap_or("").to_string(),
                    )
                })
                .collect();
            assert_eq!(
                styles.len(),
                2 * 2 * 3,
                "{file}: one line per design × variant, and its legend sample"
            );
            let distinct: std::collections::BTreeSet<_> = styles.iter().collect();
            assert_eq!(distinct.len(), 2 * 3, "{file}: {styles:?}");
        } else {
            // Legend swatches: one filled rectangle per series, each its own colour.
            let fills: std::collections::BTreeSet<&str> = p
                .descendants()
                .filter(|n| n.has_tag_name("rect"))
                .filter_map(|n| n.attribute("fill"))
                .filter(|f| *f != "#FFFFFF")
                .collect();
            assert_eq!(fills.len(), 2 * 3, "{file}: {fills:?}");
        }
        let texts: Vec<String> = p
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text().map(|t| t.trim().to_string()))
            .collect();
        for label in ["aci-cni / base", "cilium / ports_per_node=6000"] {
            assert_eq!(
                texts.iter().filter(|t| *t == label).count(),
                1,
                "{file}: {label}"
            );
        }
    }
    // The terminal's tables fit 120 columns, three variants side by side or not.
    for (group, headers, rows) in &tables {
        for line in fabsim::report::doc::text_table(headers, rows).lines() {
            assert!(line.chars().count() <= comparison::WIDTH, "{group}: {line}");
        }
    }
    // Every table fits the page.
    for block in &doc.blocks {
        if let fabsim::report::doc::Block::Table { headers, rows } = block {
            let w = fabsim::report::doc::table_width(headers, rows, true);
            assert!(w <= comparison::WIDTH, "{w} characters: {headers:?}");
        }
    }
}

#[test]
fn variants_listed_in_the_scenario() {
    let y = std::fs::read_to_string(root().join("scenarios/brkdcn-2663.yaml")).unwrap()
        + "variants:\n  - { name: wider, set: { \"designs.aci-cni.kube_config.snat_operator.port_range.ports_per_node\": 6000 } }\n  - { name: r2-dies, fail: [\"node:k8s-r2-1@60s\"] }\n";
    let scratch_dir = scratch("variants");
    let dir = scratch_dir.path().to_path_buf();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        root().join("scenarios/brkdcn-2663.acc-provision.yaml"),
        dir.join("brkdcn-2663.acc-provision.yaml"),
    )
    .unwrap();
    let path = dir.join("v.yaml");
    std::fs::write(&path, y).unwrap();
    // validate accepts the variants key.
    let (code, _, err) = fabsim(&["validate", "-q", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let designs = ["aci-cni".to_string()];
    let a = Args {
        scenario: &path,
        designs: &designs,
        sets: &[],
        fails: &[],
        out: None,
        sample_interval: None,
        max_connections: fabsim::sim::estimate::DEFAULT_MAX_CONNECTIONS,
    };
    let (_, runs) = run_variants(&a).unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["base", "wider", "r2-dies"]);
    // validate loads each variant too: a bad one is an error naming it.
    let bad = std::fs::read_to_string(&path).unwrap()
        + "  - { name: typo, set: { \"designs.aci-cni.kube_config.snat_operator.port_range.ports_per_nod\": 1 } }\n";
    std::fs::write(&path, bad).unwrap();
    let (code, out, _) = fabsim(&["validate", "-q", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        out.contains("variant `typo`") && out.contains("did you mean `ports_per_node`"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

mod fuzz {
    use super::common::root;
    use fabsim::scenario::diag::Diagnostics;
    use fabsim::scenario::variant::{self, Variant};
    use proptest::prelude::*;

    const SEGMENTS: &[&str] = &[
        "designs",
        "aci-cni",
        "calico",
        "0",
        "7",
        "kube_config",
        "snat_operator",
        "port_range",
        "ports_per_node",
        "traffic",
        "arrivals",
        "cluster",
        "deployments",
        "replicas",
        "fabric",
        "racks",
        "nodes",
        "events",
        "x",
        "",
    ];
    const VALUES: &[&str] = &[
        "1",
        "-1",
        "0",
        "[]",
        "{}",
        "abc",
        "3s",
        "null",
        "1e99",
        "[1, {a: 2}]",
        "65536",
        "true",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever path and value a user sets, loading the variant reports problems or succeeds;
        /// it never panics.
        #[test]
        fn any_set_loads_or_reports(path in prop::collection::vec(0..SEGMENTS.len(), 1..6), value in 0..VALUES.len()) {
            let file = root().join("scenarios/brkdcn-2663.yaml");
            let mut d = Diagnostics::default();
            let tree = variant::parse_file(&file, &mut d).unwrap();
            let p: Vec<&str> = path.iter().map(|i| SEGMENTS[*i]).collect();
            let arg = format!("{}={}", p.join("."), VALUES[value]);
            if let Some(change) = variant::parse_set(&arg, &mut d) {
                let v = Variant { name: "fuzz".into(), changes: vec![change] };
                let loaded = variant::load_variant(&tree, &v, file.parent().unwrap());
                prop_assert!(loaded.scenario.is_some() || loaded.diagnostics.has_errors());
            }
        }
    }
}
