//! The warm-up: how long a run goes before its connections are counted, so the figures describe
//! the steady state and not the filling of an empty cluster.
//!
//! A run starts with no connection open and no NAT tuple held. Connections arriving at rate λ
//! that each hold their state for a time X (the lifetime, plus TIME_WAIT or the UDP timeout for
//! the NAT tuple a masqueraded connection leaves behind) are an M/G/∞ system: the expected
//! number held at time t is λ·(E[X] − E[(X − t)⁺]), which reaches its steady state λ·E[X] only
//! as E[(X − t)⁺] → 0. `warmup: auto` (the default) counts from the time at which that
//! shortfall is below 1 % for every traffic entry — the open connections and the NAT ports in
//! use have stopped growing, in expectation. The run itself checks the measured series
//! (`sim::steady`).
//!
//! Every design of a scenario (and every baseline run without one event) counts from the same
//! instant, so their figures compare. The warm-up never runs into the first event: an automatic
//! one is cut there and says that the run is not in steady state before it; a fixed one that
//! would is an error (the event's effect would not be counted).

use super::raw::RawLifetime;
use super::reference::Ref;
use crate::time::Nanos;

/// The shortfall from steady state `auto` accepts: 1 % of the expected connections and tuples held.
pub const STEADY_SHORTFALL: f64 = 0.01;

/// What the scenario says (`warmup: 90s` or `warmup: auto`, the default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WarmupSetting {
    Auto,
    Fixed(Nanos),
}

/// The warm-up a run uses.
#[derive(Clone, Debug, PartialEq)]
pub struct Warmup {
    /// Connections arriving before this instant are simulated but not counted.
    pub counted_from: Nanos,
    /// When the offered load reaches steady state (M/G/∞, within [`STEADY_SHORTFALL`]); `None`
    /// when it never does (a Pareto lifetime with shape ≤ 1 has no finite mean).
    pub steady_from: Option<Nanos>,
    /// The traffic entry that takes longest to get there.
    pub slowest: Option<String>,
    /// How the warm-up was chosen, in words, for the report.
    pub how: String,
    /// False when the run reaches its first event (or its end) before the steady state.
    pub steady_before_first_event: bool,
    /// How long a masqueraded connection holds its NAT port, lifetime and TIME_WAIT together
    /// (the longest of the traffic entries): when the ports run out, refusals come back in
    /// waves of this period (`sim::steady`).
    pub nat_hold: Option<Nanos>,
}

impl Default for Warmup {
    fn default() -> Self {
        Warmup {
            counted_from: Nanos::ZERO,
            steady_from: Some(Nanos::ZERO),
            slowest: None,
            how: "none: every connection is counted".into(),
            steady_before_first_event: true,
            nat_hold: None,
        }
    }
}

/// The standard normal distribution function.
fn phi(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// E[(T − s)⁺], seconds, for s ≥ 0: the lifetime still to run, counted over connections that
/// arrived s ago — the shortfall of an M/G/∞ system s after it started empty, per unit rate.
fn excess(t: &RawLifetime, s: f64) -> Option<f64> {
    Some(match t {
        RawLifetime::Exponential(m) => {
            let m = m.as_secs_f64();
            if m == 0.0 { 0.0 } else { m * (-s / m).exp() }
        }
        RawLifetime::Constant(c) => (c.as_secs_f64() - s).max(0.0),
        RawLifetime::Lognormal { mean, sigma } => {
            let m = mean.as_secs_f64();
            if s <= 0.0 || *sigma <= 0.0 || m <= 0.0 {
                (m - s).max(0.0)
            } else {
                // T = e^(μ + σZ), μ = ln m − σ²/2: E[(T − s)⁺] = m·Φ(d₁) − s·Φ(d₁ − σ),
                // d₁ = (μ + σ² − ln s)/σ (the Black–Scholes call price with zero rate).
                let mu = m.ln() - sigma * sigma / 2.0;
                let d1 = (mu + sigma * sigma - s.ln()) / sigma;
                (m * phi(d1) - s * phi(d1 - sigma)).max(0.0)
            }
        }
        RawLifetime::Pareto { scale, shape } => {
            let (xm, a) = (scale.as_secs_f64(), *shape);
            if a <= 1.0 {
                return None;
            }
            if s <= xm {
                a * xm / (a - 1.0) - s
            } else {
                xm.powf(a) * s.powf(1.0 - a) / (a - 1.0)
            }
        }
    })
}

/// The time, seconds, after which connections of lifetime `t` that hold their state `hold`
/// seconds longer are within `STEADY_SHORTFALL` of their steady-state number; `None` if never.
pub fn time_to_steady(t: &RawLifetime, hold: f64) -> Option<f64> {
    let total = t.mean_s()? + hold;
    if total <= 0.0 {
        return Some(0.0);
    }
    let target = STEADY_SHORTFALL * total;
    // E[(T + H − s)⁺]: decreasing in s; bisect for where it meets the target.
    let shortfall = |s: f64| -> f64 {
        if s >= hold {
            excess(t, s - hold).unwrap_or(f64::INFINITY)
        } else {
            total - s
        }
    };
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while shortfall(hi) > target {
        hi *= 2.0;
        if hi > 1e12 {
            return None;
        }
    }
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if shortfall(mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(hi)
}

/// One traffic entry as the warm-up sees it: its lifetime and how long its NAT tuple outlives
/// the connection (zero when it is not masqueraded).
pub struct Held<'a> {
    pub name: &'a str,
    pub lifetime: &'a RawLifetime,
    pub hold: Nanos,
}

/// Whether a (from, to) pair's connections leave a NAT tuple behind: pods talking to something
/// outside the cluster (SNAT under ACI-CNI, masquerade under the BGP designs). Approximation: a
/// literal address is taken to be outside.
pub fn is_masqueraded(from: &Ref, to: &Ref) -> bool {
    matches!(
        from,
        Ref::Deployment { .. } | Ref::Namespace(_) | Ref::Pod { .. }
    ) && matches!(to, Ref::External { .. } | Ref::Literal { .. })
}

/// The warm-up of a run of `duration` whose first event is at `first_event`.
// Long: the warm-up per traffic entry, cut to the first event, with the message for each
// case.
pub fn plan(
    setting: WarmupSetting,
    traffic: &[Held],
    duration: Option<Nanos>,
    first_event: Option<Nanos>,
) -> Warmup {
    let nat_hold = traffic
        .iter()
        .filter(|t| t.hold > Nanos::ZERO)
        .filter_map(|t| t.lifetime.mean_s().map(|m| t.hold.as_secs_f64() + m))
        .fold(None, |a: Option<f64>, x| Some(a.map_or(x, |a| a.max(x))))
        .map(|s| Nanos((s * 1e9) as u64));
    let mut steady: Option<f64> = Some(0.0);
    let mut slowest = None;
    for t in traffic {
        match time_to_steady(t.lifetime, t.hold.as_secs_f64()) {
            None => {
                steady = None;
                slowest = Some(t.name.to_string());
                break;
            }
            Some(x) if steady.is_some_and(|s| x > s) => {
                steady = Some(x);
                slowest = Some(t.name.to_string());
            }
            Some(_) => {}
        }
    }
    // Whole seconds: the report's samples fall on them.
    let steady_from = steady.map(|s| Nanos::from_secs(s.ceil() as u64));
    let horizon = match (first_event, duration) {
        (Some(e), _) => Some(e),
        (None, d) => d,
    };
    let reached = |t: Nanos| steady_from.is_some_and(|s| s <= t);
    let fmt = |t: Nanos| format!("{t}");
    let why = match (&slowest, steady_from) {
        (Some(n), Some(s)) => format!(
            "the open connections and the NAT tuples they hold are within {}% of their steady state from {} on (M/G/∞; slowest: {n})",
            (STEADY_SHORTFALL * 100.0) as u32,
            fmt(s)
        ),
        (Some(n), None) => format!(
            "traffic {n} never reaches a steady state (a Pareto lifetime with shape ≤ 1 has no finite mean)"
        ),
        (None, _) => "no traffic".into(),
    };
    match setting {
        WarmupSetting::Fixed(w) => Warmup {
            counted_from: w,
            steady_from,
            steady_before_first_event: horizon.is_none_or(reached),
            nat_hold,
            how: if w == Nanos::ZERO {
                format!("none (warmup: 0s): every connection is counted; {why}")
            } else {
                format!("warmup: {} as the scenario sets it; {why}", fmt(w))
            },
            slowest,
        },
        WarmupSetting::Auto => {
            let (counted_from, how) = match (steady_from, first_event, duration) {
                (Some(s), Some(e), _) if s > e => (
                    e,
                    format!(
                        "automatic, cut to the first event at {}: {why} — the run is NOT in steady state before the event",
                        fmt(e)
                    ),
                ),
                (Some(s), None, Some(d)) if s >= d => (
                    Nanos::ZERO,
                    format!(
                        "automatic, none: {why}, after the run's end ({}) — every connection is counted and the figures include the filling of the cluster",
                        fmt(d)
                    ),
                ),
                (Some(s), _, _) => (s, format!("automatic: {}, because {why}", fmt(s))),
                (None, Some(e), _) => (
                    e,
                    format!("automatic, cut to the first event at {}: {why}", fmt(e)),
                ),
                (None, None, _) => (
                    Nanos::ZERO,
                    format!("automatic, none: {why}; every connection is counted"),
                ),
            };
            Warmup {
                counted_from,
                steady_from,
                steady_before_first_event: horizon.is_none_or(reached),
                nat_hold,
                how,
                slowest,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Nanos {
        Nanos::from_secs(s)
    }

    /// Exponential lifetime, no hold: the shortfall is m·e^(−t/m), 1 % at t = m·ln 100.
    #[test]
    fn exponential_lifetimes_settle_after_ln_100_means() {
        let t = time_to_steady(&RawLifetime::Exponential(secs(20)), 0.0).unwrap();
        assert!((t - 20.0 * 100f64.ln()).abs() < 1e-6, "{t}");
    }

    /// A constant hold adds to the time: the tuple of a connection with exp(5 s) lifetime held
    /// 120 s in TIME_WAIT is within 1 % of steady once 5·e^(−(t − 120)/5) ≤ 0.01 · 125,
    /// t = 120 + 5·ln(5/1.25) = 126.93 s.
    #[test]
    fn time_wait_delays_the_steady_state_of_nat_ports() {
        let t = time_to_steady(&RawLifetime::Exponential(secs(5)), 120.0).unwrap();
        assert!(
            (t - (120.0 + 5.0 * (5.0f64 / 1.25).ln())).abs() < 1e-6,
            "{t}"
        );
    }

    /// Pareto(x_m = 1 s, α = 2): E[T] = 2 s and E[(T − s)⁺] = 1/s beyond x_m; 1 % of 2 s at s = 50 s.
    /// With α = 1 there is no finite mean, so no steady state.
    #[test]
    fn pareto_lifetimes_settle_slowly_or_never() {
        let p = |shape| RawLifetime::Pareto {
            scale: secs(1),
            shape,
        };
        let t = time_to_steady(&p(2.0), 0.0).unwrap();
        assert!((t - 50.0).abs() < 1e-6, "{t}");
        assert_eq!(time_to_steady(&p(1.0), 0.0), None);
    }

    /// Lognormal against a direct numerical integral of its survival function.
    #[test]
    fn lognormal_shortfall_matches_a_numerical_integral() {
        let (m, sigma) = (10.0f64, 1.0f64);
        let t = RawLifetime::Lognormal {
            mean: secs(10),
            sigma,
        };
        let mu = m.ln() - sigma * sigma / 2.0;
        let survival = |x: f64| 1.0 - phi((x.ln() - mu) / sigma);
        for s in [1.0, 10.0, 40.0] {
            // ∫_s^∞ S(x) dx by the midpoint rule on a fine grid out to where S is negligible.
            let (mut sum, h) = (0.0, 0.001);
            let mut x = s + h / 2.0;
            while x < 5000.0 {
                sum += survival(x) * h;
                x += h;
            }
            let e = excess(&t, s).unwrap();
            assert!((e - sum).abs() < 1e-3 * m, "s = {s}: {e} vs {sum}");
        }
    }

    fn held(lifetime: &RawLifetime) -> Vec<Held<'_>> {
        vec![Held {
            name: "t",
            lifetime,
            hold: Nanos::ZERO,
        }]
    }

    #[test]
    fn automatic_warmup_stops_at_the_first_event_and_says_so() {
        let l = RawLifetime::Exponential(secs(20));
        let w = plan(
            WarmupSetting::Auto,
            &held(&l),
            Some(secs(300)),
            Some(secs(60)),
        );
        assert_eq!(w.counted_from, secs(60));
        assert_eq!(w.steady_from, Some(secs(93)));
        assert!(!w.steady_before_first_event);
        assert!(w.how.contains("NOT in steady state"), "{}", w.how);
        let w = plan(
            WarmupSetting::Auto,
            &held(&l),
            Some(secs(300)),
            Some(secs(100)),
        );
        assert_eq!(w.counted_from, secs(93));
        assert!(w.steady_before_first_event);
    }
}
