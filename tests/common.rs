//! Helpers shared by the integration tests.
#![allow(dead_code)]

use fabsim::cli::trace::{Query, trace};
use fabsim::dataplane::Outcome;
use fabsim::dataplane::trace::JsonTrace;
use fabsim::net::Proto;
use fabsim::scenario::{self, Scenario};
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn load(rel: &str) -> Scenario {
    let loaded = scenario::load(&root().join(rel));
    let msgs: Vec<String> = loaded
        .diagnostics
        .items
        .iter()
        .map(|d| d.to_string())
        .collect();
    loaded
        .scenario
        .unwrap_or_else(|| panic!("{rel} must load: {msgs:#?}"))
}

pub fn walk(s: &Scenario, from: &str, to: &str, proto: Option<Proto>) -> (JsonTrace, Outcome) {
    trace(
        s,
        &Query {
            design: "aci-cni",
            from,
            to,
            proto,
            sport: None,
        },
    )
    .expect("trace runs")
}

pub fn actions(hops: &[fabsim::dataplane::trace::JsonHop]) -> Vec<&'static str> {
    hops.iter().map(|h| h.action).collect()
}

/// Compares `actual` with the expected file, or writes it when FABSIM_BLESS=1.
pub fn golden(path: &Path, actual: &str) {
    if std::env::var_os("FABSIM_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run with FABSIM_BLESS=1 and review it",
            path.display()
        )
    });
    if expected != actual {
        panic!(
            "{} differs from the walk produced now; review the diff and rerun with FABSIM_BLESS=1 if the change is right.\n--- now:\n{actual}",
            path.display()
        );
    }
}

pub fn walk_design(
    s: &Scenario,
    design: &str,
    from: &str,
    to: &str,
    proto: Option<Proto>,
) -> (JsonTrace, Outcome) {
    trace(
        s,
        &Query {
            design,
            from,
            to,
            proto,
            sport: None,
        },
    )
    .expect("trace runs")
}

/// Loads a scenario written in the test itself (relative files resolve from the repository).
pub fn load_text(y: &str) -> Scenario {
    load_text_in(&root(), y)
}

/// Loads a scenario written in the test (relative files from `dir`), keeping its diagnostics.
pub fn load_with_diagnostics(dir: &Path, y: &str) -> scenario::Loaded {
    scenario::load_str(
        &std::sync::Arc::from("t.yaml"),
        y,
        dir,
        fabsim::scenario::diag::Diagnostics::default(),
    )
}

/// The messages of a scenario written in the test: (errors, warnings).
pub fn messages(dir: &Path, y: &str) -> (Vec<String>, Vec<String>) {
    let loaded = load_with_diagnostics(dir, y);
    let d = &loaded.diagnostics;
    (
        d.errors().map(|x| x.to_string()).collect(),
        d.warnings().map(|x| x.to_string()).collect(),
    )
}

/// Loads a scenario written in the test, its relative files resolved from `dir`.
pub fn load_text_in(dir: &Path, y: &str) -> Scenario {
    let loaded = load_with_diagnostics(dir, y);
    let msgs: Vec<String> = loaded
        .diagnostics
        .items
        .iter()
        .map(|d| d.to_string())
        .collect();
    loaded.scenario.unwrap_or_else(|| panic!("{msgs:#?}\n{y}"))
}

/// One anchor rack (leaves 101, 102, border) with four nodes n1..n4 and one web pod each behind a
/// LoadBalancer service with externalTrafficPolicy Local; 100 new client connections per second
/// (constant) of `lifetime` each; `events` is the scenario's `events:` list.
pub fn four_node_rack(design: &str, lifetime: &str, events: &str, duration: &str) -> Scenario {
    let y = format!(
        "name: four-nodes
seed: 5
duration: {duration}
fabric:
  spines: [201]
  racks: [{{ id: 1, leaves: [101, 102], border: true, nodes: {{ count: 4, prefix: n }} }}]
  external: [{{ name: clients, prefix: 172.16.0.0/16 }}]
cluster:
  node_subnet: 10.32.0.1/16
  pod_subnet: 10.33.0.0/16
  namespaces: [{{ name: a }}]
  deployments: [{{ name: web, namespace: a, replicas: 4, labels: {{ app: web }} }}]
  services:
    - {{ name: web, namespace: a, type: LoadBalancer, selector: {{ app: web }}, ports: [{{ port: 80 }}], external_traffic_policy: Local }}
designs:
{design}
traffic:
  - {{ name: in, from: 'external:clients', to: 'service:a/web:80', arrivals: {{ constant: 100/s }}, duration: {{ constant: {lifetime} }} }}
events:
{events}
"
    );
    load_text(&y)
}

/// Runs the fabsim binary; (exit code, stdout, stderr).
pub fn fabsim(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fabsim"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Failover tests send 100 connections/s with a quarter hashed to the failed node: `n` must be
/// within four standard deviations of Binomial(100·window, 1/4).
pub fn assert_quarter_of(n: u64, window_s: f64) {
    let trials = 100.0 * window_s;
    let (mean, sd) = (trials / 4.0, (trials * 0.25 * 0.75).sqrt());
    assert!(
        (n as f64 - mean).abs() <= 4.0 * sd,
        "{n}, expected {mean} ± {}",
        4.0 * sd
    );
}

/// A design's failure records as results.json writes them (the shape the README documents), for
/// tests that check that shape by key. Leaked: a test process is short.
pub fn failover_json(r: &fabsim::sim::metrics::DesignResult) -> &'static [serde_json::Value] {
    let v: Vec<serde_json::Value> = r
        .failover
        .iter()
        .map(|f| serde_json::to_value(f).expect("serializable"))
        .collect();
    Box::leak(v.into_boxed_slice())
}

/// A scratch folder named `fabsim-<tag>-…`, removed when the guard drops (passed or failed).
pub fn scratch(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("fabsim-{tag}-"))
        .tempdir()
        .expect("a scratch folder")
}
