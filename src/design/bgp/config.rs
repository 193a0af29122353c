//! The resolved configuration of a BGP design (Calico, kube-router, Cilium), with the real
//! defaults of each CNI (FACTS.md §2) and the fabric side as acc-provision configures it.

use crate::net::Subnet;
use crate::time::Nanos;
use ipnet::Ipv4Net;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BgpCni {
    Calico,
    KubeRouter,
    Cilium,
}

/// How pods get addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodAddressing {
    /// Calico IPAM: blocks of `block_size` handed to nodes on demand (a node gets another block
    /// when its pods outgrow the ones it has), one route per block.
    Blocks { pool: Subnet, block_size: u8 },
    /// kube-router / Cilium: one podCIDR of `/len` per node, in node order.
    PerNodeCidr { pool: Subnet, len: u8 },
}

/// How a node picks a backend for a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeLb {
    /// Calico's iptables (statistic mode random), Cilium's default `random`.
    Random,
    /// kube-router's IPVS `rr` (its default scheduler).
    RoundRobin,
    /// IPVS `mh` or Cilium Maglev: consistent hashing over a prime table.
    Maglev,
}

/// Cilium's Maglev table size (a prime; FACTS §2).
pub const MAGLEV_TABLE_SIZE: usize = 16381;
/// IPVS `mh`'s table size (Linux `ip_vs_mh.c`, CONFIG_IP_VS_MH_TAB_INDEX 12 → the prime 4093).
pub const IPVS_MH_TABLE_SIZE: usize = 4093;

#[derive(Clone, Debug)]
pub struct BgpConfig {
    pub cni: BgpCni,
    pub cluster_asn: u32,
    pub fabric_asn: u32,
    /// The cluster shares the fabric's AS: iBGP peering (no AS path; maxEcmpIbgp, which the
    /// fabric side sets with the same `max_paths`).
    pub ibgp: bool,
    /// The node side's timers; the session's hold time is the lower of the two sides'.
    pub node_hold_time: Nanos,
    pub node_keepalive: Nanos,
    /// The fabric side (ACI as the design configures it: 1 s / 3 s).
    pub fabric_hold_time: Nanos,
    pub fabric_keepalive: Nanos,
    pub graceful_restart: bool,
    pub restart_time: Nanos,
    pub max_paths: usize,
    pub max_prefix: MaxPrefix,
    /// ACI 5.0(1)+ next-hop propagate: other leaves see the nodes as next hops, not the anchor leaves.
    pub next_hop_propagate: bool,
    /// ACI 6.1(2)+ with next-hop propagate: the IGP metric to the next hop is ignored, so every
    /// advertising node is an equal path from every leaf (not only the ones attached to it).
    pub ignore_igp_metric: bool,
    /// The fabric's stale-path interval (bgpCtxPol `staleIntvl`): how long it keeps a restarting
    /// speaker's routes once the session is back, waiting for End-of-RIB. Speakers send End-of-RIB
    /// at once, so it bounds nothing the simulation reaches; kept for `validate` and reports.
    pub fabric_stale: Nanos,
    /// The fabric is a graceful-restart helper (bgpCtxPol `grCtrl` helper).
    pub gr_helper: bool,
    /// BFD in effect on the sessions (both ends run it): the agreed interval and the node's
    /// detect multiplier, whose product is the fabric's detection time.
    pub bfd: Option<(Nanos, u32)>,
    /// How long the node's speaker takes to bring a session up: after it starts (a node or a
    /// speaker back), and after a failed session's path is repaired while it runs (its
    /// connect-retry timer). The fabric only listens (a dynamic-neighbour peer on the node
    /// subnet), so the node's timers decide.
    pub reconnect: Reconnect,
    /// iBGP between the nodes themselves (Calico nodeToNodeMeshEnabled, kube-router
    /// --enable-ibgp): each node routes pod prefixes straight to the owning node's IP.
    pub node_mesh: bool,
    /// Import route control: prefixes accepted from the nodes.
    pub import: Vec<Ipv4Net>,
    pub node_password: Option<String>,
    /// The peer AS the nodes are told (kube-router.io/peer.asns); `None`: the fabric's.
    pub node_peer_asn: Option<u32>,
    pub fabric_password: Option<String>,
    pub pods: PodAddressing,
    pub advertise_pod_cidr: bool,
    /// LoadBalancer IPs inside these prefixes are advertised (per externalTrafficPolicy).
    pub advertise_lb: Vec<Ipv4Net>,
    /// Calico serviceClusterIPs: the CIDRs from every node.
    pub advertise_cluster_ips: Vec<Ipv4Net>,
    /// Calico serviceExternalIPs: the CIDRs from every node (they authorise no LoadBalancer IP).
    pub advertise_external_ips: Vec<Ipv4Net>,
    /// kube-router --advertise-cluster-ip: each service's ClusterIP as a /32.
    pub cluster_ip_host_routes: bool,
    /// Cilium resources: only services matching one of these have their LoadBalancer IP
    /// advertised (`None`: every service).
    pub lb_service_selectors: Option<Vec<crate::cluster::selector::LabelSelector>>,
    /// CiliumLoadBalancerIPPool blocks with their `serviceSelector`.
    pub lb_pool_selectors: Vec<(Ipv4Net, Option<crate::cluster::selector::LabelSelector>)>,
    /// Where LoadBalancer IPs come from when the service does not ask for one.
    pub lb_pool: Vec<Ipv4Net>,
    pub masquerade: bool,
    /// The source ports a masquerade may search (Linux 1024–65535, Cilium BPF 32768–65535).
    pub masquerade_ports: (u16, u16),
    /// Calico's Felix masquerades with `--random-fully`: the port is always drawn at random.
    pub masquerade_random_fully: bool,
    /// Cilium with Helm `bpf.masquerade`: its own BPF port allocator instead of iptables.
    pub bpf_masquerade: bool,
    pub node_lb: NodeLb,
    /// Per node, what its own BGP objects say (Calico BGPPeers and `node.<name>`
    /// BGPConfigurations, kube-router's peer addresses); empty: every node peers with its rack's
    /// anchor leaves as the design's settings say.
    pub node_peering: Vec<NodePeering>,
}

/// One node's BGP peering as its own objects configure it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodePeering {
    /// The node's own AS (a Calico `node.<name>` BGPConfiguration); `None`: the cluster's.
    pub asn: Option<u32>,
    /// The peer AS the node's peers are configured with; `None`: the design's.
    pub peer_asn: Option<u32>,
    /// The anchor leaves the node has a peer for; `None`: all of them (a peer address that
    /// fabsim cannot tie to one leaf, or no per-node peers at all).
    pub leaves: Option<std::collections::BTreeSet<crate::fabric::LeafId>>,
}

/// The node speaker's session (re-)establishment delays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reconnect {
    pub after_start: Nanos,
    pub after_repair: Nanos,
    pub source: &'static str,
}

impl Reconnect {
    /// Per CNI. Calico's BIRD as Calico templates it (`bird.cfg.template` bgp_template:
    /// `connect delay time 2; connect retry time 5; error wait time 5,30`): 2 s after a start;
    /// after a repair the next retry, within 5 s — 2.5 s, the expected wait for a timer of unknown
    /// phase. kube-router and Cilium run GoBGP (kube-router sets only the hold time; Cilium's
    /// `connectRetryTimeSeconds` 120): the first attempt about 2 s after a start
    /// (`fsm.go` connectLoop), then every ConnectRetry 120 s × 0.75–1.0 — 52.5 s expected.
    pub fn for_cni(cni: BgpCni) -> Reconnect {
        match cni {
            BgpCni::Calico => Reconnect {
                after_start: Nanos::from_secs(2),
                after_repair: Nanos::from_millis(2500),
                source: "BIRD as Calico configures it: connect delay 2 s, connect retry 5 s",
            },
            BgpCni::KubeRouter | BgpCni::Cilium => Reconnect {
                after_start: Nanos::from_secs(2),
                after_repair: Nanos::from_millis(52_500),
                source: "GoBGP: first attempt after ~2 s, then ConnectRetry 120 s × 0.75–1.0",
            },
        }
    }
}

/// What APIC does when a peer exceeds its max-prefix limit (`bgpPeerPfxPol.action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MaxPrefixAction {
    /// Only the prefixes beyond the limit are refused; the session stays up.
    Reject,
    /// The session is reset and retried after the restart time (it exceeds again: it stays down).
    Restart,
    /// The session is shut down until an operator clears it.
    Shut,
    /// Everything is accepted; the excess is only logged.
    Log,
}

impl MaxPrefixAction {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "reject" => MaxPrefixAction::Reject,
            "restart" => MaxPrefixAction::Restart,
            "shut" => MaxPrefixAction::Shut,
            "log" => MaxPrefixAction::Log,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            MaxPrefixAction::Reject => "reject",
            MaxPrefixAction::Restart => "restart",
            MaxPrefixAction::Shut => "shut",
            MaxPrefixAction::Log => "log",
        }
    }
}

/// A peer's max-prefix policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPrefix {
    pub limit: u32,
    pub action: MaxPrefixAction,
}

impl std::fmt::Display for MaxPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, action {}", self.limit, self.action.name())
    }
}

impl BgpCni {
    pub fn name(self) -> &'static str {
        match self {
            BgpCni::Calico => "calico",
            BgpCni::KubeRouter => "kube-router",
            BgpCni::Cilium => "cilium",
        }
    }
}

impl BgpConfig {
    /// The session's hold time: the lower of the two sides' (RFC 4271).
    pub fn negotiated_hold_time(&self) -> Nanos {
        self.node_hold_time.min(self.fabric_hold_time)
    }

    /// How long a dead node's sessions take to go down: BFD's detection time where both ends
    /// run BFD, else the negotiated hold time.
    pub fn failure_detection(&self) -> Nanos {
        // The hold timer keeps running under BFD: whichever fires first.
        let hold = self.negotiated_hold_time();
        match self.bfd {
            Some((interval, mult)) => Nanos(interval.0.saturating_mul(u64::from(mult))).min(hold),
            None => hold,
        }
    }

    /// Graceful restart works only when the speaker restarts gracefully and the fabric helps.
    pub fn graceful_restart_in_effect(&self) -> bool {
        self.graceful_restart && self.gr_helper
    }

    /// The NAT port search of this design's masquerade: iptables (Calico, kube-router, Cilium by
    /// default) ends in the node kernel's nf_nat search; Cilium with bpf.masquerade has its own
    /// allocator (`PortSearch::CiliumBpf`).
    pub fn nat_search(
        &self,
        kernel: crate::nat::kernel::PortSearch,
    ) -> crate::nat::kernel::PortSearch {
        if self.bpf_masquerade {
            crate::nat::kernel::PortSearch::CiliumBpf
        } else {
            kernel
        }
    }
}
