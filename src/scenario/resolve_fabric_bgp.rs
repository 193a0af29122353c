//! The ACI side of a BGP design's peerings: `fabric.bgp` over the defaults, the design's own
//! `bgp` fabric-side keys over `fabric.bgp`.
//!
//! Defaults: APIC's own when the design does not come from acc-provision (bgpCtxPol keepalive
//! 60 s, hold 180 s, stale 300 s, graceful-restart helper; bgpCtxAfPol maxEcmp 16;
//! bgpPeerPfxPol 20,000 prefixes, action reject); what acc-provision's Calico flavour provisions
//! when the design is read from it (`apic_provision.py`: 1 s / 3 s / 6 s, 64 paths, the
//! flavour's `prefixes`, 500 by default, action reject). FACTS §2.

use super::decode::At;
use super::diag::Diagnostics;
use super::raw_bgp::{RawBgpSection, RawFabricBgp, RawMaxPrefix};
use crate::design::bgp::config::{BgpCni, MaxPrefix, MaxPrefixAction};
use crate::time::Nanos;
use ipnet::Ipv4Net;

/// ACI's maximum of ECMP paths (bgpCtxAfPol maxEcmp 1–64).
pub const ACI_MAX_PATHS_LIMIT: u32 = 64;

/// The fabric side of one design's sessions, resolved.
pub(super) struct FabricSide {
    pub keepalive: Nanos,
    pub hold_time: Nanos,
    pub stale: Nanos,
    pub gr_helper: bool,
    pub bfd: Option<(Nanos, u32)>,
    pub max_paths: usize,
    pub max_prefix: MaxPrefix,
    pub next_hop_propagate: bool,
    pub ignore_igp_metric: bool,
    pub import: Option<Vec<Ipv4Net>>,
}

/// Where a default came from.
struct Base {
    keepalive: u64,
    hold: u64,
    stale: u64,
    max_paths: u32,
    max_prefix: u32,
    source: &'static str,
}

const APIC: Base = Base {
    keepalive: 60,
    hold: 180,
    stale: 300,
    max_paths: 16,
    max_prefix: 20_000,
    source: "APIC default",
};

/// `6.1(2)` → (6, 1, 2).
pub(super) fn parse_release(s: &str) -> Option<(u32, u32, u32)> {
    let (mm, rest) = s.trim().split_once('(')?;
    let (major, minor) = mm.split_once('.')?;
    let patch = rest.strip_suffix(')')?;
    let digits = |x: &str| -> Option<u32> {
        let n: String = x.chars().take_while(char::is_ascii_digit).collect();
        n.parse().ok()
    };
    Some((
        major.trim().parse().ok()?,
        minor.trim().parse().ok()?,
        digits(patch)?,
    ))
}

fn max_prefix(raw: &At<RawMaxPrefix>, into: &mut MaxPrefix, d: &mut Diagnostics) {
    if let Some(l) = raw.value.limit {
        // APIC bgpPeerPfxPol maxPfx: 1–300000.
        if !(1..=300_000).contains(&l) {
            d.error(
                &raw.loc,
                &raw.path,
                format!("max_prefix limit {l} is outside APIC's 1–300000"),
            );
        }
        into.limit = l.max(1);
    }
    if let Some(a) = &raw.value.action {
        match MaxPrefixAction::parse(&a.value) {
            Some(x) => into.action = x,
            None => d.error(
                &a.loc,
                &a.path,
                format!(
                    "max_prefix action `{}`: expected reject, restart, shut or log (APIC bgpPeerPfxPol)",
                    a.value
                ),
            ),
        }
    }
}

// Long: it reads one object's keys in the order the file gives them, each with its
// default, its check and its message; one block per key.
#[allow(clippy::too_many_arguments)]
pub(super) fn resolve(
    dn: &str,
    cni: BgpCni,
    fb: Option<&RawFabricBgp>,
    design: &RawBgpSection,
    flavour_prefixes: Option<Option<u32>>,
    node_bfd: bool,
    defaults: &mut Vec<String>,
    d: &mut Diagnostics,
) -> FabricSide {
    // The flavour's values (acc-provision `apic_provision.py` cluster_l3out BGP policies).
    let flavour;
    let base = match flavour_prefixes {
        Some(prefixes) => {
            flavour = Base {
                keepalive: 1,
                hold: 3,
                stale: 6,
                max_paths: 64,
                max_prefix: prefixes.unwrap_or(500),
                source: "acc-provision Calico flavour",
            };
            &flavour
        }
        None => &APIC,
    };
    let mut dflt = |key: &str, value: String, source: &str| {
        defaults.push(format!("{dn}: fabric.bgp.{key} = {value} ({source})"))
    };
    let empty = RawFabricBgp::default();
    let f = fb.unwrap_or(&empty);

    let release = f.aci_release.as_ref().and_then(|r| {
        let v = parse_release(&r.value);
        if v.is_none() {
            d.error(
                &r.loc,
                &r.path,
                format!(
                    "aci_release `{}` is not an ACI release like 6.1(2)",
                    r.value
                ),
            );
        }
        v
    });
    let keepalive = f.keepalive.as_ref().map(|a| a.value).unwrap_or_else(|| {
        dflt("keepalive", format!("{}s", base.keepalive), base.source);
        Nanos::from_secs(base.keepalive)
    });
    let hold_time = match &f.hold_time {
        Some(a) if a.value < Nanos::from_secs(3) => {
            d.error(
                &a.loc,
                &a.path,
                format!("hold_time {} is below BGP's 3 s minimum", a.value),
            );
            a.value
        }
        Some(a) => a.value,
        None => {
            dflt("hold_time", format!("{}s", base.hold), base.source);
            Nanos::from_secs(base.hold)
        }
    };
    if keepalive >= hold_time {
        match (&f.keepalive, &f.hold_time) {
            (Some(k), _) => d.error(&k.loc, &k.path, format!("keepalive {keepalive} must be shorter than the hold time {hold_time}")),
            (None, Some(h)) => d.error(&h.loc, &h.path, format!("hold_time {hold_time} is not above the keepalive {keepalive} ({}): give fabric.bgp.keepalive too", base.source)),
            (None, None) => {}
        }
    }
    let stale = f.stale_interval.unwrap_or_else(|| {
        dflt("stale_interval", format!("{}s", base.stale), base.source);
        Nanos::from_secs(base.stale)
    });
    let gr_helper = f.graceful_restart_helper.unwrap_or(true);
    // BFD needs both ends: the fabric's (configured here) and the node's speaker.
    let bfd = f.bfd.as_ref().and_then(|b| {
        // APIC bfdIfPol: min intervals 50–999 ms, detect multiplier 1–50.
        if !(Nanos::from_millis(50)..=Nanos::from_millis(999)).contains(&b.value.0)
            || !(1..=50).contains(&b.value.1)
        {
            d.error(
                &b.loc,
                &b.path,
                "bfd: APIC accepts min_interval 50–999 ms and multiplier 1–50",
            );
            return None;
        }
        if !node_bfd {
            let why = match cni {
                BgpCni::Calico => "Calico open source does not configure BFD in BIRD",
                BgpCni::Cilium => "Cilium open source has no BFD (Cilium Enterprise does)",
                BgpCni::KubeRouter => "kube-router runs BFD only with --enable-bfd",
            };
            d.warning(
                &b.loc,
                &b.path,
                format!(
                    "design {dn}: {why}, so BFD does not come up and the hold time still decides"
                ),
            );
            return None;
        }
        // RFC 5880 §6.8.4: the fabric declares the node down after the node's detect
        // multiplier × the agreed interval (the slower of the node's transmit and the fabric's
        // receive interval). kube-router's BFD runs 1000 ms × 3 (FACTS §2).
        let (node_interval, node_mult) = (Nanos::from_millis(1000), 3);
        Some((b.value.0.max(node_interval), node_mult))
    });

    let mut max_paths_at = f.max_paths.as_ref();
    if design.max_paths.is_some() {
        max_paths_at = design.max_paths.as_ref();
    }
    let max_paths = match max_paths_at {
        Some(a) if a.value == 0 || a.value > ACI_MAX_PATHS_LIMIT => {
            d.error(
                &a.loc,
                &a.path,
                format!(
                    "max_paths {} must be between 1 and {ACI_MAX_PATHS_LIMIT} (ACI's maximum)",
                    a.value
                ),
            );
            ACI_MAX_PATHS_LIMIT as usize
        }
        Some(a) => a.value as usize,
        None => {
            dflt("max_paths", base.max_paths.to_string(), base.source);
            base.max_paths as usize
        }
    };
    let mut mp = MaxPrefix {
        limit: base.max_prefix,
        action: MaxPrefixAction::Reject,
    };
    if f.max_prefix.is_none() && design.max_prefix.is_none() {
        dflt(
            "max_prefix",
            format!("{} (action reject)", base.max_prefix),
            base.source,
        );
    }
    for raw in [f.max_prefix.as_ref(), design.max_prefix.as_ref()]
        .into_iter()
        .flatten()
    {
        max_prefix(raw, &mut mp, d);
    }

    let nhp_at = f.next_hop_propagate.as_ref();
    let next_hop_propagate = design
        .next_hop_propagate
        .or(nhp_at.map(|a| a.value))
        .unwrap_or(false);
    let ignore_igp_metric = f.ignore_igp_metric.as_ref().is_some_and(|a| a.value);
    if let Some(rel) = release {
        if next_hop_propagate && rel < (5, 0, 1) {
            // The design's key wins, so point at the release when the design turned it on.
            let at = if design.next_hop_propagate.is_some() {
                f.aci_release
                    .as_ref()
                    .map(|a| (a.loc.clone(), a.path.clone()))
            } else {
                nhp_at.map(|a| (a.loc.clone(), a.path.clone()))
            };
            if let Some((l, p)) = at {
                d.error(
                    &l,
                    &p,
                    format!("design {dn} uses next-hop propagate, which needs ACI 5.0(1) or later"),
                );
            }
        }
        if let Some(a) = &f.ignore_igp_metric
            && a.value
            && rel < (6, 1, 2)
        {
            d.error(
                &a.loc,
                &a.path,
                "ignoring the IGP metric needs ACI 6.1(2) or later",
            );
        }
    }
    if let Some(a) = &f.ignore_igp_metric
        && a.value
        && !next_hop_propagate
    {
        d.warning(&a.loc, &a.path, "ignore_igp_metric takes effect only with next_hop_propagate: without it the other leaves see the anchor leaves, not the nodes");
    }
    let import = design
        .import
        .as_ref()
        .or(f.import.as_ref())
        .map(|v| v.iter().map(|c| c.0).collect());
    FabricSide {
        keepalive,
        hold_time,
        stale,
        gr_helper,
        bfd,
        max_paths,
        max_prefix: mp,
        next_hop_propagate,
        ignore_igp_metric: ignore_igp_metric && next_hop_propagate,
        import,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_release;

    #[test]
    fn releases() {
        assert_eq!(parse_release("6.1(2)"), Some((6, 1, 2)));
        assert_eq!(parse_release("5.2(7g)"), Some((5, 2, 7)));
        assert_eq!(parse_release("6.1"), None);
        assert!(parse_release("5.0(1)").unwrap() < (6, 1, 2));
    }
}
