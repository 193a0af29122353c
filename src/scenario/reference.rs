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

/// Why a reference could not be resolved: what was expected, or what does not exist.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error(
        "`{0}` is not a reference; write kind:name (node:, leaf:, spine:, pod:, deployment:, namespace:, service:, external:) or an IP"
    )]
    NotAReference(String),
    #[error(
        "unknown reference kind `{0}`; expected node, leaf, spine, pod, deployment, namespace, service, external, bgp, uplink, speaker or controller"
    )]
    UnknownKind(String),
    #[error("{kind} references are written {kind}:NAMESPACE/NAME, not `{kind}:{text}`")]
    NotNamespaced { kind: String, text: String },
    #[error("write {kind}:NODE/LEAF (e.g. {kind}:k8s-r1-1/101), not `{kind}:{text}`")]
    NotNodeLeaf { kind: String, text: String },
    /// What (e.g. "node named", "pod") and its name.
    #[error("no {0} `{1}`")]
    NoSuch(&'static str, String),
    #[error("no leaf `{0}` in the fabric")]
    NoLeaf(String),
    #[error("no spine `{0}` in the fabric")]
    NoSpine(String),
    #[error("service {service} has no port {port} (ports: {ports})")]
    NoServicePort {
        service: String,
        port: u16,
        ports: String,
    },
    #[error("service {0} has several ports; write service:{0}:PORT")]
    WhichServicePort(String),
    #[error("node `{node}` has no uplink to leaf {leaf}: its rack's leaves are {leaves}")]
    NoUplink {
        node: String,
        leaf: String,
        leaves: String,
    },
    #[error(
        "unknown controller `{0}`; the one a scenario can fail is controller:aci-containers-controller"
    )]
    UnknownController(String),
    #[error("unknown protocol `{0}`; use tcp, udp or icmp")]
    UnknownProtocol(String),
    #[error("`{0}` is not a port number")]
    NotAPort(String),
    #[error("`{0}` is not an IPv4 address")]
    NotAnAddress(String),
}

fn split_port(s: &str) -> Result<(&str, Option<u16>), RefError> {
    match s.rsplit_once(':') {
        Some((name, port)) => {
            let p = port
                .parse::<u16>()
                .map_err(|_| RefError::NotAPort(port.into()))?;
            Ok((name, Some(p)))
        }
        None => Ok((s, None)),
    }
}

fn ns_name(s: &str, kind: &str) -> Result<(String, String), RefError> {
    s.split_once('/')
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| RefError::NotNamespaced {
            kind: kind.into(),
            text: s.into(),
        })
}

/// Resolves `text`; the message of an error says what was expected or what does not exist.
// Long: one arm per reference kind.
pub fn resolve(text: &str, fabric: &Fabric, cluster: &Cluster) -> Result<Ref, RefError> {
    let t = text.trim();
    if t.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        return literal(t);
    }
    let (kind, rest) = t
        .split_once(':')
        .ok_or_else(|| RefError::NotAReference(t.into()))?;
    match kind {
        "node" => cluster
            .node_by_name(rest)
            .map(Ref::Node)
            .ok_or_else(|| RefError::NoSuch("node named", rest.into())),
        "leaf" => rest
            .parse()
            .ok()
            .and_then(|n| fabric.leaf_by_number(n))
            .map(Ref::Leaf)
            .ok_or_else(|| RefError::NoLeaf(rest.into())),
        "spine" => rest
            .parse()
            .ok()
            .and_then(|n| fabric.spine_by_number(n))
            .map(Ref::Spine)
            .ok_or_else(|| RefError::NoSpine(rest.into())),
        "pod" => {
            let (body, port) = split_port(rest)?;
            let (ns, name) = ns_name(body, "pod")?;
            let pod = cluster
                .pod_by_name(&ns, &name)
                .ok_or_else(|| RefError::NoSuch("pod", format!("{ns}/{name}")))?;
            Ok(Ref::Pod { pod, port })
        }
        "deployment" => {
            let (body, port) = split_port(rest)?;
            let (ns, name) = ns_name(body, "deployment")?;
            let dep = cluster
                .deployment_by_name(&ns, &name)
                .ok_or_else(|| RefError::NoSuch("deployment", format!("{ns}/{name}")))?;
            Ok(Ref::Deployment { dep, port })
        }
        "service" => {
            let (body, port) = split_port(rest)?;
            let (ns, name) = ns_name(body, "service")?;
            let svc = cluster
                .service_by_name(&ns, &name)
                .ok_or_else(|| RefError::NoSuch("service", format!("{ns}/{name}")))?;
            let s = cluster.service(svc);
            let port = match port {
                Some(p) if s.ports.iter().any(|x| x.port == p) => p,
                Some(p) => {
                    let known: Vec<String> = s.ports.iter().map(|x| x.port.to_string()).collect();
                    return Err(RefError::NoServicePort {
                        service: format!("{ns}/{name}"),
                        port: p,
                        ports: known.join(", "),
                    });
                }
                None if s.ports.len() == 1 => s.ports[0].port,
                None => {
                    return Err(RefError::WhichServicePort(format!("{ns}/{name}")));
                }
            };
            Ok(Ref::Service { svc, port })
        }
        "bgp" | "uplink" => {
            let (n, l) = rest.split_once('/').ok_or_else(|| RefError::NotNodeLeaf {
                kind: kind.into(),
                text: rest.into(),
            })?;
            let node = cluster
                .node_by_name(n)
                .ok_or_else(|| RefError::NoSuch("node named", n.into()))?;
            let leaf = l
                .parse()
                .ok()
                .and_then(|x| fabric.leaf_by_number(x))
                .ok_or_else(|| RefError::NoLeaf(l.into()))?;
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
                return Err(RefError::NoUplink {
                    node: n.into(),
                    leaf: l.into(),
                    leaves: ours.join(", "),
                });
            }
            Ok(Ref::Uplink { node, leaf })
        }
        "speaker" => cluster
            .node_by_name(rest)
            .map(Ref::Speaker)
            .ok_or_else(|| RefError::NoSuch("node named", rest.into())),
        "controller" => match rest {
            "aci-containers-controller" | "aci" => Ok(Ref::Controller),
            _ => Err(RefError::UnknownController(rest.into())),
        },
        "namespace" => cluster
            .namespace_by_name(rest)
            .map(Ref::Namespace)
            .ok_or_else(|| RefError::NoSuch("namespace", rest.into())),
        "external" => {
            let (name, port) = split_port(rest)?;
            let ext = fabric
                .external_by_name(name)
                .ok_or_else(|| RefError::NoSuch("external network", name.into()))?;
            Ok(Ref::External { ext, port })
        }
        other => Err(RefError::UnknownKind(other.into())),
    }
}

/// `1.1.1.1`, `1.1.1.1:443`, `1.1.1.1:443/tcp`.
fn literal(t: &str) -> Result<Ref, RefError> {
    let (addr, proto) = match t.split_once('/') {
        Some((a, p)) => (
            a,
            Some(Proto::parse(p).ok_or_else(|| RefError::UnknownProtocol(p.into()))?),
        ),
        None => (t, None),
    };
    let (ip, port) = split_port(addr)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| RefError::NotAnAddress(ip.into()))?;
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
