//! Criterion benchmarks: LPM classification (trie against the linear oracle), the PBR hash and
//! bucket choice, and whole walks on the shipped scenario.

mod brkdcn;

use criterion::{Criterion, criterion_group, criterion_main};
use fabsim::dataplane::{Count, Record};
use fabsim::design::aci_cni::AciState;
use fabsim::design::aci_cni::walk::AciWalk;
use fabsim::nat::conntrack::NatTable;
use fabsim::net::Proto;
use fabsim::net::buckets::HashGroup;
use fabsim::net::hash::{mix64, pbr_sip_dip_proto, salt};
use fabsim::net::lpm::{LinearLpm, LpmTable};
use ipnet::Ipv4Net;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::path::Path;

/// 1,000 external-EPG subnets (/16 … /32) plus 0.0.0.0/0, as a large L3Out might carry.
fn prefixes() -> Vec<Ipv4Net> {
    let mut v = vec!["0.0.0.0/0".parse().unwrap()];
    for i in 0..1000u64 {
        let a = mix64(i) as u32;
        let len = 16 + (mix64(i ^ 0xABCD) % 17) as u8;
        v.push(Ipv4Net::new(Ipv4Addr::from(a), len).unwrap().trunc());
    }
    v
}

fn lpm(c: &mut Criterion) {
    let ps = prefixes();
    let mut trie = LpmTable::new();
    let mut lin = LinearLpm::default();
    for (i, p) in ps.iter().enumerate() {
        trie.insert(*p, i);
        lin.insert(*p, i);
    }
    let probes: Vec<Ipv4Addr> = (0..1024u64)
        .map(|i| Ipv4Addr::from(mix64(i + 7) as u32))
        .collect();
    let mut g = c.benchmark_group("lpm_classify_1001_prefixes");
    g.bench_function("trie", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(trie.lookup(probes[i]))
        })
    });
    g.bench_function("linear_scan", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(lin.lookup(probes[i]))
        })
    });
    g.finish();
}

fn pbr(c: &mut Criterion) {
    let group = HashGroup::new((0..32u32).collect(), true);
    let s = salt("kube_svc_shop_web");
    c.bench_function("pbr_hash_and_bucket_choice_32_nodes", |b| {
        let mut i = 0u32;
        b.iter(|| {
            i = i.wrapping_add(1);
            let h = pbr_sip_dip_proto(
                s,
                Ipv4Addr::from(0xC0A8_6400 | (i & 0xFF)),
                Ipv4Addr::new(10, 34, 0, 2),
                Proto::Tcp,
            );
            black_box(group.choose(h))
        })
    });
}

fn walks(c: &mut Criterion) {
    let s = brkdcn::scenario();
    let cfg = s.designs[0].aci().unwrap();
    c.bench_function("aci_compile_brkdcn_2663", |b| {
        b.iter(|| black_box(AciState::compile(&s.cluster, cfg)))
    });
    let state = AciState::compile(&s.cluster, cfg);
    let w = AciWalk::new(&s.fabric, &s.cluster, &state);
    let (lb, egress) = brkdcn::flows(&s);
    let mut g = c.benchmark_group("trace_walk");
    g.bench_function("lb_ingress_count", |b| {
        b.iter(|| black_box(w.walk(&lb, &mut NatTable::default(), &mut Count::default())))
    });
    g.bench_function("lb_ingress_record", |b| {
        b.iter(|| black_box(w.walk(&lb, &mut NatTable::default(), &mut Record::default())))
    });
    g.bench_function("snat_egress_bounce_count", |b| {
        b.iter(|| black_box(w.walk(&egress, &mut NatTable::default(), &mut Count::default())))
    });
    g.bench_function("snat_egress_bounce_record", |b| {
        b.iter(|| black_box(w.walk(&egress, &mut NatTable::default(), &mut Record::default())))
    });
    g.finish();
}

/// The Kubernetes scalability envelope (FACTS §3): 5,000 nodes, 150,000 pods, here in 100 racks of
/// 50 nodes, 100 deployments of 1,500 replicas behind 100 LoadBalancer services, one SNAT policy
/// with a /24 of SNAT IPs.
fn envelope_yaml() -> String {
    let mut y = String::from("name: envelope\nfabric:\n  spines: [1, 2, 3, 4]\n  racks:\n");
    for r in 0..100 {
        let border = if r == 0 { ", border: true" } else { "" };
        y += &format!(
            "    - {{ id: {}, leaves: [{}, {}]{border}, nodes: {{ count: 50, prefix: r{r}-n }} }}\n",
            r + 1,
            1001 + 2 * r,
            1002 + 2 * r
        );
    }
    y += "  external: [{ name: internet, prefix: 0.0.0.0/0 }]\ncluster:\n  namespaces: [{ name: big }]\n  deployments:\n";
    for i in 0..100 {
        y += &format!(
            "    - {{ name: d{i}, namespace: big, replicas: 1500, labels: {{ app: d{i} }} }}\n"
        );
    }
    y += "  services:\n";
    for i in 0..100 {
        y += &format!(
            "    - {{ name: s{i}, namespace: big, type: LoadBalancer, selector: {{ app: d{i} }}, ports: [{{ port: 80 }}] }}\n"
        );
    }
    y += "designs:\n  - name: aci-cni\n    cni: aci-cni\n";
    y += "    net_config: { node_subnet: 10.32.0.1/16, pod_subnet: 10.64.0.1/11, extern_dynamic: 10.34.0.1/24, node_svc_subnet: 10.36.0.1/19 }\n";
    y += "    kube_config: { add_external_contract_to_default_epg: true }\n    snat_policies: [{ name: all, snat_ip: [10.20.0.0/24] }]\n";
    y
}

fn envelope(c: &mut Criterion) {
    let text = envelope_yaml();
    let file: std::sync::Arc<str> = std::sync::Arc::from("envelope.yaml");
    let load = || {
        fabsim::scenario::load_str(&file, &text, Path::new("."), Default::default())
            .scenario
            .expect("envelope loads")
    };
    let mut g = c.benchmark_group("envelope_5000_nodes_150000_pods");
    g.sample_size(10);
    g.bench_function("load_and_validate", |b| b.iter(|| black_box(load())));
    let s = load();
    let cfg = s.designs[0].aci().unwrap();
    g.bench_function("aci_compile", |b| {
        b.iter(|| black_box(AciState::compile(&s.cluster, cfg)))
    });
    g.finish();
}

/// `trace` after load on the shipped envelope (issue 15: ≤ 10 ms): the design's compile and
/// one recorded walk (an outside client to a LoadBalancer service), per design — what the command
/// does once the scenario is loaded.
fn trace_after_load(c: &mut Criterion) {
    let s = fabsim::scenario::load(Path::new("scenarios/scale-k8s-limits.yaml"))
        .scenario
        .expect("the envelope loads");
    let mut g = c.benchmark_group("trace_after_load_scale_k8s_limits");
    g.sample_size(10);
    for d in &s.designs {
        let q = fabsim::cli::trace::Query {
            design: &d.name,
            from: "external:clients",
            to: "service:apps/app7:443",
            proto: None,
            sport: None,
        };
        g.bench_function(d.name.as_str(), |b| {
            b.iter(|| black_box(fabsim::cli::trace::trace(&s, &q).expect("the flow walks")))
        });
    }
    g.finish();
}

fn engine(c: &mut Criterion) {
    use fabsim::sim::queue::{Event, EventQueue};
    use fabsim::time::Nanos;
    // Push/pop at a steady depth of 10,000 pending events (the connection table of a busy run).
    let mut q = EventQueue::default();
    for i in 0..10_000u64 {
        q.push(
            Nanos(mix64(i) % 1_000_000_000),
            Event::Close {
                conn: i as u32,
                generation: 0,
            },
        );
    }
    c.bench_function("event_queue_push_pop_depth_10000", |b| {
        let mut i = 0u64;
        b.iter(|| {
            let (t, e) = q.pop().unwrap();
            i += 1;
            q.push(Nanos(t.0 + mix64(i) % 1_000_000_000), e);
        })
    });
    let s = brkdcn::scenario();
    let mut g = c.benchmark_group("simulate_brkdcn_2663_300s");
    g.sample_size(10);
    for d in &s.designs {
        g.bench_function(d.name.as_str(), |b| {
            b.iter(|| black_box(fabsim::sim::engine::run(&s, d, Nanos::from_secs(1)).unwrap()))
        });
    }
    g.finish();
}

/// `size snat`: the Erlang-B inverse at the scale of the talk's numbers, one destination and ten.
fn sizing(c: &mut Criterion) {
    use fabsim::sizing::erlang::{ports_for_streams, servers_for};
    c.bench_function("erlang_b_inverse_2440_erlangs", |b| {
        b.iter(|| black_box(servers_for(black_box(2440.0), 1e-4, 60_000)))
    });
    let ten = [(0.1, 10)];
    c.bench_function("erlang_b_inverse_2440_erlangs_10_destinations", |b| {
        b.iter(|| black_box(ports_for_streams(black_box(2440.0), &ten, 1e-4, 60_000)))
    });
}

/// The reports: rendering the brkdcn-2663 report (tables, four SVG plots, HTML and Markdown).
/// One NAT port choice on a 3000-port chunk that is 99% full towards one destination (30 free
/// ports scattered), under each search: the worst case the engine meets near exhaustion.
fn nat_search(c: &mut Criterion) {
    use fabsim::nat::conntrack::NatTable;
    use fabsim::nat::kernel::PortSearch;
    use fabsim::net::{Endpoint, Flow, Proto};
    use std::net::Ipv4Addr;
    let nat_ip = Ipv4Addr::new(10, 20, 30, 1);
    let dst = Endpoint::new(Ipv4Addr::new(1, 1, 1, 1), 443);
    let flow = |sport: u16| Flow {
        proto: Proto::Tcp,
        src: Endpoint::new(Ipv4Addr::new(10, 33, 0, 2), sport),
        dst,
    };
    let mut g = c.benchmark_group("nat_port_search_3000_ports_99pct_full");
    for (name, search) in [
        ("whole_range", PortSearch::WholeRange),
        ("linux_5_15", PortSearch::Bounded),
        ("linux_6_8", PortSearch::BoundedEvict),
    ] {
        let mut t = NatTable::new(search, false);
        for p in 5000..8000u16 {
            if p % 100 != 7 {
                t.allocate(&flow(p), nat_ip, (p, p), 0, false);
            }
        }
        let mut sport = 40000u16;
        g.bench_function(name, |b| {
            b.iter(|| {
                sport = sport.wrapping_add(1).max(40000);
                let f = flow(sport);
                if let Some(p) = t.allocate(&f, nat_ip, (5000, 7999), 0, false) {
                    t.release(Proto::Tcp, nat_ip, dst, p);
                }
            })
        });
    }
    g.finish();
}

fn reports(c: &mut Criterion) {
    let s = brkdcn::scenario();
    let r = fabsim::sim::run_all(&s, &[], fabsim::time::Nanos::from_secs(1)).unwrap();
    c.bench_function("report_brkdcn_2663_render", |b| {
        b.iter(|| {
            let doc = fabsim::report::simulation::document(&s, &r).unwrap();
            black_box((doc.html(), doc.markdown()))
        })
    });
}

/// Validate on 100,000 problems (issue 13: it was quadratic in the number of problems — 17 s
/// for 100k unknown keys, 21 s for 40k duplicate racks): 100k unknown top-level keys, and 40k
/// racks with the same id.
fn validate_many_problems(c: &mut Criterion) {
    let keys: String = std::iter::once("name: x\n".to_string())
        .chain((0..100_000).map(|i| format!("k{i}: 1\n")))
        .collect();
    let racks: String = "name: x\nduration: 10s\nfabric:\n  spines: [1]\n  racks:\n".to_string()
        + &"    - { id: 1 }\n".repeat(40_000)
        + "cluster: {}\ndesigns: []\n";
    let file: std::sync::Arc<str> = std::sync::Arc::from("bench.yaml");
    let mut g = c.benchmark_group("validate_many_problems");
    g.sample_size(10);
    for (name, text) in [
        ("unknown_keys_100k", &keys),
        ("duplicate_racks_40k", &racks),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let loaded = fabsim::scenario::load_str(
                    &file,
                    text,
                    Path::new("."),
                    fabsim::scenario::diag::Diagnostics::default(),
                );
                black_box(loaded.diagnostics.sorted().len())
            })
        });
    }
    g.finish();
}

/// Cilium's Maglev table (16,381 slots) for a service of 150 backends: built once per service
/// and backend set (1,000 of them on the envelope).
fn maglev(c: &mut Criterion) {
    let salts: Vec<u64> = (0..150u64).map(|i| mix64(i * 7919)).collect();
    c.bench_function("maglev_populate_150_backends_16381", |b| {
        b.iter(|| {
            black_box(fabsim::design::bgp::maglev::Maglev::from_salts(
                &salts, 16381,
            ))
        })
    });
}

criterion_group!(
    benches,
    maglev,
    lpm,
    pbr,
    walks,
    envelope,
    trace_after_load,
    engine,
    sizing,
    nat_search,
    reports,
    validate_many_problems
);
criterion_main!(benches);
