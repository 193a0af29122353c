//! The connection table's record: everything the engine keeps about an open connection, in one
//! 64-byte cache line (a close touches one line). Optional ids are stored as `u32::MAX`, the NAT binding with its endpoints unpadded,
//! and the state, the flags and the slot's generation share one word.

use crate::cluster::{NodeId, PodId};
use crate::dataplane::NatBinding;
use crate::dataplane::request::FlowRequest;
use crate::net::Endpoint;
use std::net::Ipv4Addr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    Open,
    Closed,
    Broken,
}

const NONE: u32 = u32::MAX;
const STATE_BITS: u32 = 0b11;
const LB: u32 = 1 << 2;
const HAS_BINDING: u32 = 1 << 3;
const GENERATION_SHIFT: u32 = 4;

/// One connection slot: 64 bytes, aligned to a cache line.
#[derive(Clone, Copy)]
#[repr(align(64))]
pub(super) struct Conn {
    pub generator: u32,
    /// Generation (28 bits, wrapping) << 4 | has binding | LoadBalancer client | state.
    word: u32,
    pub req: FlowRequest,
    node: u32,
    pod: u32,
    landing: u32,
    binding: PackedBinding,
}

const _: () = assert!(std::mem::size_of::<Conn>() == 64);

/// A [`NatBinding`] without the padding of its two endpoints.
#[derive(Clone, Copy)]
struct PackedBinding {
    node: u32,
    ip: Ipv4Addr,
    remote_ip: Ipv4Addr,
    orig_ip: Ipv4Addr,
    port: u16,
    remote_port: u16,
    orig_port: u16,
}

fn id(x: Option<u32>) -> u32 {
    x.unwrap_or(NONE)
}

fn opt(x: u32) -> Option<u32> {
    (x != NONE).then_some(x)
}

/// What a new connection's slot holds (the fields of [`Conn::new`]).
pub(super) struct Opened {
    pub generator: u32,
    pub req: FlowRequest,
    pub binding: Option<NatBinding>,
    pub node: Option<NodeId>,
    pub pod: Option<PodId>,
    /// An outside client's connection to a LoadBalancer service.
    pub lb: bool,
    /// ACI-CNI SNAT: where the reply lands.
    pub landing: Option<NodeId>,
}

impl Conn {
    /// An open connection in a slot of generation `generation`.
    pub fn new(o: Opened, generation: u32) -> Conn {
        let b = o.binding.unwrap_or(NatBinding {
            node: NodeId(NONE),
            ip: Ipv4Addr::UNSPECIFIED,
            port: 0,
            remote: Endpoint::new(Ipv4Addr::UNSPECIFIED, 0),
            orig: Endpoint::new(Ipv4Addr::UNSPECIFIED, 0),
        });
        let flags = if o.lb { LB } else { 0 } | if o.binding.is_some() { HAS_BINDING } else { 0 };
        Conn {
            generator: o.generator,
            word: (generation << GENERATION_SHIFT) | flags | State::Open as u32,
            req: o.req,
            node: id(o.node.map(|n| n.0)),
            pod: id(o.pod.map(|p| p.0)),
            landing: id(o.landing.map(|n| n.0)),
            binding: PackedBinding {
                node: b.node.0,
                ip: b.ip,
                remote_ip: b.remote.ip,
                orig_ip: b.orig.ip,
                port: b.port,
                remote_port: b.remote.port,
                orig_port: b.orig.port,
            },
        }
    }

    pub fn state(&self) -> State {
        match self.word & STATE_BITS {
            0 => State::Open,
            1 => State::Closed,
            _ => State::Broken,
        }
    }

    pub fn set_state(&mut self, s: State) {
        self.word = (self.word & !STATE_BITS) | s as u32;
    }

    /// Reads the slots' first words and nothing else: called events before the slots' closes,
    /// their cache lines are on their way together while other events run (a read whose
    /// value is kept, so the compiler leaves it in; no safe prefetch instruction exists).
    pub fn touch_all<'a>(slots: impl Iterator<Item = &'a Conn>) {
        std::hint::black_box(slots.fold(0u32, |acc, c| acc ^ c.word));
    }

    /// The slot's generation (28 bits: it wraps after 268 million reuses of one slot, and is
    /// only compared for equality with a pending event's).
    pub fn generation(&self) -> u32 {
        self.word >> GENERATION_SHIFT
    }

    /// The generation that follows `g` (wrapping in 28 bits).
    pub fn next_generation(g: u32) -> u32 {
        g.wrapping_add(1) & (u32::MAX >> GENERATION_SHIFT)
    }

    pub fn lb(&self) -> bool {
        self.word & LB != 0
    }

    pub fn node(&self) -> Option<NodeId> {
        opt(self.node).map(NodeId)
    }

    pub fn pod(&self) -> Option<PodId> {
        opt(self.pod).map(PodId)
    }

    pub fn landing(&self) -> Option<NodeId> {
        opt(self.landing).map(NodeId)
    }

    pub fn binding(&self) -> Option<NatBinding> {
        let b = &self.binding;
        (self.word & HAS_BINDING != 0).then(|| NatBinding {
            node: NodeId(b.node),
            ip: b.ip,
            port: b.port,
            remote: Endpoint::new(b.remote_ip, b.remote_port),
            orig: Endpoint::new(b.orig_ip, b.orig_port),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::request::{Source, Target};
    use crate::net::Proto;

    #[test]
    fn a_record_gives_back_what_it_was_given() {
        let req = FlowRequest {
            src: Source::Pod(PodId(7)),
            sport: 40001,
            dst: Target::Ip {
                ip: Ipv4Addr::new(1, 1, 1, 1),
                port: 443,
            },
            proto: Proto::Tcp,
        };
        let b = NatBinding {
            node: NodeId(3),
            ip: Ipv4Addr::new(10, 20, 0, 1),
            port: 5001,
            remote: Endpoint::new(Ipv4Addr::new(1, 1, 1, 1), 443),
            orig: Endpoint::new(Ipv4Addr::new(10, 64, 0, 9), 40001),
        };
        let g = u32::MAX >> GENERATION_SHIFT; // the last generation before the wrap
        let mut c = Conn::new(
            Opened {
                generator: 2,
                req,
                binding: Some(b),
                node: None,
                pod: Some(PodId(9)),
                lb: true,
                landing: Some(NodeId(0)),
            },
            g,
        );
        assert_eq!(
            (
                c.generator,
                c.req,
                c.binding(),
                c.node(),
                c.pod(),
                c.lb(),
                c.landing()
            ),
            (2, req, Some(b), None, Some(PodId(9)), true, Some(NodeId(0)))
        );
        assert_eq!((c.state(), c.generation()), (State::Open, g));
        c.set_state(State::Broken);
        assert_eq!(
            (c.state(), c.generation(), c.lb()),
            (State::Broken, g, true)
        );
        assert_eq!(Conn::next_generation(g), 0);
        let plain = Conn::new(
            Opened {
                generator: 0,
                req,
                binding: None,
                node: Some(NodeId(4)),
                pod: None,
                lb: false,
                landing: None,
            },
            1,
        );
        assert_eq!(
            (plain.binding(), plain.node(), plain.lb()),
            (None, Some(NodeId(4)), false)
        );
    }
}
