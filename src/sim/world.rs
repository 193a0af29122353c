//! The mutable world of one run: the fabric and the cluster as failures leave them, the
//! connection table with its counters, and the NAT bindings held through TIME_WAIT — what a
//! failure or a forwarding change breaks.

use super::conns::{Conn, State};
use super::metrics::{BreakReason, Connections};
use super::time_wait::TimeWait;
use crate::cluster::{Cluster, NodeId};
use crate::dataplane::request::Source;
use crate::design::compiled::Plane;
use crate::fabric::Fabric;

/// The mutable world of one run: the fabric and cluster as failures leave them, and the
/// connection table.
#[derive(Clone)]
pub(super) struct Run {
    pub fabric: Fabric,
    pub cluster: Cluster,
    pub(super) conns: Vec<Conn>,
    pub(super) free: Vec<u32>,
    pub(super) total: Connections,
    pub(super) per_gen: Vec<Connections>,
    pub(super) nat_per_node: Vec<u64>,
    /// Open connections per serving node.
    pub(super) active_per_node: Vec<u64>,
    /// NAT bindings of closed connections, held through TIME_WAIT.
    pub(super) time_wait: TimeWait,
}

impl Run {
    pub(super) fn break_conn(&mut self, plane: &mut Plane, i: usize, reason: BreakReason) {
        let c = &mut self.conns[i];
        c.set_state(State::Broken);
        let c = *c;
        self.total.break_for(reason);
        self.per_gen[c.generator as usize].break_for(reason);
        if let Some(n) = c.node() {
            self.active_per_node[n.index()] -= 1;
        }
        // The NAT state went with the connection (approximation: freed at once).
        if let Some(b) = c.binding() {
            plane.release(c.req.proto, &b);
            self.nat_per_node[b.node.index()] -= 1;
        }
        self.free.push(i as u32);
    }

    fn open(&self) -> impl Iterator<Item = usize> + '_ {
        self.conns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.state() == State::Open)
            .map(|(i, _)| i)
    }

    /// Breaks the open LoadBalancer connections that a forwarding change moved to another node.
    pub fn break_moved(&mut self, plane: &mut Plane) -> u64 {
        let moved: Vec<usize> = self
            .open()
            .filter(|i| {
                let c = &self.conns[*i];
                c.lb() && plane.lb_node(&self.fabric, &self.cluster, &c.req) != c.node()
            })
            .collect();
        let n = moved.len() as u64;
        for i in moved {
            self.break_conn(plane, i, BreakReason::Rehashed);
        }
        n
    }

    /// A node failed: connections served by, NATed on, or with a pod on it break now; ACI-CNI
    /// SNAT connections whose replies land there lose them until tracking notices.
    pub fn break_on_node(&mut self, plane: &mut Plane, node: NodeId) -> u64 {
        let victims: Vec<(usize, BreakReason)> = self
            .open()
            .filter_map(|i| {
                let c = &self.conns[i];
                let pod_node = c.pod().map(|p| self.cluster.pod_node(p));
                let src_node = match c.req.src {
                    Source::Pod(p) => Some(self.cluster.pod_node(p)),
                    _ => None,
                };
                if c.node() == Some(node) || pod_node == Some(node) || src_node == Some(node) {
                    Some((i, BreakReason::NodeFailed))
                } else if c.landing() == Some(node) {
                    Some((i, BreakReason::ReplyBlackholed))
                } else {
                    None
                }
            })
            .collect();
        let broken = victims.len() as u64;
        for (i, why) in victims {
            self.break_conn(plane, i, why);
        }
        broken
    }
}
