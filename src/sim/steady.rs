//! Whether a run was in steady state before its first event, measured on its own time series.
//!
//! The warm-up (`scenario::warmup`) is chosen from the offered load; what a design does with it
//! can differ (NAT ports that run out stop growing early, a design that refuses fills more
//! slowly). So each run also checks its series: over the samples before the first event (the
//! end of the run when there is none), the open connections and the NAT ports in use are still
//! growing when the mean of the last window exceeds the mean of the window before by more than
//! 2 % and by more than three times the Poisson noise of a window mean (√(mean / samples)). A
//! heuristic, named as one in the report: the windows are up to 10 samples each.
//!
//! A design whose NAT ports run out is not steady either, and growth does not show it: every
//! port taken before the exhaustion is freed one hold (lifetime + TIME_WAIT) later and every
//! refusal took none, so refusals come back in waves of that period, damped only by the spread
//! of the lifetimes. When the success ratio first fell (below 99 %) less than one hold before
//! the first event, the run is said not to be steady.

use super::metrics::TimeSeries;
use crate::time::Nanos;
use serde::Serialize;

/// Growth that counts as still growing, relative to the earlier window.
const GROWTH: f64 = 0.02;

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct SteadyCheck {
    /// When counting started, and how the warm-up was chosen.
    pub counted_from_s: f64,
    pub how: String,
    /// When the offered load reaches steady state by M/G/∞; `None` never.
    pub expected_steady_from_s: Option<f64>,
    /// Where the check looked: the samples before this instant (the first event, or the end).
    pub checked_before_s: f64,
    /// The series that were still growing there, with their growth over the last window.
    pub still_growing: Vec<Growth>,
    /// When the success ratio first fell below 99 % (NAT ports running out), if less than one
    /// NAT hold before the check: refusals recur in waves of that period.
    pub nat_exhausted_from_s: Option<f64>,
    pub nat_hold_s: Option<f64>,
    /// In steady state before the first event: the expected steady state reached and nothing
    /// measurably growing.
    pub steady: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Growth {
    pub series: &'static str,
    /// Relative growth of the last window's mean over the one before it.
    pub growth: f64,
    pub window_s: f64,
}

/// The relative growth of `v`'s last `w` values over the `w` before them, when it is more than
/// [`GROWTH`] and more than the noise.
fn growing(v: &[f64], w: usize) -> Option<f64> {
    if w == 0 || v.len() < 2 * w {
        return None;
    }
    let n = v.len();
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let (early, late) = (mean(&v[n - 2 * w..n - w]), mean(&v[n - w..]));
    let noise = 3.0 * (early.max(1.0) / w as f64).sqrt();
    let rise = late - early;
    (rise > GROWTH * early.max(1.0) && rise > noise).then(|| rise / early.max(1.0))
}

/// Checks `series` before `before` (the first event or the end).
pub fn check(
    series: &TimeSeries,
    warmup: &crate::scenario::warmup::Warmup,
    before: Nanos,
) -> SteadyCheck {
    let end = before.as_secs_f64();
    let upto = series.t_s.iter().take_while(|t| **t < end).count();
    let w = (upto / 2).min(10);
    let mut still_growing = Vec::new();
    let columns: [(&'static str, Vec<f64>); 2] = [
        (
            "open connections",
            series.active_connections[..upto]
                .iter()
                .map(|x| *x as f64)
                .collect(),
        ),
        (
            "NAT ports in use",
            series.nat_ports_in_use[..upto]
                .iter()
                .map(|x| *x as f64)
                .collect(),
        ),
    ];
    for (name, v) in columns {
        if let Some(g) = growing(&v, w) {
            still_growing.push(Growth {
                series: name,
                growth: g,
                window_s: w as f64 * series.interval_s,
            });
        }
    }
    let nat_hold_s = warmup.nat_hold.map(|h| h.as_secs_f64());
    let nat_exhausted_from_s = nat_hold_s.and_then(|hold| {
        let first = series.t_s[..upto]
            .iter()
            .zip(&series.new_connection_success_ratio)
            .find(|(_, r)| **r < 0.99)
            .map(|(t, _)| *t)?;
        (end - first < hold).then_some(first)
    });
    SteadyCheck {
        nat_exhausted_from_s,
        nat_hold_s,
        counted_from_s: warmup.counted_from.as_secs_f64(),
        how: warmup.how.clone(),
        expected_steady_from_s: warmup.steady_from.map(|s| s.as_secs_f64()),
        checked_before_s: end,
        steady: still_growing.is_empty()
            && nat_exhausted_from_s.is_none()
            && warmup.steady_before_first_event,
        still_growing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ramp grows; a flat series with Poisson-sized noise does not.
    #[test]
    fn a_ramp_is_growing_and_noise_is_not() {
        let ramp: Vec<f64> = (0..20).map(|i| 1000.0 + 100.0 * i as f64).collect();
        let g = growing(&ramp, 10).unwrap();
        // Means 1450 and 2450: growth 1000/1450.
        assert!((g - 1000.0 / 1450.0).abs() < 1e-12);
        let flat: Vec<f64> = (0..20)
            .map(|i| 10_000.0 + if i % 2 == 0 { 100.0 } else { -100.0 })
            .collect();
        assert_eq!(growing(&flat, 10), None);
        assert_eq!(growing(&ramp[..3], 2), None);
    }
}
