//! Simulated time: integer nanoseconds, never floating point, never the wall clock.

use std::fmt;

/// A span or an instant of simulated time, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nanos(pub u64);

impl Nanos {
    pub const ZERO: Nanos = Nanos(0);
    pub const fn from_micros(us: u64) -> Nanos {
        Nanos(us * 1_000)
    }
    pub const fn from_millis(ms: u64) -> Nanos {
        Nanos(ms * 1_000_000)
    }
    pub const fn from_secs(s: u64) -> Nanos {
        Nanos(s * 1_000_000_000)
    }
    pub fn saturating_add(self, o: Nanos) -> Nanos {
        Nanos(self.0.saturating_add(o.0))
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Parses `5us`, `100ms`, `3s`, `2m`, `1h` (also `ns`). A bare number is refused: a duration
    /// without a unit is ambiguous.
    pub fn parse(text: &str) -> Result<Nanos, DurationError> {
        let t = text.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let mult: f64 = match unit.trim() {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" | "min" => 60e9,
            "h" => 3600e9,
            "" => {
                return Err(DurationError::NoUnit(t.into()));
            }
            other => {
                return Err(DurationError::UnknownUnit {
                    unit: other.into(),
                    text: t.into(),
                });
            }
        };
        let value: f64 = num
            .parse()
            .map_err(|_| DurationError::NotADuration(t.into()))?;
        let ns = value * mult;
        if !ns.is_finite() || ns < 0.0 || ns > u64::MAX as f64 / 2.0 {
            return Err(DurationError::OutOfRange(t.into()));
        }
        if ns.fract() != 0.0 {
            return Err(DurationError::FinerThanANanosecond(t.into()));
        }
        Ok(Nanos(ns as u64))
    }
}

/// Why a duration could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("`{0}` has no unit; write it like 5us, 100ms, 3s or 2m")]
    NoUnit(String),
    #[error("unknown time unit `{unit}` in `{text}`; use ns, us, ms, s, m or h")]
    UnknownUnit { unit: String, text: String },
    #[error("`{0}` is not a duration; write it like 5us, 100ms, 3s or 2m")]
    NotADuration(String),
    #[error("`{0}` is out of range")]
    OutOfRange(String),
    #[error("`{0}` is finer than a nanosecond")]
    FinerThanANanosecond(String),
}

impl fmt::Display for Nanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        let (div, unit) = if n == 0 {
            (1, "s")
        } else if n.is_multiple_of(60_000_000_000) && n >= 60_000_000_000 {
            (60_000_000_000, "m")
        } else if n.is_multiple_of(1_000_000_000) {
            (1_000_000_000, "s")
        } else if n.is_multiple_of(1_000_000) {
            (1_000_000, "ms")
        } else if n.is_multiple_of(1_000) {
            (1_000, "us")
        } else {
            (1, "ns")
        };
        write!(f, "{}{}", n / div, unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_units_of_the_scenario_format() {
        assert_eq!(Nanos::parse("5us"), Ok(Nanos(5_000)));
        assert_eq!(Nanos::parse("100ms"), Ok(Nanos(100_000_000)));
        assert_eq!(Nanos::parse("3s"), Ok(Nanos(3_000_000_000)));
        assert_eq!(Nanos::parse("2m"), Ok(Nanos(120_000_000_000)));
        assert_eq!(Nanos::parse("1.5s"), Ok(Nanos(1_500_000_000)));
        assert!(Nanos::parse("5").is_err());
        assert!(Nanos::parse("5 parsecs").is_err());
        assert!(Nanos::parse("abc").is_err());
        assert!(Nanos::parse("1e400s").is_err());
    }

    #[test]
    fn displays_in_the_largest_exact_unit() {
        assert_eq!(Nanos(5_000).to_string(), "5us");
        assert_eq!(Nanos::from_secs(120).to_string(), "2m");
        assert_eq!(Nanos::from_secs(3).to_string(), "3s");
    }
}
