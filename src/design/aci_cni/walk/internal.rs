//! Pod-initiated walks that stay inside the fabric: to a node, to an address of one of the VRF's
//! internal subnets, and to a LoadBalancer IP (up to the fabric, PBR, back down to a node).
//!
//! Source: opflex `IntFlowManager.cpp` `handleRoutingDomainUpdate` installs the routing domain's
//! internal subnets at priority 300 + prefix length, above every SNAT flow (≤ 300): nothing
//! inside the fabric is SNATed and nothing inside leaves through the L3Out. A LoadBalancer IP is
//! served by OVS only on frames from the uplink with the service MAC and VLAN (hostagent
//! `services.go` `updateServiceDesc`, the `<uid>-external` service; IntFlowManager SEC_TABLE
//! priority 90), so a pod's packet to it goes up to the fabric, where the service's contract
//! and PBR apply.

use super::AciWalk;
use crate::cluster::{NodeId, PodId, ServiceId};
use crate::dataplane::legs::Legs;
use crate::dataplane::request::L4;
use crate::dataplane::*;
use crate::design::aci_cni::snat_scope;
use crate::net::hash::pbr_sip_dip_proto;
use crate::net::{Endpoint, Flow};
use crate::time::Nanos;
use std::net::Ipv4Addr;

impl AciWalk<'_> {
    /// Whether OVS routes `ip` inside the fabric (a node, or an internal subnet of the VRF).
    pub(super) fn is_internal(&self, ip: std::net::Ipv4Addr) -> bool {
        self.state.node_ips.binary_search(&ip).is_ok() || self.state.internal_subnet(ip).is_some()
    }

    fn node_by_ip(&self, ip: std::net::Ipv4Addr) -> Option<NodeId> {
        self.cluster.node_by_ip(ip)
    }

    /// Pod → a node IP or another internal address: contracts apply, no SNAT, no L3Out.
    // Long: a walk leg is one sequence of hops in the order the packet walk goes (seed: the
    // talk's slides); split, that order would be spread over functions each called once.
    pub(super) fn to_internal<R: Recorder>(
        &self,
        pod: PodId,
        ip: Ipv4Addr,
        l4: L4,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome {
        let (dst, sport, proto) = (Endpoint::new(ip, l4.port), l4.sport, l4.proto);
        let na = self.pod_node(pod);
        let pkt = Flow {
            proto,
            src: self.pod_ep(pod, sport),
            dst,
        };
        rec.hop(Device::Pod(pod), Action::Route, &pkt, || {
            format!(
                "{} sends to {dst} through OVS on {}",
                self.cluster.pod_ref(pod),
                self.cluster.node_ref(na)
            )
        });
        let subnet = self.state.internal_subnet(dst.ip);
        let covered = snat_scope::select(&self.state.pod_stack(pod).entries, dst.ip);
        let why_no_snat = move || match (subnet, covered) {
            (Some(n), Some(e)) => format!(
                "; {} is in internal subnet {n} of the VRF, whose OVS route (priority {}) sits above SNAT flow {} (priority {}): no SNAT",
                dst.ip,
                300 + u32::from(n.prefix_len()),
                e.dest,
                e.priority
            ),
            (Some(n), None) => format!(
                "; {} is in internal subnet {n} of the VRF: routed inside the fabric",
                dst.ip
            ),
            (None, _) => String::new(),
        };
        let Some(node) = self.node_by_ip(dst.ip) else {
            // Inside an internal subnet but no endpoint: node service IPs answer only PBR'd
            // LoadBalancer frames; other addresses have no endpoint the fabric learned.
            let svc_node = (0..self.cluster.nodes.len())
                .find(|k| self.state.node_svc_ip[*k] == dst.ip)
                .map(|k| NodeId(k as u32));
            rec.hop(Device::Node(na), Action::Drop, &pkt, || match svc_node {
                Some(n) => format!(
                    "{} is the node service IP of {} (service BD): OVS there serves only LoadBalancer frames redirected by PBR{}; nothing answers a pod's packet",
                    dst.ip,
                    self.cluster.node_ref(n),
                    why_no_snat()
                ),
                None => format!(
                    "no endpoint has {}{}; the fabric learned no endpoint for it, so it is dropped inside the fabric (it never leaves through the L3Out)",
                    dst.ip,
                    why_no_snat()
                ),
            });
            return outcome(pkt, Verdict::Dropped, Reason::NoRoute, *lat);
        };
        let extra = why_no_snat();
        if let Err(o) = self.ovs_contract(na, &pkt, &extra, rec, lat) {
            return o;
        }
        if let Err(e) = self.node_path(na, node, &pkt, rec, lat) {
            return outcome(pkt, Verdict::Dropped, e, *lat);
        }
        rec.hop(Device::Node(node), Action::Deliver, &pkt, || {
            format!(
                "delivered to {} itself (its host network)",
                self.cluster.node_ref(node)
            )
        });
        rec.start_return();
        let r = pkt.reversed();
        rec.hop(Device::Node(node), Action::Route, &r, || {
            format!("{} replies", self.cluster.node_ref(node))
        });
        if let Err(e) = self.node_path(node, na, &r, rec, lat) {
            return outcome(pkt, Verdict::Dropped, e, *lat);
        }
        rec.hop(Device::Pod(pod), Action::Deliver, &r, || {
            format!("the reply reaches {}", self.cluster.pod_ref(pod))
        });
        let mut o = outcome(pkt, Verdict::Delivered, Reason::Delivered, *lat);
        o.node = Some(node);
        o
    }

    /// Between a pod's node and a node's host stack: local on one node, else through the leaves.
    fn node_path<R: Recorder>(
        &self,
        from: NodeId,
        to: NodeId,
        pkt: &Flow,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Result<(), Reason> {
        if from == to {
            rec.hop(Device::Node(from), Action::Route, pkt, || {
                format!(
                    "{} and the pod share {}: OVS hands it over locally",
                    pkt.dst.ip,
                    self.cluster.node_ref(to)
                )
            });
            return Ok(());
        }
        self.pod_to_pod_path(from, to, pkt, rec, lat)
    }

    /// Pod → a LoadBalancer IP: up to the fabric; the service's contract (consumed by the default
    /// EPG only with add_external_contract_to_default_epg) and its PBR redirect to a node, whose
    /// OVS DNATs to a local ready pod; the reply comes back through the fabric.
    // Long: a walk leg is one sequence of hops in the order the packet walk goes (seed: the
    // talk's slides); split, that order would be spread over functions each called once.
    pub(super) fn pod_to_lb<R: Recorder>(
        &self,
        a: PodId,
        svc: ServiceId,
        lb: std::net::Ipv4Addr,
        l4: L4,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome {
        let L4 { sport, port, proto } = l4;
        let na = self.pod_node(a);
        let pkt = Flow {
            proto,
            src: self.pod_ep(a, sport),
            dst: Endpoint::new(lb, port),
        };
        rec.hop(Device::Pod(a), Action::Route, &pkt, || {
            format!(
                "{} sends to LoadBalancer IP {lb} through OVS on {}",
                self.cluster.pod_ref(a),
                self.cluster.node_ref(na)
            )
        });
        if self.state.internal_subnet(lb).is_none()
            && let Some(e) = snat_scope::select(&self.state.pod_stack(a).entries, lb)
        {
            let policy = &self.state.cfg.snat_policies[e.policy];
            rec.hop(Device::Node(na), Action::Drop, &pkt, || {
                format!("{lb} is in no internal subnet of the VRF (add_external_subnets_to_rdconfig is off), so SNAT flow {} of policy {} (priority {}) takes it and sends it out SNATed on the SNAT graph's interface; fabsim does not model a SNATed hairpin to a LoadBalancer IP", e.dest, policy.name, e.priority)
            });
            return outcome(pkt, Verdict::Unsupported, Reason::NoRoute, *lat);
        }
        let extra = if self.state.cfg.add_external_contract_to_default_epg {
            ""
        } else {
            " (add_external_contract_to_default_epg is off: the default EPG does not consume the service's contract)"
        };
        let Some(rid) = self.state.svc_redirect[svc.index()] else {
            rec.hop(Device::Node(na), Action::Drop, &pkt, || {
                format!("{lb} has no service graph: no node hosts a ready endpoint")
            });
            return outcome(pkt, Verdict::Dropped, Reason::NoServiceGraph, *lat);
        };
        let (se, _) = self.classify(pkt.src.ip).expect("a pod classifies");
        let (de, _) = self.classify(lb).expect("the LB IP has its /32 EPG");
        let v = self.state.policy.check(se, de, proto, (sport, port), true);
        if matches!(v, crate::policy::Verdict::Deny) {
            rec.hop(Device::Node(na), Action::Drop, &pkt, || {
                format!("OVS: {}{extra}", self.contract_text(&v, se, de, &pkt))
            });
            return outcome(pkt, Verdict::Dropped, Reason::PolicyDenied, *lat);
        }
        rec.hop(Device::Node(na), Action::Contract, &pkt, || {
            format!("OVS: {}; OVS serves a LoadBalancer IP only on frames from the uplink, so the packet goes up to the fabric", self.contract_text(&v, se, de, &pkt))
        });
        let leaf = self.node_leaf(na, &pkt);
        *lat = lat.saturating_add(self.fabric.latency.node_leaf);
        let redirect = self.state.redirect(rid);
        let h = pbr_sip_dip_proto(redirect.salt, pkt.src.ip, lb, proto);
        let Some(choice) = redirect.group.choose(h) else {
            rec.hop(Device::Leaf(leaf), Action::Drop, &pkt, || {
                format!("redirect policy {} has no destination", redirect.name)
            });
            return outcome(pkt, Verdict::Dropped, Reason::NoReadyEndpoint, *lat);
        };
        let node = choice.member.node;
        rec.hop(Device::Leaf(leaf), Action::PbrRedirect, &pkt, || {
            format!(
                "contract {} has a service graph: redirect policy {}: hash(source IP, destination IP, protocol) → bucket {} of {} → {}",
                redirect.name,
                redirect.name,
                choice.bucket,
                choice.of,
                self.cluster.node_ref(node)
            )
        });
        let l2 = self.node_leaf(node, &pkt);
        self.steps().cross(leaf, l2, &pkt, rec, lat);
        *lat = lat.saturating_add(self.fabric.latency.node_leaf);
        if let Err(r) = self.steps().alive(
            node,
            &pkt,
            rec,
            "PBR keeps redirecting to it until it is removed",
        ) {
            return outcome(pkt, Verdict::Dropped, r, *lat);
        }
        let s = self.cluster.service(svc);
        let Some((b, n_local)) = self.second_stage(choice.member, svc, &pkt) else {
            rec.hop(Device::Node(node), Action::Drop, &pkt, || {
                "OVS has no ready local endpoint of the service".into()
            });
            return outcome(pkt, Verdict::Dropped, Reason::NoLocalEndpoint, *lat);
        };
        let target_port = s
            .ports
            .iter()
            .find(|p| p.port == port)
            .map_or(port, |p| p.target_port);
        let mut dn = pkt;
        dn.dst = self.pod_ep(b, target_port);
        rec.hop(Device::Node(node), Action::Dnat, &dn, || {
            format!(
                "OVS: frame from the uplink with the service MAC; {} local ready pod(s), chose {}; conntrack DNAT {} → {}",
                n_local,
                self.cluster.pod_ref(b),
                pkt.dst,
                dn.dst
            )
        });
        rec.hop(Device::Pod(b), Action::Deliver, &dn, || {
            format!("delivered to {}", self.cluster.pod_ref(b))
        });
        rec.start_return();
        let mut r = dn.reversed();
        r.src = pkt.dst;
        rec.hop(Device::Node(node), Action::UnDnat, &r, || {
            format!(
                "OVS conntrack restores the LoadBalancer IP: source {} → {lb}:{port}; the reply leaves on the service interface (shadow EPG: no PBR)",
                dn.dst
            )
        });
        if let Err(e) = self.pod_to_pod_path(node, na, &r, rec, lat) {
            return outcome(pkt, Verdict::Dropped, e, *lat);
        }
        rec.hop(Device::Pod(a), Action::Deliver, &r, || {
            format!("the reply reaches {}", self.cluster.pod_ref(a))
        });
        delivered(pkt, *lat, node, b)
    }
}
