//! `fabsim compare SCENARIO [--design NAME]... [--set PATH=VALUE]... [--fail REF@TIME]... [--out DIR]`:
//! the base scenario and one variant per `--set`/`--fail` (and each of the scenario's own
//! `variants:`), every design of each, run in parallel; the measured tables on stdout (values that
//! differ from the base marked `*`) and report.md, report.html, results.json and plots in the
//! report folder.

use super::{EXIT_BAD_INPUT, emit};
use crate::report::comparison::{self, VariantRun};
use crate::report::doc::text_table;
use crate::scenario::diag::Diagnostics;
use crate::scenario::variant::{self, Variant};
use crate::sim::engine;
use crate::time::Nanos;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

pub struct Args<'a> {
    pub scenario: &'a Path,
    pub designs: &'a [String],
    pub sets: &'a [String],
    pub fails: &'a [String],
    pub out: Option<&'a Path>,
    pub sample_interval: Option<Nanos>,
    /// The most connections a design run may simulate (`sim::estimate`).
    pub max_connections: u64,
}

/// The variants to run, the base first; `Err` holds the diagnostics to print.
pub fn variants(a: &Args) -> Result<(crate::scenario::yaml::Node, Vec<Variant>), Diagnostics> {
    let mut d = Diagnostics::default();
    let root = variant::parse_file(a.scenario, &mut d);
    let mut out = vec![Variant {
        name: "base".into(),
        changes: Vec::new(),
    }];
    for s in a.sets {
        if let Some(c) = variant::parse_set(s, &mut d) {
            // Named by the last path segment and the value as it may be shown:
            // `ports_per_node=6000`, `password=***`; a long value cut.
            let shown = crate::scenario::secret::shown_set(s);
            let (path, value) = shown.split_once('=').unwrap_or((shown.as_str(), ""));
            let last = path.rsplit('.').next().unwrap_or(path);
            let value = if value.chars().count() > 32 {
                format!("{}…", value.chars().take(31).collect::<String>())
            } else {
                value.to_string()
            };
            out.push(Variant {
                name: format!("{last}={value}"),
                changes: vec![c],
            });
        }
    }
    for f in a.fails {
        if let Some(c) = variant::parse_fail(f, &mut d) {
            out.push(Variant {
                name: format!("fail {f}"),
                changes: vec![c],
            });
        }
    }
    match root {
        Some(root) if !d.has_errors() => {
            out.extend(variant::listed(&root, &mut d));
            if d.has_errors() {
                Err(d)
            } else {
                Ok((root, out))
            }
        }
        _ => Err(d),
    }
}

fn describe(v: &Variant) -> Vec<String> {
    v.changes
        .iter()
        .map(|c| match c {
            variant::Change::Set { path, value }
                if crate::scenario::secret::is_credential(path)
                    || crate::scenario::secret::node_holds_credential(value) =>
            {
                format!("`{path}` = ***")
            }
            variant::Change::Set { path, value } => {
                format!(
                    "`{path}` = {}",
                    value.scalar_text().unwrap_or_else(|| value.kind().into())
                )
            }
            variant::Change::Fail { target, at, .. } => format!("{target} fails at {at}"),
        })
        .collect()
}

/// Loads every variant and runs every chosen design of each, in parallel.
// Long: the command's steps in order, each printing its own error with its exit code.
pub fn run_variants(a: &Args) -> Result<(String, Vec<VariantRun>), (u8, String)> {
    let (root, vars) = variants(a).map_err(|d| (EXIT_BAD_INPUT, render(&d)))?;
    let base_dir = a.scenario.parent().unwrap_or(Path::new("."));
    let mut scenarios = Vec::new();
    for v in &vars {
        let loaded = variant::load_variant(&root, v, base_dir);
        match loaded.scenario {
            Some(s) => {
                // A failure after the end of the run would never happen: the variant would
                // only repeat the base.
                for c in &v.changes {
                    if let variant::Change::Fail { target, at, .. } = c
                        && let (Ok(t), Some(end)) = (crate::time::Nanos::parse(at), s.duration)
                        && t >= end
                    {
                        return Err((
                            EXIT_BAD_INPUT,
                            format!(
                                "variant `{}`: {target} fails at {at}, at or after the end of the run ({end}): the failure would never happen",
                                v.name
                            ),
                        ));
                    }
                }
                scenarios.push(s)
            }
            None => {
                return Err((
                    EXIT_BAD_INPUT,
                    format!("variant `{}`:\n{}", v.name, render(&loaded.diagnostics)),
                ));
            }
        }
    }
    // Every variant counts from the same instant (the earliest any of them would), so their
    // counts compare.
    if let Some(from) = scenarios.iter().map(|s| s.warmup.counted_from).min()
        && scenarios.iter().any(|s| s.warmup.counted_from != from)
    {
        for s in scenarios.iter_mut() {
            if s.warmup.counted_from != from {
                s.warmup.how = format!(
                    "{from}, the earliest any variant counts from, so the variants compare (this one alone: {})",
                    s.warmup.how
                );
                s.warmup.counted_from = from;
                s.warmup.steady_before_first_event &=
                    s.warmup.steady_from.is_some_and(|t| t <= from);
            }
        }
    }
    for (v, s) in vars.iter().zip(&scenarios) {
        let work = crate::sim::estimate::estimate(
            s,
            a.sample_interval.unwrap_or(engine::DEFAULT_SAMPLE_INTERVAL),
            true,
            if a.designs.is_empty() {
                s.designs.len()
            } else {
                a.designs.len()
            },
        );
        if let Some(m) = work.over(a.max_connections) {
            return Err((EXIT_BAD_INPUT, format!("variant `{}`: {m}", v.name)));
        }
    }
    let base = &scenarios[0];
    let chosen: Vec<String> = if a.designs.is_empty() {
        base.designs.iter().map(|d| d.name.clone()).collect()
    } else {
        a.designs.to_vec()
    };
    for n in &chosen {
        if let Err(m) = base.design_named(n) {
            return Err((EXIT_BAD_INPUT, m.to_string()));
        }
    }
    let interval = a.sample_interval.unwrap_or(engine::DEFAULT_SAMPLE_INTERVAL);
    let jobs: Vec<(usize, &String)> = (0..scenarios.len())
        .flat_map(|v| chosen.iter().map(move |d| (v, d)))
        .collect();
    let results: Vec<Result<_, String>> = jobs
        .par_iter()
        .map(|(v, d)| {
            let s = &scenarios[*v];
            let spec = s
                .design(d)
                .ok_or_else(|| format!("variant `{}` has no design `{d}`", vars[*v].name))?;
            // Each failure against the variant's own run without it, as simulate does.
            let r = engine::run_measured(s, spec, interval, &|_| {}).map_err(|e| e.to_string())?;
            Ok(r)
        })
        .collect();
    let mut results = results.into_iter();
    let mut runs = Vec::new();
    for (v, s) in vars.iter().zip(&scenarios) {
        let designs = (0..chosen.len())
            .map(|_| results.next().expect("one result per job"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| (EXIT_BAD_INPUT, m))?;
        runs.push(VariantRun {
            node_names: s.cluster.nodes.iter().map(|n| n.name.clone()).collect(),
            name: v.name.clone(),
            changes: describe(v),
            results: crate::sim::metrics::Results {
                scenario: s.name.clone(),
                seed: s.seed,
                duration_s: s.duration.map_or(0.0, |d| d.as_secs_f64()),
                designs,
            },
        });
    }
    Ok((base.name.clone(), runs))
}

fn render(d: &Diagnostics) -> String {
    d.sorted()
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn run(a: &Args) -> u8 {
    // Where the report goes is checked before the runs, not after them.
    if let Err(m) =
        crate::report::files::check_writable(a.out.unwrap_or(Path::new("reports")), None)
    {
        eprintln!("{m}");
        return EXIT_BAD_INPUT;
    }
    let (name, runs) = match run_variants(a) {
        Ok(x) => x,
        Err((code, m)) => {
            eprintln!("{m}");
            return code;
        }
    };
    let mut out = format!(
        "{name}: {} variant(s) × {} design(s); * differs from the base\n",
        runs.len(),
        runs[0].results.designs.len()
    );
    for (group, headers, rows) in comparison::tables(&runs) {
        out.push_str(&format!("\n{group}\n"));
        out.push_str(&text_table(&headers, &rows));
    }
    emit(&out);
    let json = serde_json::json!({
        "scenario": name,
        "variants": runs.iter().map(|r| serde_json::json!({
            "name": r.name, "changes": r.changes, "results": r.results,
        })).collect::<Vec<_>>(),
    });
    let json = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
    let dir: PathBuf = a
        .out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("reports").join(format!("{name}-compare")));
    let res = comparison::document(&name, &runs)
        .and_then(|doc| crate::report::simulation::write(&dir, &doc, &json));
    super::report_written(&dir, res)
}
