//! No credential from any input appears in any output (issue 13): a marker placed in every
//! place a scenario or a command line holds one — the APIC login in the acc-provision file,
//! Calico's BGP password on both sides, `--set` of a password, of a map holding one, of a
//! mistyped password key, of a kube-router annotation that is not base64 — and every command's
//! stdout, stderr and written files searched for it.

mod common;
use common::*;

const MARK: &str = "S3KRIT-MARK";

fn files_under(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else if let Ok(text) = std::fs::read_to_string(&p) {
                out.push((p.display().to_string(), text));
            }
        }
    }
    out
}

#[test]
fn no_secret_in_any_output_of_any_command() {
    let scratch_dir = scratch("secrets");
    let dir = scratch_dir.path().to_path_buf();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let acc = std::fs::read_to_string(root().join("scenarios/brkdcn-2663.acc-provision.yaml"))
        .unwrap()
        .replace(
            "aci_config:\n",
            &format!("aci_config:\n  apic_login: {{ username: admin, password: {MARK}-apic }}\n"),
        );
    std::fs::write(dir.join("brkdcn-2663.acc-provision.yaml"), acc).unwrap();
    let scenario = std::fs::read_to_string(root().join("scenarios/brkdcn-2663.yaml"))
        .unwrap()
        .replace(
            "graceful_restart: true, max_paths: 64,",
            &format!("graceful_restart: true, password: {MARK}-bgp, fabric_password: {MARK}-bgp, max_paths: 64,"),
        )
        .replace("duration: 360s", "duration: 160s");
    assert!(scenario.contains(MARK));
    let path = dir.join("s.yaml");
    std::fs::write(&path, scenario).unwrap();
    let p = path.to_str().unwrap();
    let out = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let (o1, o2, o3) = (out("sim"), out("cmp"), out("size"));
    let bad_annotation = format!(
        "designs.kube-router.node_annotations={{ kube-router.io/peer.ips: 10.0.0.1, kube-router.io/peer.asns: '65000', kube-router.io/peer.passwords: '{MARK}!!' }}"
    );
    let runs: Vec<Vec<String>> = vec![
        vec!["validate".into(), p.into()],
        vec!["validate".into(), p.into(), "--json".into()],
        vec![
            "simulate".into(),
            p.into(),
            "--out".into(),
            o1.clone(),
            "--json".into(),
            out("r.json"),
        ],
        vec![
            "compare".into(),
            p.into(),
            "--design".into(),
            "calico".into(),
            "--out".into(),
            o2.clone(),
            "--set".into(),
            format!("designs.calico.bgp.password={MARK}-set"),
            "--set".into(),
            format!("designs.calico.bgp={{ fabric_asn: 2, password: {MARK}-map }}"),
        ],
        vec![
            "compare".into(),
            p.into(),
            "--set".into(),
            format!("designs.calico.bgp.passwordd={MARK}-typo"),
        ],
        vec!["compare".into(), p.into(), "--set".into(), bad_annotation],
        vec![
            "trace".into(),
            p.into(),
            "--design".into(),
            "calico".into(),
            "--from".into(),
            "external:clients".into(),
            "--to".into(),
            "service:shop/web:80".into(),
        ],
        vec![
            "routes".into(),
            p.into(),
            "--design".into(),
            "calico".into(),
            "--device".into(),
            "leaf:101".into(),
        ],
        vec![
            "size".into(),
            "snat".into(),
            "--from-scenario".into(),
            p.into(),
            "--out".into(),
            o3.clone(),
        ],
    ];
    // The mistyped key and the annotation that is not base64 are refused; the rest run.
    let expected = [0, 0, 0, 0, 2, 2, 0, 0, 0];
    for (args, want) in runs.iter().zip(expected) {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = fabsim(&a);
        assert_eq!(code, want, "{a:?}\n{stderr}");
        for (what, text) in [("stdout", &stdout), ("stderr", &stderr)] {
            assert!(
                !text.contains(MARK),
                "{a:?} {what} shows the secret:\n{text}"
            );
        }
    }
    let written = files_under(&dir);
    assert!(written.len() > 10, "the commands wrote their reports");
    for (file, text) in written {
        if file.ends_with("s.yaml") || file.ends_with("acc-provision.yaml") {
            continue; // the inputs
        }
        assert!(!text.contains(MARK), "{file} shows the secret");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
