//! `trace` output: a recorded walk rendered as JSON (DESIGN.md "Trace output") or as a numbered
//! walk a network engineer reads next to the seed's slides.

use super::{Device, Hop, Outcome, Record};
use crate::cluster::Cluster;
use crate::fabric::Fabric;
use serde::Serialize;
use std::fmt::Write;

#[derive(Serialize)]
pub struct JsonFlow {
    pub proto: String,
    pub src: String,
    pub dst: String,
}

#[derive(Serialize)]
pub struct JsonHop {
    pub device: String,
    pub action: &'static str,
    pub detail: String,
    pub src: String,
    pub dst: String,
}

#[derive(Serialize)]
pub struct JsonTrace {
    pub design: String,
    pub flow: JsonFlow,
    pub verdict: &'static str,
    pub reason: String,
    pub forward: Vec<JsonHop>,
    #[serde(rename = "return")]
    pub ret: Vec<JsonHop>,
}

/// A device as references name it.
pub fn device_name(d: &Device, fabric: &Fabric, cluster: &Cluster) -> String {
    match d {
        Device::Pod(p) => cluster.pod_ref(*p),
        Device::Node(n) => cluster.node_ref(*n),
        Device::Leaf(l) => fabric.leaf_name(*l),
        Device::Spine(s) => fabric.spine_name(*s),
        Device::External(Some(e), _) => format!("external:{}", fabric.externals[e.index()].name),
        Device::External(None, ip) => ip.to_string(),
    }
}

fn hop_json(h: &Hop, fabric: &Fabric, cluster: &Cluster) -> JsonHop {
    JsonHop {
        device: device_name(&h.device, fabric, cluster),
        action: h.action.as_str(),
        detail: h.detail.clone(),
        src: h.src.to_string(),
        dst: h.dst.to_string(),
    }
}

pub fn to_json(
    design: &str,
    o: &Outcome,
    rec: &Record,
    fabric: &Fabric,
    cluster: &Cluster,
) -> JsonTrace {
    // A walk that did not deliver ends with a drop hop: its detail is the reason in words.
    let drop = rec
        .forward
        .iter()
        .chain(&rec.ret)
        .find(|h| h.action == super::Action::Drop);
    let reason = match drop {
        Some(h) if o.verdict != super::Verdict::Delivered => format!("{}: {}", o.reason, h.detail),
        _ => o.reason.as_str().to_string(),
    };
    JsonTrace {
        design: design.to_string(),
        flow: JsonFlow {
            proto: o.flow.proto.to_string(),
            src: o.flow.src.to_string(),
            dst: o.flow.dst.to_string(),
        },
        verdict: o.verdict.as_str(),
        reason,
        forward: rec
            .forward
            .iter()
            .map(|h| hop_json(h, fabric, cluster))
            .collect(),
        ret: rec
            .ret
            .iter()
            .map(|h| hop_json(h, fabric, cluster))
            .collect(),
    }
}

/// The numbered walk.
pub fn to_text(t: &JsonTrace, latency: crate::time::Nanos) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "design {}: {} {} → {}",
        t.design, t.flow.proto, t.flow.src, t.flow.dst
    );
    if t.reason == t.verdict {
        let _ = writeln!(s, "verdict: {}", t.verdict);
    } else {
        let _ = writeln!(s, "verdict: {} ({})", t.verdict, t.reason);
    }
    let _ = writeln!(s, "fabric latency, request + reply: {latency}");
    let width = t
        .forward
        .iter()
        .chain(&t.ret)
        .map(|h| h.device.len())
        .max()
        .unwrap_or(0);
    let section = |title: &str, hops: &[JsonHop], s: &mut String| {
        if hops.is_empty() {
            return;
        }
        let _ = writeln!(s, "\n{title}");
        for (i, h) in hops.iter().enumerate() {
            let _ = writeln!(
                s,
                "{:>3}. {:<width$}  {:<12}  {} → {}",
                i + 1,
                h.device,
                h.action,
                h.src,
                h.dst
            );
            let _ = writeln!(s, "     {:<width$}  {}", "", h.detail);
        }
    };
    section("forward", &t.forward, &mut s);
    section("return", &t.ret, &mut s);
    s
}
