//! A Kubernetes Service object into fabsim's `RawService`: type, ports (named target ports kept
//! for lookup in the pods' containers), selector, traffic policies, the LoadBalancer IP asked
//! for (`spec.loadBalancerIP`) and the one it already has (its status); what fabsim does not
//! model (SCTP, NodePort from outside, externalIPs, session affinity, IPv6-only) is said.

use super::decode::{At, Labels};
use super::diag::Diagnostics;
use super::object::{at, child, labels_at, text_at};
use super::raw::{RawService, RawServicePort};
use super::yaml::{Node, Value};
use std::net::Ipv4Addr;

/// Named `targetPort`s of one service: (port index, name).
pub(super) type NamedTargets = Vec<(usize, At<String>)>;

// Long: it reads one object's keys in the order the file gives them, each with its
// default, its check and its message; one block per key.
pub(super) fn service(
    obj: &Node,
    name: At<String>,
    namespace: At<String>,
    labels: Labels,
    annotations: Labels,
    path: &str,
    d: &mut Diagnostics,
) -> Option<(RawService, NamedTargets)> {
    let spec = child(obj, "spec");
    let mut named = Vec::new();
    let kind = at::<String>(obj, &["spec", "type"], d).unwrap_or(At {
        value: "ClusterIP".into(),
        loc: obj.loc.clone(),
        path: format!("{path}.spec.type"),
    });
    if kind.value == "ExternalName" {
        d.warning(
            &obj.loc,
            path,
            "an ExternalName service is a DNS alias with no forwarding: not simulated",
        );
        return None;
    }
    if namespace.value == "default" && name.value == "kubernetes" {
        // The API server's own service: fabsim reserves its ClusterIP (.1) already.
        d.warning(&obj.loc, path, "the API server's service (its endpoints are the control-plane nodes' addresses) is not simulated as a service; reach the API server at a node's address");
        return None;
    }
    if let Some(Value::Seq(fams)) = spec.and_then(|s| child(s, "ipFamilies")).map(|f| &f.value)
        && !fams
            .iter()
            .any(|f| matches!(&f.value, Value::Str(x) if x == "IPv4"))
    {
        d.warning(
            &obj.loc,
            path,
            "an IPv6-only service (ipFamilies): IPv6 is not modelled; not simulated",
        );
        return None;
    }
    if kind.value == "NodePort" {
        d.warning(&kind.loc, path, "type NodePort: reaching the service at a node's port from outside is not modelled; simulated as its ClusterIP inside the cluster");
    }
    if let Some(c) = spec.and_then(|s| child(s, "loadBalancerClass")) {
        d.warning(&c.loc, path, "loadBalancerClass: another LoadBalancer implementation serves it in the cluster; fabsim gives it an address from the design's pool");
    }
    if text_at(obj, &["spec", "clusterIP"]).as_deref() == Some("None") {
        d.warning(&obj.loc, path, "a headless service (clusterIP: None) has no service IP: clients reach its pods directly; not simulated as a service");
        return None;
    }
    let selector = labels_at(obj, &["spec", "selector"], d);
    if selector.is_empty() {
        d.warning(&obj.loc, path, "a service without a selector has hand-made endpoints, which fabsim does not model: not simulated");
        return None;
    }
    let mut ports = Vec::new();
    if let Some(Value::Seq(ps)) = spec.and_then(|s| child(s, "ports")).map(|p| &p.value) {
        for p in ps {
            let Some(port) = at::<u16>(p, &["port"], d) else {
                d.error(&p.loc, path, "a service port needs `port`");
                continue;
            };
            let target_port = match child(p, "targetPort") {
                Some(t) => match &t.value {
                    Value::Int(n) => u16::try_from(*n).ok(),
                    Value::Str(s) => s.parse().ok().or_else(|| {
                        // A named targetPort: looked up in the selected pods' containers.
                        named.push((
                            ports.len(),
                            At {
                                value: s.clone(),
                                loc: t.loc.clone(),
                                path: format!("{path}.spec.ports"),
                            },
                        ));
                        None
                    }),
                    _ => None,
                },
                None => None,
            };
            let protocol = at::<String>(p, &["protocol"], d).unwrap_or(At {
                value: "TCP".into(),
                loc: p.loc.clone(),
                path: format!("{path}.spec.ports"),
            });
            if !matches!(protocol.value.as_str(), "TCP" | "UDP") {
                d.warning(
                    &protocol.loc,
                    path,
                    format!(
                        "port {} is {}: only TCP and UDP are modelled; this port is left out",
                        port.value, protocol.value
                    ),
                );
                continue;
            }
            ports.push(RawServicePort {
                name: text_at(p, &["name"]),
                port,
                target_port,
                protocol,
            });
        }
    }
    if ports.is_empty() {
        d.warning(&obj.loc, path, "no TCP or UDP port: not simulated");
        return None;
    }
    if let Some(a) = spec.and_then(|s| child(s, "sessionAffinity"))
        && matches!(&a.value, Value::Str(s) if s == "ClientIP")
    {
        d.warning(
            &a.loc,
            path,
            "sessionAffinity: ClientIP is not modelled: each connection picks its backend afresh",
        );
    }
    if let Some(a) = spec.and_then(|s| child(s, "externalIPs"))
        && matches!(&a.value, Value::Seq(v) if !v.is_empty())
    {
        d.warning(&a.loc, path, "spec.externalIPs are not modelled as destinations (Calico's serviceExternalIPs advertisement is): use the LoadBalancer IP");
    }
    if let Some(a) = spec.and_then(|s| child(s, "loadBalancerSourceRanges")) {
        d.warning(
            &a.loc,
            path,
            "loadBalancerSourceRanges are not modelled: every client is admitted",
        );
    }
    let v4 = |a: At<String>, d: &mut Diagnostics| match a.value.parse::<Ipv4Addr>() {
        Ok(ip) => Some(At {
            value: ip,
            loc: a.loc,
            path: a.path,
        }),
        Err(_) if a.value.contains(':') => {
            d.warning(&a.loc, path, format!("LoadBalancer IP `{}` is IPv6, which is not modelled: fabsim allocates an IPv4 one", a.value));
            None
        }
        Err(_) => {
            d.error(
                &a.loc,
                path,
                format!("LoadBalancer IP `{}` is not an IP address", a.value),
            );
            None
        }
    };
    let load_balancer_ip = at::<String>(obj, &["spec", "loadBalancerIP"], d).and_then(|a| v4(a, d));
    // What `kubectl get -o yaml` shows: the address the LoadBalancer already has.
    let assigned_lb_ip = match child(obj, "status")
        .and_then(|s| child(s, "loadBalancer"))
        .and_then(|l| child(l, "ingress"))
        .map(|i| &i.value)
    {
        Some(Value::Seq(v)) => v
            .iter()
            .find_map(|i| at::<String>(i, &["ip"], d))
            .and_then(|a| v4(a, d)),
        _ => None,
    };
    Some((
        RawService {
            loc: obj.loc.clone(),
            path: path.to_string(),
            name,
            namespace,
            kind,
            selector,
            ports,
            external_traffic_policy: at(obj, &["spec", "externalTrafficPolicy"], d),
            internal_traffic_policy: at(obj, &["spec", "internalTrafficPolicy"], d),
            load_balancer_ip,
            assigned_lb_ip,
            labels,
            annotations,
        },
        named,
    ))
}
