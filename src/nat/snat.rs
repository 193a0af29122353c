//! ACI-CNI SNAT arithmetic: the port range, its chunks, and the controller's per-(node, policy)
//! allocation of one (SNAT IP, chunk).
//!
//! Source: FACTS.md §1 "SNAT" (aci-containers `pkg/util/snat.go` ExpandPortRanges,
//! `snatglobalinfo.go`). The seed's slide arithmetic ("/2500 = 20 … 24 nodes") is inconsistent;
//! the controller's rule is what is modelled.

use crate::cluster::NodeId;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// `kube_config.snat_operator.port_range`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub start: u32,
    pub end: u32,
    pub ports_per_node: u32,
}

/// Why the controller rejects a port range (every reason, comma-separated, as its log says).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RangeRejected(pub String);

impl PortRange {
    /// The controller's defaults: 5000–65000, 3000 ports per node.
    pub const DEFAULT: PortRange = PortRange {
        start: 5000,
        end: 65000,
        ports_per_node: 3000,
    };

    /// The controller accepts a range only if start ≥ 5000, end ≤ 65000, start ≤ end and
    /// ports_per_node ≤ end − start + 1; otherwise it uses [`PortRange::DEFAULT`]
    /// (aci-containers `pkg/util/snat.go` `GetPortRangeFromConfigMap`). Returns the reason of the
    /// rejection. Nothing there rejects ports_per_node 0, with which `ExpandPortRanges` never
    /// ends: callers report it as an error of its own (see [`PortRange::chunks`]).
    pub fn check(&self) -> Result<(), RangeRejected> {
        let mut why = Vec::new();
        if self.start < 5000 {
            why.push(format!("start {} < 5000", self.start));
        }
        if self.end > 65000 {
            why.push(format!("end {} > 65000", self.end));
        }
        if self.start > self.end {
            why.push(format!("start {} > end {}", self.start, self.end));
        } else if self.ports_per_node > self.end - self.start + 1 {
            why.push(format!(
                "ports_per_node {} > end − start + 1 = {}",
                self.ports_per_node,
                self.end - self.start + 1
            ));
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(RangeRejected(why.join(", ")))
        }
    }

    /// The range the controller really uses: `self` if valid, else the default.
    pub fn effective(&self) -> PortRange {
        if self.check().is_ok() {
            *self
        } else {
            PortRange::DEFAULT
        }
    }

    /// `ExpandPortRanges`: chunks [s, s+ppn−1] stepping by ppn, kept while the chunk's end ≤ end − 1.
    /// With ports_per_node 0 the controller loops forever; here it gives no chunk (the scenario
    /// loader reports it as an error first).
    pub fn chunks(&self) -> Vec<Chunk> {
        let mut out = Vec::new();
        let mut s = self.start;
        while self.ports_per_node > 0 && s + self.ports_per_node - 1 < self.end {
            out.push(Chunk {
                start: s as u16,
                end: (s + self.ports_per_node - 1) as u16,
            });
            s += self.ports_per_node;
        }
        out
    }
}

/// An inclusive range of source ports given to one node for one SNAT IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Chunk {
    pub start: u16,
    pub end: u16,
}

impl Chunk {
    pub fn contains(&self, port: u16) -> bool {
        (self.start..=self.end).contains(&port)
    }
    pub fn len(&self) -> u32 {
        u32::from(self.end - self.start) + 1
    }
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl std::fmt::Display for Chunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}–{}", self.start, self.end)
    }
}

/// What a node got for one policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    pub ip: Ipv4Addr,
    pub chunk: Chunk,
}

/// The controller's SNAT global info: which node holds which chunk of which IP. Keys are
/// allocation units: a policy with `snatIp`, or one service IP of a SERVICE-scope policy.
#[derive(Clone, Debug, Default)]
pub struct SnatGlobalInfo {
    /// (node, unit) → allocation.
    pub by_node: BTreeMap<(NodeId, usize), Allocation>,
    /// IP → its chunks held, lowest first, with their nodes (a hash probe and at most the
    /// range's 20 chunks: looked up for each SNATed reply).
    pub owner: rustc_hash::FxHashMap<Ipv4Addr, Vec<(Chunk, NodeId)>>,
    /// Units that ran out of chunks (their policy's status `IpPortsExhausted`), with the nodes
    /// left without.
    pub exhausted: BTreeMap<usize, Vec<NodeId>>,
}

impl SnatGlobalInfo {
    /// Allocates in request order, as `allocateIpSnatPortRange` (aci-containers
    /// `pkg/controller/snatglobalinfo.go`) does for each (node, unit): walk the unit's IPs in
    /// order; an IP with every chunk taken is skipped; on an IP where the node already holds a
    /// chunk (another unit sharing the IP) that chunk is returned; else the lowest free chunk.
    /// One chunk per (IP, node): the controller's cache is `snatGlobalInfoCache[ip][node]`.
    pub fn allocate(
        range: &PortRange,
        unit_ips: &[Vec<Ipv4Addr>],
        requests: impl IntoIterator<Item = (NodeId, usize)>,
    ) -> SnatGlobalInfo {
        let chunks = range.chunks();
        let mut info = SnatGlobalInfo::default();
        // Chunks in use per IP, and the chunk each node holds on each IP (look-ups only).
        let mut used: rustc_hash::FxHashMap<Ipv4Addr, usize> = Default::default();
        let mut held: rustc_hash::FxHashMap<(Ipv4Addr, NodeId), Chunk> = Default::default();
        // Per unit, its first IP with a free chunk: none is freed here, so an IP once full
        // stays full and the walk below starts past it (was a walk over every full IP per node).
        let mut open_from = vec![0usize; unit_ips.len()];
        for (node, unit) in requests {
            if info.by_node.contains_key(&(node, unit)) {
                continue;
            }
            let ips = &unit_ips[unit];
            let from = &mut open_from[unit];
            while ips
                .get(*from)
                .is_some_and(|ip| used.get(ip).copied().unwrap_or(0) >= chunks.len())
            {
                *from += 1;
            }
            let got = ips[*from..].iter().find_map(|ip| {
                let taken = used.get(ip).copied().unwrap_or(0);
                if taken >= chunks.len() {
                    return None;
                }
                if let Some(c) = held.get(&(*ip, node)) {
                    return Some((*ip, *c, false));
                }
                // Chunks are taken lowest first and none is freed here: the lowest free chunk
                // is the next one (a look-up, not a scan of the IP's chunks per node).
                Some((*ip, chunks[taken], true))
            });
            match got {
                Some((ip, chunk, new)) => {
                    if new {
                        *used.entry(ip).or_insert(0) += 1;
                        held.insert((ip, node), chunk);
                        // Taken lowest first: the IP's list stays in chunk order.
                        info.owner.entry(ip).or_default().push((chunk, node));
                    }
                    info.by_node.insert((node, unit), Allocation { ip, chunk });
                }
                None => info.exhausted.entry(unit).or_default().push(node),
            }
        }
        info
    }

    /// The node owning `port` of `ip`, with the chunk, if any node holds it.
    pub fn owner_of(&self, ip: Ipv4Addr, port: u16) -> Option<(NodeId, Chunk)> {
        let held = self.owner.get(&ip)?;
        let k = held
            .partition_point(|(c, _)| c.start <= port)
            .checked_sub(1)?;
        let (chunk, node) = held[k];
        chunk.contains(port).then_some((node, chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_give_twenty_chunks_5000_to_64999() {
        // FACTS §1: 5000–7999 … 62000–64999; (65000 − 5000) / 3000 = 20, the last ending at 64999 ≤ 64999.
        let c = PortRange::DEFAULT.chunks();
        assert_eq!(c.len(), 20);
        assert_eq!(
            c[0],
            Chunk {
                start: 5000,
                end: 7999
            }
        );
        assert_eq!(
            c[1],
            Chunk {
                start: 8000,
                end: 10999
            }
        );
        assert_eq!(
            c[19],
            Chunk {
                start: 62000,
                end: 64999
            }
        );
    }

    #[test]
    fn fifty_to_sixty_thousand_by_1000_gives_nine() {
        // 50000–50999 … 58000–58999; 59000–59999 ends at 59999 > 59998 and is dropped.
        let r = PortRange {
            start: 50000,
            end: 59999,
            ports_per_node: 1000,
        };
        let c = r.chunks();
        assert_eq!(c.len(), 9);
        assert_eq!(
            c[8],
            Chunk {
                start: 58000,
                end: 58999
            }
        );
    }

    #[test]
    fn the_controller_rejects_what_it_rejects() {
        let bad = [
            PortRange {
                start: 4999,
                end: 65000,
                ports_per_node: 3000,
            },
            PortRange {
                start: 5000,
                end: 65001,
                ports_per_node: 3000,
            },
            PortRange {
                start: 9000,
                end: 8000,
                ports_per_node: 100,
            },
            PortRange {
                start: 5000,
                end: 5999,
                ports_per_node: 1001,
            },
        ];
        for r in bad {
            assert!(r.check().is_err(), "{r:?}");
            assert_eq!(r.effective(), PortRange::DEFAULT);
        }
        let ok = PortRange {
            start: 5000,
            end: 5999,
            ports_per_node: 1000,
        };
        assert_eq!(ok.effective(), ok);
        // 5000–5999 by 1000: the only chunk would end at 5999 > 5998, so none is usable.
        assert!(ok.chunks().is_empty());
    }

    #[test]
    fn twenty_five_nodes_one_ip_leave_five_without() {
        let ip = Ipv4Addr::new(10, 20, 30, 1);
        let reqs = (0..25).map(|n| (NodeId(n), 0));
        let info = SnatGlobalInfo::allocate(&PortRange::DEFAULT, &[vec![ip]], reqs);
        assert_eq!(info.by_node.len(), 20);
        assert_eq!(info.exhausted[&0], (20..25).map(NodeId).collect::<Vec<_>>());
        assert_eq!(
            info.by_node[&(NodeId(0), 0)].chunk,
            Chunk {
                start: 5000,
                end: 7999
            }
        );
        assert_eq!(
            info.by_node[&(NodeId(19), 0)].chunk,
            Chunk {
                start: 62000,
                end: 64999
            }
        );
    }

    #[test]
    fn a_second_ip_takes_the_overflow() {
        let a = Ipv4Addr::new(10, 20, 30, 1);
        let b = Ipv4Addr::new(10, 20, 30, 2);
        let info = SnatGlobalInfo::allocate(
            &PortRange::DEFAULT,
            &[vec![a, b]],
            (0..25).map(|n| (NodeId(n), 0)),
        );
        let on = |ip| info.by_node.values().filter(|x| x.ip == ip).count();
        assert_eq!((on(a), on(b)), (20, 5));
        assert!(info.exhausted.is_empty());
        assert_eq!(
            info.by_node[&(NodeId(20), 0)],
            Allocation {
                ip: b,
                chunk: Chunk {
                    start: 5000,
                    end: 7999
                }
            }
        );
        assert_eq!(
            info.owner_of(b, 9000),
            Some((
                NodeId(21),
                Chunk {
                    start: 8000,
                    end: 10999
                }
            ))
        );
        assert_eq!(info.owner_of(a, 4000), None);
    }
}
