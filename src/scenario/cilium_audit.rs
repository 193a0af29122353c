//! Nothing in Cilium's BGP resources is ignored in silence: each spec field of the BGP control
//! plane v2 CRDs (cilium `api/v2/bgp_*_types.go`, `lbipam_types.go`) is either modelled, named
//! as not modelled with what it does, or — not a field of the CRD — an error (`kubectl apply`
//! refuses unknown fields under strict field validation).

use super::diag::Diagnostics;
use super::yaml::{Node, Value};

/// Per kind: spec paths (`[]` for list items) and `None` (modelled) or what the field does.
/// A path whose value is a mapping of free-form keys (selectors) is listed as a whole.
const FIELDS: &[(&str, &str, Option<&str>)] = &[
    ("CiliumBGPClusterConfig", "nodeSelector", None),
    ("CiliumBGPClusterConfig", "bgpInstances", None),
    ("CiliumBGPClusterConfig", "bgpInstances[].name", None),
    ("CiliumBGPClusterConfig", "bgpInstances[].localASN", None),
    (
        "CiliumBGPClusterConfig",
        "bgpInstances[].localPort",
        Some("the local BGP port; fabsim assumes 179"),
    ),
    (
        "CiliumBGPClusterConfig",
        "bgpInstances[].routerID",
        Some("the router id; no effect on what fabsim simulates"),
    ),
    ("CiliumBGPClusterConfig", "bgpInstances[].peers", None),
    (
        "CiliumBGPClusterConfig",
        "bgpInstances[].peers[].name",
        None,
    ),
    (
        "CiliumBGPClusterConfig",
        "bgpInstances[].peers[].peerASN",
        None,
    ),
    (
        "CiliumBGPClusterConfig",
        "bgpInstances[].peers[].peerAddress",
        None,
    ),
    (
        "CiliumBGPClusterConfig",
        "bgpInstances[].peers[].peerConfigRef",
        None,
    ),
    (
        "CiliumBGPClusterConfig",
        "bgpInstances[].peers[].autoDiscovery",
        Some("peer auto-discovery (the default gateway) is not modelled: give peerAddress"),
    ),
    (
        "CiliumBGPPeerConfig",
        "transport",
        Some("the BGP ports; fabsim assumes 179"),
    ),
    ("CiliumBGPPeerConfig", "timers", None),
    ("CiliumBGPPeerConfig", "timers.holdTimeSeconds", None),
    ("CiliumBGPPeerConfig", "timers.keepAliveTimeSeconds", None),
    (
        "CiliumBGPPeerConfig",
        "timers.connectRetryTimeSeconds",
        Some("the connect retry; fabsim uses GoBGP's 120 s × 0.75–1.0 after a repair"),
    ),
    (
        "CiliumBGPPeerConfig",
        "authSecretRef",
        Some(
            "the password is in a Secret fabsim does not read: give it as bgp.password (and bgp.fabric_password)",
        ),
    ),
    ("CiliumBGPPeerConfig", "gracefulRestart", None),
    ("CiliumBGPPeerConfig", "gracefulRestart.enabled", None),
    (
        "CiliumBGPPeerConfig",
        "gracefulRestart.restartTimeSeconds",
        None,
    ),
    (
        "CiliumBGPPeerConfig",
        "ebgpMultihop",
        Some("multi-hop eBGP; fabsim assumes single-hop sessions to the anchor leaves"),
    ),
    ("CiliumBGPPeerConfig", "families", None),
    ("CiliumBGPPeerConfig", "families[].afi", None),
    ("CiliumBGPPeerConfig", "families[].safi", None),
    ("CiliumBGPPeerConfig", "families[].advertisements", None),
    ("CiliumBGPAdvertisement", "advertisements", None),
    (
        "CiliumBGPAdvertisement",
        "advertisements[].advertisementType",
        None,
    ),
    ("CiliumBGPAdvertisement", "advertisements[].service", None),
    (
        "CiliumBGPAdvertisement",
        "advertisements[].service.addresses",
        None,
    ),
    ("CiliumBGPAdvertisement", "advertisements[].selector", None),
    (
        "CiliumBGPAdvertisement",
        "advertisements[].attributes",
        Some(
            "communities and local preference on the routes; the fabric's route maps are not modelled",
        ),
    ),
    (
        "CiliumBGPAdvertisement",
        "advertisements[].interface",
        Some("advertising an interface's addresses is not modelled"),
    ),
    ("CiliumLoadBalancerIPPool", "blocks", None),
    ("CiliumLoadBalancerIPPool", "blocks[].cidr", None),
    (
        "CiliumLoadBalancerIPPool",
        "blocks[].start",
        Some("address ranges are not modelled: give the block as a cidr"),
    ),
    (
        "CiliumLoadBalancerIPPool",
        "blocks[].stop",
        Some("address ranges are not modelled: give the block as a cidr"),
    ),
    ("CiliumLoadBalancerIPPool", "serviceSelector", None),
    (
        "CiliumLoadBalancerIPPool",
        "disabled",
        Some("a disabled pool still hands out addresses in fabsim"),
    ),
    (
        "CiliumLoadBalancerIPPool",
        "allowFirstLastIPs",
        Some("fabsim hands out every address of a block but the network address"),
    ),
];

/// Names every spec field of a Cilium BGP resource fabsim does not model, and the unknown ones.
pub fn audit(doc: &Node, kind: &str, d: &mut Diagnostics) {
    if let Some(spec) = super::object::child(doc, "spec") {
        walk(spec, kind, "", d);
    }
    special(doc, kind, d);
}

fn walk(node: &Node, kind: &str, path: &str, d: &mut Diagnostics) {
    let Value::Map(entries) = &node.value else {
        return;
    };
    for (k, v) in entries {
        let p = if path.is_empty() {
            k.name.clone()
        } else {
            format!("{path}.{}", k.name)
        };
        let at = format!("{kind}.spec.{p}");
        match FIELDS.iter().find(|(kd, f, _)| *kd == kind && *f == p) {
            Some((_, _, Some(what))) => {
                d.warning(&k.loc, &at, format!("read, not modelled: {what}"))
            }
            Some((_, _, None)) => match &v.value {
                Value::Map(_) if has_children(kind, &p) => walk(v, kind, &p, d),
                Value::Seq(items) if has_children(kind, &format!("{p}[]")) => {
                    for item in items {
                        walk(item, kind, &format!("{p}[]"), d);
                    }
                }
                _ => {}
            },
            None => {
                let siblings: Vec<&str> = FIELDS
                    .iter()
                    .filter(|(kd, _, _)| *kd == kind)
                    .filter_map(|(_, f, _)| {
                        let rest = if path.is_empty() {
                            Some(*f)
                        } else {
                            f.strip_prefix(path)?.strip_prefix('.')
                        }?;
                        (!rest.contains(['.', '['])).then_some(rest)
                    })
                    .collect();
                let hint = super::decode::did_you_mean(&k.name, &siblings);
                d.error(
                    &k.loc,
                    &at,
                    format!("`{}` is not a field of a {kind}{hint} (kubectl apply refuses unknown fields)", k.name),
                );
            }
        }
    }
}

fn has_children(kind: &str, prefix: &str) -> bool {
    FIELDS.iter().any(|(kd, f, _)| {
        *kd == kind
            && f.len() > prefix.len()
            && f.starts_with(prefix)
            && f[prefix.len()..].starts_with(['.', '['])
    })
}

/// Values that select something fabsim does not model.
fn special(doc: &Node, kind: &str, d: &mut Diagnostics) {
    use super::object::{child, text_at};
    let spec = child(doc, "spec");
    match kind {
        "CiliumBGPClusterConfig" => {
            if let Some(Value::Seq(inst)) = spec
                .and_then(|s| child(s, "bgpInstances"))
                .map(|i| &i.value)
                && inst.len() > 1
            {
                d.warning(&inst[1].loc, "CiliumBGPClusterConfig.spec.bgpInstances", "fabsim models one BGP instance per node: the first is used, the others are not simulated");
            }
        }
        "CiliumBGPPeerConfig" => {
            if let Some(Value::Seq(fams)) =
                spec.and_then(|s| child(s, "families")).map(|f| &f.value)
            {
                for f in fams {
                    if text_at(f, &["afi"]).as_deref() == Some("ipv6") {
                        d.warning(
                            &f.loc,
                            "CiliumBGPPeerConfig.spec.families",
                            "the ipv6 family is not modelled (IPv4 only)",
                        );
                    }
                }
            }
        }
        "CiliumBGPAdvertisement" => {
            if let Some(Value::Seq(ads)) = spec
                .and_then(|s| child(s, "advertisements"))
                .map(|a| &a.value)
            {
                for a in ads {
                    let t = text_at(a, &["advertisementType"]).unwrap_or_default();
                    if !matches!(t.as_str(), "PodCIDR" | "Service") {
                        d.warning(&a.loc, "CiliumBGPAdvertisement.spec.advertisements", format!("advertisementType {t} is not modelled: fabsim advertises PodCIDR and Service LoadBalancer IPs"));
                    }
                    if let Some(Value::Seq(addrs)) = child(a, "service")
                        .and_then(|s| child(s, "addresses"))
                        .map(|x| &x.value)
                    {
                        for x in addrs {
                            if let Value::Str(s) = &x.value
                                && s != "LoadBalancerIP"
                            {
                                d.warning(&x.loc, "CiliumBGPAdvertisement.spec.advertisements.service.addresses", format!("{s} advertisement is not modelled for Cilium: only LoadBalancer IPs are advertised"));
                            }
                        }
                    }
                }
            }
        }
        _ => {}
    }
}
