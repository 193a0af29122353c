//! The work a run will do, known before doing it: connections (Σ rate × duration), events,
//! time-series points and the peak of live state (connections open plus NAT tuples held:
//! Little's law, λ · (E[lifetime] + hold)). `validate` says it, `simulate` and `compare` refuse a
//! run over the limit (`--max-connections`) with the estimate and the flag to use — never an
//! allocation failure, a hang or a gigabyte report.

use crate::scenario::Scenario;
use crate::scenario::warmup::is_masqueraded;
use crate::time::Nanos;

/// The default limit on connections per design run: about two minutes of one core at the
/// engine's ≈ 1 M events/s, a few minutes for a scenario's designs on a laptop.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 25_000_000;

/// At most this many samples per time series; a finer `--sample-interval` is coarsened (the
/// report says so).
pub const MAX_POINTS: u64 = 20_000;

/// The engine's speed the time estimate assumes (events per second on one core, measured on the
/// scale scenario: 0.6–1.0 M).
const EVENTS_PER_SECOND: f64 = 1.0e6;

/// Bytes of live state per open connection or held NAT tuple (connection slot, queue entries,
/// conntrack entry), for the memory figure.
const BYTES_PER_LIVE: f64 = 160.0;

#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Connections one design run simulates.
    pub connections: f64,
    /// Events of one design run (arrival, close, NAT release, samples).
    pub events: f64,
    /// Design runs, in whole runs' work: each design's run, and with baselines each failure's
    /// run without it, which is forked at the failure and so simulates only what follows it.
    pub runs: f64,
    /// Samples per time series.
    pub points: u64,
    /// The sample interval used (the asked one, or coarser to stay within [`MAX_POINTS`]).
    pub interval: Nanos,
    /// Connections open plus NAT tuples held at the peak (infinite when a lifetime has no mean).
    pub live: f64,
}

/// The sample interval a run of `duration` uses when `asked` is asked: at most [`MAX_POINTS`]
/// samples, rounded up to a whole second beyond one second.
pub fn sample_interval(duration: Nanos, asked: Nanos) -> Nanos {
    let floor = duration.0.div_ceil(MAX_POINTS);
    if asked.0 >= floor {
        return asked;
    }
    if floor > 1_000_000_000 {
        Nanos(floor.div_ceil(1_000_000_000) * 1_000_000_000)
    } else {
        Nanos(floor)
    }
}

/// The work of simulating `designs` of the designs of `s` with samples every `asked` (and with
/// `baselines`, each failure's run without it).
pub fn estimate(s: &Scenario, asked: Nanos, baselines: bool, designs: usize) -> Estimate {
    let duration = s.duration.unwrap_or(Nanos::ZERO);
    let secs = duration.as_secs_f64();
    let mut connections = 0.0;
    let mut events = 0.0;
    let mut live = 0.0;
    for t in &s.traffic {
        let rate = t.arrivals.mean_rate();
        let n = rate * secs;
        let nat = t.pairs.iter().any(|(f, to)| is_masqueraded(f, to));
        let hold = if nat {
            s.conntrack.time_wait.as_secs_f64()
        } else {
            0.0
        };
        connections += n;
        // Arrival and close; a NAT release after TIME_WAIT.
        events += n * if nat { 3.0 } else { 2.0 };
        live += rate * (t.lifetime.mean_s().unwrap_or(f64::INFINITY) + hold).min(secs.max(0.0));
    }
    let interval = sample_interval(duration, asked);
    let points = duration.0.checked_div(interval.0).unwrap_or(0);
    events += points as f64;
    // A failure's run without it is forked at the failure (`engine::run_measured`): the part
    // of the duration after it.
    let forked: f64 = s
        .events
        .iter()
        .filter(|e| matches!(e.kind, crate::scenario::EventKind::Fail) && e.at < duration)
        .map(|e| (duration.0 - e.at.0) as f64 / duration.0 as f64)
        .sum();
    Estimate {
        connections,
        events,
        runs: designs as f64 * (1.0 + if baselines { forked } else { 0.0 }),
        points,
        interval,
        live,
    }
}

/// "≈ 210,000" (three significant figures, thousands separated), "≈ 1.0e14" beyond.
fn about(x: f64) -> String {
    if !x.is_finite() {
        return "unbounded".into();
    }
    if x >= 1e12 {
        return format!("≈ {x:.1e}");
    }
    let digits = (x.round() as u64).to_string();
    let keep = digits.len().min(3);
    let rounded: String = digits
        .chars()
        .enumerate()
        .map(|(i, c)| if i < keep { c } else { '0' })
        .collect();
    format!("≈ {}", crate::report::doc::group_digits(&rounded))
}

impl Estimate {
    /// Seconds of one core for all the runs.
    pub fn cpu_seconds(&self) -> f64 {
        self.events * self.runs / EVENTS_PER_SECOND
    }

    /// One line: "≈ 210,000 connections and ≈ 640,000 events per design run, 5.7 runs' work,
    /// ≈ 3 s of one core; 300 samples per series; ≈ 9,500 connections and NAT tuples live (≈ 2 MB)".
    pub fn describe(&self) -> String {
        format!(
            "{} connections and {} events per design run, {:.1} runs' work, {} s of one core; {} samples per series (every {}); {} connections and NAT tuples live at the peak ({} MB)",
            about(self.connections),
            about(self.events),
            self.runs,
            about(self.cpu_seconds().ceil()),
            self.points,
            self.interval,
            about(self.live),
            about((self.live * BYTES_PER_LIVE / 1e6).ceil()),
        )
    }

    /// Why the run is refused, if it is over `max_connections` per design run.
    pub fn over(&self, max_connections: u64) -> Option<String> {
        (self.connections > max_connections as f64 || !self.connections.is_finite()).then(|| {
            format!(
                "this run is too large to simulate as asked: {}. The limit is {} connections per design run; shorten `duration` or lower the rates, or raise the limit with --max-connections {} if you mean it",
                self.describe(),
                crate::report::doc::group_digits(&max_connections.to_string()),
                (self.connections.ceil() as u64).max(max_connections)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_is_coarsened_to_keep_the_points() {
        let day = Nanos::from_secs(86_400);
        // 86,400 s at 1 s would be 86,400 points: 5 s keeps 17,280.
        assert_eq!(
            sample_interval(day, Nanos::from_secs(1)),
            Nanos::from_secs(5)
        );
        assert_eq!(
            sample_interval(Nanos::from_secs(300), Nanos::from_secs(1)),
            Nanos::from_secs(1)
        );
        // 300 s at 1 ns: 15 ms keeps 20,000.
        assert_eq!(
            sample_interval(Nanos::from_secs(300), Nanos(1)),
            Nanos(15_000_000)
        );
    }

    #[test]
    fn figures_are_rounded_for_people() {
        assert_eq!(about(209_646.0), "≈ 209,000");
        assert_eq!(about(1e15), "≈ 1.0e15");
        assert_eq!(about(f64::INFINITY), "unbounded");
    }
}
