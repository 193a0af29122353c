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
    /// The most connections a design run may simulate (`sim::estimate`).
    pub max_connections: u64,
    pub out: Option<&'a Path>,
    pub json: Option<&'a Path>,
    pub sample_interval: Option<Nanos>,
}

/// What simulate prints: the summary line of each design, how counting was chosen and the
/// designs side by side — all within [`COLUMNS`] characters.
pub fn table(s: &crate::scenario::Scenario, r: &Results) -> String {
    use crate::report::doc::{text_table, wrap};
    use crate::report::{simulation, verdict};
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenario {} (seed {}), {} s simulated",
        r.scenario, r.seed, r.duration_s
    );
    for line in verdict::lines(s, r, false) {
        out.push_str(&wrap(&format!("- {line}"), COLUMNS, "  "));
    }
    out.push_str(&wrap(&simulation::counting(r), COLUMNS, ""));
    for (title, headers, rows) in simulation::metric_tables(r) {
        let _ = writeln!(out, "\n{title}");
        out.push_str(&text_table(&headers, &rows));
    }
    out
}

/// How often progress is printed when stderr is not a terminal.
const PLAIN_PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The terminal width the output keeps to.
pub const COLUMNS: usize = 120;

// Long: the command's steps in order, each printing its own error with its exit code.
pub fn run(a: &Args) -> u8 {
    let s = match load_valid(a.scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let work = crate::sim::estimate::estimate(
        &s,
        a.sample_interval
            .unwrap_or(crate::sim::engine::DEFAULT_SAMPLE_INTERVAL),
        !a.no_baseline,
        if a.designs.is_empty() {
            s.designs.len()
        } else {
            a.designs.len()
        },
    );
    if let Some(m) = work.over(a.max_connections) {
        eprintln!("{}: error: {m}", a.scenario.display());
        return EXIT_BAD_INPUT;
    }
    // Where the report goes is checked before the run, not after it.
    let dir: PathBuf = a
        .out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("reports").join(&s.name));
    if let Err(m) = crate::report::files::check_writable(&dir, a.json) {
        eprintln!("{m}");
        return EXIT_BAD_INPUT;
    }
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
    // Not a terminal (a log, CI): a plain line every few seconds instead of the bars.
    let plain = !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let started = std::time::Instant::now();
    let last_line = std::sync::Mutex::new(std::time::Duration::ZERO);
    if plain {
        eprintln!("simulating: {}", work.describe());
    }
    let result =
        crate::sim::run_all_with_progress(&s, a.designs, interval, !a.no_baseline, &|i, f| {
            if let Some(b) = per_design.get(i) {
                b.set_position((f * 1000.0) as u64);
            }
            if plain && let Ok(mut last) = last_line.lock() {
                let now = started.elapsed();
                if now >= *last + PLAIN_PROGRESS_EVERY {
                    *last = now;
                    eprintln!(
                        "simulating: {} {:.0}% ({:.0} s)",
                        names.get(i).map_or("", String::as_str),
                        100.0 * f,
                        now.as_secs_f64()
                    );
                }
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
    emit(&table(&s, &r));
    let json = match serde_json::to_string_pretty(&r) {
        Ok(j) => j + "\n",
        Err(e) => {
            eprintln!("cannot render results: {e}");
            return EXIT_FAILURE;
        }
    };
    let res = crate::report::simulation::document(&s, &r)
        .and_then(|doc| crate::report::simulation::write_with(&dir, &doc, &json, a.json));
    super::report_written(&dir, res)
}
