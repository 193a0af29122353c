//! Bad scenario files and the messages each must produce (tests/bad/NAME.expected, reviewed by
//! hand; refresh with FABSIM_BLESS=1), and a fuzz property: no input makes loading panic.

mod common;
use common::*;
use fabsim::scenario::{self, diag::Diagnostics};
use proptest::prelude::*;
use std::sync::Arc;

/// `fabsim validate` output for a file, with paths relative to the repository.
fn validate_output(rel: &str) -> (String, bool) {
    let root = root();
    let text = std::fs::read_to_string(root.join(rel)).unwrap();
    let base = root.join(rel).parent().unwrap().to_path_buf();
    let loaded = scenario::load_str(&Arc::from(rel), &text, &base, Diagnostics::default());
    let prefix = format!("{}/", root.display());
    let lines: Vec<String> = loaded
        .diagnostics
        .sorted()
        .iter()
        .map(|d| d.to_string().replace(&prefix, ""))
        .collect();
    (lines.join("\n") + "\n", loaded.scenario.is_some())
}

#[test]
fn every_bad_file_gives_its_messages() {
    let dir = root().join("tests/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "at least 10 bad scenarios");
    for f in files {
        let name = f.file_stem().unwrap().to_str().unwrap().to_string();
        let (out, valid) = validate_output(&format!("tests/bad/{name}.yaml"));
        // Only the port-range case is valid (a warning: the controller falls back to its defaults).
        assert_eq!(valid, name == "port-range-rejected", "{name}: {out}");
        golden(&dir.join(format!("{name}.expected")), &out);
    }
}

#[test]
fn the_fallback_port_range_is_the_one_modelled() {
    let s = load("tests/bad/port-range-rejected.yaml");
    let cfg = s.designs[0].aci().unwrap();
    assert_eq!(cfg.port_range, fabsim::nat::snat::PortRange::DEFAULT);
}

fn mutate(text: &str, ops: &[(u8, usize, char)]) -> String {
    let mut s: Vec<char> = text.chars().collect();
    for (op, pos, c) in ops {
        if s.is_empty() {
            break;
        }
        let i = pos % s.len();
        match op % 4 {
            0 => {
                s.remove(i);
            }
            1 => s.insert(i, *c),
            2 => s[i] = *c,
            _ => s.truncate(i),
        }
    }
    s.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    /// Nothing a user types can crash the loader: random edits of the shipped scenario load or
    /// fail with diagnostics, never panic.
    #[test]
    fn mangled_scenarios_never_panic(ops in prop::collection::vec((any::<u8>(), any::<usize>(), prop::sample::select(vec![' ', ':', '-', '[', ']', '{', '}', '\n', '"', 'x', '9', '/', '.', '&', '*', '!'])), 1..8)) {
        let root = root();
        let text = std::fs::read_to_string(root.join("scenarios/brkdcn-2663.yaml")).unwrap();
        let mangled = mutate(&text, &ops);
        let loaded = scenario::load_str(&Arc::from("m.yaml"), &mangled, &root.join("scenarios"), Diagnostics::default());
        prop_assert!(loaded.scenario.is_some() || loaded.diagnostics.has_errors());
    }
}
