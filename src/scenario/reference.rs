//! References `kind:name` to things of the scenario (`node:k8s-r1-2`, `leaf:101`,
//! `pod:shop/web-3`, `deployment:shop/batch`, `service:shop/web:80`, `external:clients`) or a
//! literal `1.1.1.1[:443[/tcp]]`, and their resolution against the fabric and the cluster.

use crate::cluster::{Cluster, DeploymentId, NamespaceId, NodeId, PodId, ServiceId};
use crate::fabric::{ExternalId, Fabric, LeafId, SpineId};
use crate::net::Proto;
use std::fmt;
use std::net::Ipv4Addr;

/// A resolved reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ref {
    Node(NodeId),
    Leaf(LeafId),
    Spine(SpineId),
    Pod {
        pod: PodId,
        port: Option<u16>,
    },
    Deployment {
        dep: DeploymentId,
        port: Option<u16>,
    },
    /// Every pod of a namespace (a traffic source; `trace` takes its first pod).
    Namespace(NamespaceId),
    /// The BGP session between a node and a leaf (`bgp:NODE/LEAF`), a failure target.
    Session {
        node: NodeId,
        leaf: LeafId,
    },
    /// The link between a node and a leaf of its rack (`uplink:NODE/LEAF`), a failure target.
    Uplink {
        node: NodeId,
        leaf: LeafId,
    },
    /// The BGP speaker process of a node (`speaker:NODE`: BIRD in calico-node, kube-router,
    /// cilium-agent), a restart target: the node keeps forwarding while it is down.
    Speaker(NodeId),
    /// The aci-containers-controller (`controller:aci-containers-controller`), a failure target.
    Controller,
    Service {
        svc: ServiceId,
        port: u16,
    },
    External {
        ext: ExternalId,
        port: Option<u16>,
    },
    Literal {
        ip: Ipv4Addr,
        port: Option<u16>,
        proto: Option<Proto>,
    },
}

impl Ref {
    pub fn is_device(&self) -> bool {
        matches!(self, Ref::Node(_) | Ref::Leaf(_) | Ref::Spine(_))
    }

    /// Something an event of the scenario can fail and recover.
    pub fn is_failure_target(&self) -> bool {
        self.is_device()
            || matches!(
                self,
                Ref::Session { .. } | Ref::Uplink { .. } | Ref::Speaker(_) | Ref::Controller
            )
    }
}

fn split_port(s: &str) -> Result<(&str, Option<u16>), String> {
    match s.rsplit_once(':') {
        Some((name, port)) => {
            let p = port
                .parse::<u16>()
                .map_err(|_| format!("`{port}` is not a port number"))?;
            Ok((name, Some(p)))
        }
        None => Ok((s, None)),
    }
}

fn ns_name(s: &str, kind: &str) -> Result<(String, String), String> {
    s.split_once('/')
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| {
            format!("{kind} references are written {kind}:NAMESPACE/NAME, not `{kind}:{s}`")
        })
}

/// Resolves `text`; the message of an error says what was expected or what does not exist.
pub fn resolve(text: &str, fabric: &Fabric, cluster: &Cluster) -> Result<Ref, String> {
    let t = text.trim();
    if t.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        return literal(t);
    }
    let (kind, rest) = t
        .split_once(':')
        .ok_or_else(|| format!("`{t}` is not a reference; write kind:name (node:, leaf:, spine:, pod:, deployment:, namespace:, service:, external:) or an IP"))?;
    match kind {
        "node" => cluster
            .node_by_name(rest)
            .map(Ref::Node)
            .ok_or_else(|| format!("no node named `{rest}`")),
        "leaf" => rest
            .parse()
            .ok()
            .and_then(|n| fabric.leaf_by_number(n))
            .map(Ref::Leaf)
            .ok_or_else(|| format!("no leaf `{rest}` in the fabric")),
        "spine" => rest
            .parse()
            .ok()
            .and_then(|n| fabric.spine_by_number(n))
            .map(Ref::Spine)
            .ok_or_else(|| format!("no spine `{rest}` in the fabric")),
        "pod" => {
            let (body, port) = split_port(rest)?;
            let (ns, name) = ns_name(body, "pod")?;
            let pod = cluster
                .pod_by_name(&ns, &name)
                .ok_or_else(|| format!("no pod `{ns}/{name}`"))?;
            Ok(Ref::Pod { pod, port })
        }
        "deployment" => {
            let (body, port) = split_port(rest)?;
            let (ns, name) = ns_name(body, "deployment")?;
            let dep = cluster
                .deployment_by_name(&ns, &name)
                .ok_or_else(|| format!("no deployment `{ns}/{name}`"))?;
            Ok(Ref::Deployment { dep, port })
        }
        "service" => {
            let (body, port) = split_port(rest)?;
            let (ns, name) = ns_name(body, "service")?;
            let svc = cluster
                .service_by_name(&ns, &name)
                .ok_or_else(|| format!("no service `{ns}/{name}`"))?;
            let s = cluster.service(svc);
            let port = match port {
                Some(p) if s.ports.iter().any(|x| x.port == p) => p,
                Some(p) => {
                    let known: Vec<String> = s.ports.iter().map(|x| x.port.to_string()).collect();
                    return Err(format!(
                        "service {ns}/{name} has no port {p} (ports: {})",
                        known.join(", ")
                    ));
                }
                None if s.ports.len() == 1 => s.ports[0].port,
                None => {
                    return Err(format!(
                        "service {ns}/{name} has several ports; write service:{ns}/{name}:PORT"
                    ));
                }
            };
            Ok(Ref::Service { svc, port })
        }
        "bgp" | "uplink" => {
            let (n, l) = rest.split_once('/').ok_or_else(|| {
                format!("write {kind}:NODE/LEAF (e.g. {kind}:k8s-r1-1/101), not `{kind}:{rest}`")
            })?;
            let node = cluster
                .node_by_name(n)
                .ok_or_else(|| format!("no node named `{n}`"))?;
            let leaf = l
                .parse()
                .ok()
                .and_then(|x| fabric.leaf_by_number(x))
                .ok_or_else(|| format!("no leaf `{l}` in the fabric"))?;
            if kind == "bgp" {
                return Ok(Ref::Session { node, leaf });
            }
            let rack = &fabric.racks[cluster.node(node).rack.index()];
            if !rack.leaves.contains(&leaf) {
                let ours: Vec<String> = rack
                    .leaves
                    .iter()
                    .map(|l| fabric.leaf(*l).number.to_string())
                    .collect();
                return Err(format!(
                    "node `{n}` has no uplink to leaf {l}: its rack's leaves are {}",
                    ours.join(", ")
                ));
            }
            Ok(Ref::Uplink { node, leaf })
        }
        "speaker" => cluster
            .node_by_name(rest)
            .map(Ref::Speaker)
            .ok_or_else(|| format!("no node named `{rest}`")),
        "controller" => match rest {
            "aci-containers-controller" | "aci" => Ok(Ref::Controller),
            _ => Err(format!(
                "unknown controller `{rest}`; the one a scenario can fail is controller:aci-containers-controller"
            )),
        },
        "namespace" => cluster
            .namespace_by_name(rest)
            .map(Ref::Namespace)
            .ok_or_else(|| format!("no namespace `{rest}`")),
        "external" => {
            let (name, port) = split_port(rest)?;
            let ext = fabric
                .external_by_name(name)
                .ok_or_else(|| format!("no external network `{name}`"))?;
            Ok(Ref::External { ext, port })
        }
        other => Err(format!(
            "unknown reference kind `{other}`; expected node, leaf, spine, pod, deployment, namespace, service, external, bgp, uplink, speaker or controller"
        )),
    }
}

/// `1.1.1.1`, `1.1.1.1:443`, `1.1.1.1:443/tcp`.
fn literal(t: &str) -> Result<Ref, String> {
    let (addr, proto) = match t.split_once('/') {
        Some((a, p)) => (
            a,
            Some(
                Proto::parse(p)
                    .ok_or_else(|| format!("unknown protocol `{p}`; use tcp, udp or icmp"))?,
            ),
        ),
        None => (t, None),
    };
    let (ip, port) = split_port(addr)?;
    let ip: Ipv4Addr = ip
        .parse()
        .map_err(|_| format!("`{ip}` is not an IPv4 address"))?;
    Ok(Ref::Literal { ip, port, proto })
}

/// Displays a reference the way a user writes it.
pub struct Display<'a>(pub &'a Ref, pub &'a Fabric, pub &'a Cluster);

impl fmt::Display for Display<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (fab, cl) = (self.1, self.2);
        let port = |p: &Option<u16>| p.map(|p| format!(":{p}")).unwrap_or_default();
        match self.0 {
            Ref::Node(n) => write!(f, "{}", cl.node_ref(*n)),
            Ref::Leaf(l) => write!(f, "{}", fab.leaf_name(*l)),
            Ref::Spine(s) => write!(f, "{}", fab.spine_name(*s)),
            Ref::Pod { pod, port: p } => write!(f, "{}{}", cl.pod_ref(*pod), port(p)),
            Ref::Deployment { dep, port: p } => {
                let d = &cl.deployments[dep.index()];
                write!(
                    f,
                    "deployment:{}/{}{}",
                    cl.namespace_name(d.namespace),
                    d.name,
                    port(p)
                )
            }
            Ref::Namespace(ns) => write!(f, "namespace:{}", cl.namespace_name(*ns)),
            Ref::Session { node, leaf } => {
                write!(f, "bgp:{}/{}", cl.node(*node).name, fab.leaf(*leaf).number)
            }
            Ref::Uplink { node, leaf } => {
                write!(
                    f,
                    "uplink:{}/{}",
                    cl.node(*node).name,
                    fab.leaf(*leaf).number
                )
            }
            Ref::Speaker(n) => write!(f, "speaker:{}", cl.node(*n).name),
            Ref::Controller => write!(f, "controller:aci-containers-controller"),
            Ref::Service { svc, port: p } => {
                let s = cl.service(*svc);
                write!(
                    f,
                    "service:{}/{}:{}",
                    cl.namespace_name(s.namespace),
                    s.name,
                    p
                )
            }
            Ref::External { ext, port: p } => {
                write!(f, "external:{}{}", fab.externals[ext.index()].name, port(p))
            }
            Ref::Literal { ip, port: p, proto } => {
                write!(f, "{ip}{}", port(p))?;
                match proto {
                    Some(pr) => write!(f, "/{pr}"),
                    None => Ok(()),
                }
            }
        }
    }
}
