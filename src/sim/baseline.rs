//! Each failure measured against the same run without it (issue 12): same seed, so the same
//! arrivals, lifetimes and endpoints (common random numbers: every generator draws from its own
//! named streams, which no failure touches). The excess refused and broken connections, and how
//! long after the failure the success ratio differs from the run without it (beyond binomial noise),
//! are differences —
//! not the run's own noise or an earlier transient.

use super::engine;
use super::metrics::DesignResult;
use crate::design::DesignSpec;
use crate::scenario::reference::Display;
use crate::scenario::{EventKind, Scenario};
use crate::time::Nanos;

/// Two success ratios closer than this are the same.
const SAME_RATIO: f64 = 0.01;

/// Two samples' success ratios differ when they are further apart than [`SAME_RATIO`] and than
/// four standard deviations of the difference of two binomial proportions over the samples'
/// arrivals (once the runs' states have diverged, their samples are independent draws; at 4σ
/// a false difference comes once in about 16,000 samples).
fn differ(a: f64, na: u64, b: f64, nb: u64) -> bool {
    let p = (a * na as f64 + b * nb as f64) / (na + nb).max(1) as f64;
    let sigma = (p * (1.0 - p) * (1.0 / na.max(1) as f64 + 1.0 / nb.max(1) as f64)).sqrt();
    (a - b).abs() > SAME_RATIO.max(4.0 * sigma)
}

/// The recovery of failure event `k`, left out with it: the first later recovery of its target.
pub fn recovery_of(s: &Scenario, k: usize) -> Option<usize> {
    let target = &s.events[k].target;
    s.events
        .iter()
        .enumerate()
        .skip(k + 1)
        .find(|(_, x)| x.kind == EventKind::Recover && x.target == *target)
        .map(|(j, _)| j)
}

/// Each failure's run without it, computed the slow way: a whole new run of the scenario with
/// the failure and its own recovery left out. `engine::run_measured` forks the run at the
/// failure instead (the same run up to there); this is its oracle in the tests.
pub fn runs_without_by_rerun(
    s: &Scenario,
    design: &DesignSpec,
    interval: Nanos,
) -> Result<Vec<(usize, DesignResult)>, super::SimError> {
    let mut out = Vec::new();
    for (k, e) in s.events.iter().enumerate() {
        if e.kind != EventKind::Fail {
            continue;
        }
        let recovery = recovery_of(s, k);
        let mut without = s.clone();
        without.events = s
            .events
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != k && Some(*i) != recovery)
            .map(|(_, x)| x.clone())
            .collect();
        out.push((k, engine::run(&without, design, interval)?));
    }
    Ok(out)
}

/// Adds `against_run_without` to each failure record of `r`, from the runs without each failure
/// (`without`: scenario event index → that run's result).
pub fn compare_with(s: &Scenario, r: &mut DesignResult, without: &[(usize, DesignResult)]) {
    for (k, b) in without {
        let e = &s.events[*k];
        let target = Display(&e.target, &s.fabric, &s.cluster).to_string();
        let at_s = e.at.as_secs_f64();
        let Some(rec) = r
            .failover
            .iter()
            .position(|f| f.target == target && f.at_s == at_s)
        else {
            continue;
        };
        let sum =
            |m: &std::collections::BTreeMap<&'static str, u64>| m.values().sum::<u64>() as i64;
        let excess_refused = sum(&r.connections.refused) - sum(&b.connections.refused);
        let excess_broken = sum(&r.connections.broken) - sum(&b.connections.broken);
        // The last sample after the failure where the two runs' success ratios differ.
        let (with, base) = (
            &r.timeseries.new_connection_success_ratio,
            &b.timeseries.new_connection_success_ratio,
        );
        let (n_with, n_base) = (&r.timeseries.new_connections, &b.timeseries.new_connections);
        let last_diff = (0..with.len().min(base.len()))
            .rev()
            .filter(|i| r.timeseries.t_s[*i] > at_s)
            .find(|i| differ(with[*i], n_with[*i], base[*i], n_base[*i]))
            .map(|i| r.timeseries.t_s[i]);
        let matches_after = last_diff.map_or(0.0, |t| t - at_s + r.timeseries.interval_s);
        r.failover[rec].against_run_without = Some(super::metrics::AgainstRunWithout {
            changed_nothing: excess_refused == 0 && excess_broken == 0 && last_diff.is_none(),
            excess_broken,
            excess_refused,
            success_ratio_matches_after_s: matches_after,
        });
    }
}
