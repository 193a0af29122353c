//! `fabsim simulate SCENARIO [--design NAME]... [--out DIR] [--json FILE]`: runs the designs,
//! prints one summary row per design, writes `results.json`, `report.md`, `report.html` and the
//! SVG plots in the report folder.

use super::{EXIT_BAD_INPUT, EXIT_FAILURE, emit, load_valid};
use crate::sim::metrics::Results;
use crate::time::Nanos;
use std::fmt::Write;
use std::path::{Path, PathBuf};

pub struct Args<'a> {
    pub scenario: &'a Path,
    pub designs: &'a [String],
    /// Skip the runs without each failure (`sim::baseline`).
    pub no_baseline: bool,
    pub out: Option<&'a Path>,
    pub json: Option<&'a Path>,
    pub sample_interval: Option<Nanos>,
}

/// The summary table: one row per design.
pub fn table(r: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenario {} (seed {}), {} s simulated",
        r.scenario, r.seed, r.duration_s
    );
    let _ = writeln!(
        out,
        "{:<14} {:<12} {:>10} {:>11} {:>9} {:>10} {:>9}  {:<24} {:>7} {:>9}",
        "design",
        "cni",
        "attempted",
        "established",
        "refused",
        "completed",
        "active",
        "refused by reason",
        "hops50",
        "lat99 us"
    );
    for d in &r.designs {
        let c = &d.connections;
        let refused: u64 = c.refused.values().sum();
        let reasons: Vec<String> = c.refused.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(
            out,
            "{:<14} {:<12} {:>10} {:>11} {:>9} {:>10} {:>9}  {:<24} {:>7} {:>9}",
            d.name,
            d.cni,
            c.attempted,
            c.established,
            refused,
            c.completed,
            c.active_at_end,
            if reasons.is_empty() {
                "-".to_string()
            } else {
                reasons.join(", ")
            },
            d.paths.hop_count_p50,
            d.paths.fabric_latency_us_p99
        );
    }
    out
}

pub fn run(a: &Args) -> u8 {
    let s = match load_valid(a.scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    // A progress bar per design on stderr, when stderr is a terminal (indicatif hides it otherwise).
    let names: Vec<String> = if a.designs.is_empty() {
        s.designs.iter().map(|d| d.name.clone()).collect()
    } else {
        a.designs.to_vec()
    };
    let bars = indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr());
    let style = indicatif::ProgressStyle::with_template("{prefix:>14} {bar:40} {percent:>3}%")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    let per_design: Vec<indicatif::ProgressBar> = names
        .iter()
        .map(|n| {
            bars.add(
                indicatif::ProgressBar::new(1000)
                    .with_style(style.clone())
                    .with_prefix(n.clone()),
            )
        })
        .collect();
    let interval = a
        .sample_interval
        .unwrap_or(crate::sim::engine::DEFAULT_SAMPLE_INTERVAL);
    let result =
        crate::sim::run_all_with_progress(&s, a.designs, interval, !a.no_baseline, &|i, f| {
            if let Some(b) = per_design.get(i) {
                b.set_position((f * 1000.0) as u64);
            }
        });
    for b in &per_design {
        b.finish_and_clear();
    }
    let r = match result {
        Ok(r) => r,
        Err(m) => {
            eprintln!("{m}");
            return EXIT_BAD_INPUT;
        }
    };
    emit(&table(&r));
    let json = match serde_json::to_string_pretty(&r) {
        Ok(j) => j + "\n",
        Err(e) => {
            eprintln!("cannot render results: {e}");
            return EXIT_FAILURE;
        }
    };
    let dir: PathBuf = a
        .out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("reports").join(&s.name));
    let res = crate::report::simulation::document(&s, &r)
        .and_then(|doc| crate::report::simulation::write(&dir, &doc, &json))
        .and_then(|()| {
            a.json.map_or(Ok(()), |p| {
                std::fs::write(p, &json).map_err(|e| format!("cannot write {}: {e}", p.display()))
            })
        });
    super::report_written(&dir, res)
}
