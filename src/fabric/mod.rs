//! The ACI fabric: spines, racks of leaf pairs (vPC), border leaves hosting the L3Out, external
//! networks behind it, link latencies, and leaf → spine → leaf forwarding with a hashed spine.
//!
//! Invariant: topology is an arena of typed ids built once from the scenario; forwarding choices
//! are pure functions of the flow (hash), so a walk is reproducible. The topology is a fixed
//! three-tier Clos, so paths are computed directly rather than by a general graph search.

use crate::net::Flow;
use crate::net::hash::{five_tuple, pick, salt};
use crate::net::lpm::LpmTable;
use crate::time::Nanos;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

macro_rules! id_type {
    ($($name:ident),*) => {$(
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u32);
        impl $name {
            pub fn index(self) -> usize { self.0 as usize }
        }
    )*};
}
pub(crate) use id_type;

id_type!(SpineId, LeafId, RackId, ExternalId);

#[derive(Clone, Debug)]
pub struct Spine {
    /// The ACI node id (201).
    pub number: u32,
    /// False while failed: changed only by [`Fabric::set_spine_up`], which keeps the live
    /// spines the crossings hash over.
    pub(crate) up: bool,
}

#[derive(Clone, Debug)]
pub struct Leaf {
    /// The ACI node id (101).
    pub number: u32,
    pub rack: RackId,
    pub border: bool,
    /// An anchor leaf of the floating cluster L3Out (BGP designs).
    pub anchor: bool,
    /// False while failed: changed only by [`Fabric::set_leaf_up`], which keeps the live border
    /// leaves.
    pub(crate) up: bool,
}

#[derive(Clone, Debug)]
pub struct Rack {
    pub number: u32,
    /// One or two leaves (a vPC pair).
    pub leaves: Vec<LeafId>,
    pub border: bool,
    pub anchor: bool,
}

#[derive(Clone, Debug)]
pub struct External {
    pub name: String,
    pub prefix: Ipv4Net,
}

impl External {
    /// The address a flow `from: external:NAME` uses: the first host of the network.
    pub fn first_host(&self) -> Ipv4Addr {
        let n = u32::from(self.prefix.network());
        if self.prefix.prefix_len() >= 31 {
            self.prefix.network()
        } else {
            Ipv4Addr::from(n + 1)
        }
    }
}

/// One-way latency of each kind of link.
#[derive(Clone, Copy, Debug)]
pub struct Latency {
    pub node_leaf: Nanos,
    pub leaf_spine: Nanos,
    pub l3out: Nanos,
}

impl Latency {
    /// fabsim's assumption when the scenario gives none (no product default exists): a 25G server
    /// link with its NIC, a leaf-spine hop, and the L3Out's external router.
    pub const ASSUMED: Latency = Latency {
        node_leaf: Nanos::from_micros(5),
        leaf_spine: Nanos::from_micros(2),
        l3out: Nanos::from_micros(100),
    };
}

#[derive(Clone, Debug)]
pub struct Fabric {
    pub spines: Vec<Spine>,
    pub leaves: Vec<Leaf>,
    pub racks: Vec<Rack>,
    pub externals: Vec<External>,
    pub latency: Latency,
    external_lpm: LpmTable<ExternalId>,
    borders: Vec<LeafId>,
    /// Each leaf's hash salt (from its name), computed once so hashing allocates nothing.
    leaf_salts: Vec<u64>,
    /// The spines that are up, in spine order (kept by `set_spine_up`): each crossing hashes
    /// over them.
    live_spines: Vec<SpineId>,
    /// Each rack's leaves inline with which are up (kept by `set_leaf_up`): the uplink choice
    /// per packet reads one 12-byte record.
    rack_hot: Vec<RackHot>,
}

/// A rack's (up to two) leaves and which of them are up.
#[derive(Clone, Copy, Debug)]
struct RackHot {
    leaves: [LeafId; 2],
    /// How many leaves the rack has (a rack of more is taken the long way).
    count: u8,
    /// Bit `i`: the rack's `i`-th leaf is up.
    up: u8,
}

impl RackHot {
    fn of(rack: &Rack, leaves: &[Leaf]) -> RackHot {
        let mut hot = RackHot {
            leaves: [LeafId(0); 2],
            count: rack.leaves.len().min(usize::from(u8::MAX)) as u8,
            up: 0,
        };
        for (i, l) in rack.leaves.iter().take(2).enumerate() {
            hot.leaves[i] = *l;
            hot.up |= u8::from(leaves[l.index()].up) << i;
        }
        hot
    }
}

/// One hop of a path through the fabric, with the latency of the link that reached it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FabricHop {
    Leaf(LeafId),
    Spine(SpineId),
}

impl Fabric {
    pub fn new(
        spines: Vec<Spine>,
        leaves: Vec<Leaf>,
        racks: Vec<Rack>,
        externals: Vec<External>,
        latency: Latency,
    ) -> Self {
        let mut external_lpm = LpmTable::new();
        for (i, e) in externals.iter().enumerate() {
            external_lpm.insert(e.prefix, ExternalId(i as u32));
        }
        let borders = (0..leaves.len() as u32)
            .map(LeafId)
            .filter(|l| leaves[l.index()].border)
            .collect();
        let leaf_salts = leaves
            .iter()
            .map(|l| salt(&format!("leaf:{}", l.number)))
            .collect();
        let live_spines = Self::spines_up(&spines);
        let rack_hot = racks.iter().map(|r| RackHot::of(r, &leaves)).collect();
        Fabric {
            live_spines,
            rack_hot,
            spines,
            leaves,
            racks,
            externals,
            latency,
            external_lpm,
            borders,
            leaf_salts,
        }
    }

    fn live_borders(leaves: &[Leaf]) -> Vec<LeafId> {
        (0..leaves.len() as u32)
            .map(LeafId)
            .filter(|l| leaves[l.index()].border && leaves[l.index()].up)
            .collect()
    }

    /// Fails or restores a leaf: the vPC, the spines' ECMP and the external routers stop or
    /// resume using it (fabric convergence is taken as immediate).
    pub fn set_leaf_up(&mut self, id: LeafId, up: bool) {
        self.leaves[id.index()].up = up;
        self.borders = Self::live_borders(&self.leaves);
        for (hot, rack) in self.rack_hot.iter_mut().zip(&self.racks) {
            *hot = RackHot::of(rack, &self.leaves);
        }
    }

    pub fn set_spine_up(&mut self, id: SpineId, up: bool) {
        self.spines[id.index()].up = up;
        self.live_spines = Self::spines_up(&self.spines);
    }

    fn spines_up(spines: &[Spine]) -> Vec<SpineId> {
        (0..spines.len() as u32)
            .map(SpineId)
            .filter(|s| spines[s.index()].up)
            .collect()
    }

    /// The live leaves of a rack.
    pub fn live_leaves(&self, rack: RackId) -> impl Iterator<Item = LeafId> + '_ {
        self.racks[rack.index()]
            .leaves
            .iter()
            .copied()
            .filter(|l| self.leaf(*l).up)
    }

    /// The hash salt of a leaf's own ECMP decisions (its name's), computed once.
    pub fn leaf_salt(&self, id: LeafId) -> u64 {
        self.leaf_salts[id.index()]
    }

    pub fn leaf(&self, id: LeafId) -> &Leaf {
        &self.leaves[id.index()]
    }

    pub fn leaf_name(&self, id: LeafId) -> String {
        format!("leaf:{}", self.leaf(id).number)
    }

    pub fn spine_name(&self, id: SpineId) -> String {
        format!("spine:{}", self.spines[id.index()].number)
    }

    pub fn leaf_by_number(&self, n: u32) -> Option<LeafId> {
        self.leaves
            .iter()
            .position(|l| l.number == n)
            .map(|i| LeafId(i as u32))
    }

    pub fn spine_by_number(&self, n: u32) -> Option<SpineId> {
        self.spines
            .iter()
            .position(|s| s.number == n)
            .map(|i| SpineId(i as u32))
    }

    pub fn external_by_name(&self, name: &str) -> Option<ExternalId> {
        self.externals
            .iter()
            .position(|e| e.name == name)
            .map(|i| ExternalId(i as u32))
    }

    /// The external network an outside address belongs to (most specific first).
    pub fn external_of(&self, ip: Ipv4Addr) -> Option<ExternalId> {
        self.external_lpm.lookup(ip).map(|(_, id)| *id)
    }

    pub fn border_leaves(&self) -> &[LeafId] {
        &self.borders
    }

    /// The live leaves of a rack a node still has a link to (`down`: bit `i` set when the link
    /// to the rack's `i`-th leaf is down).
    pub fn node_leaves(&self, rack: RackId, down: u8) -> impl Iterator<Item = LeafId> + '_ {
        self.racks[rack.index()]
            .leaves
            .iter()
            .enumerate()
            .filter(move |(i, l)| self.leaf(**l).up && (*i >= 8 || down & (1 << i) == 0))
            .map(|(_, l)| *l)
    }

    /// The leaf that carries a flow between a node and the fabric: the port-channel member hash
    /// over the node's live links (LACP moves everything to the others when one goes down, and
    /// the fabric learns the node behind the remaining leaf).
    pub fn node_uplink(&self, rack: RackId, down: u8, flow: &Flow) -> LeafId {
        let hot = &self.rack_hot[rack.index()];
        if hot.count == 0 || hot.count > 2 {
            return self.node_uplink_any(rack, down, flow);
        }
        // The rack's live leaves the node still reaches, in the rack's order.
        let live = hot.up & !down & ((1u8 << hot.count) - 1);
        match live {
            // Cut off: the engine fails the node, and the walks drop what reaches it.
            0 => hot.leaves[0],
            // One link left: the member hash has one choice.
            0b01 => hot.leaves[0],
            0b10 => hot.leaves[1],
            _ => hot.leaves[pick(five_tuple(const { salt("vpc") }, flow), 2)],
        }
    }

    /// [`Fabric::node_uplink`] for a rack of any size.
    fn node_uplink_any(&self, rack: RackId, down: u8, flow: &Flow) -> LeafId {
        let live = self.node_leaves(rack, down).count();
        if live == 0 {
            return self.racks[rack.index()].leaves[0];
        }
        let k = pick(five_tuple(const { salt("vpc") }, flow), live);
        self.node_leaves(rack, down).nth(k).expect("k < live")
    }

    /// The border leaf where a flow from outside enters: the external router's ECMP over the
    /// L3Out's border leaves. `None` when the fabric has no border leaf.
    pub fn ingress_border_leaf(&self, flow: &Flow) -> Option<LeafId> {
        let borders = self.border_leaves();
        (!borders.is_empty()).then(|| {
            borders[pick(
                five_tuple(const { salt("l3out-ecmp") }, flow),
                borders.len(),
            )]
        })
    }

    /// The hops from leaf `from` to leaf `to`: nothing when equal, one spine (hashed per flow on
    /// the ingress leaf) otherwise. Leaves of one vPC pair still cross a spine for routed traffic.
    pub fn leaf_to_leaf(&self, from: LeafId, to: LeafId, flow: &Flow) -> Option<SpineId> {
        let live = &self.live_spines;
        if from == to || live.is_empty() {
            return None;
        }
        Some(live[pick(five_tuple(self.leaf_salt(from), flow), live.len())])
    }

    /// Whether a flow from leaf `from` to leaf `to` crosses a spine, as the first live spine
    /// (not the one [`Fabric::leaf_to_leaf`] hashes to): for callers that need only whether.
    pub fn first_spine_between(&self, from: LeafId, to: LeafId) -> Option<SpineId> {
        (from != to)
            .then(|| self.live_spines.first().copied())
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{Endpoint, Proto};

    /// Racks of one and two leaves, the second rack's leaves in either state.
    fn fabric() -> Fabric {
        let leaf = |number, rack| Leaf {
            number,
            rack: RackId(rack),
            border: false,
            anchor: false,
            up: true,
        };
        let rack = |number, leaves: Vec<u32>| Rack {
            number,
            leaves: leaves.into_iter().map(LeafId).collect(),
            border: false,
            anchor: false,
        };
        Fabric::new(
            vec![Spine {
                number: 201,
                up: true,
            }],
            vec![leaf(101, 0), leaf(102, 1), leaf(103, 1)],
            vec![rack(1, vec![0]), rack(2, vec![1, 2])],
            Vec::new(),
            Latency::ASSUMED,
        )
    }

    fn flow(i: u32) -> Flow {
        Flow {
            proto: Proto::Tcp,
            src: Endpoint {
                ip: Ipv4Addr::from(0x0a40_0000 + i),
                port: 32768 + (i % 1000) as u16,
            },
            dst: Endpoint {
                ip: Ipv4Addr::new(1, 1, 1, 1),
                port: 443,
            },
        }
    }

    /// The uplink read from the rack's inline record is the port-channel hash over the live
    /// links the iterator finds, for every leaf state and down-link mask, and both links carry
    /// flows when both are up.
    #[test]
    fn uplink_matches_the_general_choice() {
        let mut f = fabric();
        for (up1, up2) in [(true, true), (false, true), (true, false), (false, false)] {
            f.set_leaf_up(LeafId(1), up1);
            f.set_leaf_up(LeafId(2), up2);
            for down in 0u8..4 {
                for rack in [RackId(0), RackId(1)] {
                    let mut seen = std::collections::BTreeSet::new();
                    for i in 0..200 {
                        let fl = flow(i);
                        let got = f.node_uplink(rack, down, &fl);
                        assert_eq!(got, f.node_uplink_any(rack, down, &fl));
                        seen.insert(got);
                    }
                    if rack == RackId(1) && up1 && up2 && down == 0 {
                        assert_eq!(seen.len(), 2, "both members carry flows");
                    }
                }
            }
        }
    }
}
