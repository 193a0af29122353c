//! The seam between the designs and the rest, checked on the source (as rust-analyzer's tidy
//! tests do): `sim` and `cli` call `DesignSpec` and `Plane` and never look inside a design.

use std::path::Path;

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
}

#[test]
fn sim_and_cli_never_match_on_a_design() {
    // What naming a design's insides looks like: its config enum, the plane's arms, a design's
    // own modules, or the accessors kept for importers and their tests.
    let forbidden = [
        "DesignConfig::",
        "Plane::Aci",
        "Plane::Bgp",
        "Cni::",
        "design::aci_cni",
        "design::bgp",
        ".aci()",
        ".bgp()",
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root.join("sim"), &mut files);
    sources(&root.join("cli"), &mut files);
    assert!(files.len() > 10, "the sources were found");
    let mut found = Vec::new();
    for (path, text) in &files {
        for (n, line) in text.lines().enumerate() {
            for f in forbidden.iter().filter(|f| line.contains(*f)) {
                found.push(format!("{path}:{}: `{f}` in {line}", n + 1));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
