//! The legs of the BGP designs' walk: outside client → LoadBalancer IP or pod IP, pod → outside
//! host or node address, pod → pod, pod → service.

use super::{BgpWalk, L4, NodeTables};
use crate::cluster::{Cluster, NodeId, PodId};
use crate::cluster::{ServiceId, TrafficPolicy};
use crate::dataplane::addresses::Addresses;
use crate::dataplane::legs::Legs;
use crate::dataplane::*;
use crate::design::bgp::config::BgpCni;
use crate::fabric::Fabric;
use crate::nat::conntrack::NatTable;
use crate::net::hash::{five_tuple, salt};
use crate::net::{Endpoint, Flow};
use crate::time::Nanos;
use std::net::Ipv4Addr;

impl BgpWalk<'_> {
    fn masquerade_name(&self) -> &'static str {
        match self.state.cfg.cni {
            BgpCni::Calico => "Calico natOutgoing (iptables MASQUERADE --random-fully)",
            BgpCni::KubeRouter => "kube-router --enable-pod-egress",
            BgpCni::Cilium if self.state.cfg.bpf_masquerade => "Cilium BPF masquerade",
            BgpCni::Cilium => "Cilium iptables MASQUERADE",
        }
    }

    /// A source port for `flow` NATed to the node's IP, as the design's masquerade picks it (the
    /// search offset stands for the kernel's random draw); `None` when the range is full.
    fn node_snat_port(&self, node: NodeId, flow: &Flow, tables: &mut NodeTables) -> Option<u16> {
        let cfg = &self.state.cfg;
        let off = five_tuple(const { salt("masq") }, flow) as u32;
        tables.nat.allocate(
            flow,
            self.cluster.node_ip(node),
            cfg.masquerade_ports,
            off,
            cfg.masquerade_random_fully,
        )
    }

    // Long: a walk leg is one sequence of hops in the order the packet walk goes (seed: the
    // talk's slides); split, that order would be spread over functions each called once.
    pub(super) fn egress<R: Recorder>(
        &self,
        pod: PodId,
        ip: Ipv4Addr,
        l4: L4,
        tables: &mut NodeTables,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome {
        let (dst, sport, proto) = (Endpoint::new(ip, l4.port), l4.sport, l4.proto);
        let node = self.pod_node(pod);
        let orig = self.pod_sends(pod, dst, l4, "", rec);
        let mut pkt = orig;
        let mut binding = None;
        // kube-router's pod-egress rule skips destinations in its node-address ipset
        // (kube-router `pod_egress.go` `podEgressArgs4`: `! --match-set kube-router-node-ips dst`);
        // Calico's natOutgoing excludes only its IP pools, so node addresses are masqueraded.
        // Every design leaves its own pod range alone (Calico's pools, kube-router's pod subnets,
        // Cilium's native-routing CIDR).
        let to_node_address = self.cluster.node_by_ip(dst.ip).is_some();
        let exempt = self.state.is_pod_ip(dst.ip)
            || (to_node_address
                && self.state.cfg.cni == crate::design::bgp::config::BgpCni::KubeRouter);
        if self.state.cfg.masquerade && !exempt {
            let ip = self.cluster.node_ip(node);
            let (lo, hi) = self.state.cfg.masquerade_ports;
            let Some(p) = self.node_snat_port(node, &pkt, tables) else {
                rec.hop(Device::Node(node), Action::Drop, &pkt, || format!("every port {lo}–{hi} of {ip} is in use towards {proto} {dst}: masquerade port exhausted"));
                return outcome(
                    orig,
                    Verdict::Dropped,
                    Reason::MasqueradePortExhausted,
                    *lat,
                );
            };
            let before = pkt.src;
            pkt.src = Endpoint::new(ip, p);
            binding = Some(NatBinding {
                node,
                ip,
                port: p,
                remote: dst,
                orig: before,
            });
            rec.hop(Device::Node(node), Action::Snat, &pkt, || {
                let kept = if self.state.cfg.masquerade_random_fully {
                    format!("--random-fully: drawn at random in {lo}–{hi}, unique towards this destination")
                } else if p == sport {
                    "the original port is unique towards this destination, so it is kept".to_string()
                } else {
                    format!("the original is taken towards this destination: searched in {lo}–{hi}")
                };
                format!(
                    "{} to the node IP {ip}; source port {p} ({kept})",
                    self.masquerade_name()
                )
            });
        } else if exempt {
            rec.hop(Device::Node(node), Action::Route, &pkt, || {
                if to_node_address {
                    "no masquerade: kube-router's pod-egress rule skips node addresses (its kube-router-node-ips set)".into()
                } else {
                    "no masquerade: the destination is in the cluster's own pod range".into()
                }
            });
        } else {
            rec.hop(Device::Node(node), Action::Route, &pkt, || {
                "no masquerade: the pod IP is routed natively (its block is advertised by BGP)"
                    .into()
            });
        }
        // Inside the cluster's own ranges the leaves' routes decide, not the default route: a
        // node's address is on the node subnet (the leaves' SVI); an address of the pod pool or
        // the service range that no pod or service holds has no owner and goes nowhere.
        if let Some(to) = self.cluster.node_by_ip(dst.ip) {
            return self.pod_to_node_address(pod, to, orig, pkt, binding, rec, lat);
        }
        let in_services = self
            .cluster
            .service_subnet
            .is_some_and(|s| s.net.contains(&dst.ip));
        if self.state.is_pod_ip(dst.ip) || in_services {
            rec.hop(Device::Node(node), Action::Drop, &pkt, || {
                if in_services {
                    format!("no service has ClusterIP {}: the service proxy has no rule for it and the service range routes nowhere", dst.ip)
                } else {
                    format!("no pod has {}: the address is in the pod pool, whose routes lead to nodes that hold no such pod", dst.ip)
                }
            });
            return failed_with(
                binding,
                outcome(orig, Verdict::Dropped, Reason::NoRoute, *lat),
            );
        }
        if !self.to_outside(node, &pkt, rec, lat) {
            return failed_with(
                binding,
                outcome(orig, Verdict::Dropped, Reason::NoRoute, *lat),
            );
        }
        rec.hop(self.external(dst.ip), Action::Deliver, &pkt, || {
            format!("{dst} receives the request from {}", pkt.src)
        });

        rec.start_return();
        let mut r = pkt.reversed();
        let Some(border) = self.fabric.ingress_border_leaf(&r) else {
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
        if let Err(e) = self.to_node(border, &r, rec, lat) {
            return failed_with(binding, outcome(orig, Verdict::Dropped, e, *lat));
        }
        if let Some(b) = binding {
            self.un_snat(node, b, orig, &mut r, rec);
        } else {
            rec.hop(Device::Node(node), Action::Route, &r, || {
                "delivers to the local pod".into()
            });
        }
        rec.hop(Device::Pod(pod), Action::Deliver, &r, || {
            format!("the reply reaches {}", self.cluster.pod_ref(pod))
        });
        Outcome {
            snat: binding,
            ..delivered(orig, *lat, node, pod)
        }
    }

    /// The reply's masquerade undone on the pod's node: back to the pod's own address.
    fn un_snat<R: Recorder>(
        &self,
        node: NodeId,
        b: NatBinding,
        orig: Flow,
        r: &mut Flow,
        rec: &mut R,
    ) {
        r.dst = orig.src;
        rec.hop(Device::Node(node), Action::UnSnat, r, || {
            format!(
                "conntrack translates {}:{} back to {}",
                b.ip, b.port, orig.src
            )
        });
    }

    /// A pod to a node's own address (its host network, e.g. the API server on :6443): across
    /// the leaves on the node subnet, with the design's masquerade already applied (`pkt`).
    #[allow(clippy::too_many_arguments)]
    fn pod_to_node_address<R: Recorder>(
        &self,
        pod: PodId,
        to: NodeId,
        orig: Flow,
        pkt: Flow,
        binding: Option<NatBinding>,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome {
        let node = self.pod_node(pod);
        if !self.cluster.node_up(to) {
            rec.hop(Device::Node(to), Action::Drop, &pkt, || {
                format!("{} is down", self.cluster.node_ref(to))
            });
            return failed_with(
                binding,
                outcome(orig, Verdict::Dropped, Reason::NoRoute, *lat),
            );
        }
        if to != node {
            let (a, b) = (self.node_leaf(node, &pkt), self.node_leaf(to, &pkt));
            *lat = lat.saturating_add(self.fabric.latency.node_leaf);
            rec.hop(Device::Leaf(a), Action::Route, &pkt, || {
                format!(
                    "{} is {} on the node subnet (the leaves' SVI), behind {}",
                    pkt.dst.ip,
                    self.cluster.node_ref(to),
                    self.fabric.leaf_name(b)
                )
            });
            self.steps().cross(a, b, &pkt, rec, lat);
            *lat = lat.saturating_add(self.fabric.latency.node_leaf);
        }
        rec.hop(Device::Node(to), Action::Deliver, &pkt, || {
            format!(
                "delivered to {} itself (its host network)",
                self.cluster.node_ref(to)
            )
        });
        rec.start_return();
        let mut r = pkt.reversed();
        rec.hop(Device::Node(to), Action::Route, &r, || {
            format!("{} replies", self.cluster.node_ref(to))
        });
        if to != node {
            let (b, a) = (self.node_leaf(to, &r), self.node_leaf(node, &r));
            *lat = lat.saturating_add(self.fabric.latency.node_leaf);
            self.steps().cross(b, a, &r, rec, lat);
            *lat = lat.saturating_add(self.fabric.latency.node_leaf);
        }
        if let Some(b) = binding {
            self.un_snat(node, b, orig, &mut r, rec);
        }
        rec.hop(Device::Pod(pod), Action::Deliver, &r, || {
            format!("the reply reaches {}", self.cluster.pod_ref(pod))
        });
        Outcome {
            snat: binding,
            ..delivered(orig, *lat, node, pod)
        }
    }

    /// Node to node for a pod's packet: locally routed; straight to the owning node over the
    /// shared node subnet when the nodes run an iBGP mesh; otherwise through the leaves' tables.
    pub(super) fn node_to_node<R: Recorder>(
        &self,
        from: NodeId,
        to: NodeId,
        pkt: &Flow,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Result<(), Reason> {
        if from == to {
            rec.hop(Device::Node(from), Action::Route, pkt, || {
                "both ends are on this node: routed locally".into()
            });
            return self.alive(to, pkt, rec).map(|_| ());
        }
        let leaf = self.node_leaf(from, pkt);
        *lat = lat.saturating_add(self.fabric.latency.node_leaf);
        if self.state.cfg.node_mesh {
            rec.hop(Device::Node(from), Action::Route, pkt, || {
                format!(
                    "{} via {} ({}): the iBGP mesh between the nodes gives the owning node as next hop",
                    pkt.dst.ip,
                    self.cluster.node_ip(to),
                    self.cluster.node_ref(to)
                )
            });
            rec.hop(Device::Leaf(leaf), Action::Route, pkt, || {
                format!(
                    "bridged on the node subnet towards {}",
                    self.cluster.node_ref(to)
                )
            });
            self.deliver_to_node(leaf, to, false, pkt, rec, lat);
            return self.alive(to, pkt, rec).map(|_| ());
        }
        match self.to_node(leaf, pkt, rec, lat)? {
            n if n == to => Ok(()),
            _ => Err(Reason::NoRoute),
        }
    }
}

impl Legs for BgpWalk<'_> {
    type Tables = NodeTables;

    fn addresses(&self) -> &Addresses {
        &self.state.addr
    }

    fn fabric(&self) -> &Fabric {
        self.fabric
    }

    fn cluster(&self) -> &Cluster {
        self.cluster
    }

    fn nat(tables: &mut NodeTables) -> &mut NatTable {
        &mut tables.nat
    }

    fn pod_to_ip<R: Recorder>(
        &self,
        pod: PodId,
        ip: Ipv4Addr,
        l4: L4,
        tables: &mut NodeTables,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome {
        self.egress(pod, ip, l4, tables, rec, lat)
    }

    // Long: a walk leg is one sequence of hops in the order the packet walk goes (seed: the
    // talk's slides); split, that order would be spread over functions each called once.
    fn ingress_lb<R: Recorder>(
        &self,
        client: Ipv4Addr,
        svc: ServiceId,
        l4: L4,
        tables: &mut NodeTables,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome {
        let L4 { sport, port, proto } = l4;
        let s = self.cluster.service(svc);
        let Some(lb) = self.state.addr.lb_ip[svc.index()] else {
            let f = Flow {
                proto,
                src: Endpoint::new(client, sport),
                dst: Endpoint::new(Ipv4Addr::UNSPECIFIED, port),
            };
            rec.hop(self.external(client), Action::Drop, &f, || {
                "the service has no LoadBalancer IP".into()
            });
            return outcome(f, Verdict::Dropped, Reason::NoRoute, *lat);
        };
        let (pkt, border) = match self.enter(client, Endpoint::new(lb, port), l4, rec, *lat) {
            Ok(entered) => entered,
            Err(dropped) => return dropped,
        };
        rec.hop(self.external(client), Action::Route, &pkt, || {
            format!("client sends to LoadBalancer IP {lb}; it enters the fabric through the L3Out on {}", self.fabric.leaf_name(border))
        });
        *lat = lat.saturating_add(self.fabric.latency.l3out);
        let node = match self.to_node(border, &pkt, rec, lat) {
            Ok(n) => n,
            Err(r) => return outcome(pkt, Verdict::Dropped, r, *lat),
        };
        let mut scratch = std::mem::take(&mut tables.scratch);
        scratch.clear();
        let ready = |p: &PodId| self.cluster.pod_ready(*p);
        let backends: &[PodId] = if s.external_traffic_policy == TrafficPolicy::Local {
            scratch.extend(self.cluster.endpoints_on(svc, node).filter(ready));
            &scratch
        } else {
            self.cluster.ready_endpoints(svc)
        };
        if backends.is_empty() {
            tables.scratch = scratch;
            rec.hop(Device::Node(node), Action::Drop, &pkt, || {
                "the node's service proxy has no ready backend for the service".into()
            });
            return outcome(pkt, Verdict::Dropped, Reason::NoLocalEndpoint, *lat);
        }
        let (pod, how) = self.pick_backend(node, svc, backends, &pkt, true, tables);
        tables.scratch = scratch;
        let target_port = s
            .ports
            .iter()
            .find(|p| p.port == port)
            .map(|p| p.target_port)
            .unwrap_or(port);
        let mut fwd = Flow {
            proto,
            src: pkt.src,
            dst: self.pod_ep(pod, target_port),
        };
        let pod_node = self.pod_node(pod);
        let policy = match s.external_traffic_policy {
            TrafficPolicy::Local => "externalTrafficPolicy Local: local backends only",
            TrafficPolicy::Cluster => "externalTrafficPolicy Cluster: any ready backend",
        };
        let mut snat = None;
        // Calico runs behind kube-proxy (iptables): external traffic to a Cluster service is
        // marked for masquerade BEFORE the backend is chosen (kubernetes
        // pkg/proxy/iptables/proxier.go, KUBE-MARK-MASQ in the external chain), so it is SNATed to
        // the node IP even for a local backend. kube-router and Cilium (SNAT mode) SNAT only a
        // connection sent to another node.
        let masq_first = self.state.cfg.cni == BgpCni::Calico
            && s.external_traffic_policy == TrafficPolicy::Cluster;
        if pod_node == node && !masq_first {
            rec.hop(Device::Node(node), Action::Dnat, &fwd, || {
                format!(
                    "service proxy ({policy}): {how} chose {}; conntrack DNAT {} → {}",
                    self.cluster.pod_ref(pod),
                    pkt.dst,
                    fwd.dst
                )
            });
        } else {
            let ip = self.cluster.node_ip(node);
            let Some(p) = self.node_snat_port(node, &fwd, tables) else {
                rec.hop(Device::Node(node), Action::Drop, &fwd, || {
                    format!("no free source port on {ip} towards {}", fwd.dst)
                });
                return outcome(pkt, Verdict::Dropped, Reason::MasqueradePortExhausted, *lat);
            };
            let dnat_dst = fwd.dst;
            let before = fwd.src;
            fwd.src = Endpoint::new(ip, p);
            snat = Some(NatBinding {
                node,
                ip,
                port: p,
                remote: dnat_dst,
                orig: before,
            });
            rec.hop(Device::Node(node), Action::Dnat, &fwd, || {
                let why = if masq_first {
                    "kube-proxy marked the external connection for masquerade before choosing the backend (KUBE-MARK-MASQ)"
                } else {
                    "so the reply comes back here"
                };
                format!(
                    "service proxy ({policy}): {how} chose {} on {}; conntrack DNAT {} → {dnat_dst} and SNAT to the node IP {ip}:{p} ({why}): the client IP is lost",
                    self.cluster.pod_ref(pod),
                    self.cluster.node_ref(pod_node),
                    pkt.dst
                )
            });
            if pod_node != node
                && let Err(r) = self.node_to_node(node, pod_node, &fwd, rec, lat)
            {
                return failed_with(snat, outcome(pkt, Verdict::Dropped, r, *lat));
            }
        }
        rec.hop(Device::Pod(pod), Action::Deliver, &fwd, || {
            format!("delivered to {}", self.cluster.pod_ref(pod))
        });

        rec.start_return();
        let mut r = fwd.reversed();
        rec.hop(Device::Pod(pod), Action::Route, &r, || {
            format!("{} replies", self.cluster.pod_ref(pod))
        });
        if pod_node != node
            && let Err(e) = self.node_to_node(pod_node, node, &r, rec, lat)
        {
            return failed_with(snat, outcome(pkt, Verdict::Dropped, e, *lat));
        }
        let before = r;
        r.src = pkt.dst;
        r.dst = pkt.src;
        rec.hop(Device::Node(node), Action::UnDnat, &r, || {
            format!(
                "conntrack on {} restores the source {} → {}",
                self.cluster.node_ref(node),
                before.src,
                r.src
            )
        });
        if !self.to_outside(node, &r, rec, lat) {
            return failed_with(snat, outcome(pkt, Verdict::Dropped, Reason::NoRoute, *lat));
        }
        rec.hop(self.external(client), Action::Deliver, &r, || {
            "the client receives the reply from the LoadBalancer IP".into()
        });
        Outcome {
            snat,
            ..delivered(pkt, *lat, node, pod)
        }
    }

    fn pod_to_pod<R: Recorder>(
        &self,
        a: PodId,
        b: PodId,
        l4: L4,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome {
        let L4 { sport, port, proto } = l4;
        let (na, nb) = (self.pod_node(a), self.pod_node(b));
        let pkt = Flow {
            proto,
            src: self.pod_ep(a, sport),
            dst: self.pod_ep(b, port),
        };
        rec.hop(Device::Pod(a), Action::Route, &pkt, || {
            format!(
                "{} sends to {} through {}",
                self.cluster.pod_ref(a),
                pkt.dst,
                self.cluster.node_ref(na)
            )
        });
        if let Err(r) = self.node_to_node(na, nb, &pkt, rec, lat) {
            return outcome(pkt, Verdict::Dropped, r, *lat);
        }
        let r = self.turn_around(b, &pkt, rec, || {
            format!(
                "delivered to {} (pod IPs are routed natively, no NAT)",
                self.cluster.pod_ref(b)
            )
        });
        if let Err(r) = self.node_to_node(nb, na, &r, rec, lat) {
            return outcome(pkt, Verdict::Dropped, r, *lat);
        }
        rec.hop(Device::Pod(a), Action::Deliver, &r, || {
            format!("the reply reaches {}", self.cluster.pod_ref(a))
        });
        delivered(pkt, *lat, nb, b)
    }

    /// Outside host → a pod IP: the pod prefixes are routed natively through the fabric.
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
                "sends to pod IP {} through the L3Out on {}",
                pkt.dst.ip,
                self.fabric.leaf_name(border)
            )
        });
        *lat = lat.saturating_add(self.fabric.latency.l3out);
        let node = match self.to_node(border, &pkt, rec, lat) {
            Ok(n) => n,
            Err(r) => return outcome(pkt, Verdict::Dropped, r, *lat),
        };
        let r = self.turn_around(pod, &pkt, rec, || {
            format!(
                "{} delivers to {}",
                self.cluster.node_ref(node),
                self.cluster.pod_ref(pod)
            )
        });
        if !self.to_outside(node, &r, rec, lat) {
            return outcome(pkt, Verdict::Dropped, Reason::NoRoute, *lat);
        }
        rec.hop(self.external(client), Action::Deliver, &r, || {
            "reply delivered".into()
        });
        delivered(pkt, *lat, node, pod)
    }

    /// Pod → service: the node's service proxy picks a backend and DNATs, then pod to pod; the
    /// reply is un-DNATed on the client's node.
    // Long: a walk leg is one sequence of hops in the order the packet walk goes (seed: the
    // talk's slides); split, that order would be spread over functions each called once.
    fn pod_to_service<R: Recorder>(
        &self,
        a: PodId,
        (svc, vip): (ServiceId, Option<Ipv4Addr>),
        l4: L4,
        tables: &mut NodeTables,
        rec: &mut R,
        lat: &mut Nanos,
    ) -> Outcome {
        let L4 { sport, port, proto } = l4;
        let s = self.cluster.service(svc);
        let na = self.pod_node(a);
        let Some(vip) = vip.or(s.cluster_ip) else {
            let f = Flow {
                proto,
                src: self.pod_ep(a, sport),
                dst: Endpoint::new(Ipv4Addr::UNSPECIFIED, port),
            };
            rec.hop(Device::Pod(a), Action::Drop, &f, || {
                "the service has no ClusterIP: give cluster.service_subnet".into()
            });
            return outcome(f, Verdict::Dropped, Reason::NoRoute, *lat);
        };
        let pkt = Flow {
            proto,
            src: self.pod_ep(a, sport),
            dst: Endpoint::new(vip, port),
        };
        rec.hop(Device::Pod(a), Action::Route, &pkt, || {
            format!(
                "{} sends to service {}/{} at {}",
                self.cluster.pod_ref(a),
                self.cluster.namespace_name(s.namespace),
                s.name,
                pkt.dst
            )
        });
        let Some(sp) = s.ports.iter().find(|p| p.port == port && p.proto == proto) else {
            rec.hop(Device::Node(na), Action::Drop, &pkt, || {
                format!("the service has no {proto} port {port}")
            });
            return outcome(pkt, Verdict::Dropped, Reason::NoRoute, *lat);
        };
        let mut backends = std::mem::take(&mut tables.scratch);
        backends.clear();
        backends.extend_from_slice(self.cluster.ready_endpoints(svc));
        if backends.is_empty() {
            tables.scratch = backends;
            rec.hop(Device::Node(na), Action::Drop, &pkt, || {
                "the service has no ready endpoint".into()
            });
            return outcome(pkt, Verdict::Dropped, Reason::NoReadyEndpoint, *lat);
        }
        let (b, how) = self.pick_backend(na, svc, &backends, &pkt, false, tables);
        tables.scratch = backends;
        let fwd = Flow {
            proto,
            src: pkt.src,
            dst: self.pod_ep(b, sp.target_port),
        };
        rec.hop(Device::Node(na), Action::Dnat, &fwd, || {
            format!(
                "service proxy: {how} chose {}; conntrack DNAT {} → {}",
                self.cluster.pod_ref(b),
                pkt.dst,
                fwd.dst
            )
        });
        let nb = self.pod_node(b);
        if let Err(r) = self.node_to_node(na, nb, &fwd, rec, lat) {
            return outcome(pkt, Verdict::Dropped, r, *lat);
        }
        let r = self.turn_around(b, &fwd, rec, || {
            format!("delivered to {}", self.cluster.pod_ref(b))
        });
        if let Err(r) = self.node_to_node(nb, na, &r, rec, lat) {
            return outcome(pkt, Verdict::Dropped, r, *lat);
        }
        let back = Flow {
            proto,
            src: pkt.dst,
            dst: pkt.src,
        };
        rec.hop(Device::Node(na), Action::UnDnat, &back, || {
            format!(
                "conntrack restores the service address: source {} → {}",
                r.src, pkt.dst
            )
        });
        rec.hop(Device::Pod(a), Action::Deliver, &back, || {
            format!("the reply reaches {}", self.cluster.pod_ref(a))
        });
        delivered(pkt, *lat, nb, b)
    }
}
