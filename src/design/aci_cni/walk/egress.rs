//! Pod-initiated walks of ACI-CNI: to the outside (SNAT from the node's chunk, PBR of the reply,
//! bounce to the owner node, un-SNAT — seed "Service Graphs for SNAT - Packet walk"), to another
//! pod (no SNAT inside the cluster), and to a service (OVS service load balancing).

use super::AciWalk;
use crate::cluster::{NodeId, PodId, ServiceId};
use crate::dataplane::legs::Legs;
use crate::dataplane::request::L4;
use crate::dataplane::*;
use crate::fabric::LeafId;
use crate::policy::Graph;
use crate::time::Nanos;

/// What removes a failed node's pods from service.
const UNTIL_ENDPOINTS: &str = "its pods count as ready until Kubernetes marks the node NotReady";
use crate::design::aci_cni::snat_scope;
use crate::nat::conntrack::NatTable;
use crate::nat::kernel::PortSearch;
use crate::net::hash::{pbr_sip_dip_proto, pick, symmetric_l4};
use crate::net::{Endpoint, Flow};
use crate::policy::Verdict as PolicyVerdict;
use std::net::Ipv4Addr;

impl AciWalk<'_> {
    /// The contract check OVS does for a pod's packet; records the hop, or the drop.
    pub(super) fn ovs_contract<R: Recorder>(
        &self,
        node: NodeId,
        pkt: &Flow,
        extra: &str,
        rec: &mut R,
        lat: &Nanos,
    ) -> Result<(), Outcome> {
        let (se, _) = self.classify(pkt.src.ip).expect("a pod classifies");
        let (de, dw) = self.classify(pkt.dst.ip).expect("0/0 classifies");
        let v = self
            .state
            .policy
            .check(se, de, pkt.proto, (pkt.src.port, pkt.dst.port), true);
        if matches!(v, PolicyVerdict::Deny) {
            rec.hop(Device::Node(node), Action::Drop, pkt, || {
                format!(
                    "OVS: destination {}; {}",
                    self.why(dw),
                    self.contract_text(&v, se, de, pkt)
                )
            });
            return Err(outcome(*pkt, Verdict::Dropped, Reason::PolicyDenied, *lat));
        }
        rec.hop(Device::Node(node), Action::Contract, pkt, || {
            format!(
                "OVS: destination {}; {}{extra}",
                self.why(dw),
                self.contract_text(&v, se, de, pkt)
            )
        });
        Ok(())
    }

    /// Pod → outside host.
    // Long: a walk leg is one sequence of hops in the order the packet walk goes (seed: the
    // talk's slides); split, that order would be spread over functions each called once.
    pub(super) fn egress<R: Recorder>(
        &self,
        pod: PodId,
        ip: Ipv4Addr,
        l4: L4,
        nat: &mut NatTable,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome {
        let dst = Endpoint::new(ip, l4.port);
        let node = self.pod_node(pod);
        let orig = self.pod_sends(pod, dst, l4, "OVS on ", rec);
        let (pkt, binding) = match self.snat_on_node(pod, node, orig, nat, rec, lat) {
            Ok(sent) => sent,
            Err(dropped) => return dropped,
        };
        let leaf = self.node_leaf(node, &pkt);
        *lat = lat.saturating_add(self.fabric.latency.node_leaf);
        let Some(border) = self.border_for(&pkt) else {
            rec.hop(Device::Leaf(leaf), Action::Drop, &pkt, || {
                "no border leaf: no route to the outside".into()
            });
            return failed_with(
                binding,
                outcome(orig, Verdict::Dropped, Reason::NoRoute, *lat),
            );
        };
        rec.hop(Device::Leaf(leaf), Action::Route, &pkt, || {
            format!(
                "{} is reached through the L3Out {} on {}",
                dst.ip,
                self.state.cfg.l3out,
                self.fabric.leaf_name(border)
            )
        });
        self.steps().cross(leaf, border, &pkt, rec, lat);
        rec.hop(Device::Leaf(border), Action::Route, &pkt, || {
            "out the L3Out to the external router".into()
        });
        *lat = lat.saturating_add(self.fabric.latency.l3out);
        rec.hop(self.external(dst.ip), Action::Deliver, &pkt, || {
            format!("{} receives the request from {}", dst, pkt.src)
        });

        rec.start_return();
        let mut r = pkt.reversed();
        if binding.is_none() && !self.state.cfg.allow_pods_external_access {
            // acc-provision `kube_tn`: without allow_pods_external_access the pod BD's subnet
            // has no `scope: public` and no L3Out association, so it is not advertised.
            rec.hop(self.external(dst.ip), Action::Drop, &r, || {
                format!(
                    "the reply to pod address {} is lost: the pod subnet is not advertised out of the L3Out (kube_config.allow_pods_external_access is off, so its BD subnet is not public), so the outside has no route back",
                    r.dst.ip
                )
            });
            return failed_with(
                binding,
                outcome(orig, Verdict::Dropped, Reason::NoReturnRoute, *lat),
            );
        }
        let Some(border) = self.fabric.ingress_border_leaf(&r) else {
            rec.hop(self.external(dst.ip), Action::Drop, &r, || {
                "no live border leaf: the reply cannot enter the fabric".into()
            });
            return failed_with(
                binding,
                outcome(orig, Verdict::Dropped, Reason::NoRoute, *lat),
            );
        };
        rec.hop(self.external(dst.ip), Action::Route, &r, || {
            format!(
                "the server replies to {}; it enters through {}",
                r.dst,
                self.fabric.leaf_name(border)
            )
        });
        *lat = lat.saturating_add(self.fabric.latency.l3out);
        let (se, de) = self.leaf_classify(border, &r, rec);
        let Some(v) = self.contract_or_drop(Device::Leaf(border), (se, de), &r, false, rec) else {
            return failed_with(
                binding,
                outcome(orig, Verdict::Dropped, Reason::PolicyDenied, *lat),
            );
        };
        let graph = match v {
            PolicyVerdict::Permit { contract, .. } => self
                .state
                .policy
                .contract(contract)
                .graph
                .filter(|g| g.toward == de),
            _ => None,
        };
        rec.hop(Device::Leaf(border), Action::Contract, &r, || {
            let g = if graph.is_some() {
                "; its service graph redirects"
            } else {
                ""
            };
            format!("{}{g}", self.contract_text(&v, se, de, &r))
        });
        let mut bounced = false;
        let mut reply_landing = None;
        match (binding, graph) {
            (Some(b), Some(g)) => {
                match self.reply_through_pbr(b, g, border, &mut r, orig, rec, lat) {
                    Ok((landing, moved)) => {
                        reply_landing = Some(landing);
                        bounced = moved;
                    }
                    Err(dropped) => return dropped,
                }
            }
            _ => {
                let leaf = self.node_leaf(node, &r);
                self.steps().cross(border, leaf, &r, rec, lat);
                rec.hop(Device::Leaf(leaf), Action::Route, &r, || {
                    format!(
                        "endpoint {} learned behind {}",
                        r.dst.ip,
                        self.cluster.node_ref(node)
                    )
                });
                *lat = lat.saturating_add(self.fabric.latency.node_leaf);
                rec.hop(Device::Node(node), Action::Route, &r, || {
                    "OVS delivers to the local pod".into()
                });
            }
        }
        rec.hop(Device::Pod(pod), Action::Deliver, &r, || {
            format!("the reply reaches {}", self.cluster.pod_ref(pod))
        });
        Outcome {
            snat: binding,
            bounced,
            reply_landing,
            ..delivered(orig, *lat, node, pod)
        }
    }

    /// The pod's node: the SNAT flow that holds the destination NATs the packet to a port of its
    /// chunk, or none does and OVS routes it un-NATed (after the pod's contracts). The packet as
    /// it leaves the node and its NAT binding, or the drop.
    // Long: a walk leg is one sequence of hops in the order the packet walk goes (seed: the
    // talk's slides); split, that order would be spread over functions each called once.
    fn snat_on_node<R: Recorder>(
        &self,
        pod: PodId,
        node: NodeId,
        orig: Flow,
        nat: &mut NatTable,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Result<(Flow, Option<NatBinding>), Outcome> {
        let (dst, sport, proto) = (orig.dst, orig.src.port, orig.proto);
        let mut pkt = orig;
        let stack = &self.state.pod_stack(pod);
        let entry = snat_scope::select(&stack.entries, dst.ip);
        let alloc = entry.and_then(|e| self.state.allocation(node, e.unit).map(|a| (e, a)));
        let mut binding = None;
        if let (Some(e), false) = (entry, proto.has_ports()) {
            let policy = &self.state.cfg.snat_policies[e.policy];
            rec.hop(Device::Node(node), Action::Drop, &pkt, || {
                format!("SNAT policy {} applies, but ICMP has no port to tell pods apart: ICMP through SNAT is not supported", policy.name)
            });
            return Err(outcome(
                orig,
                Verdict::Unsupported,
                Reason::IcmpThroughSnat,
                *lat,
            ));
        }
        match alloc {
            Some((e, alloc)) => {
                // opflex `flowsEndpointSNAT`: the SNAT route flow sends the packet to the SNAT
                // table, which NATs and outputs it on the uplink (the SNAT service graph's
                // interface): the pod's EPG contracts are not consulted; the fabric's
                // `<system_id>_snat_svcgraph` contract admits it.
                let policy = &self.state.cfg.snat_policies[e.policy];
                let evictions_before = nat.evictions;
                let chunk = (alloc.chunk.start, alloc.chunk.end);
                let Some(port) = nat.allocate(&pkt, alloc.ip, chunk, 0, false) else {
                    let search = nat.search();
                    rec.hop(Device::Node(node), Action::Drop, &pkt, || match search {
                        PortSearch::WholeRange => format!("every port of chunk {} of {} is in use towards {} {}: SNAT port exhausted", alloc.chunk, alloc.ip, proto, dst),
                        s => format!("no free port of chunk {} of {} towards {} {} within the kernel's bounded search ({}): the SYN is dropped, SNAT port exhausted", alloc.chunk, alloc.ip, proto, dst, s.describe()),
                    });
                    return Err(outcome(
                        orig,
                        Verdict::Dropped,
                        Reason::SnatPortExhausted,
                        *lat,
                    ));
                };
                let (search, evicted) = (nat.search(), nat.evictions > evictions_before);
                pkt.src = Endpoint::new(alloc.ip, port);
                binding = Some(NatBinding {
                    node,
                    ip: alloc.ip,
                    port,
                    remote: dst,
                    orig: orig.src,
                });
                rec.hop(Device::Node(node), Action::Snat, &pkt, || {
                    let kept = if port == sport {
                        "the original port is inside the chunk and unused, so it is kept".to_string()
                    } else if evicted {
                        "it took over a colliding entry in TIME_WAIT (Linux ≥ 6.5, nf_nat_used_tuple_harder)".to_string()
                    } else {
                        match search {
                            PortSearch::WholeRange => format!("the first port of the chunk unused towards {dst}"),
                            _ => format!("the kernel's search from a random offset found it unused towards {dst} (nf_nat_l4proto_unique_tuple)"),
                        }
                    };
                    let others = stack.entries.len();
                    format!(
                        "{} is outside every internal subnet of the VRF: OVS SNAT flow of policy {} ({} scope, destination {}, priority {}, the first of the pod's {others} SNAT flow(s) holding it); {} holds chunk {} of {}; conntrack chose port {port} ({kept}); the SNAT table outputs it on the uplink, so the pod's EPG contracts are not consulted",
                        dst.ip, policy.name, e.scope, e.dest, e.priority, self.cluster.node_ref(node), alloc.chunk, alloc.ip
                    )
                });
            }
            None => {
                if let Some((pi, d)) = stack.unallocated.iter().find(|(_, d)| d.contains(&dst.ip)) {
                    let policy = &self.state.cfg.snat_policies[*pi];
                    rec.hop(Device::Node(node), Action::Route, &pkt, || {
                        format!("SNAT policy {} (destination {d}) applies but {} got no chunk (policy status IpPortsExhausted): the host agent lists no SNAT for the pod (updateEpFiles), so OVS has no SNAT flow for it and routes the packet un-NATed", policy.name, self.cluster.node_ref(node))
                    });
                } else if let Some((pi, d)) =
                    stack.skipped.iter().find(|(_, d)| d.contains(&dst.ip))
                {
                    let policy = &self.state.cfg.snat_policies[*pi];
                    rec.hop(Device::Node(node), Action::Route, &pkt, || {
                        format!("SNAT policy {} names destination {d}, but opflex wrote no flow for it: the pod already has {} SNAT flows (\"Limit 32 reached … hence skipping\", IntFlowManager.cpp flowsEndpointSNAT); the packet leaves un-NATed", policy.name, stack.entries.len())
                    });
                }
                self.ovs_contract(node, &pkt, "", rec, lat)?;
            }
        }
        Ok((pkt, binding))
    }

    /// A SNATed reply at the border leaf: the SNAT service graph's PBR lands it on a node (by
    /// its hash), which bounces it to the node owning the port's chunk when that is another; the
    /// landing node and whether it bounced, or the drop.
    // Long: a walk leg is one sequence of hops in the order the packet walk goes (seed: the
    // talk's slides); split, that order would be spread over functions each called once.
    #[allow(clippy::too_many_arguments)]
    fn reply_through_pbr<R: Recorder>(
        &self,
        b: NatBinding,
        g: Graph,
        border: LeafId,
        r: &mut Flow,
        orig: Flow,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Result<(NodeId, bool), Outcome> {
        let proto = orig.proto;
        let redirect = self.state.redirect(g.redirect);
        let h = pbr_sip_dip_proto(redirect.salt, r.src.ip, r.dst.ip, proto);
        let Some(choice) = redirect.group.choose(h) else {
            // Every node was taken out of the graph by tracking (all failed at some point).
            rec.hop(Device::Leaf(border), Action::Drop, r, || {
                format!("redirect policy {} has no destination left", redirect.name)
            });
            return Err(failed_with(
                Some(b),
                outcome(orig, Verdict::Dropped, Reason::Blackholed, *lat),
            ));
        };
        let landing = choice.member.node;
        rec.hop(Device::Leaf(border), Action::PbrRedirect, r, || {
                format!(
                    "redirect policy {}: hash(source IP, destination IP, protocol) → bucket {} of {} → {} (MAC {}); {} destinations",
                    redirect.name, choice.bucket, choice.of, self.cluster.node_ref(landing), self.cluster.node(landing).mac_string(), redirect.group.members().len()
                )
            });
        let leaf = self.node_leaf(landing, r);
        self.steps().cross(border, leaf, r, rec, lat);
        rec.hop(Device::Leaf(leaf), Action::Route, r, || {
            format!(
                "to {} on its vPC port-channel",
                self.cluster.node_ref(landing)
            )
        });
        *lat = lat.saturating_add(self.fabric.latency.node_leaf);
        if let Err(e) = self.steps().alive(landing, r, rec, "the SNAT service graph keeps redirecting replies to it until IP SLA tracking removes it") {
                return Err(failed_with(Some(b), outcome(orig, Verdict::Dropped, e, *lat)));
            }
        let (owner, chunk) = self
            .state
            .snat
            .owner_of(b.ip, b.port)
            .expect("the port came from an allocated chunk");
        let bounced = owner != landing;
        if bounced {
            rec.hop(Device::Node(landing), Action::Bounce, r, || {
                    format!(
                        "OVS: port {} of {} lies in chunk {chunk} of {}, not this node's: destination MAC rewritten to {} and sent back to the fabric",
                        b.port, b.ip, self.cluster.node_ref(owner), self.cluster.node(owner).mac_string()
                    )
                });
            *lat = lat.saturating_add(self.fabric.latency.node_leaf);
            let l1 = self.node_leaf(landing, r);
            let l2 = self.node_leaf(owner, r);
            rec.hop(Device::Leaf(l1), Action::Route, r, || {
                format!(
                    "bridged on the destination MAC towards {}",
                    self.cluster.node_ref(owner)
                )
            });
            self.steps().cross(l1, l2, r, rec, lat);
            if l1 != l2 {
                rec.hop(Device::Leaf(l2), Action::Route, r, || {
                    format!(
                        "to {} on its vPC port-channel",
                        self.cluster.node_ref(owner)
                    )
                });
            }
            *lat = lat.saturating_add(self.fabric.latency.node_leaf);
        }
        r.dst = orig.src;
        rec.hop(Device::Node(owner), Action::UnSnat, r, || {
                format!("OVS: port {} is in this node's chunk {chunk}; conntrack translates {}:{} back to {}", b.port, b.ip, b.port, orig.src)
            });
        Ok((landing, bounced))
    }

    /// Pod → pod (possibly after OVS service DNAT, given as `dnat` = (service endpoint as sent)).
    pub(super) fn east_west<R: Recorder>(
        &self,
        a: PodId,
        b: PodId,
        dnat: Option<Endpoint>,
        l4: L4,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome {
        let L4 { sport, port, proto } = l4;
        let (na, nb) = (self.pod_node(a), self.pod_node(b));
        let sent = Flow {
            proto,
            src: self.pod_ep(a, sport),
            dst: dnat.unwrap_or(self.pod_ep(b, port)),
        };
        let pkt = Flow {
            proto,
            src: sent.src,
            dst: self.pod_ep(b, port),
        };
        if dnat.is_none() {
            rec.hop(Device::Pod(a), Action::Route, &pkt, || {
                format!(
                    "{} sends to {} through OVS on {}",
                    self.cluster.pod_ref(a),
                    pkt.dst,
                    self.cluster.node_ref(na)
                )
            });
        }
        let no_snat = if snat_scope::select(&self.state.pod_stack(a).entries, pkt.dst.ip).is_some()
        {
            "; the destination is in an internal subnet of the VRF, whose OVS route (priority 300 + prefix length) sits above every SNAT flow: no SNAT"
        } else {
            ""
        };
        if let Err(o) = self.ovs_contract(na, &pkt, no_snat, rec, lat) {
            return o;
        }
        if let Err(e) = self.pod_to_pod_path(na, nb, &pkt, rec, lat) {
            return outcome(sent, Verdict::Dropped, e, *lat);
        }
        let r = self.turn_around(b, &pkt, rec, || {
            format!("delivered to {}", self.cluster.pod_ref(b))
        });
        if let Err(e) = self.pod_to_pod_path(nb, na, &r, rec, lat) {
            return outcome(sent, Verdict::Dropped, e, *lat);
        }
        let mut back = r;
        if let Some(svc_ep) = dnat {
            back.src = svc_ep;
            rec.hop(Device::Node(na), Action::UnDnat, &back, || {
                format!(
                    "OVS conntrack restores the service address: source {} → {svc_ep}",
                    r.src
                )
            });
        }
        rec.hop(Device::Pod(a), Action::Deliver, &back, || {
            format!("the reply reaches {}", self.cluster.pod_ref(a))
        });
        let mut o = outcome(sent, Verdict::Delivered, Reason::Delivered, *lat);
        o.pod = Some(b);
        o.node = Some(nb);
        o
    }

    /// Node to node for a pod's packet: locally switched, or node → leaf (→ spine) → leaf → node.
    pub(super) fn pod_to_pod_path<R: Recorder>(
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
                    "both pods are on {}: OVS switches locally",
                    self.cluster.node_ref(from)
                )
            });
            return self
                .steps()
                .alive(to, pkt, rec, UNTIL_ENDPOINTS)
                .map(|_| ());
        }
        let l1 = self.node_leaf(from, pkt);
        let l2 = self.node_leaf(to, pkt);
        *lat = lat.saturating_add(self.fabric.latency.node_leaf);
        rec.hop(Device::Leaf(l1), Action::Route, pkt, || {
            format!(
                "endpoint {} learned behind {}",
                pkt.dst.ip,
                self.cluster.node_ref(to)
            )
        });
        self.steps().cross(l1, l2, pkt, rec, lat);
        if l1 != l2 {
            rec.hop(Device::Leaf(l2), Action::Route, pkt, || {
                format!("to {} on its vPC port-channel", self.cluster.node_ref(to))
            });
        }
        *lat = lat.saturating_add(self.fabric.latency.node_leaf);
        self.steps().alive(to, pkt, rec, UNTIL_ENDPOINTS)?;
        rec.hop(Device::Node(to), Action::Route, pkt, || {
            "OVS delivers to the local pod".into()
        });
        Ok(())
    }

    /// Pod → service: OVS load-balances over the service's ready endpoints (symmetric hash), then
    /// the pod-to-pod walk; the reply is un-DNATed on the client's node.
    // Long: a walk leg is one sequence of hops in the order the packet walk goes (seed: the
    // talk's slides); split, that order would be spread over functions each called once.
    pub(super) fn to_service<R: Recorder>(
        &self,
        a: PodId,
        (svc, vip): (ServiceId, Option<std::net::Ipv4Addr>),
        l4: L4,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome {
        let L4 { sport, port, proto } = l4;
        if let Some(lb) = vip {
            return self.pod_to_lb(a, svc, lb, L4 { sport, port, proto }, rec, lat);
        }
        let s = self.cluster.service(svc);
        let na = self.pod_node(a);
        // Pods reach a service by its ClusterIP (what DNS returns), unless they addressed an
        // external IP of it explicitly.
        let vip = vip.or(s.cluster_ip);
        let Some(vip) = vip else {
            let f = Flow {
                proto,
                src: self.pod_ep(a, sport),
                dst: Endpoint::new(std::net::Ipv4Addr::UNSPECIFIED, port),
            };
            rec.hop(Device::Pod(a), Action::Drop, &f, || {
                "the service has no ClusterIP: give cluster.service_subnet".into()
            });
            return outcome(f, Verdict::Dropped, Reason::NoRoute, *lat);
        };
        let svc_ep = Endpoint::new(vip, port);
        let pkt = Flow {
            proto,
            src: self.pod_ep(a, sport),
            dst: svc_ep,
        };
        rec.hop(Device::Pod(a), Action::Route, &pkt, || {
            format!(
                "{} sends to service {}/{} at {svc_ep}",
                self.cluster.pod_ref(a),
                self.cluster.namespace_name(s.namespace),
                s.name
            )
        });
        let ready = self.cluster.ready_endpoints(svc).iter().copied();
        let n_ready = ready.clone().count();
        let Some(sp) = s.ports.iter().find(|p| p.port == port && p.proto == proto) else {
            rec.hop(Device::Node(na), Action::Drop, &pkt, || {
                format!("the service has no {proto} port {port}")
            });
            return outcome(pkt, Verdict::Dropped, Reason::NoRoute, *lat);
        };
        if n_ready == 0 {
            rec.hop(Device::Node(na), Action::Drop, &pkt, || {
                "the service has no ready endpoint".into()
            });
            return outcome(pkt, Verdict::Dropped, Reason::NoReadyEndpoint, *lat);
        }
        let b = ready
            .clone()
            .nth(pick(
                symmetric_l4(self.cluster.node_salt(na), &pkt),
                n_ready,
            ))
            .expect("n_ready > 0");
        let dnat = Flow {
            proto,
            src: pkt.src,
            dst: self.pod_ep(b, sp.target_port),
        };
        rec.hop(Device::Node(na), Action::Dnat, &dnat, || {
            format!("OVS service load balancing over {n_ready} ready endpoints (symmetric hash) chose {}; conntrack DNAT {svc_ep} → {}", self.cluster.pod_ref(b), dnat.dst)
        });
        self.east_west(
            a,
            b,
            Some(svc_ep),
            L4 {
                sport,
                port: sp.target_port,
                proto,
            },
            rec,
            lat,
        )
    }
}
