//! The discrete-event engine: traffic generators, the connection lifecycle over the designs'
//! data planes, and the metrics of a run.
//!
//! Invariant: never reads the clock, the environment or files; every random draw comes from a
//! named stream of the scenario seed.

pub mod baseline;
mod calendar;
mod conns;
pub mod engine;
pub mod estimate;
pub mod failure;
pub mod metrics;
mod outage;
pub mod queue;
pub mod rng;
pub mod spread;
pub mod steady;
mod time_wait;
pub mod traffic;
mod world;

use crate::scenario::Scenario;
use metrics::Results;

/// Why a scenario could not be simulated (what `validate` accepts simulates, so these are the
/// cases `validate` cannot see: a design named on the command line, a scenario built in code).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("the scenario has no `duration`: give one (e.g. 300s) to simulate it")]
    NoDuration,
    #[error(transparent)]
    UnknownDesign(#[from] crate::scenario::UnknownDesign),
}
use rayon::prelude::*;

/// Runs the chosen designs (all when `designs` is empty), in parallel, each single-threaded;
/// each failure is measured against the same run without it (`baseline`).
pub fn run_all(
    s: &Scenario,
    designs: &[String],
    sample_interval: crate::time::Nanos,
) -> Result<Results, SimError> {
    run_all_with_progress(s, designs, sample_interval, true, &|_, _| {})
}

/// Like [`run_all`], reporting each design's progress (design index, fraction done);
/// `baselines: false` skips the runs without each failure (one more run per failure).
pub fn run_all_with_progress(
    s: &Scenario,
    designs: &[String],
    sample_interval: crate::time::Nanos,
    baselines: bool,
    progress: &(dyn Fn(usize, f64) + Sync),
) -> Result<Results, SimError> {
    let chosen: Vec<&crate::design::DesignSpec> = if designs.is_empty() {
        s.designs.iter().collect()
    } else {
        designs
            .iter()
            .map(|n| s.design_named(n))
            .collect::<Result<_, _>>()?
    };
    let results: Vec<Result<metrics::DesignResult, SimError>> = chosen
        .par_iter()
        .enumerate()
        .map(|(i, d)| {
            let progress = |f| progress(i, f);
            if baselines {
                engine::run_measured(s, d, sample_interval, &progress)
            } else {
                engine::run_with_progress(s, d, sample_interval, &progress)
            }
        })
        .collect();
    Ok(Results {
        scenario: s.name.clone(),
        seed: s.seed,
        duration_s: s.duration.map(|d| d.as_secs_f64()).unwrap_or(0.0),
        designs: results.into_iter().collect::<Result<_, _>>()?,
    })
}
