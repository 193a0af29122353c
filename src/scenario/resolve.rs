//! Raw scenario → resolved [`Scenario`]: names become typed ids, references are checked,
//! addresses are assigned, replicas are placed, defaults are applied and recorded.

use super::decode::At;
use super::diag::{Diagnostics, Loc};
use super::raw::*;
use super::reference::{self, Ref};
use super::{Conntrack, DEFAULT_NODE_KERNEL, Event, EventKind, Scenario, Traffic};
use crate::cluster::*;
use crate::design::{Cni, DesignConfig, DesignSpec};
use crate::fabric::*;
use crate::time::Nanos;
use std::collections::BTreeMap;

/// Reports the second and later uses of one name.
pub(super) fn check_unique<'a>(
    d: &mut Diagnostics,
    what: &str,
    items: impl IntoIterator<Item = (String, &'a Loc, &'a str)>,
) {
    let mut seen: BTreeMap<String, Loc> = BTreeMap::new();
    for (name, loc, path) in items {
        if let Some(first) = seen.get(&name) {
            // Another file (a manifest given twice, two dumps): say which.
            let at = if first.file == loc.file {
                format!("line {}", first.line)
            } else {
                format!("{}:{}", first.file, first.line)
            };
            d.error(
                loc,
                path,
                format!("duplicate {what} `{name}` (first defined at {at})"),
            );
        } else {
            seen.insert(name, loc.clone());
        }
    }
}

// Long: the order of resolution (fabric, designs' networks, cluster, designs, traffic,
// events, conntrack) and the scenario it makes.
pub(super) fn resolve(raw: RawScenario, d: &mut Diagnostics) -> Option<Scenario> {
    let mut defaults = Vec::new();
    let fabric = resolve_fabric(raw.fabric.as_ref()?, &mut defaults, d);
    let designs_raw = &raw.designs;
    check_unique(
        d,
        "design",
        designs_raw
            .iter()
            .map(|x| (x.name.value.clone(), &x.name.loc, x.name.path.as_str())),
    );

    // A design's name is what --design, the reports and compare's columns call it.
    for rd in designs_raw {
        let n = &rd.name;
        if n.value.trim().is_empty() || n.value.chars().any(|c| c.is_control()) {
            d.error(
                &n.loc,
                &n.path,
                "a design needs a name (the reports and --design call it by it)",
            );
        }
    }

    // ACI-CNI configurations first: the cluster's node subnet may come from acc-provision.
    let mut aci_partial = Vec::new();
    for rd in designs_raw {
        if let Some(a) = &rd.aci {
            aci_partial.push((rd, super::resolve_aci::resolve_net(rd, a, &mut defaults, d)));
        }
    }
    let raw_cluster = raw.cluster.as_ref()?;
    let first_aci_nodes = aci_partial
        .iter()
        .find_map(|(_, p)| p.as_ref().and_then(|p| p.node_subnets.first().copied()))
        .or_else(|| {
            designs_raw
                .iter()
                .find_map(super::resolve_bgp::flavour_node_subnet)
        });
    let cluster = super::resolve_cluster::resolve_cluster(
        raw_cluster,
        &raw.fabric.as_ref()?.racks,
        first_aci_nodes,
        &aci_partial,
        d,
    )?;

    let designs = resolve_designs(&raw, &aci_partial, &fabric, &cluster, &mut defaults, d);
    if aci_partial.iter().any(|(_, p)| p.is_some()) && fabric.border_leaves().is_empty() {
        d.error(
            &raw.fabric.as_ref()?.loc,
            "fabric.racks",
            "no rack has `border: true`: the L3Out needs border leaves",
        );
    }

    let traffic = resolve_traffic(&raw, &fabric, &cluster, d);

    // Traffic is simulated over the scenario's `duration`: without one, simulate would refuse.
    if raw.duration.is_none()
        && let Some(t) = raw.traffic.first()
    {
        d.error(
            &t.name.loc,
            &t.name.path,
            "traffic is simulated over the scenario's `duration`: give one (e.g. `duration: 300s`), or leave `traffic` out for a scenario that trace and routes walk",
        );
    }

    let events = resolve_events(&raw, &fabric, &cluster, d);
    let conntrack = resolve_conntrack(&raw, &mut defaults, d);
    let node_monitor_grace_period = raw.node_monitor_grace_period.unwrap_or_else(|| {
        if !raw.events.is_empty() {
            defaults.push("kubernetes.node_monitor_grace_period = 40s (kube-controller-manager default; 50s from Kubernetes 1.32)".into());
        }
        Nanos::from_secs(40)
    });
    let node_status_update_frequency = raw.node_status_update_frequency.unwrap_or_else(|| {
        if raw.events.iter().any(|e| e.recover.is_some()) {
            defaults.push("kubernetes.node_status_update_frequency = 10s (kubelet default)".into());
        }
        Nanos::from_secs(10)
    });
    let warmup = resolve_warmup(&raw, &traffic, &events, &conntrack, d);
    let name_at = raw.name?;
    let name = name_at.value;
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        // At the name itself: a `--set name=…` is blamed on the --set, not on the file.
        d.error(
            &name_at.loc,
            "name",
            "the scenario name names the report folder: use letters, digits, `-` and `_`",
        );
    }
    Some(Scenario {
        name,
        seed: raw.seed,
        duration: raw.duration.map(|x| x.value),
        fabric,
        cluster,
        designs,
        traffic,
        events,
        conntrack,
        warmup,
        node_monitor_grace_period,
        node_status_update_frequency,
        defaults_applied: defaults,
    })
}

fn resolve_ref(
    r: &At<String>,
    fabric: &Fabric,
    cluster: &Cluster,
    d: &mut Diagnostics,
) -> Option<Ref> {
    reference::resolve(&r.value, fabric, cluster)
        .map_err(|m| d.error(&r.loc, &r.path, m))
        .ok()
}

// Long: it reads one object's keys in the order the file gives them, each with its
// default, its check and its message; one block per key.
fn resolve_fabric(raw: &RawFabric, defaults: &mut Vec<String>, d: &mut Diagnostics) -> Fabric {
    let spines: Vec<Spine> = raw
        .spines
        .iter()
        .map(|s| Spine {
            number: s.value,
            up: true,
        })
        .collect();
    let mut switch_ids: Vec<(String, &Loc, &str)> = raw
        .spines
        .iter()
        .map(|s| (s.value.to_string(), &s.loc, s.path.as_str()))
        .collect();
    check_unique(
        d,
        "rack id",
        raw.racks
            .iter()
            .filter_map(|r| r.id.as_ref())
            .map(|i| (i.value.to_string(), &i.loc, i.path.as_str())),
    );
    let mut leaves = Vec::new();
    let mut racks = Vec::new();
    for (ri, r) in raw.racks.iter().enumerate() {
        if r.leaves.is_empty() || r.leaves.len() > 2 {
            d.error(
                &r.loc,
                &format!("{}.leaves", r.path),
                format!(
                    "a rack has one leaf or a vPC pair of two, not {}",
                    r.leaves.len()
                ),
            );
        }
        let mut ids = Vec::new();
        for l in &r.leaves {
            switch_ids.push((l.value.to_string(), &l.loc, l.path.as_str()));
            ids.push(LeafId(leaves.len() as u32));
            leaves.push(Leaf {
                number: l.value,
                rack: RackId(ri as u32),
                border: r.border,
                anchor: r.anchor,
                up: true,
            });
        }
        racks.push(Rack {
            number: r.id.as_ref().map(|i| i.value).unwrap_or(0),
            leaves: ids,
            border: r.border,
            anchor: r.anchor,
        });
    }
    check_unique(d, "switch id", switch_ids);
    check_unique(
        d,
        "external network",
        raw.external
            .iter()
            .map(|e| (e.name.value.clone(), &e.name.loc, e.name.path.as_str())),
    );
    let externals = raw
        .external
        .iter()
        .map(|e| External {
            name: e.name.value.clone(),
            prefix: e.prefix.value.net,
        })
        .collect();
    let a = Latency::ASSUMED;
    let mut lat = |v: Option<Nanos>, key: &str, dflt: Nanos| {
        v.unwrap_or_else(|| {
            defaults.push(format!(
                "fabric.latency.{key} = {dflt} (fabsim's assumption; no product default)"
            ));
            dflt
        })
    };
    let latency = Latency {
        node_leaf: lat(raw.latency.node_leaf, "node_leaf", a.node_leaf),
        leaf_spine: lat(raw.latency.leaf_spine, "leaf_spine", a.leaf_spine),
        l3out: lat(raw.latency.l3out, "l3out", a.l3out),
    };
    Fabric::new(spines, leaves, racks, externals, latency)
}

/// The run's warm-up (`super::warmup`): a fixed one must end before the first event and the run.
fn resolve_warmup(
    raw: &RawScenario,
    traffic: &[Traffic],
    events: &[Event],
    conntrack: &Conntrack,
    d: &mut Diagnostics,
) -> super::warmup::Warmup {
    use super::warmup::{Held, WarmupSetting, is_masqueraded, plan};
    let held: Vec<Held> = traffic
        .iter()
        .map(|t| Held {
            name: &t.name,
            lifetime: &t.lifetime,
            hold: if t.pairs.iter().any(|(f, to)| is_masqueraded(f, to)) {
                // TCP leaves TIME_WAIT behind; the destination says which protocol.
                match t.pairs.first().map(|p| &p.1) {
                    Some(Ref::Literal {
                        proto: Some(crate::net::Proto::Udp),
                        ..
                    }) => conntrack.udp_timeout,
                    _ => conntrack.time_wait,
                }
            } else {
                Nanos::ZERO
            },
        })
        .collect();
    let first_event = events.iter().map(|e| e.at).min();
    let duration = raw.duration.as_ref().map(|x| x.value);
    let setting = raw.warmup.as_ref().map_or(WarmupSetting::Auto, |w| w.value);
    if let (Some(w), WarmupSetting::Fixed(fixed)) = (&raw.warmup, setting) {
        if let Some(dur) = duration
            && fixed >= dur
        {
            d.error(
                &w.loc,
                &w.path,
                format!("warmup {fixed} leaves nothing of the {dur} run to count: make it shorter than `duration`"),
            );
        }
        if let Some(e) = first_event
            && fixed > e
        {
            d.error(
                &w.loc,
                &w.path,
                format!("warmup {fixed} runs past the first event at {e}: that event's effect would not be counted; end the warmup at or before {e} (or `warmup: auto`)"),
            );
        }
    }
    let w = plan(setting, &held, duration, first_event);
    if !w.steady_before_first_event
        && let Some(e) = raw.events.iter().min_by_key(|e| e.at.value)
        && w.counted_from <= e.at.value
    {
        let steady = w
            .steady_from
            .map_or("never".to_string(), |t| format!("from ≈{t}"));
        d.warning(
            &e.at.loc,
            &e.at.path,
            format!("the run is not in steady state before this first event at {} (steady {steady}: {}): what the event does is mixed with the filling of the cluster; move the event later (and `duration` with it)", e.at.value, w.slowest.as_deref().map_or(String::new(), |n| format!("traffic {n} and the NAT tuples it holds still growing"))),
        );
    }
    w
}

/// Each design's configuration, resolved (`aci_partial`: the ACI-CNI designs' network parts,
/// read before the cluster).
fn resolve_designs(
    raw: &RawScenario,
    aci_partial: &[(&RawDesign, Option<super::resolve_aci::NetPart>)],
    fabric: &Fabric,
    cluster: &Cluster,
    defaults: &mut Vec<String>,
    d: &mut Diagnostics,
) -> Vec<DesignSpec> {
    let mut designs = Vec::new();
    for rd in &raw.designs {
        let cni = match rd.cni.value.as_str() {
            "aci-cni" => Cni::AciCni,
            "calico" => Cni::Calico,
            "kube-router" => Cni::KubeRouter,
            _ => Cni::Cilium,
        };
        let aci = match (
            &rd.aci,
            aci_partial.iter().find(|(r, _)| std::ptr::eq(*r, rd)),
        ) {
            (Some(a), Some((_, Some(net)))) => {
                super::resolve_aci::finish(rd, a, net.clone(), cluster, d)
            }
            _ => None,
        };
        let bgp_cni = match cni {
            Cni::Calico => Some(crate::design::bgp::config::BgpCni::Calico),
            Cni::KubeRouter => Some(crate::design::bgp::config::BgpCni::KubeRouter),
            Cni::Cilium => Some(crate::design::bgp::config::BgpCni::Cilium),
            Cni::AciCni => None,
        };
        let bgp = match (&rd.bgp, bgp_cni) {
            (Some(r), Some(c)) if !r.import_failed => {
                let fb = raw.fabric.as_ref().and_then(|f| f.bgp.as_ref());
                super::resolve_bgp::resolve(rd, r, c, fb, fabric, cluster, defaults, d)
            }
            _ => None,
        };
        let config = match (aci, bgp) {
            (Some(a), _) => DesignConfig::AciCni(Box::new(a)),
            (None, Some(b)) => DesignConfig::Bgp(Box::new(b)),
            (None, None) => {
                // Its own errors are reported already; a design is never left half-resolved.
                if !d.has_errors() {
                    d.error(
                        &rd.cni.loc,
                        &rd.cni.path,
                        "the design could not be resolved",
                    );
                }
                continue;
            }
        };
        designs.push(DesignSpec {
            name: rd.name.value.clone(),
            cni,
            config,
        });
    }
    designs
}

/// The traffic generators, each pair of ends built as the engine will walk it.
// Long: it reads one object's keys in the order the file gives them, each with its
// default, its check and its message; one block per key.
fn resolve_traffic(
    raw: &RawScenario,
    fabric: &Fabric,
    cluster: &Cluster,
    d: &mut Diagnostics,
) -> Vec<Traffic> {
    check_unique(
        d,
        "traffic generator",
        raw.traffic
            .iter()
            .map(|t| (t.name.value.clone(), &t.name.loc, t.name.path.as_str())),
    );
    let mut traffic = Vec::new();
    for t in &raw.traffic {
        let count = match &t.count {
            Some(c) if c.value == 0 || c.value > super::expand::MAX_COUNT => {
                d.error(
                    &c.loc,
                    &c.path,
                    format!(
                        "`count` must be from 1 to {}, found {}",
                        super::expand::MAX_COUNT,
                        c.value
                    ),
                );
                continue;
            }
            Some(c) => c.value,
            None => 1,
        };
        let mut pairs = Vec::new();
        let mut requests = Vec::new();
        for i in 1..=count {
            // Templates are filled only in a counted entry; a problem is reported once.
            let fill = |r: &At<String>, d: &mut Diagnostics| -> Option<At<String>> {
                if t.count.is_none() {
                    return Some(r.clone());
                }
                match super::expand::fill_text(&r.value, i) {
                    Ok(value) => Some(At { value, ..r.clone() }),
                    Err(m) => {
                        d.error(&r.loc, &r.path, m);
                        None
                    }
                }
            };
            let (Some(from_s), Some(to_s)) = (fill(&t.from, d), fill(&t.to, d)) else {
                break;
            };
            let from = resolve_ref(&from_s, fabric, cluster, d);
            let to = resolve_ref(&to_s, fabric, cluster, d);
            let bad_from = matches!(
                from,
                Some(Ref::Service { .. } | Ref::Node(_) | Ref::Leaf(_) | Ref::Spine(_))
            );
            if bad_from {
                d.error(
                    &t.from.loc,
                    &t.from.path,
                    "a traffic source is an external network, a pod, a deployment, a namespace or an IP",
                );
            }
            let bad_to = to.is_some_and(|r| r.is_device() || matches!(r, Ref::Namespace(_)));
            if bad_to {
                d.error(
                    &t.to.loc,
                    &t.to.path,
                    "a traffic destination is a service, a pod, an external network or IP:port",
                );
            }
            // What the engine will build of the pair, built now: anything it would refuse
            // (a destination without a port, a source with no pods) is refused here, with the line.
            let built = match (&from, &to, bad_from, bad_to) {
                (Some(f), Some(to_ref), false, false) => Some((
                    f,
                    crate::dataplane::request::build(f, to_ref, None, None, fabric, cluster),
                )),
                _ => None,
            };
            if let Some((_, Ok(req))) = &built {
                requests.push(*req);
            }
            if let Some((f, Err(m))) = built {
                let source_empty = match *f {
                    Ref::Deployment { dep, .. } => cluster.pods_of(dep).next().is_none(),
                    Ref::Namespace(ns) => !cluster.pods.iter().any(|p| p.namespace == ns),
                    _ => false,
                };
                let at_source = m.at_source() || source_empty;
                let r = if at_source { &t.from } else { &t.to };
                d.error(&r.loc, &r.path, m.in_scenario());
                break;
            }
            match (from, to) {
                (Some(from), Some(to)) if !bad_from && !bad_to => pairs.push((from, to)),
                // Reported (by resolve_ref or above); the other copies would say the same.
                _ => break,
            }
        }
        let lifetime_dist = super::LifetimeDist::new(&t.duration)
            .map_err(|m| d.error(&t.name.loc, &t.name.path, format!("duration: {m}")))
            .ok();
        if let Some(lifetime_dist) = lifetime_dist
            && pairs.len() as u64 == count
            && requests.len() == pairs.len()
        {
            traffic.push(Traffic {
                name: t.name.value.clone(),
                pairs,
                requests,
                arrivals: t.arrivals.clone(),
                lifetime: t.duration.clone(),
                lifetime_dist,
            });
        }
    }
    traffic
}

/// The failures and recoveries, at their targets.
fn resolve_events(
    raw: &RawScenario,
    fabric: &Fabric,
    cluster: &Cluster,
    d: &mut Diagnostics,
) -> Vec<Event> {
    let mut events = Vec::new();
    for e in &raw.events {
        let (kind, target) = match (&e.fail, &e.recover) {
            (Some(t), None) => (EventKind::Fail, t),
            (None, Some(t)) => (EventKind::Recover, t),
            _ => continue,
        };
        if let Some(r) = resolve_ref(target, fabric, cluster, d) {
            if r.is_failure_target() {
                events.push(Event {
                    at: e.at.value,
                    kind,
                    target: r,
                });
            } else {
                d.error(
                    &target.loc,
                    &target.path,
                    "a failure targets node:NAME, leaf:ID, spine:ID, bgp:NODE/LEAF (a BGP session), uplink:NODE/LEAF (a node's link), speaker:NODE (its BGP speaker) or controller:aci-containers-controller",
                );
            }
        }
        if let Some(dur) = &raw.duration
            && e.at.value > dur.value
        {
            d.warning(
                &e.at.loc,
                &e.at.path,
                format!(
                    "event at {} is after the end of the run ({})",
                    e.at.value, dur.value
                ),
            );
        }
    }

    events
}

/// The nodes' conntrack: TIME_WAIT, the UDP timeout and how the kernel searches NAT ports.
fn resolve_conntrack(
    raw: &RawScenario,
    defaults: &mut Vec<String>,
    d: &mut Diagnostics,
) -> Conntrack {
    let conntrack = Conntrack {
        time_wait: raw.conntrack.time_wait.unwrap_or_else(|| {
            defaults.push(
                "conntrack.time_wait = 120s (Linux nf_conntrack_tcp_timeout_time_wait)".into(),
            );
            Nanos::from_secs(120)
        }),
        udp_timeout: raw.conntrack.udp_timeout.unwrap_or_else(|| {
            defaults.push("conntrack.udp_timeout = 30s (Linux nf_conntrack_udp_timeout)".into());
            Nanos::from_secs(30)
        }),
        node_kernel: DEFAULT_NODE_KERNEL,
        nat_search: crate::nat::kernel::PortSearch::for_kernel(
            DEFAULT_NODE_KERNEL.0,
            DEFAULT_NODE_KERNEL.1,
        ),
    };
    let mut conntrack = conntrack;
    match &raw.conntrack.node_kernel {
        Some(k) => match super::parse_kernel(&k.value) {
            Some(v) => conntrack.node_kernel = v,
            None => d.error(&k.loc, &k.path, format!("node_kernel `{}` is not a Linux version like 5.15 or 6.8.0-45-generic", k.value)),
        },
        None => defaults.push("conntrack.node_kernel = 5.15 (Ubuntu 22.04 LTS; RHEL 9 runs 5.14): the kernel's NAT port search gives up after 248 tries, no TIME_WAIT eviction (that needs Linux ≥ 6.5)".into()),
    }
    conntrack.nat_search = match raw
        .conntrack
        .nat_port_search
        .as_ref()
        .map(|x| (x.value.as_str(), x))
    {
        None | Some(("kernel", _)) => crate::nat::kernel::PortSearch::for_kernel(
            conntrack.node_kernel.0,
            conntrack.node_kernel.1,
        ),
        Some(("whole-range", _)) => crate::nat::kernel::PortSearch::WholeRange,
        Some((other, x)) => {
            d.error(&x.loc, &x.path, format!("nat_port_search `{other}`: expected kernel (the node kernel's own search) or whole-range (an ideal allocator, Erlang-B's assumption)"));
            crate::nat::kernel::PortSearch::WholeRange
        }
    };
    conntrack
}
