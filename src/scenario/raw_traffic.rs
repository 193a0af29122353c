//! Raw traffic generators, failure events and conntrack settings of a scenario file.

use super::decode::{At, Decode, Fields};
use super::diag::Diagnostics;
use super::yaml::{Node, Value};
use crate::time::Nanos;

#[derive(Clone, Debug)]
pub enum RawArrivals {
    Poisson(f64),
    Constant(f64),
    OnOff { rate: f64, on: Nanos, off: Nanos },
}

#[derive(Clone, Debug)]
pub enum RawLifetime {
    Exponential(Nanos),
    Constant(Nanos),
    Lognormal { mean: Nanos, sigma: f64 },
    Pareto { scale: Nanos, shape: f64 },
}

impl RawArrivals {
    /// Connections per second on average (an on/off source: its rate × the on share).
    pub fn mean_rate(&self) -> f64 {
        match self {
            RawArrivals::Poisson(r) | RawArrivals::Constant(r) => *r,
            RawArrivals::OnOff { rate, on, off } => {
                rate * on.as_secs_f64() / (on.as_secs_f64() + off.as_secs_f64()).max(1e-12)
            }
        }
    }
}

impl RawLifetime {
    /// E[T], seconds; `None` when infinite (a Pareto shape ≤ 1).
    pub fn mean_s(&self) -> Option<f64> {
        match self {
            RawLifetime::Exponential(m) | RawLifetime::Constant(m) => Some(m.as_secs_f64()),
            RawLifetime::Lognormal { mean, .. } => Some(mean.as_secs_f64()),
            RawLifetime::Pareto { scale, shape } => {
                (*shape > 1.0).then(|| shape * scale.as_secs_f64() / (shape - 1.0))
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct RawTraffic {
    pub name: At<String>,
    /// `count: N`: one generator whose connections each pick one of N (from, to) pairs, the
    /// templates in `from` and `to` filled for copy 1 … N (`super::expand`).
    pub count: Option<At<u64>>,
    pub from: At<String>,
    pub to: At<String>,
    pub arrivals: RawArrivals,
    pub duration: RawLifetime,
}

/// The fastest rate the nanosecond clock can tell apart.
pub const MAX_RATE: f64 = 1e9;

/// Why a rate could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error("`{0}` is not a rate; write it like 400/s")]
    NotARate(String),
    #[error("unknown rate unit `/{0}`; use /s, /m or /h")]
    UnknownUnit(String),
    #[error("rate `{0}` must be positive")]
    NotPositive(String),
    #[error(
        "rate `{0}` is more than 1e9/s, one arrival per nanosecond (the simulation clock's tick)"
    )]
    TooFast(String),
}

/// A rate `400/s`, `20/m`, `3/h`, in events per second.
pub fn parse_rate(text: &str) -> Result<f64, RateError> {
    let (n, unit) = text
        .trim()
        .split_once('/')
        .ok_or_else(|| RateError::NotARate(text.into()))?;
    let per = match unit.trim() {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        u => return Err(RateError::UnknownUnit(u.into())),
    };
    let v: f64 = n
        .trim()
        .parse()
        .map_err(|_| RateError::NotARate(text.into()))?;
    if !v.is_finite() || v <= 0.0 {
        return Err(RateError::NotPositive(text.into()));
    }
    let rate = v / per;
    // The clock ticks in nanoseconds: faster arrivals would all fall on the same instant.
    if rate > MAX_RATE {
        return Err(RateError::TooFast(text.into()));
    }
    Ok(rate)
}

struct Rate(f64);
impl Decode for Rate {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let Value::Str(s) = &node.value else {
            d.error(
                &node.loc,
                path,
                format!("expected a rate like 400/s, found {}", node.kind()),
            );
            return None;
        };
        parse_rate(s)
            .map(Rate)
            .map_err(|m| d.error(&node.loc, path, m))
            .ok()
    }
}

/// Reads a one-key mapping `{ kind: value }` (a tagged choice) and returns the kind and its node.
fn one_of<'n>(
    node: &'n Node,
    path: &str,
    d: &mut Diagnostics,
    kinds: &[&str],
) -> Option<(String, &'n Node, String)> {
    match &node.value {
        Value::Map(m) if m.len() == 1 && kinds.contains(&m[0].0.name.as_str()) => {
            let k = &m[0].0.name;
            Some((k.clone(), &m[0].1, super::decode::join(path, k)))
        }
        _ => {
            d.error(
                &node.loc,
                path,
                format!(
                    "expected one of {{ {} }} with its parameter",
                    kinds.join(" | ")
                ),
            );
            None
        }
    }
}

impl RawTraffic {
    // Long: it reads one object's keys in the order the file gives them, each with its
    // default, its check and its message; one block per key.
    pub(super) fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::strict(node, path, d)?;
        let name = f.req_at("name", d);
        let from = f.req_at("from", d);
        let to = f.req_at("to", d);
        let count = f.opt_at("count", d);
        let arrivals = f.node("arrivals").and_then(|n| {
            let (k, v, p) = one_of(
                n,
                &f.child("arrivals"),
                d,
                &["poisson", "constant", "on_off"],
            )?;
            match k.as_str() {
                "poisson" => Rate::decode(v, &p, d).map(|r| RawArrivals::Poisson(r.0)),
                "constant" => Rate::decode(v, &p, d).map(|r| RawArrivals::Constant(r.0)),
                _ => {
                    let mut g = Fields::strict(v, &p, d)?;
                    let rate: Option<Rate> = g.req("rate", d);
                    let on = g.req("on", d);
                    let off = g.req("off", d);
                    g.finish(d);
                    Some(RawArrivals::OnOff {
                        rate: rate?.0,
                        on: on?,
                        off: off?,
                    })
                }
            }
        });
        if !f.has("arrivals") {
            d.error(f.loc(), path, "missing required key `arrivals`");
        }
        let duration = f.node("duration").and_then(|n| {
            let (k, v, p) = one_of(
                n,
                &f.child("duration"),
                d,
                &["exponential", "constant", "lognormal", "pareto"],
            )?;
            match k.as_str() {
                "exponential" => Nanos::decode(v, &p, d).map(RawLifetime::Exponential),
                "constant" => Nanos::decode(v, &p, d).map(RawLifetime::Constant),
                "lognormal" => {
                    let mut g = Fields::strict(v, &p, d)?;
                    let (mean, sigma): (Option<Nanos>, Option<f64>) =
                        (g.req("mean", d), g.req("sigma", d));
                    g.finish(d);
                    // What rand_distr's LogNormal::new refuses, refused here with the line.
                    if let Some(s) = sigma.filter(|s| !(s.is_finite() && *s >= 0.0)) {
                        d.error(&v.loc, &p, format!("lognormal sigma {s}: give a finite number ≥ 0"));
                        return None;
                    }
                    if mean.is_some_and(|m| m == Nanos::ZERO) {
                        d.error(&v.loc, &p, "lognormal mean 0: give a positive mean lifetime");
                        return None;
                    }
                    Some(RawLifetime::Lognormal {
                        mean: mean?,
                        sigma: sigma?,
                    })
                }
                _ => {
                    let mut g = Fields::strict(v, &p, d)?;
                    let (scale, shape): (Option<Nanos>, Option<f64>) =
                        (g.req("scale", d), g.req("shape", d));
                    g.finish(d);
                    // What rand_distr's Pareto::new refuses, refused here with the line.
                    if let Some(s) = shape.filter(|s| !(s.is_finite() && *s > 0.0)) {
                        d.error(&v.loc, &p, format!("pareto shape {s}: give a positive number (above 1 for a finite mean lifetime)"));
                        return None;
                    }
                    if scale.is_some_and(|x| x == Nanos::ZERO) {
                        d.error(&v.loc, &p, "pareto scale 0: give the shortest lifetime, above 0");
                        return None;
                    }
                    Some(RawLifetime::Pareto {
                        scale: scale?,
                        shape: shape?,
                    })
                }
            }
        });
        if !f.has("duration") {
            d.error(f.loc(), path, "missing required key `duration`");
        }
        f.finish(d);
        Some(RawTraffic {
            name: name?,
            count,
            from: from?,
            to: to?,
            arrivals: arrivals?,
            duration: duration?,
        })
    }
}

#[derive(Clone, Debug)]
pub struct RawEvent {
    pub at: At<Nanos>,
    pub fail: Option<At<String>>,
    pub recover: Option<At<String>>,
}

impl RawEvent {
    pub(super) fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::strict(node, path, d)?;
        let at = f.req_at("at", d);
        let fail = f.opt_at("fail", d);
        let recover = f.opt_at("recover", d);
        if fail.is_some() == recover.is_some() {
            d.error(
                f.loc(),
                path,
                "an event needs exactly one of `fail` or `recover`",
            );
        }
        f.finish(d);
        Some(RawEvent {
            at: at?,
            fail,
            recover,
        })
    }
}

#[derive(Clone, Debug, Default)]
pub struct RawConntrack {
    pub time_wait: Option<Nanos>,
    pub udp_timeout: Option<Nanos>,
    /// The nodes' Linux version (`uname -r`), which decides the NAT port search.
    pub node_kernel: Option<At<String>>,
    /// `kernel` (the node kernel's search) or `whole-range` (an ideal allocator).
    pub nat_port_search: Option<At<String>>,
}

impl RawConntrack {
    pub(super) fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::strict(node, path, d)?;
        let r = RawConntrack {
            time_wait: f.opt("time_wait", d),
            udp_timeout: f.opt("udp_timeout", d),
            node_kernel: match f.node("node_kernel") {
                // A YAML number drops trailing zeros (5.10 reads as 5.1): ask for quotes.
                Some(n) if matches!(n.value, Value::Float(_)) => {
                    d.error(&n.loc, &f.child("node_kernel"), format!("write the kernel version quoted, e.g. '{}': a YAML number loses its trailing zeros (5.10 would read as 5.1)", n.scalar_text().unwrap_or_default()));
                    None
                }
                Some(n) => At::<String>::decode(n, &f.child("node_kernel"), d),
                None => None,
            },
            nat_port_search: f.opt_at("nat_port_search", d),
        };
        f.finish(d);
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_rate;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("400/s"), Ok(400.0));
        assert_eq!(parse_rate("60/m"), Ok(1.0));
        assert!(parse_rate("400").is_err());
        assert!(parse_rate("-3/s").is_err());
    }
}
