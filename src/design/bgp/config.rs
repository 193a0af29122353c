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

#[derive(Clone, Debug)]
pub struct BgpConfig {
    pub cni: BgpCni,
    pub cluster_asn: u32,
    pub fabric_asn: u32,
    /// The node side's timers; the session's hold time is the lower of the two sides'.
    pub node_hold_time: Nanos,
    pub node_keepalive: Nanos,
    /// The fabric side (ACI as the design configures it: 1 s / 3 s).
    pub fabric_hold_time: Nanos,
    pub fabric_keepalive: Nanos,
    pub graceful_restart: bool,
    pub restart_time: Nanos,
    pub max_paths: usize,
    pub max_prefix: u32,
    /// ACI 6.0(2) next-hop propagate: other leaves see the nodes as next hops, not the anchor leaves.
    pub next_hop_propagate: bool,
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
    /// Calico serviceClusterIPs / kube-router --advertise-cluster-ip: the CIDR from every node.
    pub advertise_cluster_ips: Vec<Ipv4Net>,
    /// Where LoadBalancer IPs come from when the service does not ask for one.
    pub lb_pool: Vec<Ipv4Net>,
    pub masquerade: bool,
    /// The source ports a masquerade may search (Linux 1024–65535, Cilium BPF 32768–65535).
    pub masquerade_ports: (u16, u16),
    /// Calico's Felix masquerades with `--random-fully`: the port is always drawn at random.
    pub masquerade_random_fully: bool,
    pub node_lb: NodeLb,
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
    /// The NAT port search of this design's masquerade: Calico and kube-router use iptables, so
    /// the node kernel's nf_nat search; Cilium's BPF masquerade has its own allocator (FACTS §2:
    /// up to 128 random tries), modelled here as an ideal one.
    pub fn nat_search(
        &self,
        kernel: crate::nat::kernel::PortSearch,
    ) -> crate::nat::kernel::PortSearch {
        match self.cni {
            BgpCni::Cilium => crate::nat::kernel::PortSearch::WholeRange,
            _ => kernel,
        }
    }
}
