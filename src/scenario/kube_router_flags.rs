//! kube-router's command-line flags (cloudnativelabs/kube-router 7c2c277,
//! `pkg/options/options.go` `AddFlags`): which fabsim models, which change the data path without
//! being modelled (each said with its meaning), and which have no effect on what fabsim
//! simulates. Any other flag stops kube-router at start (pflag), so it is an error.

/// What fabsim does with a flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    Modelled,
    /// Changes forwarding, NAT or BGP; not modelled. The text says what it does.
    NotModelled(&'static str),
    /// Logging, metrics, API access, sync periods, ports of local services.
    Admin,
}

use Use::*;

pub const FLAGS: &[(&str, Use)] = &[
    ("advertise-cluster-ip", Modelled),
    (
        "advertise-external-ip",
        NotModelled(
            "advertises services' externalIPs, which fabsim does not model as destinations",
        ),
    ),
    ("advertise-loadbalancer-ip", Modelled),
    ("advertise-pod-cidr", Modelled),
    ("auto-mtu", Admin),
    (
        "bfd-desired-min-tx-interval",
        NotModelled(
            "BFD transmit interval; fabsim uses kube-router's 1000 ms × 3 when --enable-bfd",
        ),
    ),
    (
        "bfd-detection-multiplier",
        NotModelled("BFD detect multiplier; fabsim uses kube-router's 3 when --enable-bfd"),
    ),
    ("bfd-port", Admin),
    (
        "bfd-required-min-rx-interval",
        NotModelled("BFD receive interval; fabsim uses kube-router's 1000 ms when --enable-bfd"),
    ),
    ("bgp-graceful-restart", Modelled),
    (
        "bgp-graceful-restart-deferral-time",
        NotModelled("how long a restarting speaker waits for End-of-RIB; fabsim sends it at once"),
    ),
    ("bgp-graceful-restart-time", Modelled),
    ("bgp-holdtime", Modelled),
    (
        "bgp-port",
        NotModelled("the BGP port kube-router listens on; fabsim assumes the sessions use 179"),
    ),
    ("cache-sync-timeout", Admin),
    ("cleanup-config", Admin),
    ("cluster-asn", Modelled),
    ("disable-source-dest-check", Admin),
    ("enable-bfd", Modelled),
    ("enable-cni", Admin),
    ("enable-ibgp", Modelled),
    ("enable-ipv4", Admin),
    (
        "enable-ipv6",
        NotModelled("IPv6 is not modelled; the IPv4 half is simulated"),
    ),
    (
        "enable-overlay",
        NotModelled(
            "IPIP tunnels between nodes in different subnets; fabsim routes pod traffic natively",
        ),
    ),
    ("enable-pod-egress", Modelled),
    ("enable-pprof", Admin),
    (
        "excluded-cidrs",
        NotModelled("CIDRs kube-router does not advertise or route; fabsim advertises them"),
    ),
    ("gobgp-admin-address", Admin),
    ("gobgp-admin-port", Admin),
    (
        "hairpin-mode",
        NotModelled("hairpin NAT for a pod reaching its own service; not modelled"),
    ),
    ("health-addr", Admin),
    ("health-port", Admin),
    ("help", Admin),
    ("hostname-override", Admin),
    ("injected-routes-sync-period", Admin),
    ("iptables-sync-period", Admin),
    (
        "ipvs-graceful-period",
        NotModelled(
            "how long IPVS keeps a removed backend's connections; fabsim breaks them when the backend goes",
        ),
    ),
    (
        "ipvs-graceful-termination",
        NotModelled(
            "IPVS keeps a terminating backend's connections; fabsim breaks them when the backend goes",
        ),
    ),
    (
        "ipvs-permit-all",
        NotModelled(
            "IPVS accepts traffic to any port of a service IP; fabsim only forwards the service ports",
        ),
    ),
    ("ipvs-sync-period", Admin),
    ("kubeconfig", Admin),
    ("loadbalancer-default-class", Admin),
    (
        "loadbalancer-ip-range",
        NotModelled(
            "kube-router's own LoadBalancer IP allocator range; give the pool as load_balancer.pool",
        ),
    ),
    ("loadbalancer-sync-period", Admin),
    (
        "masquerade-all",
        NotModelled(
            "SNAT of all service traffic to the node IP; fabsim masquerades only pod egress",
        ),
    ),
    ("master", Admin),
    ("metrics-addr", Admin),
    ("metrics-path", Admin),
    ("metrics-port", Admin),
    (
        "netpol-default-deny",
        NotModelled("NetworkPolicy enforcement is not modelled: traffic is simulated as allowed"),
    ),
    (
        "nodeport-bindon-all-ip",
        NotModelled("NodePorts on every node address; fabsim uses the node IP"),
    ),
    (
        "nodes-full-mesh",
        NotModelled("iBGP full mesh between nodes; fabsim's mesh follows --enable-ibgp"),
    ),
    (
        "overlay-encap",
        NotModelled("overlay encapsulation; fabsim routes pod traffic natively"),
    ),
    ("overlay-encap-port", Admin),
    (
        "overlay-type",
        NotModelled("overlay between subnets or always; fabsim routes pod traffic natively"),
    ),
    (
        "override-nexthop",
        NotModelled(
            "advertise routes with the node as next hop towards each peer; fabsim's next hop is the node",
        ),
    ),
    ("peer-router-asns", Modelled),
    ("peer-router-ips", Modelled),
    (
        "peer-router-multihop-ttl",
        NotModelled(
            "multi-hop eBGP to the peers; fabsim assumes single-hop sessions to the anchor leaves",
        ),
    ),
    ("peer-router-passwords", Modelled),
    (
        "peer-router-passwords-file",
        NotModelled(
            "passwords from a file fabsim cannot read; give them as --peer-router-passwords or bgp.password",
        ),
    ),
    (
        "peer-router-ports",
        NotModelled("the peers' BGP ports; fabsim assumes 179"),
    ),
    ("router-id", Admin),
    ("routes-sync-period", Admin),
    (
        "run-firewall",
        NotModelled("NetworkPolicy enforcement is not modelled: traffic is simulated as allowed"),
    ),
    (
        "run-loadbalancer",
        NotModelled(
            "kube-router's own LoadBalancer IP allocator; fabsim allocates from load_balancer.pool",
        ),
    ),
    ("run-router", Admin),
    ("run-service-proxy", Admin),
    ("runtime-endpoint", Admin),
    ("service-cluster-ip-range", Admin),
    (
        "service-external-ip-range",
        NotModelled("the range externalIPs may come from; externalIPs are not modelled"),
    ),
    ("service-node-port-range", Admin),
    (
        "service-tcp-timeout",
        NotModelled("IPVS TCP idle timeout; fabsim's connections end when their lifetime ends"),
    ),
    (
        "service-tcpfin-timeout",
        NotModelled("IPVS FIN timeout; fabsim's conntrack TIME_WAIT applies"),
    ),
    (
        "service-udp-timeout",
        NotModelled("IPVS UDP timeout; fabsim uses conntrack.udp_timeout"),
    ),
    ("strict-external-ip-validation", Admin),
    ("use-nftables-for-netpol", Admin),
    ("v", Admin),
    ("version", Admin),
];

pub fn known(name: &str) -> bool {
    FLAGS.iter().any(|(n, _)| *n == name)
}

pub fn names() -> Vec<&'static str> {
    FLAGS.iter().map(|(n, _)| *n).collect()
}

pub fn use_of(name: &str) -> Option<Use> {
    FLAGS.iter().find(|(n, _)| *n == name).map(|(_, u)| *u)
}

/// kube-router's node annotations (`pkg/controllers/routing/network_routes_controller.go`): the
/// ones fabsim models (`None`) and what the others do.
pub const NODE_ANNOTATIONS: &[(&str, Option<&str>)] = &[
    ("kube-router.io/peer.ips", None),
    ("kube-router.io/peer.asns", None),
    ("kube-router.io/peer.passwords", None),
    (
        "kube-router.io/node.asn",
        Some("the node's own AS; fabsim uses --cluster-asn for every node"),
    ),
    (
        "kube-router.io/node.bgp.communities",
        Some("communities on the node's routes; the fabric's route maps are not modelled"),
    ),
    (
        "kube-router.io/node.bgp.customimportreject",
        Some("prefixes the node refuses; the nodes' own routing table is not modelled"),
    ),
    (
        "kube-router.io/path-prepend.as",
        Some("AS-path prepending; fabsim's paths from the nodes have equal length"),
    ),
    (
        "kube-router.io/path-prepend.repeat-n",
        Some("AS-path prepending; fabsim's paths from the nodes have equal length"),
    ),
    (
        "kube-router.io/peers",
        Some("the peers as one YAML list; give them as peer.ips / peer.asns"),
    ),
    (
        "kube-router.io/peer.localips",
        Some("the node's source address per peer; fabsim uses the node IP"),
    ),
    (
        "kube-router.io/peer.ports",
        Some("the peers' BGP ports; fabsim assumes 179"),
    ),
    (
        "kube-router.io/rr.client",
        Some("route reflection between nodes is not modelled"),
    ),
    (
        "kube-router.io/rr.server",
        Some("route reflection between nodes is not modelled"),
    ),
    (
        "kube-router.io/bgp-local-addresses",
        Some("the addresses kube-router's BGP listens on; fabsim uses the node IP"),
    ),
    (
        "kube-router.io/pod-cidr",
        Some("the node's pod range; give it as the Node's spec.podCIDR under cluster.manifests"),
    ),
    (
        "kube-router.io/pod-cidrs",
        Some("the node's pod ranges; give them as the Node's spec.podCIDR under cluster.manifests"),
    ),
];

/// The flags as kube-router's pflag leaves them (a later flag wins), each with where it was
/// written (the design's `args` or the DaemonSet manifest's line).
#[derive(Clone, Debug, Default)]
pub struct Flags {
    values: super::decode::Labels,
    at: std::collections::BTreeMap<String, (super::diag::Loc, String)>,
}

impl Flags {
    pub fn set(&mut self, name: &str, value: &str, loc: &super::diag::Loc, path: &str) {
        self.values.insert(name.to_string(), value.to_string());
        self.at
            .insert(name.to_string(), (loc.clone(), path.to_string()));
    }

    pub fn get(&self, name: &str) -> Option<&String> {
        self.values.get(name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// Where the flag was written; `fallback` when it was not.
    pub fn place<'a>(
        &'a self,
        name: &str,
        fallback: (&'a super::diag::Loc, &'a str),
    ) -> (&'a super::diag::Loc, &'a str) {
        self.at
            .get(name)
            .map(|(l, p)| (l, p.as_str()))
            .unwrap_or(fallback)
    }
}
