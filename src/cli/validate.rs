//! `fabsim validate SCENARIO`: every problem at once, `FILE:LINE:COL: yaml.path: message`.

use super::{EXIT_BAD_INPUT, EXIT_OK};
use crate::design::Allocation;
use crate::scenario;
use std::fmt::Write;
use std::path::Path;

// Long: the command's steps in order, each printing its own error with its exit code.
pub fn run(path: &Path, quiet: bool, json: bool, max_connections: u64) -> u8 {
    let loaded = scenario::load(path);
    let d = &loaded.diagnostics;
    let mut out = String::new();
    for x in d.sorted() {
        let _ = writeln!(out, "{x}");
    }
    let mut errors = d.errors().count();
    // The work a simulation would do, checked against the limit simulate applies.
    let work = loaded.scenario.as_ref().map(|s| {
        crate::sim::estimate::estimate(
            s,
            crate::sim::engine::DEFAULT_SAMPLE_INTERVAL,
            true,
            s.designs.len(),
        )
    });
    if let Some(m) = work.as_ref().and_then(|w| w.over(max_connections))
        && errors == 0
    {
        let _ = writeln!(out, "{}: error: {m}", path.display());
        errors += 1;
    }
    let warnings = d.warnings().count();
    if errors == 0 {
        // The scenario's own what-if variants must load too.
        let (variant_errors, text) = check_variants(path);
        errors += variant_errors;
        out.push_str(&text);
    }
    match &loaded.scenario {
        Some(s) if errors == 0 && json => {
            // Problems (warnings) still go to stderr; stdout is the data.
            eprint!("{out}");
            let designs: Vec<Allocation> =
                s.designs.iter().filter_map(|d| d.allocation(s)).collect();
            let doc = serde_json::json!({
                "scenario": s.name,
                "warnings": d.warnings().map(|w| w.to_string()).collect::<Vec<_>>(),
                "aci_cni": designs,
            });
            super::emit(&format!(
                "{}\n",
                serde_json::to_string_pretty(&doc).expect("serializable")
            ));
            EXIT_OK
        }
        Some(s) if errors == 0 => {
            if !quiet {
                let designs: Vec<String> = s
                    .designs
                    .iter()
                    .map(|x| format!("{} ({})", x.name, x.cni.name()))
                    .collect();
                // What each design's controller or fabric would do, with its own warnings
                // (IpPortsExhausted, sessions down, refused prefixes), counted with the loader's.
                let mut summaries = String::new();
                for design in &s.designs {
                    summaries.push_str(&design.summary(s));
                }
                let warnings = warnings
                    + summaries
                        .lines()
                        .filter(|l| l.trim_start().starts_with("warning:"))
                        .count();
                let _ = writeln!(
                    out,
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
                let _ = writeln!(out, "counting: {}", s.warmup.how);
                if let Some(w) = &work {
                    let _ = writeln!(out, "work: {}", w.describe());
                }
                out.push_str(&summaries);
                if !s.defaults_applied.is_empty() {
                    out.push_str("defaults applied:\n");
                    for x in &s.defaults_applied {
                        let _ = writeln!(out, "  {x}");
                    }
                }
            }
            super::emit(&out);
            EXIT_OK
        }
        _ => {
            super::emit(&out);
            eprintln!(
                "{}: {errors} error(s), {warnings} warning(s)",
                path.display()
            );
            EXIT_BAD_INPUT
        }
    }
}

/// Loads each of the scenario's `variants:`; (errors, their messages).
fn check_variants(path: &Path) -> (usize, String) {
    use crate::scenario::{diag::Diagnostics, variant};
    let mut d = Diagnostics::default();
    let Some(root) = variant::parse_file(path, &mut d) else {
        return (0, String::new());
    };
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let mut out = String::new();
    let mut errors = 0;
    for v in variant::listed(&root, &mut d) {
        let loaded = variant::load_variant(&root, &v, base_dir);
        for x in loaded.diagnostics.errors() {
            errors += 1;
            let _ = writeln!(out, "variant `{}`: {x}", v.name);
        }
    }
    (errors, out)
}
