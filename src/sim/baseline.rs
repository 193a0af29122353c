//! Each failure measured against the same run without it (issue 12): same seed, so the same
//! arrivals, lifetimes and endpoints (common random numbers: every generator draws from its own
//! named streams, which no failure touches). The excess refused and broken connections, and how
//! long after the failure the success ratio differs from the run without it, are differences —
//! not the run's own noise or an earlier transient.

use super::engine;
use super::metrics::DesignResult;
use crate::design::DesignSpec;
use crate::scenario::reference::Display;
use crate::scenario::{EventKind, Scenario};
use crate::time::Nanos;

/// Two success ratios closer than this are the same.
const SAME_RATIO: f64 = 0.01;

/// Adds `against_run_without` to each failure record of `r` (the run of `design` on `s`).
pub fn compare(
    s: &Scenario,
    design: &DesignSpec,
    interval: Nanos,
    r: &mut DesignResult,
) -> Result<(), String> {
    for (k, e) in s.events.iter().enumerate() {
        if !matches!(e.kind, EventKind::Fail) {
            continue;
        }
        let target = Display(&e.target, &s.fabric, &s.cluster).to_string();
        let at_s = e.at.as_secs_f64();
        let Some(rec) = r
            .failover
            .iter()
            .position(|f| f["target"] == target.as_str() && f["at_s"].as_f64() == Some(at_s))
        else {
            continue;
        };
        // The run without it: the failure and its own recovery left out.
        let recovery = s
            .events
            .iter()
            .enumerate()
            .skip(k + 1)
            .find(|(_, x)| matches!(x.kind, EventKind::Recover) && x.target == e.target);
        let mut without = s.clone();
        without.events = s
            .events
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != k && Some(*i) != recovery.map(|(j, _)| j))
            .map(|(_, x)| x.clone())
            .collect();
        let b = engine::run(&without, design, interval)?;
        let sum =
            |m: &std::collections::BTreeMap<&'static str, u64>| m.values().sum::<u64>() as i64;
        let excess_refused = sum(&r.connections.refused) - sum(&b.connections.refused);
        let excess_broken = sum(&r.connections.broken) - sum(&b.connections.broken);
        // The last sample after the failure where the two runs' success ratios differ.
        let (with, base) = (
            &r.timeseries.new_connection_success_ratio,
            &b.timeseries.new_connection_success_ratio,
        );
        let last_diff = r
            .timeseries
            .t_s
            .iter()
            .zip(with.iter().zip(base))
            .rev()
            .filter(|(t, _)| **t > at_s)
            .find(|(_, (a, b))| (*a - *b).abs() > SAME_RATIO)
            .map(|(t, _)| *t);
        let matches_after = last_diff.map_or(0.0, |t| t - at_s + r.timeseries.interval_s);
        if let Some(obj) = r.failover[rec].as_object_mut() {
            obj.insert(
                "against_run_without".into(),
                serde_json::json!({
                    "excess_refused": excess_refused,
                    "excess_broken": excess_broken,
                    "success_ratio_matches_after_s": matches_after,
                    "changed_nothing": excess_refused == 0 && excess_broken == 0 && last_diff.is_none(),
                }),
            );
        }
    }
    Ok(())
}
