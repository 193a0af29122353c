//! Bounded work (issue 13): every runaway input the fuzzing found is refused before the run with
//! its estimate and the flag to use, or bounded (time-series points); user counts are checked
//! before anything is sized by them; report files are whole or absent.

mod common;
use common::*;
use fabsim::sim::estimate::{self, MAX_POINTS};
use fabsim::time::Nanos;

/// The shipped scenario with text replaced, written next to a copy of its acc-provision file in
/// a folder removed when the returned guard drops.
fn variant(tag: &str, edits: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
    let guard = scratch(&format!("limits-{tag}"));
    let dir = guard.path();
    std::fs::copy(
        root().join("scenarios/brkdcn-2663.acc-provision.yaml"),
        dir.join("brkdcn-2663.acc-provision.yaml"),
    )
    .unwrap();
    let mut text = std::fs::read_to_string(root().join("scenarios/brkdcn-2663.yaml")).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{from}");
        text = text.replace(from, to);
    }
    let p = dir.join("s.yaml");
    std::fs::write(&p, text).unwrap();
    (guard, p)
}

fn validate(p: &std::path::Path) -> (i32, String) {
    let (code, out, err) = fabsim(&["validate", p.to_str().unwrap()]);
    (code, out + &err)
}

/// validate refuses the scenario, saying `says`.
fn assert_refused(p: &std::path::Path, says: &str) {
    let (code, text) = validate(p);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains(says), "{text}");
}

/// 1 ns with arrivals every 0.1 ns looped forever at time 0: the clock ticks in nanoseconds.
#[test]
fn arrivals_faster_than_the_clock_are_refused() {
    let (_dir, p) = variant(
        "fast",
        &[
            ("duration: 360s", "duration: 1ns"),
            ("poisson: 400/s", "constant: 1e10/s"),
        ],
    );
    assert_refused(&p, "is more than 1e9/s, one arrival per nanosecond");
}

/// 1,000,000/s for 360 s: 360 million connections per design run, over the default limit — the
/// estimate and the flag, from validate and simulate alike, before any run.
#[test]
fn a_run_over_the_limit_is_refused_with_its_estimate_and_the_flag() {
    let (_dir, p) = variant("big", &[("poisson: 400/s", "poisson: 1000000/s")]);
    let (code, text) = validate(&p);
    assert_eq!(code, 2);
    assert!(text.contains("≈ 360,000,000 connections and"), "{text}");
    assert!(text.contains("--max-connections 360"), "{text}");
    let (code, _, err) = fabsim(&[
        "simulate",
        p.to_str().unwrap(),
        "--out",
        "/nonexistent/never",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("too large to simulate"), "{err}");
    // The brkdcn scenario as shipped: Σ rate × duration = 700/s × 360 s.
    let s = load("scenarios/brkdcn-2663.yaml");
    let e = estimate::estimate(&s, Nanos::from_secs(1), true, 4);
    assert!((e.connections - 252_000.0).abs() < 1.0, "{e:?}");
    // Four designs, each also without its one failure, forked at 150 s of 360 s: 4 × (1 + 210/360).
    assert!((e.runs - 4.0 * (1.0 + 210.0 / 360.0)).abs() < 1e-9, "{e:?}");
    let one = estimate::estimate(&s, Nanos::from_secs(1), false, 1);
    assert_eq!(one.runs, 1.0, "one design asked for, no baseline");
    // Little's law: 400/s × 20 s + 300/s × (5 s + 120 s TIME_WAIT) held at the peak.
    assert!((e.live - 45_500.0).abs() < 1.0, "{e:?}");
}

/// A rate far below one per run over a very long run made 1e8 one-second samples (2.4 GB): the
/// series are capped at 20,000 points, and the report says so.
#[test]
fn time_series_are_capped_in_points_and_say_so() {
    let (_dir, p) = variant(
        "long",
        &[
            ("duration: 360s", "duration: 100000000s"),
            ("poisson: 400/s", "poisson: 0.000001/s"),
            ("poisson: 300/s", "poisson: 0.000001/s"),
        ],
    );
    let s = fabsim::scenario::load(&p).scenario.expect("valid");
    let e = estimate::estimate(&s, Nanos::from_secs(1), true, 4);
    assert_eq!(e.points, 20_000);
    assert_eq!(e.interval, Nanos::from_secs(5_000));
    let out = p.parent().unwrap().join("out");
    let (code, stdout, err) = fabsim(&[
        "simulate",
        p.to_str().unwrap(),
        "--no-baseline",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("Sampled every 5000 s, not the 1 s"),
        "{stdout}"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(
        r["designs"][0]["timeseries"]["t_s"]
            .as_array()
            .unwrap()
            .len() as u64,
        MAX_POINTS
    );
    // --sample-interval 1ns on a 300 s run: 15 ms keeps 20,000 points.
    assert_eq!(
        estimate::sample_interval(Nanos::from_secs(300), Nanos(1)),
        Nanos(15_000_000)
    );
}

/// Two billion replicas aborted on an 8 GB allocation: the room is counted first.
#[test]
fn replicas_beyond_the_clusters_room_are_refused_before_allocating() {
    let (_dir, p) = variant("replicas", &[("replicas: 8,", "replicas: 2000000000,")]);
    assert_refused(
        &p,
        "2000000000 replicas cannot be placed: only 874 of them fit",
    );
}

/// size snat: counts and rates that sized buffers or overflowed are refused naming the flag;
/// --verify refuses a point it cannot measure, before printing anything.
#[test]
fn size_snat_refuses_what_it_cannot_answer() {
    let base = ["size", "snat", "--rate", "10", "--lifetime", "5s"];
    for (extra, says) in [
        (
            vec!["--nodes", "1000000000"],
            "--nodes 1000000000: give 1 to 100000",
        ),
        (
            vec!["--nodes", "8", "--snat-ips", "4000000000"],
            "--snat-ips 4000000000",
        ),
        (
            vec!["--nodes", "8", "--surge", "18446744073709551615"],
            "--surge 18446744073709551615",
        ),
        (
            vec!["--nodes", "8", "--surge", "4294967296"],
            "--surge 4294967296",
        ),
        (vec!["--nodes", "8", "--target", "0"], "--target 0"),
    ] {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let (code, out, err) = fabsim(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let (code, out, err) = fabsim(&[
        "size",
        "snat",
        "--rate",
        "inf",
        "--lifetime",
        "5s",
        "--nodes",
        "1",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("rate"), "{err}");
    let (code, out, err) = fabsim(&[
        "size",
        "snat",
        "--verify",
        "--rate",
        "0.0001",
        "--lifetime",
        "1s",
        "--nodes",
        "1",
    ]);
    assert_eq!(code, 2);
    assert!(out.is_empty(), "nothing printed before the refusal: {out}");
    assert!(err.contains("too few to measure"), "{err}");
}

/// A second run that dies while writing (the file-size limit kills it) leaves the first report
/// as it was, byte for byte; a symlink in the report folder is replaced, its target untouched; a
/// bad --json path fails before the run.
#[test]
fn reports_are_whole_or_absent() {
    let (_dir, p) = variant("atomic", &[("duration: 360s", "duration: 160s")]);
    let dir = p.parent().unwrap();
    let out = dir.join("out");
    let bin = env!("CARGO_BIN_EXE_fabsim");
    let simulate = |extra: &[&str]| {
        let mut args = vec![
            "simulate",
            p.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        fabsim(&args)
    };
    let (code, _, err) = simulate(&[]);
    assert_eq!(code, 0, "{err}");
    let snapshot = |d: &std::path::Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let first = snapshot(&out);
    assert!(first.len() >= 7);
    // The same run with another seed, allowed to write no file over 10 KB.
    let reseeded = dir.join("s2.yaml");
    std::fs::write(
        &reseeded,
        std::fs::read_to_string(&p)
            .unwrap()
            .replace("seed: 1", "seed: 2"),
    )
    .unwrap();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -f 20; exec {bin} simulate {} --out {}",
            reseeded.display(),
            out.display()
        ))
        .output()
        .unwrap();
    assert!(!status.status.success());
    assert_eq!(snapshot(&out), first, "the first report is intact");
    // A symlink where report.md goes: replaced by the report, its target untouched.
    let target = dir.join("target.txt");
    std::fs::write(&target, "keep me").unwrap();
    std::fs::remove_file(out.join("report.md")).unwrap();
    std::os::unix::fs::symlink(&target, out.join("report.md")).unwrap();
    let (code, _, err) = simulate(&[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    assert!(!out.join("report.md").is_symlink());
    // A --json path that cannot be written fails at once.
    let (code, stdout, err) = simulate(&["--json", "/nonexistent-dir/x.json"]);
    assert_eq!(code, 2, "{err}");
    assert!(stdout.is_empty(), "refused before the run: {stdout}");
    let _ = std::fs::remove_dir_all(dir);
}
