//! NAT bindings held after their connection closed: TCP's TIME_WAIT, UDP's conntrack timeout.
//! A closed connection leaves the connection table at once (which then holds only the open
//! ones, small enough to stay in cache) and its binding waits here, in close order, until its
//! release — or until a Linux ≥ 6.5 kernel takes its port over for a new connection.
//!
//! Entries are named by a wrapping 32-bit id (the release event and the NAT table's record of
//! evictable entries carry it); at most a few million are held at once, far from the wrap.

use crate::dataplane::NatBinding;
use crate::net::Proto;
use std::collections::VecDeque;

#[derive(Clone, Copy, Debug)]
struct Held {
    binding: NatBinding,
    proto: Proto,
    /// Released or evicted: its slot waits for the entries before it to go.
    done: bool,
}

#[derive(Clone, Debug, Default)]
pub(super) struct TimeWait {
    held: VecDeque<Held>,
    /// The id of the front entry.
    base: u32,
}

impl TimeWait {
    /// Holds `binding` of a connection that just closed; its id.
    pub fn hold(&mut self, proto: Proto, binding: NatBinding) -> u32 {
        self.held.push_back(Held {
            binding,
            proto,
            done: false,
        });
        self.base.wrapping_add(self.held.len() as u32 - 1)
    }

    /// The entry `id` holds, if it still does (not ended).
    pub fn peek(&self, id: u32) -> Option<(Proto, NatBinding)> {
        let i = id.wrapping_sub(self.base) as usize;
        let h = self.held.get(i).filter(|h| !h.done)?;
        Some((h.proto, h.binding))
    }

    /// Entry `id` ends (released or evicted): its binding and protocol, unless it ended before.
    pub fn end(&mut self, id: u32) -> Option<(Proto, NatBinding)> {
        let i = id.wrapping_sub(self.base) as usize;
        let h = self.held.get_mut(i).filter(|h| !h.done)?;
        h.done = true;
        let out = (h.proto, h.binding);
        while self.held.front().is_some_and(|h| h.done) {
            self.held.pop_front();
            self.base = self.base.wrapping_add(1);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::NodeId;
    use crate::net::Endpoint;
    use std::net::Ipv4Addr;

    fn binding(port: u16) -> NatBinding {
        NatBinding {
            node: NodeId(1),
            ip: Ipv4Addr::new(10, 20, 0, 1),
            port,
            remote: Endpoint::new(Ipv4Addr::new(1, 1, 1, 1), 443),
            orig: Endpoint::new(Ipv4Addr::new(10, 64, 0, 2), 40000),
        }
    }

    #[test]
    fn each_entry_ends_once_in_any_order_and_the_front_goes() {
        let mut tw = TimeWait::default();
        let ids: Vec<u32> = (0..4).map(|p| tw.hold(Proto::Tcp, binding(p))).collect();
        assert_eq!(ids, [0, 1, 2, 3]);
        // The third is evicted first, then the rest end in order; none ends twice.
        assert_eq!(tw.peek(2).map(|(_, b)| b.port), Some(2));
        assert_eq!(tw.end(2).map(|(_, b)| b.port), Some(2));
        assert_eq!(tw.end(2), None);
        assert_eq!(tw.peek(2), None, "ended");
        assert_eq!(tw.end(0).map(|(_, b)| b.port), Some(0));
        assert_eq!(
            tw.held.len(),
            3,
            "the front went; the second still holds the third's slot"
        );
        assert_eq!(tw.end(1).map(|(_, b)| b.port), Some(1));
        assert_eq!(tw.held.len(), 1);
        assert_eq!(tw.hold(Proto::Udp, binding(9)), 4);
        assert_eq!(tw.end(3).map(|(_, b)| b.port), Some(3));
        assert_eq!(tw.end(4).map(|(p, b)| (p, b.port)), Some((Proto::Udp, 9)));
        assert!(tw.held.is_empty());
        assert_eq!(tw.end(7), None, "an id past the end");
    }

    #[test]
    fn ids_wrap() {
        let mut tw = TimeWait {
            base: u32::MAX,
            ..TimeWait::default()
        };
        let a = tw.hold(Proto::Tcp, binding(1));
        let b = tw.hold(Proto::Tcp, binding(2));
        assert_eq!((a, b), (u32::MAX, 0));
        assert_eq!(tw.end(b).map(|(_, x)| x.port), Some(2));
        assert_eq!(tw.end(a).map(|(_, x)| x.port), Some(1));
        assert!(tw.held.is_empty());
    }
}
