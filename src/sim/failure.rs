//! How each design reacts to a node failure or recovery, with its real timers (FACTS.md):
//!
//! | design | data plane at failure | control plane |
//! |---|---|---|
//! | Calico, kube-router, Cilium | traffic the fabric still sends to the node is blackholed | BGP hold timer (the lower of both sides', 3 s in the ACI design) → routes withdrawn, ECMP rehashes (hash-threshold) |
//! | ACI-CNI | traffic PBR still redirects to the node is blackholed | SNAT graph: IP SLA tracking, 3 × service_monitor_interval (5 s → 15 s); LoadBalancer graphs: the same with pbr_tracking_non_snat, else the endpoint update after the node-monitor grace period |
//! | all | | after the grace period (40 s) the node's pods stop being endpoints |
//!
//! Live connections (a table in the report's assumptions): those served by, NATed on, or with a
//! pod on the failed node break at once ("node-failed"); ACI-CNI SNAT connections whose replies
//! PBR lands on the failed node lose them ("reply-blackholed"). When a reaction moves a
//! LoadBalancer connection to another node, it breaks ("rehashed": the new node has no conntrack
//! entry; the BGP designs' ECMP has no resilient hashing, ACI-CNI's PBR keeps other flows in place
//! when resilient). SNAT replies that move to another landing node survive (the bounce). Recovery:
//! BGP sessions and the SNAT graph come back at once (one probe interval for IP SLA); pods are
//! ready again after kubelet's next status (10 s).

use crate::cluster::NodeId;

use crate::time::Nanos;

pub use crate::design::control::Control;

/// A scheduled reaction.
#[derive(Clone, Copy, Debug)]
pub struct Pending {
    pub node: NodeId,
    /// The leaf of a single BGP session's event.
    pub leaf: Option<crate::fabric::LeafId>,
    pub action: Control,
}

/// What one failure did.
#[derive(Clone, Debug)]
pub struct Record {
    /// The failed node (`None` for a leaf or a spine).
    pub node: Option<NodeId>,
    pub target: String,
    pub at: Nanos,
    pub broken_at_failure: u64,
    pub broken_rehash: u64,
    pub blackholed: u64,
    pub refused_during: u64,
    pub reactions: Vec<(Nanos, Control)>,
    pre_ratio: f64,
    dipped: bool,
    pub ratio_back_after: Option<Nanos>,
    pub active: bool,
    pub recovered_at: Option<Nanos>,
    /// Why this failure cannot change anything for the design (the BGP designs and the
    /// ACI-CNI controller), said in the report.
    pub inert: Option<&'static str>,
    /// A control-plane failure (the controller): while a data-plane failure is active too, the
    /// refusals are that one's (see [`owner`]).
    pub control_plane: bool,
    /// Another failure that was active at the same time (set at the end of the run).
    pub overlapped_by: Option<String>,
    /// The failed device itself (a node, leaf or spine), to which a drop there is attributed.
    pub device: Option<crate::dataplane::Device>,
}

/// Marks each failure that overlapped another in time (`end`: the run's end for the ones never
/// recovered): its attributed figures may then be the other's.
pub fn mark_overlaps(records: &mut [Record], end: Nanos) {
    let span = |f: &Record| (f.at, f.recovered_at.unwrap_or(end));
    for i in 0..records.len() {
        let (a0, a1) = span(&records[i]);
        let other = records.iter().enumerate().find(|(j, g)| {
            let (b0, b1) = span(g);
            *j != i && g.inert.is_none() && a0 < b1 && b0 < a1
        });
        records[i].overlapped_by = other.map(|(_, g)| g.target.clone());
    }
}

/// The one failure a refused connection is attributed to, so that the per-failure figures add
/// up to the design's total. Rule: the failed device the connection was dropped at (a node
/// blackholing, a leaf), when it is one of the active failures; else the most recent active
/// data-plane failure (node, leaf, spine, link, session, speaker); only when none is active, the
/// most recent active control-plane failure; never a failure the design does not depend on.
pub fn owner(
    records: &mut [Record],
    dropped_at: Option<crate::dataplane::Device>,
) -> Option<&mut Record> {
    // The failed device the connection was dropped at owns it, when one of the failures is it.
    if let Some(d) = dropped_at
        && let Some(i) = records
            .iter()
            .rposition(|f| f.active && f.inert.is_none() && f.device == Some(d))
    {
        return records.get_mut(i);
    }
    let pick = |records: &[Record], control: bool| {
        records
            .iter()
            .rposition(|f| f.active && f.inert.is_none() && f.control_plane == control)
    };
    let i = pick(records, false).or_else(|| pick(records, true))?;
    records.get_mut(i)
}

impl Record {
    pub fn new(
        node: Option<NodeId>,
        target: String,
        at: Nanos,
        broken: u64,
        pre_ratio: Option<f64>,
    ) -> Record {
        Record {
            node,
            target,
            at,
            broken_at_failure: broken,
            broken_rehash: 0,
            blackholed: 0,
            refused_during: 0,
            reactions: Vec::new(),
            pre_ratio: pre_ratio.unwrap_or(1.0),
            dipped: false,
            ratio_back_after: None,
            active: true,
            recovered_at: None,
            inert: None,
            control_plane: false,
            overlapped_by: None,
            device: None,
        }
    }

    /// It cannot matter to the design, or nothing was attributed to it and no other failure
    /// overlapped it (an overlapped one's own effect shows only against the run without it).
    pub fn changed_nothing(&self) -> bool {
        let none_attributed =
            self.refused_during == 0 && self.broken_at_failure == 0 && self.broken_rehash == 0;
        self.inert.is_some() || (none_attributed && self.overlapped_by.is_none())
    }

    /// Follows the new-connection success ratio after the failure: it dips, then comes back.
    pub fn sample(&mut self, now: Nanos, ratio: f64) {
        if now <= self.at || self.ratio_back_after.is_some() {
            return;
        }
        // Back within a point of the mean ratio of the ten samples before the failure.
        let back = ratio >= self.pre_ratio - 0.01;
        if !back {
            self.dipped = true;
        } else if self.dipped {
            self.ratio_back_after = Some(Nanos(now.0 - self.at.0));
        }
    }

    /// The record results.json holds.
    pub fn to_record(&self) -> super::metrics::FailoverRecord {
        let secs = |n: Nanos| n.as_secs_f64();
        let attributed = self.refused_during + self.broken_at_failure + self.broken_rehash;
        super::metrics::FailoverRecord {
            against_run_without: None,
            at_s: secs(self.at),
            blackholed: self.blackholed,
            broken_at_failure: self.broken_at_failure,
            broken_rehashed: self.broken_rehash,
            changed_nothing: self.changed_nothing(),
            detection_s: self
                .reactions
                .first()
                .map(|(t, _)| secs(Nanos(t.0 - self.at.0))),
            node_recovered_at_s: self.recovered_at.map(secs),
            overlapped_by: self.overlapped_by.clone(),
            reactions: self
                .reactions
                .iter()
                .map(|(t, a)| super::metrics::Reaction {
                    action: a.name(),
                    at_s: secs(*t),
                })
                .collect(),
            refused_while_failed: self.refused_during,
            // A failure that changed nothing has nothing to recover from.
            success_ratio_back_after_s: if self.dipped && !self.changed_nothing() && attributed > 0
            {
                self.ratio_back_after.map(secs)
            } else {
                Some(0.0)
            },
            target: self.target.clone(),
            why_nothing: self.inert,
        }
    }
}
