//! The summary a reviewer reads first: one line per design — what it refused and why, its worst
//! failover against the run without it, its NAT headroom — and where `size snat` would put the
//! ports, each figure linked to the table below that holds it.

use super::doc::{group_digits, slug};
use crate::scenario::Scenario;
use crate::sim::metrics::{DesignResult, FailoverRecord, Results};
use crate::sizing::scenario::from_scenario;
use crate::sizing::snat::{fmt_p, size};

/// The refusal target the summary sizes for (`size snat`'s default, `--target`).
pub const SIZING_TARGET: f64 = 1e-4;

fn n(x: u64) -> String {
    group_digits(&x.to_string())
}

/// "refused 23,293 of 158,595 (14.7%): 20,735 snat-port-exhausted, 2,558 blackholed".
fn refusals(d: &DesignResult) -> String {
    let c = &d.connections;
    let refused: u64 = c.refused.values().sum();
    if refused == 0 {
        return format!("refused none of {}", n(c.attempted));
    }
    let mut why: Vec<(&str, u64)> = c.refused.iter().map(|(k, v)| (*k, *v)).collect();
    why.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let why: Vec<String> = why.iter().map(|(k, v)| format!("{} {k}", n(*v))).collect();
    format!(
        "refused {} of {} ({:.2}%): {}",
        n(refused),
        n(c.attempted),
        100.0 * refused as f64 / c.attempted.max(1) as f64,
        why.join(", ")
    )
}

/// The failure that cost most against the run without it (or, unmeasured, by its own counts).
fn worst_failover(d: &DesignResult) -> String {
    if d.failover.is_empty() {
        return "no failure in the scenario".into();
    }
    let own = |f: &FailoverRecord| -> i64 {
        (f.refused_while_failed + f.broken_at_failure + f.broken_rehashed) as i64
    };
    let cost = |f: &FailoverRecord| -> i64 {
        match &f.against_run_without {
            None => own(f),
            Some(w) => w.excess_refused + w.excess_broken,
        }
    };
    let worst = d
        .failover
        .iter()
        .filter(|f| !f.changed_nothing)
        .max_by_key(|f| cost(f));
    let Some(f) = worst else {
        return format!("none of its {} failures changed anything", d.failover.len());
    };
    let (target, at) = (&f.target, f.at_s);
    let Some(w) = &f.against_run_without else {
        return format!(
            "{target} at {at} s: {} refused, {} broken while it lasted (not measured against the run without it)",
            f.refused_while_failed,
            own(f) - f.refused_while_failed as i64
        );
    };
    let signed = |x: i64| {
        let s = group_digits(&x.unsigned_abs().to_string());
        if x < 0 {
            format!("−{s}")
        } else {
            format!("+{s}")
        }
    };
    format!(
        "{target} at {at} s: {} refused, {} broken against the run without it, success ratio as without it after {} s",
        signed(w.excess_refused),
        signed(w.excess_broken),
        w.success_ratio_matches_after_s
    )
}

/// Peak NAT ports on the busiest node against what a node has.
fn headroom(d: &DesignResult) -> String {
    let peak = d.nat.peak_ports_in_use_node;
    match d.nat.ports_per_node_available {
        None => "no NAT".into(),
        Some(avail) => {
            let left = avail.saturating_sub(peak);
            // An ACI-CNI node holds a chunk of SNAT IPs; the BGP designs masquerade.
            let what = if d.nat.snat_ips_in_use.is_some() {
                "SNAT chunk"
            } else {
                "masquerade range per destination"
            };
            format!(
                "peak {} of the {} ports of its {what} in use on the busiest node ({:.0}% left)",
                n(peak),
                n(avail),
                100.0 * left as f64 / avail.max(1) as f64
            )
        }
    }
}

/// Where `size snat` puts the ports for this design's egress (ACI-CNI: ports per node for
/// [`SIZING_TARGET`], the configured setting evaluated; BGP designs: masquerade to the node IP).
fn sizing(s: &Scenario, d: &DesignResult) -> String {
    let aci = d.nat.is_snat_chunk();
    let from = match from_scenario(s, aci.then_some(d.name.as_str())) {
        Ok(f) => f,
        Err(m) => return format!("size snat: {m}"),
    };
    let input = from.input(SIZING_TARGET);
    let Ok(r) = size(&input) else {
        return "size snat: no answer for this load".into();
    };
    if !aci {
        // The range this design's masquerade searches (Linux's, or Cilium's BPF allocator's),
        // as the run reported it; Linux's when the design does not masquerade.
        let m = r
            .masquerade
            .iter()
            .find(|m| Some(m.ports_per_destination) == d.nat.ports_per_node_available)
            .unwrap_or(&r.masquerade[0]);
        return format!(
            "size snat: masquerade to the node IP offers {} ports per destination, refusing {}",
            n(m.ports_per_destination),
            fmt_p(m.refusal_probability)
        );
    }
    let configured = input.configured_ports_per_node.and_then(|c| {
        let mut j = input.clone();
        j.ports_per_node = Some(c);
        size(&j)
            .ok()
            .map(|rc| (c, rc.refusal_probability.per_tuple))
    });
    let rec = match r.recommended_ports_per_node {
        Some(p) => format!(
            "size snat puts ports_per_node at {} for {} refused",
            n(u64::from(p)),
            fmt_p(SIZING_TARGET)
        ),
        None => "size snat finds no chunk of the port range large enough".into(),
    };
    match configured {
        Some((c, p)) => format!(
            "{rec} (the configured {} refuses {})",
            n(u64::from(c)),
            fmt_p(p)
        ),
        None => rec,
    }
}

/// One line per design, each figure followed by a Markdown link to the table below that holds
/// it (`links`), or without links for a terminal.
pub fn lines(s: &Scenario, r: &Results, links: bool) -> Vec<String> {
    // " ([failures](#failures))", or nothing.
    let link = |text: &str, heading: &str| {
        if links {
            format!(" ([{text}](#{}))", slug(heading))
        } else {
            String::new()
        }
    };
    r.designs
        .iter()
        .map(|d| {
            let mut line = format!(
                "{}: {}{}; worst failover: {}{}; NAT: {}{}; {}.",
                d.name,
                refusals(d),
                link("by reason", "Refused connections by reason"),
                worst_failover(d),
                link("failures", "Failures"),
                headroom(d),
                link("load and NAT", "Load and NAT"),
                sizing(s, d)
            );
            if !d.steady_state.steady {
                line.push_str(" Not in steady state before the first event");
                line.push_str(&link("counting", "Counting"));
                line.push('.');
            }
            line
        })
        .collect()
}
