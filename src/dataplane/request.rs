//! What to walk: a source, a destination and a protocol, built from references as the user
//! writes them (`--from external:clients --to service:shop/web:80`).

use crate::cluster::{Cluster, PodId, ServiceId};
use crate::fabric::Fabric;
use crate::net::Proto;
use crate::scenario::reference::Ref;
use std::net::Ipv4Addr;

/// The first port of Linux's `ip_local_port_range` (32768–60999): the source port a client
/// uses when none is given.
pub const DEFAULT_SOURCE_PORT: u16 = 32768;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Pod(PodId),
    /// An address outside the cluster (or a literal, classified by the design).
    Ip(Ipv4Addr),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Service { svc: ServiceId, port: u16 },
    Pod { pod: PodId, port: u16 },
    Ip { ip: Ipv4Addr, port: u16 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRequest {
    pub src: Source,
    pub sport: u16,
    pub dst: Target,
    pub proto: Proto,
}

/// The transport part of a flow a walk passes along: source port, destination port, protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L4 {
    pub sport: u16,
    pub port: u16,
    pub proto: Proto,
}

impl FlowRequest {
    /// This request's transport part, to destination port `port`.
    pub fn l4(&self, port: u16) -> L4 {
        L4 {
            sport: self.sport,
            port,
            proto: self.proto,
        }
    }
}

/// Why a flow request could not be built: an end that is not one, or what is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the deployment has no pods (replicas: 0)")]
    NoReplicas,
    #[error("the namespace has no pods")]
    EmptyNamespace,
    #[error(
        "--from must be a pod, a deployment (its first replica), a namespace (its first pod), an external network or an IP"
    )]
    NotASource,
    #[error("--to must be a service, a pod, a deployment, an external network or an IP[:port]")]
    NotATarget,
    #[error("--proto {asked} and the destination's /{written} disagree: give one of them")]
    ProtocolsDisagree { asked: Proto, written: Proto },
    #[error("source port 0 is not one a connection leaves from: give 1 to 65535")]
    SourcePortZero,
    #[error("the destination needs a port for {0}: write it as …:PORT")]
    NoPort(Proto),
}

impl RequestError {
    /// The source is what is wrong.
    pub fn at_source(&self) -> bool {
        matches!(
            self,
            RequestError::NotASource | RequestError::EmptyNamespace
        )
    }

    /// The message as a scenario's traffic entry gets it (it has no --from or --to).
    pub fn in_scenario(&self) -> String {
        match self {
            RequestError::NotASource => "a traffic source must be a pod, a deployment (its first replica), a namespace (its first pod), an external network or an IP".into(),
            RequestError::NotATarget => "a traffic destination must be a service, a pod, a deployment, an external network or an IP[:port]".into(),
            e => e.to_string(),
        }
    }
}

/// Builds a request; errors say what is missing or not a valid end of a flow.
// Long: one arm per kind of source and of destination, then the protocol and port
// checks.
pub fn build(
    from: &Ref,
    to: &Ref,
    proto: Option<Proto>,
    sport: Option<u16>,
    fabric: &Fabric,
    cluster: &Cluster,
) -> Result<FlowRequest, RequestError> {
    let src = match *from {
        Ref::Pod { pod, .. } => Source::Pod(pod),
        Ref::Deployment { dep, .. } => Source::Pod(
            cluster
                .pods_of(dep)
                .next()
                .ok_or(RequestError::NoReplicas)?,
        ),
        Ref::Namespace(ns) => Source::Pod(
            (0..cluster.pods.len() as u32)
                .map(PodId)
                .find(|p| cluster.pod(*p).namespace == ns)
                .ok_or(RequestError::EmptyNamespace)?,
        ),
        Ref::External { ext, .. } => Source::Ip(fabric.externals[ext.index()].first_host()),
        Ref::Literal { ip, .. } => Source::Ip(ip),
        _ => {
            return Err(RequestError::NotASource);
        }
    };
    let literal_proto = match *to {
        Ref::Literal { proto, .. } => proto,
        _ => None,
    };
    let (dst, port_proto) = match *to {
        Ref::Service { svc, port } => {
            let p = cluster
                .service(svc)
                .ports
                .iter()
                .find(|x| x.port == port)
                .map(|x| x.proto);
            (Target::Service { svc, port }, p)
        }
        Ref::Pod { pod, port } => (
            Target::Pod {
                pod,
                port: port.unwrap_or(0),
            },
            None,
        ),
        Ref::Deployment { dep, port } => {
            let pod = cluster
                .pods_of(dep)
                .next()
                .ok_or(RequestError::NoReplicas)?;
            (
                Target::Pod {
                    pod,
                    port: port.unwrap_or(0),
                },
                None,
            )
        }
        Ref::External { ext, port } => (
            Target::Ip {
                ip: fabric.externals[ext.index()].first_host(),
                port: port.unwrap_or(0),
            },
            None,
        ),
        Ref::Literal { ip, port, .. } => (
            Target::Ip {
                ip,
                port: port.unwrap_or(0),
            },
            None,
        ),
        _ => return Err(RequestError::NotATarget),
    };
    if let (Some(asked), Some(written)) = (proto, literal_proto)
        && asked != written
    {
        return Err(RequestError::ProtocolsDisagree { asked, written });
    }
    if sport == Some(0) {
        return Err(RequestError::SourcePortZero);
    }
    let proto = proto.or(literal_proto).or(port_proto).unwrap_or(Proto::Tcp);
    let dst = match dst {
        Target::Pod { port: 0, .. } | Target::Ip { port: 0, .. } if proto.has_ports() => {
            return Err(RequestError::NoPort(proto));
        }
        Target::Pod { pod, .. } if !proto.has_ports() => Target::Pod { pod, port: 0 },
        Target::Ip { ip, .. } if !proto.has_ports() => Target::Ip { ip, port: 0 },
        other => other,
    };
    let sport = if proto.has_ports() {
        sport.unwrap_or(DEFAULT_SOURCE_PORT)
    } else {
        0
    };
    Ok(FlowRequest {
        src,
        sport,
        dst,
        proto,
    })
}
