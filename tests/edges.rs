//! The smaller edges the fuzzing run found (issue 13), each refused or said with its place.

mod common;
use common::*;

fn brkdcn() -> String {
    std::fs::read_to_string(root().join("scenarios/brkdcn-2663.yaml")).unwrap()
}

fn scenarios() -> std::path::PathBuf {
    root().join("scenarios")
}

/// What the engine's distributions and flow builder would refuse, validate refuses with the line.
#[test]
fn validate_refuses_what_simulate_would() {
    for (from, to, says) in [
        (
            "duration: { exponential: 20s }",
            "duration: { pareto: { scale: 1s, shape: 0 } }",
            "pareto shape 0",
        ),
        (
            "duration: { exponential: 20s }",
            "duration: { pareto: { scale: 0s, shape: 1.5 } }",
            "pareto scale 0",
        ),
        (
            "duration: { exponential: 20s }",
            "duration: { lognormal: { mean: 1s, sigma: -1 } }",
            "lognormal sigma -1",
        ),
        (
            "to: \"1.1.1.1:443/tcp\"",
            "to: \"1.1.1.1\"",
            "traffic[1].to: the destination needs a port for tcp",
        ),
        (
            "replicas: 8,",
            "replicas: 0,",
            "traffic[1].from: the deployment has no pods (replicas: 0)",
        ),
        (
            "- name: cilium",
            "- name: ''",
            "designs[3].name: a design needs a name",
        ),
    ] {
        let y = brkdcn().replacen(from, to, 1);
        assert_ne!(y, brkdcn(), "{from}");
        let (errors, _) = messages(&scenarios(), &y);
        assert!(
            errors.iter().any(|e| e.contains(says)),
            "{says}: {errors:#?}"
        );
    }
}

/// A device or a pipe given as a file is refused before it is read; an alias bomb is said in
/// words; a tag fabsim does not understand is warned about.
#[test]
fn files_and_yaml_that_would_run_away_are_refused() {
    let y = brkdcn().replace("file: brkdcn-2663.acc-provision.yaml", "file: /dev/zero");
    let (errors, _) = messages(&scenarios(), &y);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("/dev/zero: not a regular file")),
        "{errors:#?}"
    );
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        bomb.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            vec![format!("*a{}", i - 1); 10].join(", ")
        ));
    }
    let (errors, _) = messages(&scenarios(), &bomb);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("expands to more values than fabsim reads")),
        "{errors:#?}"
    );
    assert!(!errors.iter().any(|e| e.contains("Nodes {")), "{errors:#?}");
    let y = brkdcn().replace("name: brkdcn-2663", "name: !custom brkdcn-2663");
    let (errors, warnings) = messages(&scenarios(), &y);
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("YAML tag `!custom` is not understood")),
        "{warnings:#?}"
    );
}

/// trace: a --proto that contradicts the destination's, and source port 0, are refused;
/// compare: a --set with no value is refused.
#[test]
fn command_line_contradictions_are_refused() {
    let s = root().join("scenarios/brkdcn-2663.yaml");
    let s = s.to_str().unwrap();
    let trace = |extra: &[&str]| {
        let mut a = vec![
            "trace",
            s,
            "--design",
            "aci-cni",
            "--from",
            "deployment:shop/batch",
        ];
        a.extend_from_slice(extra);
        fabsim(&a)
    };
    let (code, _, err) = trace(&["--proto", "icmp", "--to", "1.1.1.1:53/udp"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--proto icmp and the destination's /udp disagree"),
        "{err}"
    );
    let (code, _, err) = trace(&["--to", "1.1.1.1:443/tcp", "--sport", "0"]);
    assert_eq!(code, 2);
    assert!(err.contains("source port 0"), "{err}");
    let (code, _, err) = fabsim(&["compare", s, "--set", "seed="]);
    assert_eq!(code, 2);
    assert!(err.contains("give a value after `=`"), "{err}");
    // A bad name given by --set is blamed on the --set, not on the file's line.
    let (code, _, err) = fabsim(&["compare", s, "--set", "name=../../x"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--set name=../../x:1:1: name: the scenario name names the report folder"),
        "{err}"
    );
}

/// Exit 2 always comes with a message: an acc-provision file whose node_subnet is an empty list.
#[test]
fn an_empty_node_subnet_is_said() {
    let scratch_dir = scratch("edges");
    let dir = scratch_dir.path().to_path_buf();
    std::fs::create_dir_all(&dir).unwrap();
    let acc = std::fs::read_to_string(root().join("scenarios/brkdcn-2663.acc-provision.yaml"))
        .unwrap()
        .replace("node_subnet: 10.32.0.1/16", "node_subnet: []");
    std::fs::write(dir.join("brkdcn-2663.acc-provision.yaml"), acc).unwrap();
    let (errors, _) = messages(&dir, &brkdcn());
    assert!(
        errors.iter().any(|e| e.contains("node_subnet")),
        "{errors:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Progress when stderr is not a terminal (a log, CI): the estimate first, then lines.
#[test]
fn progress_is_written_to_a_non_terminal_stderr() {
    let scratch_out = scratch("progress");
    let out = scratch_out.path().to_path_buf();
    let s = root().join("scenarios/brkdcn-2663.yaml");
    let (code, _, err) = fabsim(&[
        "simulate",
        s.to_str().unwrap(),
        "--design",
        "calico",
        "--no-baseline",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("simulating: ≈ 252,000 connections"), "{err}");
    let _ = std::fs::remove_dir_all(&out);
}
