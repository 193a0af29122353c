//! The ACI-CNI packet walk, as the seed's packet-walk slides draw it: LPM classification and
//! contracts on the leaves, PBR redirection to nodes, OVS DNAT with a second-stage choice among
//! local pods, SNAT from the node's port chunk, PBR of the reply and the bounce to the owner node.

mod egress;
mod internal;

use crate::cluster::{Cluster, ServiceId};
use crate::cluster::{NodeId, PodId};
use crate::dataplane::addresses::Addresses;
use crate::dataplane::legs::{self, Legs};
use crate::dataplane::request::{FlowRequest, L4, Source, Target};
use crate::dataplane::*;
use crate::design::aci_cni::AciState;
use crate::design::aci_cni::compile::PbrDest;
use crate::fabric::Fabric;
use crate::fabric::LeafId;
use crate::nat::conntrack::NatTable;
use crate::net::Endpoint;
use crate::net::Flow;
use crate::net::hash::{pbr_sip_dip_proto, pick, symmetric_l4};
use crate::policy::{EpgId, Verdict as PolicyVerdict};
use crate::time::Nanos;
use std::net::Ipv4Addr;

/// The walker: borrowed views of the fabric, the cluster and the compiled state.
pub struct AciWalk<'a> {
    pub fabric: &'a Fabric,
    pub cluster: &'a Cluster,
    pub state: &'a AciState,
}

/// `namespace/name` of a service, formatted only when displayed.
#[derive(Clone, Copy)]
struct SvcName<'a>(&'a str, &'a str);

impl std::fmt::Display for SvcName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.0, self.1)
    }
}

/// How an address was classified (rendered into words only when a trace records it).
#[derive(Clone, Copy)]
enum Why {
    Pod(Ipv4Addr, PodId),
    Node(Ipv4Addr),
    External(Ipv4Addr, ipnet::Ipv4Net, EpgId),
}

impl<'a> AciWalk<'a> {
    pub fn new(fabric: &'a Fabric, cluster: &'a Cluster, state: &'a AciState) -> Self {
        AciWalk {
            fabric,
            cluster,
            state,
        }
    }

    fn epg_name(&self, e: EpgId) -> &str {
        &self.state.policy.epg(e).name
    }

    /// The EPG of an address and why: pod endpoints by their EPG, nodes in kube-nodes, anything
    /// else by LPM over the external EPGs' subnets. The explanation is rendered only on demand.
    fn classify(&self, ip: Ipv4Addr) -> Option<(EpgId, Why)> {
        if let Some(p) = self.state.addr.pod_at(ip) {
            return Some((self.state.pod_epg[p.index()].0, Why::Pod(ip, p)));
        }
        let nodes = &self.state.node_ips;
        // Most addresses classified are outside the nodes' span: no search for them.
        if nodes.first().is_some_and(|lo| *lo <= ip)
            && nodes.last().is_some_and(|hi| ip <= *hi)
            && nodes.binary_search(&ip).is_ok()
        {
            return Some((self.state.kube_nodes, Why::Node(ip)));
        }
        self.state
            .policy
            .classify_external(ip)
            .map(|(prefix, e)| (e, Why::External(ip, prefix, e)))
    }

    fn why(&self, w: Why) -> String {
        match w {
            Why::Pod(ip, p) => {
                let (epg, why) = &self.state.pod_epg[p.index()];
                format!(
                    "{ip} is endpoint {} in EPG {} ({why})",
                    self.cluster.pod_ref(p),
                    self.epg_name(*epg)
                )
            }
            Why::Node(ip) => format!(
                "{ip} is a node in EPG {}",
                self.epg_name(self.state.kube_nodes)
            ),
            Why::External(ip, prefix, e) => format!(
                "{ip} matches {prefix} (longest prefix) → external EPG {}",
                self.epg_name(e)
            ),
        }
    }

    fn contract_text(&self, v: &PolicyVerdict, src: EpgId, dst: EpgId, flow: &Flow) -> String {
        match v {
            PolicyVerdict::IntraEpg => format!(
                "both ends in EPG {}: intra-EPG traffic is permitted",
                self.epg_name(src)
            ),
            PolicyVerdict::Permit {
                contract,
                filter,
                reply: false,
            } => {
                let c = self.state.policy.contract(*contract);
                format!(
                    "{} → {}: permitted by contract {} (filter {filter})",
                    self.epg_name(src),
                    self.epg_name(dst),
                    c.name
                )
            }
            PolicyVerdict::Permit {
                contract,
                filter,
                reply: true,
            } => {
                let c = self.state.policy.contract(*contract);
                format!(
                    "{} → {}: reply permitted by contract {} (provider → consumer, filter {filter} on the source port)",
                    self.epg_name(src),
                    self.epg_name(dst),
                    c.name
                )
            }
            PolicyVerdict::Deny => format!(
                "no contract between EPG {} and EPG {} permits {}/{}: dropped",
                self.epg_name(src),
                self.epg_name(dst),
                flow.proto,
                flow.dst.port
            ),
        }
    }

    /// Classification on a leaf (both addresses), recorded as one hop.
    fn leaf_classify<R: Recorder>(&self, leaf: LeafId, pkt: &Flow, rec: &mut R) -> (EpgId, EpgId) {
        let (se, sw) = self
            .classify(pkt.src.ip)
            .expect("0.0.0.0/0 classifies every outside address");
        let (de, dw) = self
            .classify(pkt.dst.ip)
            .expect("0.0.0.0/0 classifies every outside address");
        rec.hop(Device::Leaf(leaf), Action::Classify, pkt, || {
            format!("source {}; destination {}", self.why(sw), self.why(dw))
        });
        (se, de)
    }

    /// The contract lookup between two EPGs; a denial is recorded as a drop on `device` and
    /// gives `None`. A permit is left to the caller to record (with what follows from it).
    fn contract_or_drop<R: Recorder>(
        &self,
        device: Device,
        (se, de): (EpgId, EpgId),
        pkt: &Flow,
        opening: bool,
        rec: &mut R,
    ) -> Option<PolicyVerdict> {
        let v = self
            .state
            .policy
            .check(se, de, pkt.proto, (pkt.src.port, pkt.dst.port), opening);
        if matches!(v, PolicyVerdict::Deny) {
            rec.hop(device, Action::Drop, pkt, || {
                self.contract_text(&v, se, de, pkt)
            });
            return None;
        }
        Some(v)
    }

    /// OVS's second stage on the PBR destination `dest` of `svc`'s graph: the symmetric L3/L4
    /// hash of `pkt` over the node's ready local pods, read where the destination keeps them
    /// (the pod and how many were ready); `None` when none is ready.
    fn second_stage(&self, dest: PbrDest, svc: ServiceId, pkt: &Flow) -> Option<(PodId, usize)> {
        let hash = symmetric_l4(self.cluster.node_salt(dest.node), pkt);
        let choose = |n| pick(hash, n);
        match dest.endpoints {
            Some(at) => self.cluster.pick_ready_at(at, choose),
            None => self.cluster.pick_ready_on(svc, dest.node, choose),
        }
    }

    /// The node PBR sends an outside client's connection to a LoadBalancer service, without
    /// walking it (for re-evaluating live connections after a change).
    pub fn probe_lb_node(&self, req: &FlowRequest) -> Option<NodeId> {
        let (Source::Ip(client), Target::Service { svc, .. }) = (req.src, req.dst) else {
            return None;
        };
        let lb = self.state.addr.lb_ip[svc.index()]?;
        let r = self.state.redirect(self.state.svc_redirect[svc.index()]?);
        r.group
            .choose(pbr_sip_dip_proto(r.salt, client, lb, req.proto))
            .map(|c| c.member.node)
    }

    /// Walks one flow and its reply. `nat` holds SNAT ports in use (the walk reserves one).
    pub fn walk<R: Recorder>(&self, req: &FlowRequest, nat: &mut NatTable, rec: &mut R) -> Outcome {
        legs::walk(self, req, nat, rec)
    }
}

impl Legs for AciWalk<'_> {
    type Tables = NatTable;

    fn addresses(&self) -> &Addresses {
        &self.state.addr
    }

    fn fabric(&self) -> &Fabric {
        self.fabric
    }

    fn cluster(&self) -> &Cluster {
        self.cluster
    }

    fn nat(nat: &mut NatTable) -> &mut NatTable {
        nat
    }

    /// A literal ClusterIP: OVS's service flows DNAT it before any routing.
    fn literal_service(&self, ip: Ipv4Addr) -> Option<ServiceId> {
        self.state.cluster_ip_to_service.get(&ip).copied()
    }

    fn pod_to_service<R: Recorder>(
        &self,
        pod: PodId,
        svc: (ServiceId, Option<Ipv4Addr>),
        l4: L4,
        _nat: &mut NatTable,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome {
        self.to_service(pod, svc, l4, rec, lat)
    }

    fn pod_to_pod<R: Recorder>(
        &self,
        a: PodId,
        b: PodId,
        l4: L4,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome {
        self.east_west(a, b, None, l4, rec, lat)
    }

    /// The routing domain's own subnets stay inside the fabric; the rest leaves through SNAT.
    fn pod_to_ip<R: Recorder>(
        &self,
        pod: PodId,
        ip: Ipv4Addr,
        l4: L4,
        nat: &mut NatTable,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome {
        if self.is_internal(ip) {
            self.to_internal(pod, ip, l4, rec, lat)
        } else {
            self.egress(pod, ip, l4, nat, rec, lat)
        }
    }

    /// Outside client → LoadBalancer IP (seed: "Service Graphs and PBR", steps 1–7).
    // Long: a walk leg is one sequence of hops in the order the packet walk goes (seed: the
    // talk's slides); split, that order would be spread over functions each called once.
    fn ingress_lb<R: Recorder>(
        &self,
        client: Ipv4Addr,
        svc: ServiceId,
        l4: L4,
        _nat: &mut NatTable,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome {
        let L4 { sport, port, proto } = l4;
        let s = self.cluster.service(svc);
        let svc_name = SvcName(self.cluster.namespace_name(s.namespace), &s.name);
        let Some(lb) = self.state.addr.lb_ip[svc.index()] else {
            let f = Flow {
                proto,
                src: Endpoint::new(client, sport),
                dst: Endpoint::new(std::net::Ipv4Addr::UNSPECIFIED, port),
            };
            rec.hop(self.external(client), Action::Drop, &f, || {
                format!("service {svc_name} is not of type LoadBalancer: it has no external IP")
            });
            return outcome(f, Verdict::Dropped, Reason::NoRoute, *lat);
        };
        let (mut pkt, border) = match self.enter(client, Endpoint::new(lb, port), l4, rec, *lat) {
            Ok(entered) => entered,
            Err(dropped) => return dropped,
        };
        let borders = self.fabric.border_leaves();
        rec.hop(self.external(client), Action::Route, &pkt, || {
            let names: Vec<String> = borders.iter().map(|l| self.fabric.leaf_name(*l)).collect();
            format!("client sends to LoadBalancer IP {lb} of {svc_name}; the external router ECMPs over the L3Out's border leaves ({}) → {}", names.join(", "), self.fabric.leaf_name(border))
        });
        *lat = lat.saturating_add(self.fabric.latency.l3out);
        let (src_epg, dst_epg) = self.leaf_classify(border, &pkt, rec);
        let Some(rid) = self.state.svc_redirect[svc.index()] else {
            rec.hop(Device::Leaf(border), Action::Drop, &pkt, || {
                format!("{lb} has no /32 external EPG and no service graph: no node hosts a ready endpoint of {svc_name}; the L3Out has no route for it in the fabric")
            });
            return outcome(pkt, Verdict::Dropped, Reason::NoServiceGraph, *lat);
        };
        let Some(v) =
            self.contract_or_drop(Device::Leaf(border), (src_epg, dst_epg), &pkt, true, rec)
        else {
            return outcome(pkt, Verdict::Dropped, Reason::PolicyDenied, *lat);
        };
        rec.hop(Device::Leaf(border), Action::Contract, &pkt, || {
            format!(
                "{}; its service graph redirects",
                self.contract_text(&v, src_epg, dst_epg, &pkt)
            )
        });
        let redirect = self.state.redirect(rid);
        let h = pbr_sip_dip_proto(redirect.salt, pkt.src.ip, pkt.dst.ip, proto);
        let Some(choice) = redirect.group.choose(h) else {
            rec.hop(Device::Leaf(border), Action::Drop, &pkt, || {
                format!("redirect policy {} has no destination", redirect.name)
            });
            return outcome(pkt, Verdict::Dropped, Reason::NoReadyEndpoint, *lat);
        };
        let node = choice.member.node;
        rec.hop(Device::Leaf(border), Action::PbrRedirect, &pkt, || {
            let kind = if redirect.group.is_resilient() { "resilient hashing" } else { "resilient hashing off" };
            format!(
                "redirect policy {}: hash(source IP, destination IP, protocol) → bucket {} of {} ({kind}) → {} (node service IP {}, MAC {}); {} destinations",
                redirect.name,
                choice.bucket,
                choice.of,
                self.cluster.node_ref(node),
                self.state.node_svc_ip[node.index()],
                self.cluster.node(node).mac_string(),
                redirect.group.members().len()
            )
        });
        let leaf = self.node_leaf(node, &pkt);
        self.steps().cross(border, leaf, &pkt, rec, lat);
        rec.hop(Device::Leaf(leaf), Action::Route, &pkt, || {
            format!(
                "to {} on its vPC port-channel (service VLAN)",
                self.cluster.node_ref(node)
            )
        });
        *lat = lat.saturating_add(self.fabric.latency.node_leaf);
        if let Err(r) = self.steps().alive(
            node,
            &pkt,
            rec,
            "PBR keeps redirecting to it until IP SLA tracking or the endpoint update removes it",
        ) {
            return outcome(pkt, Verdict::Dropped, r, *lat);
        }
        let Some((pod, n_local)) = self.second_stage(choice.member, svc, &pkt) else {
            rec.hop(Device::Node(node), Action::Drop, &pkt, || {
                format!("OVS has no ready local endpoint of {svc_name}")
            });
            return outcome(pkt, Verdict::Dropped, Reason::NoLocalEndpoint, *lat);
        };
        let target_port = s
            .ports
            .iter()
            .find(|p| p.port == port)
            .map(|p| p.target_port)
            .unwrap_or(port);
        let orig = pkt;
        pkt.dst = self.pod_ep(pod, target_port);
        rec.hop(Device::Node(node), Action::Dnat, &pkt, || {
            let second = if n_local > 1 {
                format!("second-stage load balancing over {n_local} local ready pods (symmetric L3/L4 hash) chose {}", self.cluster.pod_ref(pod))
            } else {
                format!("one local ready pod: {}", self.cluster.pod_ref(pod))
            };
            format!("OVS: {} is not a local address; {second}; conntrack DNAT {} → {}", lb, orig.dst, pkt.dst)
        });
        rec.hop(Device::Pod(pod), Action::Deliver, &pkt, || {
            format!("delivered to {}", self.cluster.pod_ref(pod))
        });

        rec.start_return();
        let mut r = pkt.reversed();
        rec.hop(Device::Pod(pod), Action::Route, &r, || {
            format!("{} replies to the client", self.cluster.pod_ref(pod))
        });
        r.src = orig.dst;
        rec.hop(Device::Node(node), Action::UnDnat, &r, || {
            format!(
                "OVS conntrack restores the service IP: source {} → {}",
                pkt.dst, orig.dst
            )
        });
        let leaf = self.node_leaf(node, &r);
        *lat = lat.saturating_add(self.fabric.latency.node_leaf);
        rec.hop(Device::Leaf(leaf), Action::Classify, &r, || {
            format!("source arrives from the PBR node's service interface: shadow EPG of service graph {}, so PBR is not applied to the return", redirect.name)
        });
        let border = self.border_for(&r).unwrap_or(border);
        self.steps().cross(leaf, border, &r, rec, lat);
        let v = self
            .state
            .policy
            .check(dst_epg, src_epg, proto, (r.src.port, r.dst.port), false);
        rec.hop(Device::Leaf(border), Action::Contract, &r, || {
            format!(
                "{}; routed out the L3Out {}",
                self.contract_text(&v, dst_epg, src_epg, &r),
                self.state.cfg.l3out
            )
        });
        *lat = lat.saturating_add(self.fabric.latency.l3out);
        rec.hop(self.external(client), Action::Deliver, &r, || {
            "the client receives the reply from the LoadBalancer IP".into()
        });
        delivered(orig, *lat, node, pod)
    }

    /// Outside host → a pod IP directly (the pod subnet is routed; contracts still apply).
    fn ingress_direct<R: Recorder>(
        &self,
        client: Ipv4Addr,
        pod: PodId,
        l4: L4,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome {
        let port = l4.port;
        let (pkt, border) = match self.enter(client, self.pod_ep(pod, port), l4, rec, *lat) {
            Ok(entered) => entered,
            Err(dropped) => return dropped,
        };
        rec.hop(self.external(client), Action::Route, &pkt, || {
            format!(
                "sends to pod IP {} through the L3Out → {}",
                pkt.dst.ip,
                self.fabric.leaf_name(border)
            )
        });
        *lat = lat.saturating_add(self.fabric.latency.l3out);
        let (se, de) = self.leaf_classify(border, &pkt, rec);
        let Some(v) = self.contract_or_drop(Device::Leaf(border), (se, de), &pkt, true, rec) else {
            return outcome(pkt, Verdict::Dropped, Reason::PolicyDenied, *lat);
        };
        rec.hop(Device::Leaf(border), Action::Contract, &pkt, || {
            self.contract_text(&v, se, de, &pkt)
        });
        let node = self.pod_node(pod);
        let leaf = self.node_leaf(node, &pkt);
        self.steps().cross(border, leaf, &pkt, rec, lat);
        rec.hop(Device::Leaf(leaf), Action::Route, &pkt, || {
            format!(
                "endpoint {} learned behind {}",
                pkt.dst.ip,
                self.cluster.node_ref(node)
            )
        });
        *lat = lat.saturating_add(self.fabric.latency.node_leaf);
        if let Err(e) = self
            .steps()
            .alive(node, &pkt, rec, "the fabric still holds its endpoints")
        {
            return outcome(pkt, Verdict::Dropped, e, *lat);
        }
        rec.hop(Device::Pod(pod), Action::Deliver, &pkt, || {
            format!(
                "OVS on {} delivers to {}",
                self.cluster.node_ref(node),
                self.cluster.pod_ref(pod)
            )
        });
        rec.start_return();
        let r = pkt.reversed();
        let leaf = self.node_leaf(node, &r);
        rec.hop(Device::Node(node), Action::Route, &r, || {
            "OVS sends the reply to the fabric".into()
        });
        *lat = lat.saturating_add(self.fabric.latency.node_leaf);
        let b = self.border_for(&r).unwrap_or(border);
        rec.hop(Device::Leaf(leaf), Action::Route, &r, || {
            format!("{} is reached through the L3Out", client)
        });
        self.steps().cross(leaf, b, &r, rec, lat);
        *lat = lat.saturating_add(self.fabric.latency.l3out);
        rec.hop(self.external(client), Action::Deliver, &r, || {
            "reply delivered".into()
        });
        let mut o = outcome(pkt, Verdict::Delivered, Reason::Delivered, *lat);
        o.pod = Some(pod);
        o.node = Some(node);
        o
    }
}
