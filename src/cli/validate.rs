//! `fabsim validate SCENARIO`: every problem at once, `FILE:LINE:COL: yaml.path: message`.

use super::{EXIT_BAD_INPUT, EXIT_OK};
use crate::scenario;
use std::path::Path;

pub fn run(path: &Path, quiet: bool) -> u8 {
    let loaded = scenario::load(path);
    let d = &loaded.diagnostics;
    for x in d.sorted() {
        println!("{x}");
    }
    let errors = d.errors().count();
    let warnings = d.warnings().count();
    match &loaded.scenario {
        Some(s) if errors == 0 => {
            if !quiet {
                let designs: Vec<String> = s.designs.iter().map(|x| format!("{} ({})", x.name, x.cni.name())).collect();
                println!(
                    "{}: valid — {} spines, {} leaves in {} racks, {} nodes, {} pods, {} services; designs: {}; {} warning(s)",
                    path.display(),
                    s.fabric.spines.len(),
                    s.fabric.leaves.len(),
                    s.fabric.racks.len(),
                    s.cluster.nodes.len(),
                    s.cluster.pods.len(),
                    s.cluster.services.len(),
                    designs.join(", "),
                    warnings
                );
                if !s.defaults_applied.is_empty() {
                    println!("defaults applied:");
                    for x in &s.defaults_applied {
                        println!("  {x}");
                    }
                }
            }
            EXIT_OK
        }
        _ => {
            eprintln!("{}: {errors} error(s), {warnings} warning(s)", path.display());
            EXIT_BAD_INPUT
        }
    }
}
