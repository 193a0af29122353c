//! `fabsim size snat` against hand-worked numbers and an Erlang-B computed here another way
//! (the Poisson-sum formula in log space rather than the recursion the tool uses).

mod common;
use common::fabsim;
use fabsim::cli::size::{Args, input};
use fabsim::nat::snat::PortRange;
use fabsim::sizing::snat::{SnatInput, size};

/// B(c, A) = (A^c / c!) / Σ_{k≤c} A^k / k!, summed in log space.
fn erlang_b_direct(c: u64, a: f64) -> f64 {
    let ln_term = |k: u64| k as f64 * a.ln() - (1..=k).map(|j| (j as f64).ln()).sum::<f64>();
    let terms: Vec<f64> = (0..=c).map(ln_term).collect();
    let max = terms.iter().cloned().fold(f64::MIN, f64::max);
    let ln_sum = max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln();
    (terms[c as usize] - ln_sum).exp()
}

fn flags(nodes: u64, rate: f64, lifetime_s: f64) -> Args {
    Args {
        nodes: Some(nodes),
        rate: Some(rate),
        lifetime_s: Some(lifetime_s),
        target: 1e-4,
        ..Args::default()
    }
}

#[test]
fn defaults_give_20_chunks_so_40_nodes_need_2_ips_and_41_need_3() {
    for (nodes, ips) in [(40, 2), (41, 3), (20, 1), (21, 2)] {
        let mut a = flags(nodes, 1.0, 1.0);
        a.ports_per_node = Some(3000);
        let r = size(&input(&a).unwrap()).unwrap();
        assert_eq!(r.chunks_per_ip, 20);
        assert_eq!(r.snat_ips_needed, ips, "{nodes} nodes");
    }
    // Surge nodes need chunks too: 38 + 3 = 41 → 3 IPs.
    let mut a = flags(38, 1.0, 1.0);
    a.ports_per_node = Some(3000);
    a.surge = 3;
    assert_eq!(size(&input(&a).unwrap()).unwrap().snat_ips_needed, 3);
}

#[test]
fn erlang_b_inverse_matches_an_independent_computation() {
    // A = 20/s × (2 s + 120 s) = 2440 erlangs; target 1e-3 → 2542 ports (worked out with the
    // direct formula: B(2541) > 1e-3 ≥ B(2542)).
    assert!(erlang_b_direct(2541, 2440.0) > 1e-3);
    assert!(erlang_b_direct(2542, 2440.0) <= 1e-3);
    let mut a = flags(40, 20.0, 2.0);
    a.target = 1e-3;
    let r = size(&input(&a).unwrap()).unwrap();
    assert_eq!(r.offered_erlangs.per_node, 2440.0);
    assert_eq!(r.required_ports_per_node.strict, Some(2542));
    assert_eq!(r.required_ports_per_node.per_tuple, Some(2542)); // one destination
    assert_eq!(r.recommended_ports_per_node, Some(3000));
    let b = erlang_b_direct(3000, 2440.0);
    assert!((r.refusal_probability.strict - b).abs() <= 1e-9 * b.max(1e-300));
    // Smaller cases against the same oracle.
    for (a_erl, target) in [(30.0, 0.01), (7.5, 1e-4), (400.0, 1e-6)] {
        let i = SnatInput {
            nodes: vec!["n".into()],
            rate_per_node: a_erl,
            lifetime_s: 1.0,
            time_wait_s: 0.0,
            streams: vec![(1.0, 1)],
            target,
            range: PortRange::DEFAULT,
            ports_per_node: None,
            snat_ips: None,
            surge: 0,
            strict: true,
            search: fabsim::nat::kernel::PortSearch::WholeRange,
            configured_ports_per_node: None,
        };
        let c = size(&i).unwrap().required_ports_per_node.strict.unwrap();
        assert!(erlang_b_direct(c, a_erl) <= target && erlang_b_direct(c - 1, a_erl) > target);
    }
}

#[test]
fn spreading_over_destinations_needs_fewer_ports_than_the_strict_rule() {
    // 10 destinations evenly: each sees A/10 = 244 erlangs, so per destination reuse needs the
    // ports for 244 erlangs — checked against the oracle — while strict still needs 2542.
    let mut a = flags(40, 20.0, 2.0);
    a.target = 1e-3;
    a.destinations = Some(10);
    let r = size(&input(&a).unwrap()).unwrap();
    let c = r.required_ports_per_node.per_tuple.unwrap();
    assert!(erlang_b_direct(c, 244.0) <= 1e-3 && erlang_b_direct(c - 1, 244.0) > 1e-3);
    assert_eq!(r.required_ports_per_node.strict, Some(2542));
    // A hot destination with 90% of the traffic dominates: its A = 0.9 × 2440.
    a.destinations = Some(10);
    a.hot_destination_share = Some(0.9);
    let r = size(&input(&a).unwrap()).unwrap();
    assert!((r.offered_erlangs.per_destination - 2196.0).abs() < 1e-9);
}

#[test]
fn too_few_ips_list_the_nodes_without_a_chunk() {
    // 25 nodes, one IP of 20 chunks: the controller serves nodes in order, node-21 … node-25 get none.
    let mut a = flags(25, 1.0, 1.0);
    a.ports_per_node = Some(3000);
    a.snat_ips = Some(1);
    let r = size(&input(&a).unwrap()).unwrap();
    assert_eq!(
        r.nodes_without_chunk,
        ["node-21", "node-22", "node-23", "node-24", "node-25"]
    );
    a.snat_ips = Some(2);
    assert!(
        size(&input(&a).unwrap())
            .unwrap()
            .nodes_without_chunk
            .is_empty()
    );
}

#[test]
fn masquerade_capacity_per_destination() {
    let r = size(&input(&flags(10, 20.0, 2.0)).unwrap()).unwrap();
    assert_eq!(r.masquerade[0].ports_per_destination, 64512);
    assert_eq!(r.masquerade[1].ports_per_destination, 32768);
}

#[test]
fn from_a_scenario() {
    // brkdcn-2663: batch-to-internet, 300/s over 8 batch pods, one per node → 37.5/s per node,
    // 5 s lifetimes, TIME_WAIT 120 s: A = 37.5 × 125 = 4687.5 erlangs towards 1.1.1.1:443.
    let a = Args {
        from_scenario: Some(common::root().join("scenarios/brkdcn-2663.yaml")),
        target: 1e-4,
        ..Args::default()
    };
    let i = input(&a).unwrap();
    assert_eq!(i.nodes.len(), 8);
    assert_eq!(i.snat_ips, Some(1));
    assert!((i.rate_per_node - 37.5).abs() < 1e-9);
    let r = size(&i).unwrap();
    assert!((r.offered_erlangs.per_node - 4687.5).abs() < 1e-6);
    let c = r.required_ports_per_node.per_tuple.unwrap();
    assert!(erlang_b_direct(c, 4687.5) <= 1e-4 && erlang_b_direct(c - 1, 4687.5) > 1e-4);
    // Rounded up to 5000: 12 chunks (5000–9999 … 60000–64999) on the one IP, enough for 8 nodes.
    assert_eq!(r.recommended_ports_per_node, Some(5000));
    assert_eq!(r.chunks_per_ip, 12);
    assert!(r.nodes_without_chunk.is_empty());
    // The talk's default 3000 ports refuse a fifth of these connections or more.
    assert!(r.refusal_probability.per_tuple <= 1e-4 && erlang_b_direct(3000, 4687.5) > 0.2);
}

#[test]
fn the_command_explains_refuses_bad_input_and_verifies() {
    let scratch_dir = common::scratch("size");
    let dir = scratch_dir.path().to_path_buf();
    let d = dir.to_str().unwrap();
    let (code, _, err) = fabsim(&["size", "snat", "--rate", "5", "--lifetime", "1s"]);
    assert_eq!(code, 2);
    assert!(err.contains("--nodes"), "{err}");
    let (code, _, err) = fabsim(&[
        "size",
        "snat",
        "--nodes",
        "3",
        "--rate",
        "5",
        "--lifetime",
        "1s",
        "--port-range",
        "5000-x",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("not a port number"), "{err}");
    // A = 30 erlangs on 40 ports without TIME_WAIT: B = 0.0144 (FACTS §4), and the engine agrees.
    let (code, out, err) = fabsim(&[
        "size",
        "snat",
        "--nodes",
        "1",
        "--rate",
        "30",
        "--lifetime",
        "1s",
        "--time-wait",
        "0s",
        "--ports-per-node",
        "40",
        "--port-range",
        "5000-5800",
        "--verify",
        "--out",
        d,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("B(40, 30.0) = 1.441e-2"), "{out}");
    let verify = out.lines().find(|l| l.starts_with("verify:")).unwrap();
    let simulated: f64 = verify
        .split("fraction ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((simulated - 0.01441).abs() < 0.0015, "{verify}");
    let svg = std::fs::read_to_string(dir.join("refusal-curve.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `size snat` takes the node kernel and says which port search its figure assumes.
#[test]
fn the_kernel_setting_names_the_assumption() {
    let base = [
        "size",
        "snat",
        "--nodes",
        "2",
        "--rate",
        "10",
        "--lifetime",
        "5s",
        "--json",
    ];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let (code, out, err) = common::fabsim(&args);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["port_search"].as_str().unwrap().to_string()
    };
    assert!(
        run(&[]).contains("248 probes"),
        "the default kernel 5.15 is bounded"
    );
    assert!(run(&["--node-kernel", "6.8.0-45-generic"]).contains("TIME_WAIT entry"));
    assert!(run(&["--nat-port-search", "whole-range"]).contains("whole-range"));
    let (code, _, err) = common::fabsim(&[
        "size",
        "snat",
        "--nodes",
        "2",
        "--rate",
        "10",
        "--lifetime",
        "5s",
        "--node-kernel",
        "banana",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--node-kernel `banana`"), "{err}");
}

/// `--from-scenario` also reports the refusal at the scenario's own setting (brkdcn-2663:
/// 3,000 ports per node against 37.5 /s × 125 s = 4,687.5 erlangs per node), checked against
/// Erlang-B by its recursion B(k) = A·B(k−1) / (k + A·B(k−1)).
#[test]
fn from_scenario_reports_the_refusal_at_the_configured_setting() {
    let scratch_out = common::scratch("size");
    let out = scratch_out.path().to_path_buf();
    let (code, stdout, err) = fabsim(&[
        "size",
        "snat",
        "--from-scenario",
        "scenarios/brkdcn-2663.yaml",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let at = &v["at_scenario_setting"];
    assert_eq!(at["ports_per_node"], 3000);
    let a = 4687.5_f64;
    let b = (1..=3000).fold(1.0_f64, |b, k| a * b / (k as f64 + a * b));
    let got = at["refusal_probability"]["per_tuple"].as_f64().unwrap();
    assert!((got - b).abs() < 1e-9, "{got} vs {b}");
    let _ = std::fs::remove_dir_all(&out);
}

/// `--verify` also checks the model where refusals are measurable: at the ports where Erlang-B
/// expects about 1%, an ideal port search (whole-range) lands within the 95% interval.
#[test]
fn verify_checks_a_point_where_refusals_are_measurable() {
    let scratch_out = common::scratch("verify");
    let out = scratch_out.path().to_path_buf();
    let (code, stdout, err) = fabsim(&[
        "size",
        "snat",
        "--nodes",
        "4",
        "--rate",
        "20/s",
        "--lifetime",
        "2s",
        "--nat-port-search",
        "whole-range",
        "--verify",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("verify (where refusals are measurable, about 1%)"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.ends_with("within the interval"), "{line}");
    let _ = std::fs::remove_dir_all(&out);
}
