//! The node kernel's NAT port search through the whole engine, against oracles outside it:
//! Erlang-B for an ideal allocator; an independent, minimal simulation of one chunk searched the
//! way `nf_nat_l4proto_unique_tuple` describes it (rounds of 128, 64, 32, 16, 8 consecutive
//! ports from random offsets); Erlang-B on the lifetime alone for Linux ≥ 6.5, whose new TCP
//! connections take over TIME_WAIT entries under pressure (`nf_nat_used_tuple_harder`).
//! One node, one SNAT IP, the default 3000-port chunk, one destination, lifetime 5 s
//! (exponential), TIME_WAIT 120 s.

mod common;
use common::*;
use fabsim::sim::engine;
use fabsim::time::Nanos;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

const CHUNK: usize = 3000;
const LIFETIME_S: f64 = 5.0;
const TIME_WAIT_S: f64 = 120.0;

fn erlang_b(c: u32, a: f64) -> f64 {
    (1..=c).fold(1.0, |b, k| a * b / (k as f64 + a * b))
}

/// The engine's SNAT-refused fraction over `seeds` seeds: (mean, standard error).
fn engine_refused(rate: f64, kernel: &str, search: &str, seeds: u64) -> (f64, f64) {
    let xs: Vec<f64> = (1..=seeds)
        .map(|seed| {
            let s = load_text(&format!(
                "name: kernel
seed: {seed}
duration: 3000s
fabric:
  spines: [201]
  racks: [{{ id: 1, leaves: [101, 102], border: true, nodes: [n1] }}]
  external: [{{ name: internet, prefix: 0.0.0.0/0 }}]
cluster:
  namespaces: [{{ name: a }}]
  deployments: [{{ name: job, namespace: a, replicas: 1, labels: {{ app: job }} }}]
designs:
  - name: aci-cni
    cni: aci-cni
    net_config: {{ node_subnet: 10.32.0.1/16, pod_subnet: 10.33.0.1/16, extern_dynamic: 10.34.0.1/24, node_svc_subnet: 10.36.0.1/24 }}
    snat_policies: [{{ name: p, snat_ip: [10.20.30.1] }}]
traffic:
  - {{ name: out, from: 'deployment:a/job', to: '1.1.1.1:443/tcp', arrivals: {{ poisson: {rate}/s }}, duration: {{ exponential: {LIFETIME_S}s }} }}
conntrack: {{ time_wait: {TIME_WAIT_S}s, node_kernel: '{kernel}', nat_port_search: {search} }}
"
            ));
            let c = engine::run(&s, &s.designs[0], Nanos::from_secs(10))
                .unwrap()
                .connections;
            c.refused.get("snat-port-exhausted").copied().unwrap_or(0) as f64 / c.attempted as f64
        })
        .collect();
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let sd = (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    (m, sd / n.sqrt())
}

/// A minimal simulation of one chunk, written from the kernel's description and sharing no
/// code with fabsim: Poisson arrivals, holding = Exp(lifetime) + TIME_WAIT, each arrival probes
/// rounds of 128, 64, 32, 16, 8 consecutive ports (wrapping) from fresh random offsets and is
/// refused if all are busy. Returns the refused fraction after a warm-up.
fn oracle_refused(rate: f64, seed: u64, arrivals: usize) -> f64 {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let gap = Exp::new(rate).unwrap();
    let life = Exp::new(1.0 / LIFETIME_S).unwrap();
    let mut busy = vec![false; CHUNK];
    let mut frees: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let (mut t, mut refused, mut counted) = (0.0f64, 0u64, 0u64);
    let warmup = arrivals / 5;
    for i in 0..arrivals {
        t += gap.sample(&mut rng);
        let now = (t * 1e9) as u64;
        while let Some(Reverse((at, p))) = frees.peek().copied() {
            if at > now {
                break;
            }
            frees.pop();
            busy[p] = false;
        }
        let mut got = None;
        'rounds: for round in [128usize, 64, 32, 16, 8] {
            let start = rng.random_range(0..CHUNK);
            for k in 0..round {
                let p = (start + k) % CHUNK;
                if !busy[p] {
                    got = Some(p);
                    break 'rounds;
                }
            }
        }
        if i >= warmup {
            counted += 1;
        }
        match got {
            Some(p) => {
                busy[p] = true;
                let hold = life.sample(&mut rng) + TIME_WAIT_S;
                frees.push(Reverse((now + (hold * 1e9) as u64, p)));
            }
            None if i >= warmup => refused += 1,
            None => {}
        }
    }
    refused as f64 / counted as f64
}

/// Offered load A = λ · (lifetime + TIME_WAIT) = 3000 erlangs on 3000 ports: B(3000, 3000) =
/// 0.0144. An ideal allocator matches it; the kernel's bounded search refuses more (the last
/// free ports hide from 248 probes), as much as the independent oracle does; Linux 6.5's
/// eviction makes TIME_WAIT ports available again, leaving Erlang-B on the lifetime alone:
/// B(3000, 24 × 5 = 120) ≈ 0.
#[test]
fn refusal_at_3000_ports_under_each_kernel() {
    let rate = 24.0;
    let a = rate * (LIFETIME_S + TIME_WAIT_S);
    let b = erlang_b(CHUNK as u32, a);
    assert!((b - 0.0144).abs() < 0.0005, "{b}");

    let (whole, se) = engine_refused(rate, "5.15", "whole-range", 8);
    assert!(
        (whole - b).abs() < 3.0 * se + 0.002,
        "whole range {whole} ± {se} vs Erlang-B {b}"
    );

    let (bounded, se) = engine_refused(rate, "5.15", "kernel", 8);
    let oracle: f64 = (1..=4)
        .map(|s| oracle_refused(rate, s, 150_000))
        .sum::<f64>()
        / 4.0;
    assert!(bounded > 1.5 * b, "bounded {bounded} vs Erlang-B {b}");
    assert!(
        (bounded - oracle).abs() < 3.0 * se + 0.003,
        "bounded {bounded} ± {se} vs oracle {oracle}"
    );

    eprintln!(
        "A = {a}: Erlang-B {b:.4}, whole range {whole:.4}, bounded {bounded:.4} ± {se:.4}, oracle {oracle:.4}"
    );
    let (evict, _) = engine_refused(rate, "6.8", "kernel", 4);
    assert!(
        evict < erlang_b(CHUNK as u32, rate * LIFETIME_S) + 1e-4,
        "6.5+ {evict}"
    );
}
