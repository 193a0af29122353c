//! Failures and recoveries inside a run: what each scenario event does to the fabric, the nodes
//! and the live connections at once, and the control-plane reactions it schedules (their delays
//! come from `failure.rs`).
//!
//! | target | at once | later |
//! |---|---|---|
//! | `node:` | the node and its conntrack state are gone | each design's detection timers |
//! | `leaf:`, `spine:` | vPC and ECMP move to the others (immediate reconvergence); a rack with no live leaf cuts its nodes off | as a node failure for the nodes cut off |
//! | `uplink:NODE/LEAF` | LACP moves the node's traffic to its other link; nothing breaks; with no link left the node is cut off | as a node failure when cut off |
//! | `bgp:NODE/LEAF` | nothing: the node still forwards | the hold timer withdraws that session's routes |
//! | `speaker:NODE` | the node still forwards; without graceful restart its sessions close and its routes go at once | with graceful restart the fabric keeps them (stale) for the restart time |
//! | `controller:aci-containers-controller` | nothing: the programmed fabric keeps forwarding | ACI-CNI's redirect-policy updates wait for its return (IP SLA, run by the fabric, still acts) |

use super::failure::{Control, Pending, Record};
use super::queue::{Event, EventQueue};
use super::world::Run;
use crate::cluster::NodeId;
use crate::design::DesignSpec;
use crate::design::compiled::Plane;
use crate::design::control::{Applied, Step, Subject};
use crate::scenario::reference::{Display, Ref};
use crate::scenario::{EventKind, Scenario};
use crate::time::Nanos;
use std::collections::BTreeMap;

/// The thing whose fail/recover counter a reaction is checked against.
#[derive(Clone, Copy)]
enum EpochKey {
    Session(NodeId, crate::fabric::LeafId),
    Speaker(NodeId),
    Node(NodeId),
}

/// What a failure acts on, at one instant (`pre`: the recent new-connection success ratio).
pub(super) struct Ctx<'c, 'p> {
    pub run: &'c mut Run,
    pub plane: &'c mut Plane<'p>,
    pub q: &'c mut EventQueue,
    pub now: Nanos,
    pub pre: Option<f64>,
}

/// The failure state of a run and the record of what each failure did.
#[derive(Clone)]
pub(super) struct Outages<'a> {
    s: &'a Scenario,
    design: &'a DesignSpec,
    pub records: Vec<Record>,
    pending: Vec<Pending>,
    /// Fail/recover counters: a scheduled reaction of an earlier fail or recover is dropped once
    /// a newer one happened (a flap shorter than a timer must not fire the timer).
    node_epoch: Vec<u32>,
    speaker_epoch: Vec<u32>,
    session_epoch: BTreeMap<(NodeId, crate::fabric::LeafId), u32>,
    /// The epoch each pending reaction was scheduled under.
    pending_epoch: Vec<u32>,
    /// Nodes failed by a `node:` event (a node is up when not failed and reachable).
    node_failed: Vec<bool>,
}

impl<'a> Outages<'a> {
    pub fn new(s: &'a Scenario, design: &'a DesignSpec) -> Self {
        Outages {
            s,
            design,
            records: Vec::new(),
            pending: Vec::new(),
            node_epoch: vec![0; s.cluster.nodes.len()],
            speaker_epoch: vec![0; s.cluster.nodes.len()],
            session_epoch: BTreeMap::new(),
            pending_epoch: Vec::new(),
            node_failed: vec![false; s.cluster.nodes.len()],
        }
    }

    /// Failures in progress: refusals count against them.
    /// The record just opened is the failure of `device`.
    fn mark_device(&mut self, up: bool, device: crate::dataplane::Device) {
        if let Some(f) = self.records.last_mut().filter(|_| !up) {
            f.device = Some(device);
        }
    }

    /// The failure a refusal now is attributed to (`failure::owner`).
    pub fn owner(&mut self, dropped_at: Option<crate::dataplane::Device>) -> Option<&mut Record> {
        super::failure::owner(&mut self.records, dropped_at)
    }

    /// The counter a reaction belongs to: its session's, its speaker's or its node's.
    fn epoch_key(p: &Pending) -> EpochKey {
        match (p.action.subject(), p.leaf) {
            (Subject::Session, Some(l)) => EpochKey::Session(p.node, l),
            (Subject::Speaker, _) => EpochKey::Speaker(p.node),
            _ => EpochKey::Node(p.node),
        }
    }

    fn epoch(&self, p: &Pending) -> u32 {
        match Self::epoch_key(p) {
            EpochKey::Session(n, l) => self.session_epoch.get(&(n, l)).copied().unwrap_or(0),
            EpochKey::Speaker(n) => self.speaker_epoch[n.index()],
            EpochKey::Node(n) => self.node_epoch[n.index()],
        }
    }

    /// A newer fail or recover of `key`: the reactions scheduled before it are dropped.
    fn bump(&mut self, key: EpochKey) {
        match key {
            EpochKey::Session(n, l) => *self.session_epoch.entry((n, l)).or_insert(0) += 1,
            EpochKey::Speaker(n) => self.speaker_epoch[n.index()] += 1,
            EpochKey::Node(n) => self.node_epoch[n.index()] += 1,
        }
    }

    fn schedule(&mut self, q: &mut EventQueue, now: Nanos, delay: Nanos, p: Pending) {
        self.pending_epoch.push(self.epoch(&p));
        self.pending.push(p);
        q.push(
            now.saturating_add(delay),
            Event::Control {
                pending: self.pending.len() as u32 - 1,
            },
        );
    }

    /// Opens the record of a failure of `target`, or closes the open ones on its recovery.
    fn open_or_close(
        &mut self,
        target: String,
        node: Option<NodeId>,
        up: bool,
        now: Nanos,
        pre: Option<f64>,
    ) {
        if up {
            self.close(&target, now);
        } else {
            self.records.push(Record::new(node, target, now, 0, pre));
        }
    }

    /// The open records of `target` end: it is back at `now`.
    fn close(&mut self, target: &str, now: Nanos) {
        for f in self
            .records
            .iter_mut()
            .filter(|f| f.active && f.target == target)
        {
            f.active = false;
            f.recovered_at = Some(now);
        }
    }

    /// Scenario event `index` happens at `cx.now`.
    // Long: one arm per failure target (node, session, spine, leaf, uplink, speaker,
    // controller); what each does at once.
    pub fn on_event(&mut self, cx: &mut Ctx, index: usize) {
        let (now, pre) = (cx.now, cx.pre);
        let ev = &self.s.events[index];
        let up = matches!(ev.kind, EventKind::Recover);
        let target = Display(&ev.target, &cx.run.fabric, &cx.run.cluster).to_string();
        match ev.target {
            Ref::Node(n) => {
                self.node_failed[n.index()] = !up;
                let want = self.should_be_up(cx.run, n);
                self.set_node(cx, n, want);
            }
            Ref::Session { node, leaf } => {
                // The node stays up: its routes over this session go when the hold timer
                // expires; nothing is blackholed meanwhile.
                self.open_or_close(target, Some(node), up, now, pre);
                self.mark_inert(up, &ev.target);
                self.bump(EpochKey::Session(node, leaf));
                for (delay, action) in self.design.session_reactions(up) {
                    let p = Pending {
                        node,
                        leaf: Some(leaf),
                        action,
                    };
                    self.schedule(cx.q, now, delay, p);
                }
            }
            Ref::Spine(sp) => {
                cx.run.fabric.set_spine_up(sp, up);
                self.open_or_close(target, None, up, now, pre);
                self.mark_device(up, crate::dataplane::Device::Spine(sp));
            }
            Ref::Leaf(l) => {
                cx.run.fabric.set_leaf_up(l, up);
                self.open_or_close(target, None, up, now, pre);
                self.mark_device(up, crate::dataplane::Device::Leaf(l));
                if cx.plane.fabric_changed(&cx.run.fabric, &cx.run.cluster) {
                    let n = cx.run.break_moved(cx.plane);
                    if let Some(f) = self.records.last_mut() {
                        f.broken_rehash += n;
                    }
                }
                // A rack whose last leaf failed (or first came back) takes its nodes with it.
                let rack = cx.run.fabric.leaf(l).rack;
                let cut: Vec<NodeId> = (0..cx.run.cluster.nodes.len() as u32)
                    .map(NodeId)
                    .filter(|n| cx.run.cluster.node(*n).rack == rack)
                    .collect();
                for n in cut {
                    let want = self.should_be_up(cx.run, n);
                    self.set_node(cx, n, want);
                }
            }
            Ref::Uplink { node, leaf } => {
                let rack = cx.run.cluster.node(node).rack;
                let position = cx.run.fabric.racks[rack.index()]
                    .leaves
                    .iter()
                    .position(|l| *l == leaf)
                    .unwrap_or(0);
                let bit = 1u8.checked_shl(position as u32).unwrap_or(0);
                cx.run.cluster.set_uplink_down(node, bit, !up);
                let is_up = cx.run.cluster.node_up(node);
                let want = self.should_be_up(cx.run, node);
                self.open_or_close(target, Some(node), up, now, pre);
                if want == is_up {
                    // The bond moves the flows to the other link (LACP sees the link go within
                    // a second: taken as immediate); no state lives in the leaves, so nothing
                    // breaks. BGP sessions to that leaf stay up across the L3Out's external
                    // bridge domain, so no route changes either.
                    if !up && let Some(f) = self.records.last_mut() {
                        f.reactions.push((now, Control::BondFailover));
                    }
                } else {
                    self.set_node(cx, node, want);
                }
            }
            Ref::Speaker(node) => self.speaker(cx, node, up, target),
            Ref::Controller => {
                self.open_or_close(target.clone(), None, up, now, pre);
                if let Some(f) = self.records.last_mut().filter(|_| !up) {
                    f.control_plane = true;
                }
                self.mark_inert(up, &ev.target);
                let Some((reaction, changed)) = cx.plane.controller(&cx.run.cluster, up) else {
                    return; // the design has no controller
                };
                // Down: the record just opened; back: the failure it ends.
                let record = if up {
                    self.records.iter_mut().rev().find(|f| f.target == target)
                } else {
                    self.records.last_mut()
                };
                if let Some(f) = record {
                    f.reactions.push((now, reaction));
                }
                if changed {
                    let n = cx.run.break_moved(cx.plane);
                    if let Some(f) = self.records.iter_mut().rev().find(|f| f.target == target) {
                        f.broken_rehash += n;
                    }
                }
            }
            _ => {}
        }
    }

    /// Up unless failed itself or cut off from every leaf of its rack.
    fn should_be_up(&self, run: &Run, node: NodeId) -> bool {
        let (rack, down) = run.cluster.node_links(node);
        !self.node_failed[node.index()] && run.fabric.node_leaves(rack, down).next().is_some()
    }

    /// The failure just opened changes nothing under this design: say why.
    fn mark_inert(&mut self, up: bool, target: &Ref) {
        if let Some(why) = self.design.inert(target)
            && let Some(f) = self.records.last_mut().filter(|_| !up)
        {
            f.inert = Some(why);
        }
    }

    /// A node's BGP speaker stops (or starts again); the node keeps forwarding.
    fn speaker(&mut self, cx: &mut Ctx, node: NodeId, up: bool, target: String) {
        let (now, pre) = (cx.now, cx.pre);
        self.open_or_close(target, Some(node), up, now, pre);
        self.mark_inert(up, &Ref::Speaker(node));
        self.bump(EpochKey::Speaker(node));
        for step in cx.plane.speaker(node, up) {
            match step {
                Step::Note(c) => {
                    if let Some(f) = self.records.last_mut() {
                        f.reactions.push((now, c));
                    }
                }
                Step::Now(c) => self.apply(cx.run, cx.plane, now, node, None, c),
                Step::After(delay, action) => {
                    let p = Pending {
                        node,
                        leaf: None,
                        action,
                    };
                    self.schedule(cx.q, now, delay, p);
                }
            }
        }
    }

    /// A node fails (`up` false) or comes back: at once, and its design's reactions later.
    fn set_node(&mut self, cx: &mut Ctx, node: NodeId, up: bool) {
        let (now, pre) = (cx.now, cx.pre);
        if cx.run.cluster.node_up(node) == up {
            return;
        }
        cx.run.cluster.set_node_up(node, up);
        self.bump(EpochKey::Node(node));
        if up {
            self.close(&cx.run.cluster.node_ref(node), now);
        } else {
            let broken = cx.run.break_on_node(cx.plane, node);
            self.records.push(Record::new(
                Some(node),
                cx.run.cluster.node_ref(node),
                now,
                broken,
                pre,
            ));
            self.mark_device(false, crate::dataplane::Device::Node(node));
        }
        for (delay, action) in self.design.node_reactions(self.s, up) {
            let p = Pending {
                node,
                leaf: None,
                action,
            };
            self.schedule(cx.q, now, delay, p);
        }
    }

    /// A scheduled reaction `index` takes effect at `now`, unless it has become moot.
    pub fn on_control(&mut self, run: &mut Run, plane: &mut Plane, now: Nanos, index: usize) {
        let Pending { node, leaf, action } = self.pending[index];
        if self.pending_epoch[index] != self.epoch(&self.pending[index]) {
            return; // a newer fail or recover of the same thing superseded it
        }
        if plane.moot(action, node, run.cluster.node_up(node)) {
            return;
        }
        if let Some(implied) = plane.implies(action, node) {
            // e.g. a node that boots starts its speaker too, whatever stopped it before.
            let p = Pending {
                node,
                leaf,
                action: implied,
            };
            self.bump(Self::epoch_key(&p));
            self.apply(run, plane, now, node, None, implied);
        }
        self.apply(run, plane, now, node, leaf, action);
    }

    fn apply(
        &mut self,
        run: &mut Run,
        plane: &mut Plane,
        now: Nanos,
        node: NodeId,
        leaf: Option<crate::fabric::LeafId>,
        action: Control,
    ) {
        if let Some(ready) = action.readiness() {
            // Kubernetes marks the endpoints; the nodes' own agents follow at once.
            run.cluster.set_ready_on(node, ready);
        }
        let applied = plane.control(&run.fabric, &run.cluster, action, node, leaf);
        if let Some(f) = self.records.iter_mut().rev().find(|f| f.node == Some(node)) {
            f.reactions.push((
                now,
                match applied {
                    // The redirect policy waits for the controller to come back.
                    Applied::Deferred => Control::GraphUpdateDeferred,
                    _ => action,
                },
            ));
        }
        if applied == Applied::Changed {
            // Connections the change moves to another node lose their conntrack state.
            let n = run.break_moved(plane);
            if let Some(f) = self.records.iter_mut().rev().find(|f| f.node == Some(node)) {
                f.broken_rehash += n;
            }
        }
    }
}
