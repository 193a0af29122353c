//! The Kubernetes cluster as the scenario declares it: nodes on racks, namespaces, deployments
//! and their pods placed on nodes, services with their endpoints.
//!
//! Invariant: the cluster is design-independent; addresses that depend on the CNI (pod IPs,
//! LoadBalancer IPs, node service IPs) live in each design's compiled state, except node IPs.

pub mod calico_selector;
pub mod placement;
pub mod selector;

use crate::fabric::{RackId, id_type};
use crate::net::{Proto, Subnet};
use std::net::Ipv4Addr;

/// String-to-string maps (labels, annotations), in key order.
pub type Labels = std::collections::BTreeMap<String, String>;

id_type!(NodeId, NamespaceId, DeploymentId, PodId, ServiceId);

/// Kubernetes' default `--max-pods` per node (FACTS §3, the scalability envelope: 110 pods per node).
pub const DEFAULT_MAX_PODS_PER_NODE: u32 = 110;

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub rack: RackId,
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
    /// False while the node is failed (the engine flips it; the walks drop what reaches it).
    /// Changed only by [`Cluster::set_node_up`], which keeps the compact index the walks read;
    /// read it with [`Cluster::node_up`].
    pub(crate) up: bool,
    /// The node's uplinks that are down: bit `i` for the `i`-th leaf of its rack (a rack has one
    /// leaf or a vPC pair). The bond carries everything over the others. Changed only by
    /// [`Cluster::set_uplink_down`], which keeps the compact index the walks read.
    pub(crate) uplinks_down: u8,
    /// `cluster.node_labels` (node roles: `node-role.kubernetes.io/<role>`).
    pub labels: Labels,
    /// `spec.podCIDR` from a Node manifest: kube-router and Cilium (Kubernetes IPAM) give the
    /// node's pods addresses from it; Calico's IPAM does not read it.
    pub pod_cidr: Option<ipnet::Ipv4Net>,
}

impl Node {
    pub fn mac_string(&self) -> String {
        let m = self.mac;
        format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// A locally administered MAC derived from the node IP, so it is stable across runs.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x00, o[0], o[1], o[2], o[3]]
}

#[derive(Clone, Debug)]
pub struct Namespace {
    pub name: String,
    pub labels: Labels,
    pub annotations: Labels,
}

#[derive(Clone, Debug)]
pub struct Deployment {
    pub name: String,
    pub namespace: NamespaceId,
    pub replicas: u32,
    /// Its pod template's labels: every replica's ([`Cluster::pod_labels`]).
    pub labels: Labels,
    pub annotations: Labels,
    /// Its pod template's annotations: every replica's. Kept
    /// here, not per pod: the envelope's 150,000 pods held two shared pointers each.
    pub pod_annotations: Labels,
    /// Its pods are `first_pod .. first_pod + replicas` (replicas are created together).
    pub first_pod: u32,
}

#[derive(Clone, Debug)]
pub struct Pod {
    /// `<deployment>-<index>`, like a StatefulSet, so `web-0` is always the first replica.
    /// Kept inline up to 24 bytes (`compact_str`): 150,000 replica names were as many heap
    /// allocations, and their pages, in every load of the envelope.
    pub name: compact_str::CompactString,
    pub namespace: NamespaceId,
    pub deployment: DeploymentId,
    pub node: NodeId,
    /// Changed only by [`Cluster::set_ready_on`], which keeps the compact index and the ready
    /// counts the walks read; read it with [`Cluster::pod_ready`].
    pub(crate) ready: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceType {
    ClusterIp,
    NodePort,
    LoadBalancer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrafficPolicy {
    Cluster,
    Local,
}

#[derive(Clone, Debug)]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: u16,
    pub target_port: u16,
    pub proto: Proto,
}

#[derive(Clone, Debug)]
pub struct Service {
    pub name: String,
    pub namespace: NamespaceId,
    pub kind: ServiceType,
    pub selector: Labels,
    pub ports: Vec<ServicePort>,
    pub external_traffic_policy: TrafficPolicy,
    /// `spec.internalTrafficPolicy` (Cluster by default).
    pub internal_traffic_policy: TrafficPolicy,
    /// `spec.loadBalancerIP`, when the user asks for one.
    pub requested_lb_ip: Option<Ipv4Addr>,
    /// The address a dump says the LoadBalancer already has (`status.loadBalancer.ingress`):
    /// kept when the design's pool holds it, as the controller keeps an allocation.
    pub assigned_lb_ip: Option<Ipv4Addr>,
    /// The ClusterIP, from the cluster's service subnet (.2 upward: .1 is the `kubernetes` service).
    pub cluster_ip: Option<Ipv4Addr>,
    pub labels: Labels,
    pub annotations: Labels,
    /// Pods the selector matches (ready or not), in pod order.
    pub endpoints: Vec<PodId>,
    /// The ready endpoints, in pod order (`Cluster::ready_endpoints`), kept by the cluster as
    /// readiness changes.
    pub ready_endpoints: Vec<PodId>,
}

#[derive(Clone, Debug)]
pub struct Cluster {
    pub node_subnet: Subnet,
    pub pod_subnet: Option<Subnet>,
    pub service_subnet: Option<Subnet>,
    pub nodes: Vec<Node>,
    pub namespaces: Vec<Namespace>,
    pub deployments: Vec<Deployment>,
    pub pods: Vec<Pod>,
    pub services: Vec<Service>,
    /// Every node's address with the node, sorted (`node_by_ip`, a binary search instead of a
    /// scan of every node per connection); filled by `index`.
    pub node_ips: Vec<(Ipv4Addr, NodeId)>,
    /// Each pod's node, 4 bytes a pod, and its readiness, a bit a pod: what the walks read of a
    /// pod per connection (600 KB and 19 KB for 150,000 pods stay in cache where the full `Pod`
    /// records, 13 MB, do not); filled by `index`, kept by [`Cluster::set_ready_on`].
    pub(crate) pod_nodes: Vec<NodeId>,
    pub(crate) pod_ready_bits: Vec<u64>,
    /// Each node's hash salt (`net::hash::salt` of its name: the per-node hashes of the
    /// second-stage load balancing), filled by `index`.
    pub(crate) node_salts: Vec<u64>,
    /// What a walk reads of each node, compact (8 bytes a node, read per connection), kept by
    /// [`Cluster::set_node_up`] and [`Cluster::set_uplink_down`].
    pub(crate) node_hot: Vec<NodeHot>,
    /// Every service's endpoints grouped by node (pod order within a node), all services in one
    /// array; filled by `index` (pods never move).
    pub(crate) node_endpoints: Vec<PodId>,
    /// Each (service, node) pair's endpoints, a range of `node_endpoints`, and how many of them
    /// are ready (kept by `set_ready_on`): no read of each pod's readiness while all are ready.
    /// In service order, then node order: service `s`'s pairs are `on_from[s]..on_from[s + 1]`,
    /// their nodes in `on_node_ids` (a pair is found by a binary search over the service's
    /// nodes, a few hundred bytes). A PBR destination keeps its pair's place
    /// ([`Cluster::pick_ready_at`]): a connection reads its record with no search.
    pub(crate) on_nodes: Vec<OnNode>,
    pub(crate) on_node_ids: Vec<NodeId>,
    pub(crate) on_from: Vec<u32>,
    /// Counts the readiness changes ([`Cluster::set_ready_on`]): a table built from the ready
    /// endpoints (a Maglev table) holds while it is unchanged.
    pub(crate) readiness_epoch: u64,
    /// Each node's position in node-name order (the order the ACI-CNI controller lists PBR
    /// destinations in), filled by `index`.
    pub(crate) name_rank: Vec<u32>,
    /// Every node's pods (pod order), all nodes in one array: node `n`'s are
    /// `node_pods[node_pods_from[n]..node_pods_from[n + 1]]`; filled by `index`.
    pub(crate) node_pods: Vec<PodId>,
    pub(crate) node_pods_from: Vec<u32>,
    /// Deployments and services by (namespace, name, index), filled by `index`.
    pub(crate) deployments_by_name: Vec<u32>,
    pub(crate) services_by_name: Vec<u32>,
}

/// The first index whose `key` is `want` in `order` (indexes sorted by key, then index); a scan
/// of all `len` while `order` is not filled (before `Cluster::index`).
fn first_named<'a>(
    order: &[u32],
    key: impl Fn(u32) -> (NamespaceId, &'a str),
    len: usize,
    want: (NamespaceId, &str),
) -> Option<u32> {
    if order.len() != len {
        return (0..len as u32).find(|i| key(*i) == want);
    }
    let at = order.partition_point(|i| key(*i) < want);
    order.get(at).copied().filter(|i| key(*i) == want)
}

/// Deployment `i`'s (namespace, name): the key of `Cluster::deployments_by_name`.
fn deployment_key(deployments: &[Deployment], i: u32) -> (NamespaceId, &str) {
    let d = &deployments[i as usize];
    (d.namespace, d.name.as_str())
}

/// Service `i`'s (namespace, name): the key of `Cluster::services_by_name`.
fn service_key(services: &[Service], i: u32) -> (NamespaceId, &str) {
    let s = &services[i as usize];
    (s.namespace, s.name.as_str())
}

/// Indexes `0..len` sorted by `key`, then index.
fn by_key<'a>(len: usize, key: impl Fn(u32) -> (NamespaceId, &'a str)) -> Vec<u32> {
    let mut order: Vec<u32> = (0..len as u32).collect();
    order.sort_by(|a, b| key(*a).cmp(&key(*b)).then(a.cmp(b)));
    order
}

/// Where a (service, node) pair's endpoints are recorded ([`Cluster::endpoints_at`]): kept by
/// whoever reads them per connection, to skip the look-up. Its place plus one: an `Option` of
/// it takes four bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointsAt(std::num::NonZeroU32);

impl EndpointsAt {
    fn new(i: usize) -> Self {
        EndpointsAt(std::num::NonZeroU32::MIN.saturating_add(i as u32))
    }

    fn index(self) -> usize {
        self.0.get() as usize - 1
    }
}

/// A node's endpoints of a service: `len` of `Cluster::node_endpoints` from `from`, `ready` of
/// them ready.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OnNode {
    from: u32,
    len: u32,
    ready: u32,
    /// The first of them, kept here: most (service, node) pairs of a big cluster hold one
    /// endpoint, found without reading `node_endpoints`.
    first: PodId,
}

/// What a connection's walk reads of a node.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NodeHot {
    rack: RackId,
    /// The node's address (a masquerade's source): read here, not from the whole record.
    ip: Ipv4Addr,
    uplinks_down: u8,
    up: bool,
}

/// True when every `selector` label is carried by `labels` (an empty selector matches nothing,
/// as for a Service).
pub fn selects(selector: &Labels, labels: &Labels) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

impl Cluster {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }
    pub fn pod(&self, id: PodId) -> &Pod {
        &self.pods[id.index()]
    }
    /// The node of pod `id` (from the compact index `index` builds).
    pub fn pod_node(&self, id: PodId) -> NodeId {
        self.pod_nodes[id.index()]
    }
    /// Whether pod `id` is ready (from the compact index).
    pub fn pod_ready(&self, id: PodId) -> bool {
        ready_bit(&self.pod_ready_bits, id)
    }
    /// Whether node `id` is up (from the compact index).
    pub fn node_up(&self, id: NodeId) -> bool {
        self.node_hot[id.index()].up
    }
    /// Fails (`false`) or recovers node `id`.
    pub fn set_node_up(&mut self, id: NodeId, up: bool) {
        self.nodes[id.index()].up = up;
        self.node_hot[id.index()].up = up;
    }

    /// Node `id`'s address, from the compact per-node record a walk reads anyway.
    pub fn node_ip(&self, id: NodeId) -> Ipv4Addr {
        self.node_hot[id.index()].ip
    }

    /// Node `id`'s rack and its uplinks that are down (`Node::uplinks_down`), from the compact
    /// index.
    pub fn node_links(&self, id: NodeId) -> (RackId, u8) {
        let h = self.node_hot[id.index()];
        (h.rack, h.uplinks_down)
    }
    /// Takes down (`down`) or brings back the uplinks of node `id` in `bits`.
    pub fn set_uplink_down(&mut self, id: NodeId, bits: u8, down: bool) {
        let n = &mut self.nodes[id.index()];
        if down {
            n.uplinks_down |= bits;
        } else {
            n.uplinks_down &= !bits;
        }
        self.node_hot[id.index()].uplinks_down = n.uplinks_down;
    }
    /// The hash salt of node `id`'s name (computed once by `index`).
    pub fn node_salt(&self, id: NodeId) -> u64 {
        self.node_salts[id.index()]
    }
    /// The ready endpoints of `svc`, in pod order (kept as readiness changes).
    pub fn ready_endpoints(&self, svc: ServiceId) -> &[PodId] {
        &self.service(svc).ready_endpoints
    }
    /// Kubernetes marks the endpoints of every pod on `node` ready or not.
    pub fn set_ready_on(&mut self, node: NodeId, ready: bool) {
        for p in self.pods.iter_mut().filter(|p| p.node == node) {
            p.ready = ready;
        }
        self.index_readiness();
    }
    pub fn service(&self, id: ServiceId) -> &Service {
        &self.services[id.index()]
    }
    pub fn namespace_name(&self, id: NamespaceId) -> &str {
        &self.namespaces[id.index()].name
    }

    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .map(|i| NodeId(i as u32))
    }
    pub fn namespace_by_name(&self, name: &str) -> Option<NamespaceId> {
        self.namespaces
            .iter()
            .position(|n| n.name == name)
            .map(|i| NamespaceId(i as u32))
    }
    pub fn pod_by_name(&self, ns: &str, name: &str) -> Option<PodId> {
        let ns = self.namespace_by_name(ns)?;
        self.pods
            .iter()
            .position(|p| p.namespace == ns && p.name == name)
            .map(|i| PodId(i as u32))
    }
    /// The first deployment named `ns/name` (a binary search over `deployments_by_name`; a
    /// scan per reference was 2,000 scans of 1,000 names on the envelope).
    pub fn deployment_by_name(&self, ns: &str, name: &str) -> Option<DeploymentId> {
        let ns = self.namespace_by_name(ns)?;
        let key = |i| deployment_key(&self.deployments, i);
        first_named(
            &self.deployments_by_name,
            key,
            self.deployments.len(),
            (ns, name),
        )
        .map(DeploymentId)
    }
    /// The first service named `ns/name` (as [`Cluster::deployment_by_name`]).
    pub fn service_by_name(&self, ns: &str, name: &str) -> Option<ServiceId> {
        let ns = self.namespace_by_name(ns)?;
        let key = |i| service_key(&self.services, i);
        first_named(&self.services_by_name, key, self.services.len(), (ns, name)).map(ServiceId)
    }

    /// The pods of a deployment, in replica order.
    pub fn pods_of(&self, dep: DeploymentId) -> impl Iterator<Item = PodId> + use<> {
        let d = &self.deployments[dep.index()];
        (d.first_pod..d.first_pod + d.replicas).map(PodId)
    }

    /// `namespace/name` of a pod, as references write it.
    pub fn pod_ref(&self, id: PodId) -> String {
        let p = self.pod(id);
        format!("pod:{}/{}", self.namespace_name(p.namespace), p.name)
    }

    /// Pod `id`'s labels: its deployment's pod template's.
    pub fn pod_labels(&self, id: PodId) -> &Labels {
        &self.deployments[self.pods[id.index()].deployment.index()].labels
    }

    /// `node`'s position when the nodes are sorted by name.
    pub fn name_rank(&self, node: NodeId) -> u32 {
        self.name_rank[node.index()]
    }

    /// Changes whenever a pod's readiness may have changed: equal epochs, equal ready
    /// endpoints.
    pub fn readiness_epoch(&self) -> u64 {
        self.readiness_epoch
    }

    /// `net::hash::salt` of [`Cluster::pod_ref`], without writing the reference out.
    pub fn pod_ref_salt(&self, id: PodId) -> u64 {
        use crate::net::hash::{salt, salt_more};
        let p = self.pod(id);
        let h = salt_more(salt("pod:"), self.namespace_name(p.namespace));
        salt_more(salt_more(h, "/"), &p.name)
    }

    pub fn node_ref(&self, id: NodeId) -> String {
        format!("node:{}", self.node(id).name)
    }

    /// The pods of every node, in pod order (views of the index `index` built).
    pub fn pods_by_node(&self) -> Vec<&[PodId]> {
        self.node_pods_from
            .windows(2)
            .map(|w| &self.node_pods[w[0] as usize..w[1] as usize])
            .collect()
    }

    /// Groups the pods by node, pod order within a node (a counting sort: pods never move).
    fn index_node_pods(&mut self) {
        let mut from = vec![0u32; self.nodes.len() + 1];
        for p in &self.pods {
            from[p.node.index() + 1] += 1;
        }
        for i in 1..from.len() {
            from[i] += from[i - 1];
        }
        let mut next = from.clone();
        self.node_pods = vec![PodId(0); self.pods.len()];
        for (i, p) in self.pods.iter().enumerate() {
            let at = &mut next[p.node.index()];
            self.node_pods[*at as usize] = PodId(i as u32);
            *at += 1;
        }
        self.node_pods_from = from;
    }

    /// The endpoints of `svc` on `node`, ready or not, in pod order: one hash look-up, not a
    /// scan of every endpoint (a service of the envelope has 150).
    pub fn endpoints_on(
        &self,
        svc: ServiceId,
        node: NodeId,
    ) -> impl Iterator<Item = PodId> + Clone + '_ {
        self.ready_on(svc, node).0.iter().copied()
    }

    /// The endpoints of `svc` on `node`, ready or not, in pod order, and how many are ready.
    pub fn ready_on(&self, svc: ServiceId, node: NodeId) -> (&[PodId], usize) {
        match self.endpoints_at(svc, node) {
            Some(at) => {
                let o = &self.on_nodes[at.index()];
                (
                    &self.node_endpoints[o.from as usize..(o.from + o.len) as usize],
                    o.ready as usize,
                )
            }
            None => (&[], 0),
        }
    }

    /// The nodes holding endpoints of `svc`, in node order, each with where its endpoints are
    /// recorded and how many of them are ready.
    pub fn endpoint_nodes(
        &self,
        svc: ServiceId,
    ) -> impl Iterator<Item = (NodeId, EndpointsAt, usize)> + '_ {
        let from = self.on_from.get(svc.index()).map_or(0, |f| *f as usize);
        let to = self.on_from.get(svc.index() + 1).map_or(0, |t| *t as usize);
        (from..to.max(from)).map(|i| {
            (
                self.on_node_ids[i],
                EndpointsAt::new(i),
                self.on_nodes[i].ready as usize,
            )
        })
    }

    /// Where the endpoints of `svc` on `node` are recorded; `None` when the node has none.
    pub fn endpoints_at(&self, svc: ServiceId, node: NodeId) -> Option<EndpointsAt> {
        let from = *self.on_from.get(svc.index())? as usize;
        let to = *self.on_from.get(svc.index() + 1)? as usize;
        let k = self.on_node_ids[from..to].binary_search(&node).ok()?;
        Some(EndpointsAt::new(from + k))
    }

    /// One of the ready endpoints of `svc` on `node`, the `choose(n)`-th of the `n` (in pod
    /// order), with `n`; `None` when none is ready. One look-up of the node's entry.
    pub fn pick_ready_on(
        &self,
        svc: ServiceId,
        node: NodeId,
        choose: impl FnOnce(usize) -> usize,
    ) -> Option<(PodId, usize)> {
        self.pick_ready_at(self.endpoints_at(svc, node)?, choose)
    }

    /// [`Cluster::pick_ready_on`] for the pair recorded at `at` (from
    /// [`Cluster::endpoints_at`]).
    pub fn pick_ready_at(
        &self,
        at: EndpointsAt,
        choose: impl FnOnce(usize) -> usize,
    ) -> Option<(PodId, usize)> {
        let o = &self.on_nodes[at.index()];
        let n = o.ready as usize;
        if n == 0 {
            return None;
        }
        let k = choose(n);
        if k == 0 && o.ready == o.len {
            return Some((o.first, n));
        }
        let on = &self.node_endpoints[o.from as usize..(o.from + o.len) as usize];
        let pod = if o.ready == o.len {
            on.get(k).copied()
        } else {
            on.iter().copied().filter(|p| self.pod_ready(*p)).nth(k)
        };
        pod.map(|p| (p, n))
    }

    /// The node with address `ip` (the first in node order if several share it).
    pub fn node_by_ip(&self, ip: Ipv4Addr) -> Option<NodeId> {
        let i = self.node_ips.partition_point(|(a, _)| *a < ip);
        self.node_ips
            .get(i)
            .filter(|(a, _)| *a == ip)
            .map(|(_, n)| *n)
    }

    /// Builds the look-up indexes (node addresses, each service's endpoints by node) once the
    /// nodes, pods and services are in place; nothing moves them afterwards.
    pub fn index(&mut self) {
        let mut ips: Vec<(Ipv4Addr, NodeId)> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.ip, NodeId(i as u32)))
            .collect();
        ips.sort();
        self.node_ips = ips;
        self.node_hot = self
            .nodes
            .iter()
            .map(|n| NodeHot {
                rack: n.rack,
                ip: n.ip,
                uplinks_down: n.uplinks_down,
                up: n.up,
            })
            .collect();
        let mut by_name: Vec<usize> = (0..self.nodes.len()).collect();
        by_name.sort_by(|a, b| self.nodes[*a].name.cmp(&self.nodes[*b].name));
        self.name_rank = vec![0; self.nodes.len()];
        for (rank, n) in by_name.into_iter().enumerate() {
            self.name_rank[n] = rank as u32;
        }
        self.node_salts = self
            .nodes
            .iter()
            .map(|n| crate::net::hash::salt(&n.name))
            .collect();
        self.index_node_pods();
        self.index_pods();
        self.index_endpoints();
        let deployments = &self.deployments;
        self.deployments_by_name = by_key(deployments.len(), |i| deployment_key(deployments, i));
        let services = &self.services;
        self.services_by_name = by_key(services.len(), |i| service_key(services, i));
    }

    /// Fills the pods' compact records, every service's ready endpoints and each node's count of
    /// them.
    fn index_readiness(&mut self) {
        self.readiness_epoch += 1;
        self.index_pods();
        for on in self.on_nodes.iter_mut() {
            let range = on.from as usize..(on.from + on.len) as usize;
            on.ready = ready_among(&self.pod_ready_bits, &self.node_endpoints[range]);
        }
    }

    /// Fills the pods' compact records and every service's ready endpoints.
    fn index_pods(&mut self) {
        self.pod_nodes = self.pods.iter().map(|p| p.node).collect();
        self.pod_ready_bits = vec![0; self.pods.len().div_ceil(64)];
        for (i, p) in self.pods.iter().enumerate() {
            self.pod_ready_bits[i / 64] |= u64::from(p.ready) << (i % 64);
        }
        let bits = &self.pod_ready_bits;
        for s in self.services.iter_mut() {
            s.ready_endpoints = s
                .endpoints
                .iter()
                .copied()
                .filter(|p| ready_bit(bits, *p))
                .collect();
        }
    }

    /// Fills `node_endpoints` and each (service, node) pair's record (with its ready count) from
    /// every service's endpoints.
    fn index_endpoints(&mut self) {
        self.node_endpoints.clear();
        self.on_nodes.clear();
        self.on_node_ids.clear();
        self.on_from.clear();
        let total: usize = self.services.iter().map(|s| s.endpoints.len()).sum();
        self.node_endpoints.reserve(total);
        self.on_nodes.reserve(total);
        self.on_node_ids.reserve(total);
        self.on_from.reserve(self.services.len() + 1);
        let mut v: Vec<(NodeId, PodId)> = Vec::new();
        for s in self.services.iter() {
            self.on_from.push(self.on_nodes.len() as u32);
            v.clear();
            // The compact records (`index_pods` ran first): a pod's node and readiness without
            // reading its whole record.
            v.extend(s.endpoints.iter().map(|p| (self.pod_nodes[p.index()], *p)));
            v.sort_by_key(|(n, _)| *n); // stable: pod order within a node
            for run in v.chunk_by(|a, b| a.0 == b.0) {
                let from = self.node_endpoints.len() as u32;
                self.node_endpoints.extend(run.iter().map(|(_, p)| *p));
                let on = OnNode {
                    from,
                    len: run.len() as u32,
                    ready: ready_among(&self.pod_ready_bits, &self.node_endpoints[from as usize..]),
                    first: run[0].1,
                };
                self.on_nodes.push(on);
                self.on_node_ids.push(run[0].0);
            }
        }
        self.on_from.push(self.on_nodes.len() as u32);
    }
}

/// Whether pod `p` is ready, by its bit in `Cluster::pod_ready_bits`.
fn ready_bit(bits: &[u64], p: PodId) -> bool {
    let i = p.index();
    bits[i / 64] & (1 << (i % 64)) != 0
}

/// How many of `among` are ready, by their bits in `Cluster::pod_ready_bits`.
fn ready_among(bits: &[u64], among: &[PodId]) -> u32 {
    among.iter().filter(|p| ready_bit(bits, **p)).count() as u32
}
