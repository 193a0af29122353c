//! Properties of the ACI-CNI data plane over random small clusters (DESIGN.md invariants):
//! every reply reaches the pod that opened the connection; no two live connections share a NAT
//! tuple; every SNAT port lies in the chunk of the node that used it; a full chunk refuses.

mod common;
use common::*;
use fabsim::dataplane::request::{FlowRequest, Source, Target};
use fabsim::dataplane::{Count, Reason, Record, Verdict};
use fabsim::design::aci_cni::AciState;
use fabsim::design::aci_cni::walk::AciWalk;
use fabsim::nat::conntrack::NatTable;
use fabsim::net::Proto;
use fabsim::scenario::Scenario;
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

fn scenario(
    racks: usize,
    nodes_per_rack: usize,
    replicas: usize,
    ppn: u32,
    snat_ips: usize,
) -> Scenario {
    let mut y = String::from("name: prop\nfabric:\n  spines: [201, 202]\n  racks:\n");
    for r in 0..racks {
        let border = if r == 0 { ", border: true" } else { "" };
        y += &format!(
            "    - {{ id: {}, leaves: [{}, {}]{border}, nodes: {{ count: {nodes_per_rack}, prefix: r{r}n }} }}\n",
            r + 1,
            101 + 2 * r,
            102 + 2 * r
        );
    }
    y += "  external: [{ name: internet, prefix: 0.0.0.0/0 }]\ncluster:\n  namespaces: [{ name: a }]\n  deployments:\n";
    y += &format!(
        "    - {{ name: job, namespace: a, replicas: {replicas}, labels: {{ app: job }} }}\n"
    );
    y += "designs:\n  - name: aci-cni\n    cni: aci-cni\n";
    y += "    net_config: { node_subnet: 10.32.0.1/16, pod_subnet: 10.33.0.1/16, extern_dynamic: 10.34.0.1/24, node_svc_subnet: 10.36.0.1/24 }\n";
    y += &format!(
        "    kube_config: {{ allow_pods_external_access: true, snat_operator: {{ port_range: {{ start: 5000, end: 65000, ports_per_node: {ppn} }} }} }}\n"
    );
    let ips: Vec<String> = (0..snat_ips)
        .map(|i| format!("10.20.30.{}", i + 1))
        .collect();
    y += &format!(
        "    snat_policies: [{{ name: p, snat_ip: [{}], selector: {{ labels: {{ app: job }} }} }}]\n",
        ips.join(", ")
    );
    load_text(&y)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn replies_reach_their_pod_and_nat_tuples_are_unique(
        racks in 1usize..4,
        per_rack in 1usize..5,
        replicas in 1usize..16,
        ppn in prop::sample::select(vec![4u32, 16, 3000]),
        snat_ips in 1usize..3,
        conns in prop::collection::vec((any::<u16>(), 0u8..3, any::<u16>(), any::<bool>()), 1..150),
    ) {
        let s = scenario(racks, per_rack, replicas, ppn, snat_ips);
        let cfg = s.designs[0].aci().unwrap();
        let state = AciState::compile(&s.cluster, cfg);
        let walker = AciWalk::new(&s.fabric, &s.cluster, &state);
        let mut nat = NatTable::default();
        let mut tuples = BTreeSet::new();
        let mut live_per_chunk_dest = std::collections::BTreeMap::new();
        for (i, (pick, dst, sport, udp)) in conns.iter().enumerate() {
            let pod = fabsim::cluster::PodId((*pick as usize % s.cluster.pods.len()) as u32);
            let req = FlowRequest {
                src: Source::Pod(pod),
                // Low source ports collide often: the allocator must search.
                sport: 1024 + sport % 64,
                dst: Target::Ip { ip: Ipv4Addr::new(1, 1, 1, 1 + dst), port: 443 },
                proto: if *udp { Proto::Udp } else { Proto::Tcp },
            };
            // Walk with the full recorder for some, the counting one for the rest: same outcome.
            let o = if i % 2 == 0 {
                let mut rec = Record::default();
                let o = walker.walk(&req, &mut nat, &mut rec);
                if o.verdict == Verdict::Delivered {
                    prop_assert_eq!(rec.ret.last().unwrap().device, fabsim::dataplane::Device::Pod(pod));
                    prop_assert_eq!(rec.ret.last().unwrap().dst, o.flow.src);
                }
                o
            } else {
                walker.walk(&req, &mut nat, &mut Count::default())
            };
            match o.verdict {
                Verdict::Delivered => {
                    prop_assert_eq!(o.pod, Some(pod), "the reply reaches the pod that opened the connection");
                    if let Some(b) = o.snat {
                        prop_assert!(tuples.insert((req.proto, b.ip, b.port, b.remote)), "NAT tuple used twice: {:?}", b);
                        let node = s.cluster.pod(pod).node;
                        let (owner, chunk) = state.snat.owner_of(b.ip, b.port).expect("port in an allocated chunk");
                        prop_assert_eq!(owner, node);
                        prop_assert!(chunk.contains(b.port));
                        *live_per_chunk_dest.entry((b.ip, chunk.start, b.remote, req.proto)).or_insert(0u32) += 1;
                    }
                }
                Verdict::Dropped => {
                    // Only a full chunk may refuse here, and only when the chunk is really full.
                    prop_assert_eq!(o.reason, Reason::SnatPortExhausted);
                    let node = s.cluster.pod(pod).node;
                    let alloc = state.snat.by_node[&(node, 0)];
                    let used = live_per_chunk_dest.get(&(alloc.ip, alloc.chunk.start, req.dst_endpoint(), req.proto)).copied().unwrap_or(0);
                    prop_assert_eq!(used, alloc.chunk.len());
                }
                Verdict::Unsupported => prop_assert!(false, "tcp/udp are supported"),
            }
        }
        prop_assert_eq!(nat.in_use(), tuples.len());
    }
}

trait DstEndpoint {
    fn dst_endpoint(&self) -> fabsim::net::Endpoint;
}

impl DstEndpoint for FlowRequest {
    fn dst_endpoint(&self) -> fabsim::net::Endpoint {
        match self.dst {
            Target::Ip { ip, port } => fabsim::net::Endpoint::new(ip, port),
            _ => unreachable!(),
        }
    }
}
