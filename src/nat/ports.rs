//! A set of 16-bit ports with a fast "first free port in a range": a few ports in place, a sorted
//! vector while small, a 65,536-bit bitmap once it holds many (word scans find the free port).

const PROMOTE_AT: usize = 128;
/// Ports held without a heap allocation: most (NAT IP, remote endpoint) keys carry one or two
/// connections at a time (a masquerade towards one backend pod), and a key whose set is empty and
/// inline is dropped from its table without freeing anything.
const INLINE: usize = 11;

#[derive(Clone, Debug)]
pub enum PortSet {
    /// Up to [`INLINE`] ports, sorted, in place.
    Inline {
        len: u8,
        ports: [u16; INLINE],
    },
    /// Sorted, on the heap.
    Small(Vec<u16>),
    Bitmap(Box<[u64; 1024]>, u32),
}

impl Default for PortSet {
    fn default() -> Self {
        PortSet::EMPTY
    }
}

impl PortSet {
    /// No port.
    pub const EMPTY: PortSet = PortSet::Inline {
        len: 0,
        ports: [0; INLINE],
    };

    /// The one port `p`.
    pub fn of(p: u16) -> PortSet {
        let mut ports = [0; INLINE];
        ports[0] = p;
        PortSet::Inline { len: 1, ports }
    }

    pub fn len(&self) -> usize {
        match self {
            PortSet::Inline { len, .. } => usize::from(*len),
            PortSet::Small(v) => v.len(),
            PortSet::Bitmap(_, n) => *n as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empty and holding no heap storage: its table may drop it and recreate it for free.
    pub fn is_empty_inline(&self) -> bool {
        matches!(self, PortSet::Inline { len: 0, .. })
    }

    /// The ports in order, while the set is a sorted list.
    fn sorted(&self) -> Option<&[u16]> {
        match self {
            PortSet::Inline { len, ports } => Some(&ports[..usize::from(*len)]),
            PortSet::Small(v) => Some(v),
            PortSet::Bitmap(..) => None,
        }
    }

    pub fn contains(&self, p: u16) -> bool {
        match self {
            PortSet::Bitmap(b, _) => b[p as usize / 64] >> (p % 64) & 1 == 1,
            sorted => sorted.sorted().is_some_and(|v| find(v, p).is_ok()),
        }
    }

    pub fn insert(&mut self, p: u16) -> bool {
        match self {
            PortSet::Inline { len, ports } => {
                let n = usize::from(*len);
                let Err(i) = find(&ports[..n], p) else {
                    return false;
                };
                if n < INLINE {
                    ports.copy_within(i..n, i + 1);
                    ports[i] = p;
                    *len += 1;
                } else {
                    let mut v = Vec::with_capacity(2 * INLINE);
                    v.extend_from_slice(&ports[..i]);
                    v.push(p);
                    v.extend_from_slice(&ports[i..]);
                    *self = PortSet::Small(v);
                }
                true
            }
            PortSet::Small(v) => {
                let Err(i) = find(v, p) else {
                    return false;
                };
                v.insert(i, p);
                if v.len() >= PROMOTE_AT {
                    let mut b = Box::new([0u64; 1024]);
                    for x in v.iter() {
                        b[*x as usize / 64] |= 1 << (x % 64);
                    }
                    *self = PortSet::Bitmap(b, PROMOTE_AT as u32);
                }
                true
            }
            PortSet::Bitmap(b, n) => {
                let (w, bit) = (p as usize / 64, 1u64 << (p % 64));
                if b[w] & bit != 0 {
                    return false;
                }
                b[w] |= bit;
                *n += 1;
                true
            }
        }
    }

    pub fn remove(&mut self, p: u16) -> bool {
        match self {
            PortSet::Inline { len, ports } => {
                let n = usize::from(*len);
                match find(&ports[..n], p) {
                    Ok(i) => {
                        ports.copy_within(i + 1..n, i);
                        *len -= 1;
                        true
                    }
                    Err(_) => false,
                }
            }
            PortSet::Small(v) => match find(v, p) {
                Ok(i) => {
                    v.remove(i);
                    true
                }
                Err(_) => false,
            },
            PortSet::Bitmap(b, n) => {
                let (w, bit) = (p as usize / 64, 1u64 << (p % 64));
                if b[w] & bit == 0 {
                    return false;
                }
                b[w] &= !bit;
                *n -= 1;
                true
            }
        }
    }

    /// The lowest port of `lo..=hi` not in the set.
    pub fn first_free(&self, lo: u16, hi: u16) -> Option<u16> {
        if lo > hi {
            return None;
        }
        match self {
            PortSet::Inline { .. } | PortSet::Small(_) => {
                let v = self.sorted().unwrap_or_default();
                let mut p = lo as u32;
                let start = v.partition_point(|x| *x < lo);
                for u in &v[start..] {
                    if u32::from(*u) == p {
                        p += 1;
                    } else {
                        break;
                    }
                }
                (p <= u32::from(hi)).then_some(p as u16)
            }
            PortSet::Bitmap(b, _) => {
                let (lo, hi) = (lo as usize, hi as usize);
                let mut w = lo / 64;
                while w <= hi / 64 {
                    let mut free = !b[w];
                    if w == lo / 64 {
                        free &= u64::MAX << (lo % 64);
                    }
                    if w == hi / 64 && hi % 64 != 63 {
                        free &= (1u64 << (hi % 64 + 1)) - 1;
                    }
                    if free != 0 {
                        return Some((w * 64 + free.trailing_zeros() as usize) as u16);
                    }
                    w += 1;
                }
                None
            }
        }
    }

    /// The first free port at or after `start`, wrapping to `lo` (a search from an offset).
    pub fn first_free_from(&self, lo: u16, hi: u16, start: u16) -> Option<u16> {
        self.first_free(start.max(lo), hi)
            .or_else(|| self.first_free(lo, start.saturating_sub(1).max(lo)))
    }
}

/// Where `p` is in the sorted `ports`, as `binary_search` answers (`Ok` at its place, `Err` where
/// it would go), found by counting the ports below it: a pass the compiler turns into vector
/// compares, whose loads do not wait on each other. A binary search's do: over a set of a hundred
/// ports (four cache lines; a node's masquerade towards one destination) that was three misses
/// in a row per look-up, in a table too big for the cache.
fn find(ports: &[u16], p: u16) -> Result<usize, usize> {
    let below: usize = ports.iter().map(|x| usize::from(*x < p)).sum();
    if ports.get(below) == Some(&p) {
        Ok(below)
    } else {
        Err(below)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        /// Both representations agree with a BTreeSet scanned linearly.
        #[test]
        fn first_free_matches_a_linear_scan(ops in prop::collection::vec((any::<bool>(), 0u16..400), 0..600), lo in 0u16..300, len in 0u16..200) {
            let hi = lo.saturating_add(len);
            let mut set = PortSet::default();
            let mut oracle = BTreeSet::new();
            for (ins, p) in ops {
                if ins {
                    prop_assert_eq!(set.insert(p), oracle.insert(p));
                } else {
                    prop_assert_eq!(set.remove(p), oracle.remove(&p));
                }
                prop_assert_eq!(set.len(), oracle.len());
            }
            let expect = (lo..=hi).find(|p| !oracle.contains(p));
            prop_assert_eq!(set.first_free(lo, hi), expect);
            let start = lo + len / 2;
            let wrap = (start..=hi).chain(lo..start).find(|p| !oracle.contains(p));
            prop_assert_eq!(set.first_free_from(lo, hi, start), wrap);
        }
    }
}
